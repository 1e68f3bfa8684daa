"""The durable state of one renewal (one unit on one cluster), shared by every run and worker.

A renewal may span days (a person at the CA), several processes (suspend/resume lands on a
new process) and crashes. What it has done so far lives here, so a rerun continues where the
last one stopped: it reuses the CSR already sent to the CA (never regenerates it), and skips the
disruptive steps already done. The store is a directory of JSON files, one per (cluster, unit),
written atomically; ``$CERTOPS_STATE_DIR`` (default ``~/.certops/state``) must be on storage
every worker can read when workers run on several machines.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from certops.atomicfile import move_durably, write_atomic
from certops.ca.base import CaTicket, SignedChainPem
from certops.models import CsrArtifact

STATE_ENV = "CERTOPS_STATE_DIR"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CertSummary(BaseModel):
    """Subject, expiry and fingerprint of a certificate, for the before/after report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str
    not_after: dt.datetime
    fingerprint_sha256: str
    issuer: str = ""


class NotificationRecord(BaseModel):
    """One Slack message a renewal tried to send, and whether it reached Slack."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    what: str  # approval_needed, renewal_completed, renewal_failed, renewal_blocked, renewal_denied
    delivered: bool
    error: str | None = None
    ts: str | None = None
    channel: str | None = None
    run_id: str | None = None
    at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))


class NodeProgress(BaseModel):
    """What has been done on one node."""

    model_config = ConfigDict(extra="forbid")

    fqdn: str
    role: str
    before: CertSummary | None = None
    csr: CsrArtifact | None = None
    csr_requested: bool = False  # recorded before the node is asked for a CSR
    ticket: CaTicket | None = None  # set once the CSR went to a CA: it must never be regenerated
    chain: SignedChainPem | None = None  # as the CA or the approver returned it
    trust_pems: list[str] = Field(default_factory=list)  # root first, from the passed check
    identity_pems: list[str] = Field(default_factory=list)  # leaf first, from the passed check
    leaf_fingerprint: str | None = None
    leaf_summary: CertSummary | None = None
    trust_uploaded: bool = False
    identity_uploaded: bool = False
    restart_attempted: list[str] = Field(default_factory=list)  # restart requested (maybe not confirmed)
    # when each attempt was recorded (just before its request): a rerun compares it with the service's uptime
    restart_attempted_at: dict[str, dt.datetime] = Field(default_factory=dict)
    restarted: list[str] = Field(default_factory=list)  # services confirmed Started after upload
    restarts_done: bool = False
    verified: bool = False
    after: CertSummary | None = None

    @property
    def sent_to_ca(self) -> bool:
        """True once the CSR was handed to a CA or a person."""
        return self.ticket is not None or self.chain is not None


class RenewalState(BaseModel):
    """Everything one renewal of ``unit`` on ``cluster`` has done, across runs."""

    model_config = ConfigDict(extra="forbid")

    cluster: str
    unit: str
    status: str = "active"  # active, done, denied, abandoned
    run_ids: list[str] = Field(default_factory=list)  # every run that worked on it, first first
    started_at: dt.datetime = Field(default_factory=_now)
    updated_at: dt.datetime = Field(default_factory=_now)
    nodes: dict[str, NodeProgress] = Field(default_factory=dict)
    security_mode: int | None = None
    phones_baseline: int | None = None
    ctl_updated: bool = False
    ctl_update_attempted: bool = False  # recorded before the request; unconfirmed -> repeated once
    phones_reset: bool = False
    phones_reset_attempted: list[str] = Field(default_factory=list)  # each recorded before its reset
    phones_reregistered: bool = False
    sso_confirmed_by: str | None = None
    approval_attempt: int = 0
    approval_deadline: dt.datetime | None = None
    approval_problems: list[str] = Field(default_factory=list)
    approver: str | None = None
    approval_comment: str | None = None
    denied_reason: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)  # phase -> seconds
    approval_notified: bool = False  # the approval request went to Slack (or was tried): never again
    slack_thread_ts: str | None = None  # the renewal's Slack thread: later messages reply in it
    notifications: list[NotificationRecord] = Field(default_factory=list)
    guide_warnings: list[str] = Field(default_factory=list)  # Cisco's Security Guides' warnings (log, report)
    phones_interaction: str | None = None  # "Phone Interaction on Certificate Update": automatic/manual/absent
    phones_baseline_stamps: dict[str, int] = Field(default_factory=dict)  # registered phone -> RIS TimeStamp
    phones_watched: bool = False  # the automatic reset was watched; phones_not_back are those that did not return
    phones_not_back: list[str] = Field(default_factory=list)
    phones_outcome: str | None = None  # what happened to the phones, in one line (report, Slack)
    sip_oauth_phones: list[str] | None = None  # tomcat on 14+: the phones that use SIP OAuth (None: not read)
    sip_oauth_done: bool = False
    # IM&P units (certops.renewal.imp_trust): the CA certificates uploaded to the IM&P database publisher,
    # Cisco Intercluster Sync Agent restarted there (asked: attempted; seen Started: restarted), replicated
    imp_trust_uploaded: bool = False
    imp_sync_agent_attempted: bool = False
    imp_sync_agent_attempted_at: dt.datetime | None = None  # recorded just before the request
    imp_sync_agent_restarted: bool = False
    imp_trust_replicated: bool = False

    @property
    def changed_anything(self) -> bool:
        """True once a CSR was generated, or possibly generated, on any node (the renewal started on the cluster).

        The intent (``csr_requested``) is recorded durably before the node is asked, so a run that
        died while the node made its CSR still counts as unfinished: for the cluster lock (it keeps
        blocking the other units of its group) and for ``--abandon``.
        """
        return any(n.csr is not None or n.csr_requested for n in self.nodes.values())

    def node(self, fqdn: str, role: str) -> NodeProgress:
        """The progress of ``fqdn`` (created when first asked)."""
        if fqdn not in self.nodes:
            self.nodes[fqdn] = NodeProgress(fqdn=fqdn, role=role)
        return self.nodes[fqdn]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


class RenewalStore:
    """JSON files, one per (cluster, unit); finished renewals move to ``history/``."""

    def __init__(self, directory: Path | None = None) -> None:
        env = os.environ.get(STATE_ENV)
        self.directory = directory or (Path(env) if env else Path.home() / ".certops" / "state")

    def _path(self, cluster: str, unit: str) -> Path:
        return self.directory / f"{_slug(cluster)}__{_slug(unit)}.json"

    def load(self, cluster: str, unit: str) -> RenewalState | None:
        """The active renewal of ``unit`` on ``cluster``, or None."""
        path = self._path(cluster, unit)
        if not path.exists():
            return None
        return RenewalState.model_validate(json.loads(path.read_text()))

    def save(self, state: RenewalState) -> None:
        """Write ``state`` atomically (a reader sees the old or the new file, never half)."""
        state.updated_at = _now()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(state.cluster, state.unit)
        write_atomic(path, state.model_dump_json(indent=1), durable=True)

    def finished(self, cluster: str, unit: str | None = None) -> list[RenewalState]:
        """The renewals of ``cluster`` (of ``unit``, if given) that ended (done, denied, abandoned), oldest first."""
        hist = self.directory / "history"
        if not hist.is_dir():
            return []
        pattern = f"*__{_slug(cluster)}__{_slug(unit) if unit else '*'}.json"
        out: list[RenewalState] = []
        for path in sorted(hist.glob(pattern)):
            try:
                st = RenewalState.model_validate(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
            if st.cluster == cluster and (unit is None or st.unit == unit):
                out.append(st)
        return sorted(out, key=lambda s: s.updated_at)

    def finish(self, state: RenewalState, status: str) -> None:
        """Mark the renewal ``status`` (done, denied, abandoned) and move it to history."""
        state.status = status
        self.save(state)
        hist = self.directory / "history"
        hist.mkdir(parents=True, exist_ok=True)
        stamp = _now().strftime("%Y%m%dT%H%M%S%f")
        active = self._path(state.cluster, state.unit)
        move_durably(active, hist / f"{stamp}__{active.name}")
