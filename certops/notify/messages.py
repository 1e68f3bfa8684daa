"""What certops tells people: the events that become Slack messages, and the delivery result.

These are plain values; ``certops.notify.format`` turns them into Block Kit, and
``certops.notify.slack.SlackNotifier`` sends them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlackMessage(_Value):
    """A message ready to send: fallback ``text`` (notifications, screen readers) and Block Kit ``blocks``."""

    text: str
    blocks: list[dict[str, Any]] = Field(default_factory=list)


class DeliveryResult(_Value):
    """Whether a message reached Slack. A failed delivery never fails a renewal; it is recorded."""

    delivered: bool
    error: str | None = None
    ts: str | None = None  # Slack's message timestamp: the thread id for replies
    channel: str | None = None


class ApprovalRequest(_Value):
    """A renewal waits for a person: the CSR must be signed and the chain pasted back."""

    run_id: str
    cluster: str
    unit: str
    nodes: list[str]
    csr_pem: str | None = None  # one CSR; with several nodes, ``csr_pems`` per node
    csr_pems: dict[str, str] = Field(default_factory=dict)
    deadline: dt.datetime | None = None
    ui_url: str | None = None  # link to the paused flow run in the Prefect UI
    ca_instructions: str = ""


class ApprovalReminder(_Value):
    """A renewal still waits for approval and its deadline is near."""

    run_id: str
    cluster: str
    unit: str
    deadline: dt.datetime
    now: dt.datetime
    ui_url: str | None = None


class NodeChange(_Value):
    """One node's certificate before and after a renewal."""

    node: str
    before_not_after: dt.datetime | None = None
    after_not_after: dt.datetime | None = None
    before_fingerprint: str | None = None
    after_fingerprint: str | None = None


class RenewalCompleted(_Value):
    """A renewal finished and every node serves its new certificate."""

    run_id: str
    cluster: str
    unit: str
    nodes: list[NodeChange]
    duration_s: float
    approver: str | None = None
    ui_url: str | None = None
    phones: str | None = None  # who reset the phones and how many came back ("phones reset themselves: …")
    to_do: list[str] = []  # what a person must do now (Cisco's guides: the DRF backup, SIP OAuth phones, …)


class RenewalFailed(_Value):
    """A renewal failed or was blocked: what, where, and what to do next."""

    run_id: str
    cluster: str
    unit: str
    what: str
    node: str | None = None
    next_step: str = ""
    blocked: bool = False  # True: a rule stopped it before anything changed
    ui_url: str | None = None


class RenewalStarted(_Value):
    """The scan started (or queued) a renewal deployment run."""

    cluster: str
    unit: str
    nodes: list[str]
    days_left: int
    run_id: str | None = None
    queued_behind: str | None = None
    skipped_reason: str | None = None  # e.g. "already in flight: run <id>"
