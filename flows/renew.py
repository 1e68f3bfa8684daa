"""The renewal flow: one certificate unit on one cluster, Cisco's procedure step by step.

preflight → CSR on each node (publisher first) → signature (CA backend, or a person through an
approval) → chain check → trust then identity upload → CTL update (mixed mode) → restarts node
by node → phone reset and re-registration → verification → report. The rules are enforced by
machine: the cluster lock (``flows/_locks.py``), SSO, DRF, the maintenance window. Everything
done is recorded in the renewal state (``certops.renewal.state``), so a rerun after a crash
continues without a new CSR and without repeating a disruptive step.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext
from prefect.states import Cancelled

from certops import audit
from certops.audit import AuditRecord
from certops.errors import CertopsError, PolicyViolation
from certops.heap import kept_until_done
from certops.hostlock import Holder, HostLock, HostLockBusy
from certops.inventory import ClusterConfig, Inventory
from certops.models import CsrArtifact
from certops.notify.messages import ApprovalRequest, DeliveryResult, RenewalFailed
from certops.planning import ClusterState, RenewalPlan, exclusion_key, plan_renewal
from certops.renewal import inflight, steps, waiting
from certops.renewal.adapters import ca_backend, load_inventory
from certops.renewal.drf_backup import DUE_NOW_PREFIX
from certops.renewal.phones import PhoneStep, names_text, outcome_text, phone_step, sip_oauth_due, unregistered
from certops.renewal.report import RenewalReport
from certops.renewal.settings import RenewalSettings
from certops.renewal.state import NodeProgress, NotificationRecord, RenewalState, RenewalStore
from certops.units import Precondition, UnitSpec, parse_version
from certops.units import unit as unit_spec
from certops.windows import window_decision
from flows import _imp, _locks, _multi
from flows.approval import request_chain, request_sso_confirmation
from tasks import notify as slack
from tasks import renewal as t

T = TypeVar("T")


class RenewalDenied(CertopsError):
    """The approver denied the renewal; nothing was uploaded."""


class _Run:
    """The bookkeeping of one flow run: inventory, plan, durable state, audit, timings."""

    def __init__(
        self,
        inventory_path: str,
        inv: Inventory,
        cl: ClusterConfig,
        spec: UnitSpec,
        plan: RenewalPlan,
        settings: RenewalSettings,
        run_id: str,
        store: RenewalStore,
        state: RenewalState,
    ) -> None:
        self.path = inventory_path
        self.inv = inv
        self.cl = cl
        self.spec = spec
        self.plan = plan
        self.s = settings
        self.run_id = run_id
        self.store = store
        self.state = state
        self.log = get_run_logger()
        self.pub = cl.publisher.fqdn
        self.snapshots: dict[str, t.NodeSnapshot] = {}

    @property
    def who(self) -> str:
        return f"certops run {self.run_id}"

    def save(self) -> None:
        self.store.save(self.state)

    def audit(
        self,
        operation: str,
        *,
        node: str | None = None,
        detail: str = "",
        who: str | None = None,
        before: str | None = None,
        after: str | None = None,
    ) -> None:
        audit.append(
            AuditRecord(
                who=who or self.who,
                run_id=self.run_id,
                cluster=self.cl.name,
                node=node,
                unit=self.spec.name,
                operation=operation,
                detail=detail,
                fingerprint_before=before,
                fingerprint_after=after,
                approver=self.state.approver,
            )
        )

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.state.timings[name] = self.state.timings.get(name, 0.0) + time.monotonic() - t0
            self.save()

    def progress(self) -> list[NodeProgress]:
        return [self.state.node(n.fqdn, n.role.value) for n in self.plan.nodes]

    def drf_gate(self) -> None:
        """Wait until no DRF job runs (units with a DRF rule), in a task of its own: before a step that is no change."""
        if Precondition.NO_DRF_JOB in self.spec.preconditions:
            waited = t.wait_drf_idle(
                self.path, self.cl.name, self.pub, self.spec.name, self.s.drf_wait_timeout, self.s.drf_poll
            )
            if waited > 0.5:
                self.log.info("waited %.0f s for DRF: the backup or restore finished", waited)

    @property
    def drf(self) -> t.DrfCheck | None:
        """For the task that makes a change: wait for DRF in it, right before the change (units with a DRF rule)."""
        if Precondition.NO_DRF_JOB not in self.spec.preconditions:
            return None
        return t.DrfCheck(publisher=self.pub, timeout=self.s.drf_wait_timeout, poll=self.s.drf_poll)


def _preflight(r: _Run) -> None:
    spec, cl, st = r.spec, r.cl, r.state
    # every node at once: reads only, and a CLI login takes seconds per node (the banner)
    futures = {
        n.fqdn: t.read_node.submit(r.path, cl.name, n.fqdn, spec.name, r.s.drf_wait_timeout, r.s.drf_poll)
        for n in r.plan.nodes
    }
    # the phones' baseline beside the node reads (RisPort70 on the publisher, no CLI): no unit that
    # resets phones waits at a gate between (SSO, DRF: tests/unit/test_units_table.py), so it is never stale
    baseline = None
    if spec.reset_phones and st.phones_baseline is None:
        baseline = t.count_phones.submit(
            r.path, cl.name, r.pub, r.s.ris_requests_per_minute, r.s.ris_window, r.s.ris_rate_limited_max_wait
        )
    # the Cluster Security Mode beside them too (AXL on the publisher, no CLI)
    mode = None
    if Precondition.SECURITY_MODE_KNOWN in spec.preconditions or spec.ctl_update_in_mixed_mode:
        mode = t.read_security_mode.submit(r.path, cl.name, r.pub)
    for n, p in zip(r.plan.nodes, r.progress(), strict=True):
        try:
            snap = futures[n.fqdn].result()
        except CertopsError as exc:
            if not exc.transient or not _interrupted_https_restarts(p):
                raise
            snap = _read_node(r, n.fqdn, p)  # HTTPS down after an interrupted Tomcat restart: finish it
        r.snapshots[n.fqdn] = snap
        if p.before is None and snap.certificate is not None and not p.identity_uploaded:
            p.before = steps.summary_of(snap.certificate)
        p_version = parse_version(snap.version)
        if p_version[0] != parse_version(n.version)[0]:
            r.log.warning("%s runs %s; the inventory says %s", n.fqdn, snap.version, n.version)
    if mode is not None:
        st.security_mode = mode.result()
        r.log.info("Cluster Security Mode: %s", {0: "non-secure", 1: "mixed"}.get(st.security_mode, st.security_mode))
    if Precondition.SSO_DISABLED in spec.preconditions and st.sso_confirmed_by is None:
        _sso_gate(r)
    r.drf_gate()
    if baseline is not None:
        pc = baseline.result()
        st.phones_baseline, st.phones_baseline_stamps = pc.registered, dict(pc.stamps)
        r.log.info("phone baseline: %d registered", st.phones_baseline)
    # before the ITL signer changes; a rerun after an upload meets phones away because of this renewal
    if Precondition.EVERY_PHONE_REGISTERED in spec.preconditions and not any(
        p.identity_uploaded or p.trust_uploaded for p in r.progress()
    ):
        _every_phone_gate(r)
    r.save()


def _every_phone_gate(r: _Run) -> None:
    """ITLRecovery: refuse (nothing changed) unless every configured phone is registered now."""
    configured = t.list_phones(r.path, r.cl.name, r.pub)
    away = unregistered(configured, r.state.phones_baseline_stamps)
    if not away:
        r.log.info("every phone is registered (%d configured)", len(configured))
        return
    raise PolicyViolation(
        f"cluster {r.cl.name} [{r.spec.name}]: {len(away)} of {len(configured)} configured phones are not registered "
        f"({names_text(away)}); Cisco's Security Guides renew ITLRecovery only with every phone registered — a phone "
        "that is away while the ITL signer changes cannot verify the new ITL file and needs its ITL deleted by hand. "
        "Nothing was changed",
        cluster=r.cl.name,
        unit=r.spec.name,
        rule="phones_registered",
        hint="bring those phones back (or delete phones that no longer exist) and rerun; RisPort70 and "
        "Unified CM Administration > Device > Phone show which are unregistered",
    )


_HTTPS_HOSTS = ("Cisco Tomcat",)
"""Services whose restart takes the node's HTTPS (certmgr REST, SOAP) down while it runs."""


def _interrupted_https_restarts(p: NodeProgress) -> list[str]:
    """Restarts of HTTPS-serving services an earlier run asked for on this node and never saw finish."""
    return [s for s in p.restart_attempted if s in _HTTPS_HOSTS and s not in p.restarted]


def _read_node(r: _Run, fqdn: str, p: NodeProgress) -> Any:
    """Preflight read of one node; finishes a Tomcat restart an earlier run left unconfirmed.

    A run that dies during ``utils service restart Cisco Tomcat`` may leave Tomcat down (the CLI
    restart ends with the SSH session); the node then refuses HTTPS. The restart was recorded as
    attempted before it was requested, so it is repeated once here, over the CLI, and only then.
    """
    try:
        return t.read_node(r.path, r.cl.name, fqdn, r.spec.name, r.s.drf_wait_timeout, r.s.drf_poll)
    except CertopsError as exc:
        interrupted = _interrupted_https_restarts(p)
        if not exc.transient or not interrupted:
            raise
    for service in interrupted:
        r.log.warning(
            "%s: HTTPS does not answer and the earlier run's restart of %s was not confirmed; "
            "restarting it once more over the CLI",
            fqdn,
            service,
        )
        out = t.restart_service(
            r.path,
            r.cl.name,
            fqdn,
            r.spec.name,
            service,
            "cli",
            r.s.restart_timeout,
            r.s.restart_poll,
            t.EarlierAttempt(at=None),  # HTTPS down: restart it whatever the listing says
        )
        p.restarted.append(service)
        r.audit("restart", node=fqdn, detail=f"{service} via cli: {out.reason} (after an interrupted run)")
        r.save()
    return t.read_node(r.path, r.cl.name, fqdn, r.spec.name, r.s.drf_wait_timeout, r.s.drf_poll)


def _sso_gate(r: _Run) -> None:
    policy = r.inv.policy_for(r.cl)
    for attempt in range(1, 4):
        status = t.read_sso_status(r.path, r.cl.name, r.pub)
        if not status.enabled:
            if attempt > 1:
                r.state.sso_confirmed_by = r.state.sso_confirmed_by or "certops"
            return
        if policy.sso_policy == "refuse":
            raise PolicyViolation(
                f"cluster {r.cl.name} [{r.spec.name}]: SAML SSO is enabled; a tomcat renewal would break SSO logins. "
                "Nothing was changed",
                cluster=r.cl.name,
                unit=r.spec.name,
                rule="sso",
                hint="disable SAML SSO (Cisco Unified CM Administration > System > SAML Single Sign-On), rerun the "
                "renewal, then re-enable SSO and re-export the SP metadata to the IdP if per-node SSO is used "
                "(or set policy.sso_policy: wait_for_person)",
            )
        got = request_sso_confirmation(
            r.cl.name, attempt=attempt, timeout=r.s.lock_wait_timeout, poll_interval=r.s.approval_poll_interval
        )
        r.state.sso_confirmed_by = got.approver
        r.audit("sso_confirmed_disabled", who=got.approver)
    raise PolicyViolation(
        f"cluster {r.cl.name}: SSO still reads as enabled after three confirmations; nothing was changed",
        cluster=r.cl.name,
        unit=r.spec.name,
        rule="sso",
        hint="check 'utils sso status' on the publisher",
    )


def _inflight_gate(r: _Run, *, after_own_csr: bool) -> None:
    """Look on the nodes for another ITL-group renewal in flight (``certops.renewal.inflight``).

    Before this renewal's first CSR: wait (bounded, ``on_busy=wait``) or refuse while one is seen.
    Right after it: refuse at once (two renewals that see each other both back off).
    """
    st = r.state
    own = {p.csr.fingerprint_sha256 for p in r.progress() if p.csr is not None}
    finished = inflight.finished_renewals(r.store, r.cl.name)
    if r.s.ignore_pending_csrs:
        r.log.warning(
            "IGNORING pending CSRs named by the operator as leftovers: %s", ", ".join(r.s.ignore_pending_csrs)
        )
        r.audit("ignore_pending_csr", detail=", ".join(r.s.ignore_pending_csrs))
    deadline = time.monotonic() + r.s.lock_wait_timeout
    announced = False
    phones = after_own_csr and st.phones_baseline is not None
    while True:
        look = t.look_for_inflight(r.path, r.cl.name, r.spec.name, phones)
        found = inflight.find_inflight(
            look,
            unit=r.spec.name,
            own_csrs=own,
            ignore=r.s.ignore_pending_csrs,
            recent_window=r.s.inflight_recent_window,
            finished=finished,
            phones_baseline=st.phones_baseline if phones else None,
        )
        if not found:
            if announced:
                r.log.info("the cluster shows no other ITL-group renewal in flight any more")
            return
        if after_own_csr or r.s.on_busy == "refuse" or time.monotonic() >= deadline:
            raise inflight.refusal(r.cl.name, r.spec.name, found, after_own_csr=after_own_csr)
        if not announced:
            r.log.warning(
                "cluster %s: %s waits (up to %.0f s): another ITL-group renewal looks in flight: %s",
                r.cl.name,
                r.spec.name,
                r.s.lock_wait_timeout,
                "; ".join(f.line() for f in found),
            )
            announced = True
        time.sleep(r.s.lock_poll)


def _csrs(r: _Run) -> None:
    if _multi.active(r):  # one multi-server CSR on the (IM&P) publisher
        _multi.csrs(r, _inflight_gate)
        return
    check = r.spec.exclusion_group is not None and not r.state.changed_anything
    if check:
        _inflight_gate(r, after_own_csr=False)
    todo = [(n, p) for n, p in zip(r.plan.nodes, r.progress(), strict=True) if not p.identity_uploaded]
    if check and todo:
        # the in-flight look after this run's first CSR (another shell's CSR on the cluster) comes
        # before any other node is touched
        _take_csrs(r, todo[:1])
        _inflight_gate(r, after_own_csr=True)
        todo = todo[1:]
    _take_csrs(r, todo)


def _take_csrs(r: _Run, todo: list[tuple[Any, NodeProgress]]) -> None:
    """The CSRs of ``todo``'s nodes, asked of every node at once (each node makes its own key).

    Recorded in the plan's order; when a node fails, the CSRs the others made are recorded first
    (a rerun reuses them), then the first failure stands (:func:`_each_at_once`).
    """
    requested_before = {p.fqdn: p.csr_requested for _, p in todo}
    for _, p in todo:
        if p.csr is None and not p.csr_requested:
            p.csr_requested = True
    r.save()
    snapshots = {n.fqdn: r.snapshots.get(n.fqdn) for n, _ in todo}

    def submit(p: NodeProgress) -> Any:
        snap = snapshots[p.fqdn]
        current = snap.certificate if snap else None  # its SANs are kept in the new CSR
        return t.generate_csr.submit(
            r.path,
            r.cl.name,
            p.fqdn,
            r.spec.name,
            current,
            p.csr,
            p.sent_to_ca,
            p.identity_uploaded,
            requested_before[p.fqdn],
            r.s.drf_wait_timeout,
            r.s.drf_poll,
        )

    def record(p: NodeProgress, got: tuple[CsrArtifact, bool]) -> None:
        artifact, reused = got
        if reused:
            r.log.info(
                "%s: reusing the CSR this renewal already made (sha256 %s…)", p.fqdn, artifact.fingerprint_sha256[:16]
            )
        else:
            p.csr, p.ticket, p.chain = artifact, None, None
            p.trust_pems, p.identity_pems, p.leaf_fingerprint = [], [], None
            r.audit("generate_csr", node=p.fqdn, detail=f"CSR sha256 {artifact.fingerprint_sha256}")

    _each_at_once(r, [p for _, p in todo], submit, record)


def _guide_warnings(r: _Run, stage: str) -> None:
    """Cisco's Security Guides' warnings (``certops.x509.usages``): logged, kept in the state and the report.

    ``csr``: before anything goes to a CA (key size, mixed mode, SSO); ``chain``: on the signed
    chain before the upload (CA key size in mixed mode, CAPF's room for LSCs); ``done``: what to
    do now (a DRF backup; SIP OAuth phones after a Tomcat restart on 14+).
    """
    from certops.x509 import usages

    st, spec = r.state, r.spec
    found: list[str] = []
    if stage == "csr":
        csrs = {p.fqdn: p.csr.pem for p in r.progress() if p.csr is not None and not p.identity_uploaded}
        sso = bool(st.sso_confirmed_by) if Precondition.SSO_DISABLED in spec.preconditions else None
        found = usages.presend_warnings(spec.name, csrs, security_mode=st.security_mode, sso_enabled=sso)
    elif stage == "chain":
        for p in r.progress():
            if p.identity_pems and not p.identity_uploaded:
                ws = usages.chain_warnings(spec.name, p.identity_pems[0], p.trust_pems, security_mode=st.security_mode)
                found += [f"{p.fqdn}: {w}" for w in ws]
    else:
        found.append(
            f"{DUE_NOW_PREFIX} {r.cl.name} now: a restore from a backup without the new {spec.name} "
            "certificate forces an unlock of every phone by hand (Cisco Security Guide)"
        )
        # tomcat on 14+: the phones that use SIP OAuth are reset, or named for a person (_sip_oauth)
    for w in found:
        if w not in st.guide_warnings:
            st.guide_warnings.append(w)
            r.log.warning("%s", w)
    r.save()


def _accept(p: NodeProgress, report: Any) -> None:
    p.trust_pems = [u.pem for u in report.trust_uploads]
    p.identity_pems = list(report.identity_pems)
    p.leaf_fingerprint = report.leaf_fingerprint_sha256
    p.leaf_summary = steps.summary_of_pem(report.leaf_pem)


def _sign_automatic(r: _Run) -> None:
    todo = [p for p in _multi.signing(r) if p.leaf_fingerprint is None and not p.identity_uploaded]
    # every node's CSR goes to the CA at once, and every chain is collected at once (an ACME order
    # takes seconds); each ticket and chain is recorded as it comes, in the plan's order
    _each_at_once(
        r,
        [p for p in todo if p.ticket is None],
        lambda p: t.submit_csr.submit(r.path, r.cl.name, _known(p.csr)),
        lambda p, ticket: setattr(p, "ticket", ticket),
    )
    _each_at_once(
        r,
        [p for p in todo if p.chain is None],
        lambda p: t.collect_signed.submit(
            r.path, r.cl.name, _known(p.ticket), r.s.ca_poll_timeout, r.s.ca_poll_interval
        ),
        lambda p, chain: setattr(p, "chain", chain),
    )
    for p in todo:
        assert p.csr is not None and p.chain is not None
        report = t.check_chain(p.csr, p.chain, r.spec.name)
        if not report.ok:
            raise steps.RenewalStopped(
                f"{p.fqdn} [{r.spec.name}]: the CA's chain fails the checks; nothing was uploaded: "
                + "; ".join(x.line() for x in report.problems),
                hint="fix the CA profile, then rerun (the same CSR is reused)",
            )
        _accept(p, report)
        r.save()


def _known(value: T | None) -> T:
    """``value``, which the step before recorded (a CSR before its signature, a ticket before its chain)."""
    assert value is not None
    return value


def _each_at_once(
    r: _Run,
    todo: list[NodeProgress],
    submit: Callable[[NodeProgress], Any],
    record: Callable[[NodeProgress, Any], None],
) -> None:
    """``submit`` a task for every node of ``todo`` at once; ``record`` each result in order and save.

    When one fails, the others' results are recorded first (a rerun does not ask for them again),
    then the first failure stands.
    """
    futures = [submit(p) for p in todo]
    failure: Exception | None = None
    for p, future in zip(todo, futures, strict=True):
        try:
            got = future.result()
        except Exception as exc:  # noqa: BLE001 - recorded after the other nodes' results
            failure = failure or exc
            continue
        record(p, got)
        r.save()
    if failure is not None:
        raise failure


def _sign_by_person(r: _Run, instructions: str, timeout_days: float) -> None:
    st = r.state
    if st.approval_deadline is None:
        st.approval_deadline = dt.datetime.now(dt.UTC) + dt.timedelta(days=timeout_days)
    while True:
        todo = [p for p in _multi.signing(r) if p.leaf_fingerprint is None and not p.identity_uploaded]
        if not todo:
            return
        if st.approval_attempt == 0:
            st.approval_attempt = 1
        files = _write_csr_files(r, todo)
        for p in todo:
            p.ticket = p.ticket or _manual_ticket(p)
        r.save()
        _notify_approval(r, instructions)
        _announce_pause(r, todo, instructions, files)
        got = request_chain(
            st,
            instructions=instructions,
            deadline=st.approval_deadline,
            poll_interval=r.s.approval_poll_interval,
            csr_files=files,
        )
        if got.decision == "deny":
            st.approver, st.denied_reason = got.approver, got.comment or "no reason given"
            raise RenewalDenied(f"denied by {got.approver}: {st.denied_reason}")
        problems = _check_pasted(r, todo, got.chain_pem, got.approver)
        if problems:
            _refuse_pasted(r, got, problems)
            continue
        st.approver, st.approval_comment, st.approval_problems = got.approver, got.comment or None, []
        r.audit("approve", who=got.approver, detail=got.comment)
        r.save()


def _write_csr_files(r: _Run, todo: list[NodeProgress]) -> dict[str, str]:
    """The manual backend writes each CSR to its ``csr_directory`` (node -> file); a write failure only warns."""
    from certops.ca.manual import ManualCa

    backend = ca_backend(r.inv, r.cl.name)
    if not isinstance(backend, ManualCa):
        return {}
    files: dict[str, str] = {}
    for p in todo:
        assert p.csr is not None
        try:
            files[p.fqdn] = str(backend.write_csr(p.csr.pem, unit=r.spec.name, node=p.fqdn, cluster=r.cl.name))
        except OSError as exc:
            r.log.warning(
                "%s [%s]: the CSR file could not be written in %s (%s); certops csr %s --dir DIR writes it elsewhere",
                p.fqdn,
                r.spec.name,
                backend.csr_directory,
                exc.strerror or exc,
                r.run_id,
            )
    return files


def _announce_pause(r: _Run, todo: list[NodeProgress], instructions: str, files: dict[str, str]) -> None:
    """Say in the terminal (and the run's log) that the run waits for a person, and exactly what to do."""
    from prefect.settings import PREFECT_API_URL

    from certops.ca.manual import approval_request_text

    text = approval_request_text(
        run_id=r.run_id,
        cluster=r.cl.name,
        unit=r.spec.name,
        nodes=[p.fqdn for p in todo],
        csrs={p.fqdn: p.csr.pem for p in todo if p.csr is not None},
        csr_files=files,
        deadline=r.state.approval_deadline,
        api_url=PREFECT_API_URL.value(),
        instructions=instructions,
        problems=r.state.approval_problems,
    )
    r.log.warning("%s", text)


def _manual_ticket(p: NodeProgress) -> Any:
    from certops.ca.base import CaTicket

    assert p.csr is not None
    return CaTicket(backend="manual", reference=p.csr.fingerprint_sha256)


def _refuse_pasted(r: _Run, got: Any, problems: list[str]) -> None:
    """A refused answer never ends the run: record why, forget any secret in it, and ask again (new key)."""
    from certops.x509.read import holds_private_key
    from flows.approval import forget_run_input

    st = r.state
    secret = holds_private_key(got.chain_pem)
    st.approval_problems = problems
    st.approval_attempt += 1
    r.save()  # first: a crash from here on asks again under the next key
    if secret and not forget_run_input(got):
        r.log.error("the pasted text held a secret key and could not be deleted from the run's input on the server")
    r.log.warning("the pasted chain was not accepted, asking again: %s", "; ".join(problems))
    detail = "the pasted text held a secret key block; refused, discarded and never stored" if secret else ""
    r.audit("approval_rejected", who=got.approver, detail=detail or _audit_safe("; ".join(problems)))


def _audit_safe(text: str) -> str:
    """The audit log refuses records that mention keys; a refusal's reasons are recorded without the word."""
    return re.sub(r"private key", "secret key", text, flags=re.IGNORECASE)


def _check_pasted(r: _Run, todo: list[NodeProgress], pem_text: str, approver: str) -> list[str]:
    """Every check on a pasted answer (the same as ``certops approve``'s); nothing is accepted unless all pass."""
    from certops.ca.base import SignedChainPem
    from certops.x509.checks import check_pasted, pinned_bundle

    csrs = {p.fqdn: p.csr.pem for p in todo if p.csr is not None}
    tls = r.inv.tls_for(r.cl)
    bundle = pinned_bundle(r.spec.name, verify=tls.verify, ca_bundle=tls.ca_bundle)
    source = f"the text pasted by {approver}"
    try:
        # lone surrogates (bytes decoded as text somewhere) must not end the run: they become '?'
        verdict = check_pasted(
            csrs, [pem_text.encode("utf-8", "replace")], r.spec.name, names=[source], tls_bundle=bundle
        )
    except CertopsError as exc:
        return [str(exc)]
    except Exception as exc:  # noqa: BLE001  (whatever was pasted, the run keeps waiting and asks again)
        return [f"{source} could not be checked ({type(exc).__name__}); give PEM certificates as the CA sent them"]
    if verdict.problems or any(p.fqdn not in verdict.reports for p in todo):
        return verdict.problems or ["no certificate pasted matches the nodes' CSRs (public key)"]
    for p in todo:
        report = verdict.reports[p.fqdn]
        p.chain = SignedChainPem(
            leaf_pem=report.leaf_pem, chain_pems=[u.pem for u in report.trust_uploads], source=f"pasted by {approver}"
        )
        _accept(p, report)
    return []


def _window_gate(r: _Run) -> None:
    if all(p.identity_uploaded for p in r.progress()):
        return
    policy = r.inv.policy_for(r.cl)
    expiries = [p.before.not_after for p in r.progress() if p.before is not None]
    wait = waiting.Wait(
        f"cluster {r.cl.name} [{r.spec.name}]",
        "the maintenance window",
        bound=None,  # set to the time until it opens (at most window_wait_max) once known
        log=r.log.info,
    )
    while True:
        now = dt.datetime.now(dt.UTC)
        d = window_decision(
            r.cl.maintenance_windows,
            now,
            earliest_expiry=min(expiries) if expiries else None,
            urgent_days=policy.urgent_days,
        )
        if d.allowed:
            wait.done("the maintenance window is open")
            (r.log.warning if d.urgent else r.log.info)("maintenance window: %s", d.reason)
            return
        wait_s = (d.next_start - now).total_seconds() if d.next_start else None
        if not r.s.window_wait or wait_s is None or wait_s > r.s.window_wait_max:
            raise PolicyViolation(
                f"cluster {r.cl.name} [{r.spec.name}]: {d.reason}; nothing was uploaded",
                cluster=r.cl.name,
                unit=r.spec.name,
                rule="window",
                hint="rerun inside the window (the signed certificates are kept), or widen the window",
            )
        if not wait.started:
            wait.bound = wait_s
        wait.tick(f"{d.reason}; it opens in {waiting.duration(wait_s)}")
        time.sleep(min(wait_s, 300.0, r.s.wait_progress_interval))


def _tls_trust_gate(r: _Run) -> None:
    """tomcat: after the restart the node's HTTPS presents the new chain; certops must still trust it.

    When ``tls.ca_bundle`` pins the CAs certops trusts and the new root is not in it, certops would
    lock itself out of the node right after the Tomcat restart. Refuse before any upload instead.
    """
    from certops.x509.checks import pinned_bundle, tls_trust_problem

    tls = r.inv.tls_for(r.cl)
    bundle = pinned_bundle(r.spec.name, verify=tls.verify, ca_bundle=tls.ca_bundle)
    if bundle is None:
        return
    for p in r.progress():
        if p.identity_uploaded or not p.trust_pems:
            continue
        # the same check (and the same fix) a person's answer gets at approval time (_check_pasted)
        problem = tls_trust_problem(p.trust_pems[0], bundle, then="rerun (the signed certificates are kept)")
        if problem is not None:
            raise PolicyViolation(
                f"{p.fqdn} [{r.spec.name}]: {problem.message}. Nothing was uploaded",
                cluster=r.cl.name,
                unit=r.spec.name,
                rule="tls_trust",
                hint=problem.hint,
            )


def _uploads(r: _Run) -> None:
    if r.spec.trust_via_imp_publisher:  # IM&P: the CA certificates replicate from the IM&P publisher
        _imp.trust_via_publisher(r)
    if _multi.active(r):  # the leaf on the (IM&P) publisher; CUCM distributes it to the other nodes
        _multi.uploads(r)
        return
    for p in r.progress():
        if p.identity_uploaded:
            continue
        assert p.leaf_fingerprint is not None
        if not p.trust_uploaded:
            added = t.upload_trust(
                r.path, r.cl.name, p.fqdn, r.spec.name, p.trust_pems, r.s.drf_wait_timeout, r.s.drf_poll, r.drf
            )
            for fp in added:
                r.audit("upload_trust", node=p.fqdn, after=fp, detail=f"to {r.spec.trust_store}")
            p.trust_uploaded = True
            r.save()
        uploaded, before = t.upload_identity(
            r.path,
            r.cl.name,
            p.fqdn,
            r.spec.name,
            p.identity_pems,
            p.leaf_fingerprint,
            r.s.drf_wait_timeout,
            r.s.drf_poll,
            r.drf,
        )
        p.identity_uploaded = True
        if uploaded:
            r.audit("upload_identity", node=p.fqdn, before=before, after=p.leaf_fingerprint)
        r.save()


def _ctl(r: _Run) -> None:
    if r.spec.ctl_update_in_mixed_mode and r.state.security_mode == 1 and not r.state.ctl_updated:
        if r.state.ctl_update_attempted:
            # An earlier run asked for it and died before seeing the answer. Repeating it is the
            # safe side: a CTL left without the new certificate in mixed mode breaks phones, a
            # second update only re-signs the same file (docs/renewal.md "Reruns").
            r.log.warning("the CTL update of an earlier run was not confirmed; updating the CTL once more")
        r.state.ctl_update_attempted = True
        r.save()
        t.ctl_update(r.path, r.cl.name, r.pub)
        r.state.ctl_updated = True
        r.audit("ctl_update", node=r.pub, detail="utils ctl update CTLFile (mixed mode)")
        r.save()


def _restarts(r: _Run) -> None:
    nodes = list(zip(r.plan.nodes, r.progress(), strict=True))
    for i, (n, p) in enumerate(nodes):
        if p.restarts_done:
            continue
        for rs in r.spec.restarts_for(n.role, n.release):  # down to the SU (certops.units.parse_release)
            if rs.service in p.restarted:
                continue
            attempted_before = rs.service in p.restart_attempted
            if not attempted_before:
                p.restart_attempted.append(rs.service)
                p.restart_attempted_at[rs.service] = dt.datetime.now(dt.UTC)
                r.save()
            try:
                out = t.restart_service(
                    r.path,
                    r.cl.name,
                    n.fqdn,
                    r.spec.name,
                    rs.service,
                    rs.via.value,
                    r.s.restart_timeout,
                    r.s.restart_poll,
                    _attempt_of(p, rs.service) if attempted_before else None,
                    r.drf,
                )
            except steps.RenewalStopped as exc:
                rest = [m.fqdn for m, _ in nodes[i + 1 :]]
                done = ", ".join(p.restarted) or "none"
                restarted_nodes = [m.fqdn for m, q in nodes[:i] if q.restarts_done]
                uploaded = [q.fqdn for _, q in nodes if q.identity_uploaded]
                raise steps.RenewalStopped(
                    f"{exc.message}. Done: the new {r.spec.name} certificate is uploaded on "
                    f"{', '.join(uploaded) or 'no node'}; nodes restarted: {', '.join(restarted_nodes) or 'none'}"
                    f"; on {n.fqdn} already restarted: {done}. Not done: {rs.service} on {n.fqdn}, "
                    f"the restarts of {', '.join(rest) or 'no other node'}, the phones and the verification. "
                    "A plain rerun of the same certops renew continues from there (uploads and restarts done are "
                    "not repeated)",
                    hint=exc.hint,
                ) from exc
            if out.done:
                p.restarted.append(rs.service)
                how = f"Started in {out.seconds:.1f} s" if out.restarted else out.reason
                r.audit("restart", node=n.fqdn, detail=f"{rs.service} via {rs.via.value}: {how}")
            else:  # not activated / not running before we came: never touched, so not "attempted"
                p.restart_attempted.remove(rs.service)
                p.restart_attempted_at.pop(rs.service, None)
                r.log.info("%s: %s not restarted: %s", n.fqdn, rs.service, out.reason)
            r.save()
        p.restarts_done = True
        r.save()


def _attempt_of(p: NodeProgress, service: str) -> t.EarlierAttempt:
    """What a rerun knows of an earlier run's unconfirmed restart of ``service`` on ``p``'s node."""
    at = p.restart_attempted_at.get(service)
    return t.EarlierAttempt(at=at.isoformat() if at else None, new_leaf=p.leaf_fingerprint)


def _phone_interaction(r: _Run) -> PhoneStep:
    """Read "Phone Interaction on Certificate Update" before the phone step; decide and say why.

    CUCM resets the phones itself when a TVS, CAPF or CallManager/TFTP certificate changes and the
    parameter is automatic (Cisco's default): a reset by certops would double the outage, so
    certops watches instead (``certops.renewal.phones.phone_step``).
    """
    from certops.errors import CertopsError

    st = r.state
    if st.phones_interaction is None:
        try:
            got = t.read_phone_interaction(r.path, r.cl.name, r.pub)
        except CertopsError as exc:
            got = f"unknown ({exc.message})"
        st.phones_interaction = got or "absent"
        r.save()
    step, why = phone_step(r.spec, st.phones_interaction)
    if step is PhoneStep.WATCH_AUTOMATIC and st.phones_baseline and not st.phones_baseline_stamps:
        # a renewal begun by a certops that kept only the count: no phone can be told back from not back
        step, why = PhoneStep.RESET_ALL, why + "; but this renewal's baseline names no phones, so certops resets all"
    r.log.info("cluster %s [%s]: %s", r.cl.name, r.spec.name, why)
    return step


def _reset_phones(r: _Run, only: list[str] | None) -> int:
    """Reset ``only`` these phones (None: every phone) in the run's batches; returns how many were reset.

    Each phone is recorded as attempted (and the state saved) before its reset is asked for, so a
    rerun after a crash does not reset it twice.
    """
    st = r.state

    def before_reset(name: str) -> None:
        st.phones_reset_attempted.append(name)
        r.save()

    count: int = t.reset_phones(
        r.path,
        r.cl.name,
        r.pub,
        r.s.phone_batch_size,
        r.s.phone_batch_pause,
        list(st.phones_reset_attempted),
        before_reset,
        only,
    )
    return count


def _sip_oauth(r: _Run) -> None:
    """Tomcat on 14+: reset the phones that use SIP OAuth after the Tomcat restart (Cisco Security Guide 14SU2).

    With the inventory's ``policy.sip_oauth_phones: list`` certops only names them (report, Slack,
    a warning) for a person to reset.
    """
    st = r.state
    if st.sip_oauth_done or not sip_oauth_due(r.spec, [n.release for n in r.plan.nodes]):
        return
    if st.sip_oauth_phones is None:
        st.sip_oauth_phones = t.read_sip_oauth_phones(r.path, r.cl.name, r.pub)
        r.save()
    names = st.sip_oauth_phones
    guide = "after the Tomcat restart on CUCM 14+ (Cisco Security Guide 14SU2)"
    if not names:
        st.phones_outcome = f"no phone uses SIP OAuth: none to reset {guide}"
    elif r.inv.policy_for(r.cl).sip_oauth_phones == "list":
        st.phones_outcome = (
            f"{len(names)} phones use SIP OAuth and must be reset by hand {guide}: {names_text(names)} "
            "(policy sip_oauth_phones: list; certops reset none)"
        )
        st.guide_warnings.append(st.phones_outcome)
        r.log.warning("%s", st.phones_outcome)
    else:
        count = _reset_phones(r, list(names))
        r.audit("reset_phones", detail=f"{count} phones that use SIP OAuth reset {guide}")
        st.phones_outcome = f"certops reset the {len(names)} phones that use SIP OAuth {guide}: {names_text(names)}"
    st.sip_oauth_done = True
    r.log.info("%s", st.phones_outcome)
    r.save()


def _phones(r: _Run) -> None:
    """The phone step: watch the automatic reset (resetting only the phones not back) or reset every phone.

    Then wait (bounded) until the registered count is back to the baseline; the outcome, in one
    line, goes to the report and Slack ("phones reset themselves: 118/120 back; certops reset 2 …").
    Tomcat on 14+: the phones that use SIP OAuth instead (:func:`_sip_oauth`).
    """
    st = r.state
    _sip_oauth(r)
    if not r.spec.reset_phones or st.phones_reregistered:
        return
    assert st.phones_baseline is not None
    if not st.phones_reset:
        step = _phone_interaction(r)
        only: list[str] | None = None
        if step is PhoneStep.WATCH_AUTOMATIC:
            if not st.phones_watched:
                st.phones_not_back = t.watch_automatic_reset(
                    r.path,
                    r.cl.name,
                    r.pub,
                    r.spec.name,
                    dict(st.phones_baseline_stamps),
                    r.s.registration_timeout,
                    r.s.registration_interval,
                    r.s.ris_requests_per_minute,
                    r.s.ris_window,
                    r.s.ris_rate_limited_max_wait,
                )
                st.phones_watched = True
                total = len(st.phones_baseline_stamps)
                missing = st.phones_not_back
                r.audit(
                    "phones_reset_themselves",
                    detail=f"{total - len(missing)}/{total} back by themselves"
                    + (f"; not back: {names_text(missing)}" if missing else ""),
                )
                r.save()
            only = list(st.phones_not_back)
        if only is None or only:
            count = _reset_phones(r, only)
            what = "that did not come back by themselves" if only is not None else "(every phone)"
            r.audit("reset_phones", detail=f"{count} phones reset {what} in batches of {r.s.phone_batch_size}")
        st.phones_reset = True
        r.save()
    if st.phones_watched and not st.phones_not_back:
        got = len(st.phones_baseline_stamps)  # the watch saw every phone back: no need to spend RisPort70 on it
    else:
        got = t.wait_registration(
            r.path,
            r.cl.name,
            r.pub,
            r.spec.name,
            st.phones_baseline,
            r.s.registration_timeout,
            r.s.registration_interval,
            r.s.ris_requests_per_minute,
            r.s.ris_window,
            r.s.ris_rate_limited_max_wait,
        )
    st.phones_reregistered = True
    st.phones_outcome = outcome_text(
        interaction=st.phones_interaction,
        baseline=len(st.phones_baseline_stamps) if st.phones_watched else st.phones_baseline,
        watched=st.phones_watched,
        stuck=st.phones_not_back,
        reset=len(set(st.phones_reset_attempted)),
        registered=got,
    )
    r.log.info("phones re-registered: %d (baseline %d): %s", got, st.phones_baseline, st.phones_outcome)
    r.save()


def _verify(r: _Run) -> None:
    """Every node at once (reads only, after the last restart): each one serves the new certificate."""

    def submit(p: NodeProgress) -> Any:
        old = p.before.fingerprint_sha256 if p.before else None
        return t.verify_node.submit(r.path, r.cl.name, p.fqdn, r.spec.name, _known(p.leaf_fingerprint), old)

    def record(p: NodeProgress, after: Any) -> None:
        p.after, p.verified = after, True

    _each_at_once(r, [p for p in r.progress() if not p.verified], submit, record)


# --- Slack: one thread per renewal; a Slack problem never fails or blocks the renewal ---------------


def _run_url(run_id: str) -> str | None:
    """The Prefect UI page of this run, when ``PREFECT_UI_URL`` is known (else the inventory's ``ui_url``)."""
    try:
        from prefect.settings import PREFECT_UI_URL

        base = PREFECT_UI_URL.value()
    except Exception:  # noqa: BLE001  (a missing link must not stop the renewal)
        return None
    return f"{base.rstrip('/')}/runs/flow-run/{run_id}" if base and run_id != "local" else None


def _record(state: RenewalState, what: str, result: DeliveryResult, run_id: str) -> NotificationRecord:
    rec = NotificationRecord(
        what=what, delivered=result.delivered, error=result.error, ts=result.ts, channel=result.channel, run_id=run_id
    )
    state.notifications.append(rec)
    if result.delivered and result.ts and state.slack_thread_ts is None:
        state.slack_thread_ts = result.ts
    return rec


def _notify_approval(r: _Run, instructions: str) -> None:
    """Post "approval needed" once per renewal (a rerun or a resume finds it done in the state)."""
    st = r.state
    if st.approval_notified or r.inv.notifications.slack is None:
        return
    csrs = {p.fqdn: p.csr.pem for p in r.progress() if p.csr is not None}
    req = ApprovalRequest(
        run_id=r.run_id,
        cluster=r.cl.name,
        unit=r.spec.name,
        nodes=list(csrs),
        csr_pems=csrs,
        deadline=st.approval_deadline,
        ui_url=_run_url(r.run_id),
        ca_instructions=instructions,
    )
    result = slack.notify_approval_needed(r.path, req)
    st.approval_notified = True
    _record(st, "approval_needed", result, r.run_id)
    r.save()


def _notify_completed(r: _Run, report: RenewalReport) -> RenewalReport:
    """Post "renewal completed" in the renewal's thread; the report records whether it was delivered."""
    duration = (dt.datetime.now(dt.UTC) - r.state.started_at).total_seconds()
    done = slack.completed_message(report, r.run_id, duration)
    if done is None or r.inv.notifications.slack is None:
        return report
    if done.ui_url is None:
        done = done.model_copy(update={"ui_url": _run_url(r.run_id)})
    result = slack.notify_renewal_completed(r.path, done, r.state.slack_thread_ts)
    _record(r.state, "renewal_completed", result, r.run_id)
    return report.model_copy(update={"notifications": list(r.state.notifications)})


def _notify_failed(
    inventory_path: str,
    inv: Inventory,
    state: RenewalState | None,
    run_id: str,
    cluster: str,
    unit: str,
    exc: CertopsError,
    *,
    what: str,
    blocked: bool,
) -> None:
    """Post "failed/blocked" (what, where, what next) in the renewal's thread; never raises."""
    if inv.notifications.slack is None:
        return
    node = getattr(exc, "node", None)
    fail = RenewalFailed(
        run_id=run_id,
        cluster=cluster,
        unit=unit,
        what=exc.message,
        node=str(node) if node else None,
        next_step=exc.hint or "read the run's log in Prefect, fix the cause named above, then rerun the renewal",
        blocked=blocked,
        ui_url=_run_url(run_id),
    )
    thread = state.slack_thread_ts if state is not None else None
    try:
        result = slack.notify_renewal_failed(inventory_path, fail, thread)
    except Exception as err:  # noqa: BLE001  (Slack must never mask the renewal's own error)
        result = DeliveryResult(delivered=False, error=f"Slack {what} failed unexpectedly: {type(err).__name__}")
    if state is not None:
        _record(state, what, result, run_id)
        if state.status == "active" and state.changed_anything:
            with contextlib.suppress(OSError):
                RenewalStore().save(state)


def _artifact(report: RenewalReport) -> None:
    key = re.sub(r"[^a-z0-9-]", "-", f"renewal-{report.cluster}-{report.unit}".lower())
    create_markdown_artifact(markdown=report.to_markdown(), key=key, description=f"{report.unit} on {report.cluster}")


def _artifact_beside(report: RenewalReport) -> Callable[[], None]:
    """Start writing the report artifact in a thread (the run's context); returns the wait for it.

    A completed renewal writes its report while its claim is released, not before: both are requests
    to the Prefect server (about 40 and 50-110 ms measured). An artifact the server could not take
    does not fail a renewal that is done; the wait says so in the run's log.
    """
    context = contextvars.copy_context()
    failed: list[BaseException] = []

    def write() -> None:
        try:
            context.run(_artifact, report)
        except Exception as exc:  # noqa: BLE001 - told in the run's log by the wait
            failed.append(exc)

    thread = threading.Thread(target=write, name="certops-report-artifact", daemon=True)
    thread.start()

    def wait() -> None:
        thread.join()
        if failed:
            get_run_logger().warning(
                "cluster %s [%s]: the run's report artifact could not be written (%s: %s); the renewal is done "
                "and its report is the run's result (certops renew prints it)",
                report.cluster,
                report.unit,
                type(failed[0]).__name__,
                failed[0],
            )

    return wait


# Failures and blocks are posted by the flow itself (into the renewal's thread, recorded in its state);
# a crash (the process stopped) can only be told by a hook.
@flow(name="renew", persist_result=True, log_prints=True, on_crashed=[slack.renewal_crashed_hook])
def renew(
    inventory_path: str,
    cluster: str,
    unit: str,
    nodes: list[str] | None = None,
    dry_run: bool = False,
    approval_timeout_days: float = 7.0,
    settings: RenewalSettings | None = None,
    ignore_pending_csrs: list[str] | None = None,
    force: bool = False,
    only_if_due: bool = False,
    requested_at: dt.datetime | None = None,
) -> Any:
    """Renew the CA-signed ``unit`` certificate on ``cluster`` (all nodes that hold it, or ``nodes``).

    Publisher first, then subscribers, then IM&P. The signed chain comes from the cluster's CA
    backend, or from a person through an approval (suspend/pause) with a deadline. Returns the
    ``RenewalReport``; a denial ends the run Cancelled with the reason.

    Once it holds the lock, a run asks again whether it is still needed: if another run renewed
    the unit since this one was requested (or, ``only_if_due``, as the scan starts it, the unit is
    no longer due) it ends "nothing to do" without touching the cluster, unless ``force``.
    "Requested" is ``requested_at`` (``certops renew`` passes the moment the command started, before
    its embedded server started) when earlier than the flow run's creation.
    """
    s = settings or RenewalSettings()
    waiting.configure(progress_interval=s.wait_progress_interval)
    if ignore_pending_csrs:
        s = s.model_copy(update={"ignore_pending_csrs": (*s.ignore_pending_csrs, *ignore_pending_csrs)})
    inv = load_inventory(inventory_path)
    spec = unit_spec(unit)
    cl = inv.cluster(cluster)
    plan = plan_renewal(inv, cluster, unit, nodes)
    if dry_run:
        report = RenewalReport(cluster=cluster, unit=unit, status="dry_run", plan=plan.render())
        _artifact(report)
        return report
    ctx = FlowRunContext.get()
    run_id = str(ctx.flow_run.id) if ctx and ctx.flow_run else "local"
    store = RenewalStore()
    log = get_run_logger()

    def unfinished(c: str, u: str) -> bool:
        other = store.load(c, u)
        return other is not None and other.changed_anything

    hostlock = HostLock(cluster, exclusion_key(spec))
    sessions = t.cli_sessions()  # one SSH login per node for the whole run (this process's tasks)
    sessions.__enter__()
    try:
        _take_host_lock(hostlock, cluster, unit, run_id, s, log.info)
        # the preflight logs in on every node: the banners run out while the cluster is claimed
        t.log_in_ahead(inv, cluster, [n.fqdn for n in plan.nodes])
        # this renewal's lock only: not every cluster's (a fleet has hundreds) nor every key's (eleven)
        _locks.ensure_limits(inv, clusters=[cluster], keys=[exclusion_key(spec)])
        _locks.acquire_claim(
            cluster=cluster,
            unit=unit,
            run_id=run_id,
            nodes=[n.fqdn for n in plan.nodes],
            on_busy=s.on_busy,
            wait_timeout=s.lock_wait_timeout,
            poll=s.lock_poll,
            unfinished=unfinished,
            log=log.info,
            on_held=t.close_idle_sessions,  # no session waits on the nodes while another run holds them
        )
    except CertopsError as exc:
        sessions.__exit__(None, None, None)
        hostlock.release()
        _notify_failed(inventory_path, inv, None, run_id, cluster, unit, exc, what="renewal_blocked", blocked=True)
        raise
    except BaseException:
        sessions.__exit__(None, None, None)
        hostlock.release()
        raise
    if not force and store.load(cluster, unit) is None:
        created = ctx.flow_run.created if ctx and ctx.flow_run else None
        requested = min((t for t in (created, requested_at) if t is not None), default=None)
        why = _nothing_to_do(inventory_path, inv, cl, unit, plan, store, requested, only_if_due)
        if why is not None:
            log.info("nothing to do: %s", why)
            try:
                _release_claim(cluster, unit, run_id)
            finally:
                sessions.__exit__(None, None, None)
                hostlock.release()
            report = RenewalReport(cluster=cluster, unit=unit, status="nothing_to_do", run_id=run_id, plan=why)
            _artifact(report)
            return report
    state = store.load(cluster, unit) or RenewalState(cluster=cluster, unit=unit)
    if run_id not in state.run_ids:
        state.run_ids.append(run_id)
    r = _Run(inventory_path, inv, cl, spec, plan, s, run_id, store, state)
    kept = kept_until_done()  # what the process holds now (modules, clients): not walked by collections
    kept.__enter__()
    release = False
    writing: Callable[[], None] | None = None
    try:
        with r.phase("preflight"):
            _preflight(r)
        versions = {fqdn: snap.version for fqdn, snap in r.snapshots.items()}
        known = ClusterState(security_mode=state.security_mode, versions=versions)
        r.plan = plan_renewal(inv, cluster, unit, nodes, state=known)  # restarts follow each node's real version
        with r.phase("csr"):
            _csrs(r)
        _guide_warnings(r, "csr")
        backend = ca_backend(inv, cluster)
        with r.phase("signature"):
            if backend.needs_person:
                # waiting for a person may take days (pause or suspend): the host lock goes; the CSRs
                # pending on the nodes and the Prefect claim keep the other ITL units out meanwhile
                hostlock.release()
                t.close_idle_sessions()  # no CLI session stays open on a node while a person decides
                _, ca_cfg = inv.ca_for(cl)
                _sign_by_person(r, getattr(ca_cfg, "instructions", ""), approval_timeout_days)
            else:
                _sign_automatic(r)
            _multi.share_leaf(r)  # multi-server: every node expects the one leaf (which must name them all)
        _guide_warnings(r, "chain")
        _window_gate(r)
        _tls_trust_gate(r)
        with r.phase("upload"):
            _uploads(r)
        with r.phase("ctl_update"):
            _ctl(r)
        with r.phase("restarts"):
            _restarts(r)
        with r.phase("phones"):
            _phones(r)
        with r.phase("verify"):
            _verify(r)
        _guide_warnings(r, "done")
        report = RenewalReport.from_state(state, status="completed", run_id=run_id)
        r.audit("renewal_done", detail="every node verified")
        report = _notify_completed(r, report)
        store.finish(state, "done")
        writing = _artifact_beside(report)  # written while the claim is released (below)
        if state.sso_confirmed_by:
            log.warning("REMINDER: re-enable SAML SSO on cluster %s (and re-export SP metadata if needed)", cluster)
        release = True
        return report
    except RenewalDenied as exc:
        r.audit("deny", who=state.approver, detail=state.denied_reason or "")
        denial = CertopsError(
            f"denied by {state.approver}: {state.denied_reason}; nothing was uploaded",
            hint="nothing to undo; start a new renewal when the CA question is settled",
        )
        _notify_failed(inventory_path, inv, state, run_id, cluster, unit, denial, what="renewal_denied", blocked=True)
        report = RenewalReport.from_state(state, status="denied", run_id=run_id)
        store.finish(state, "denied")
        _artifact(report)
        release = True
        return Cancelled(message=f"{cluster} [{unit}]: {exc.message}; nothing was uploaded")
    except CertopsError as exc:
        blocked = isinstance(exc, PolicyViolation)
        what = "renewal_blocked" if blocked else "renewal_failed"
        _notify_failed(inventory_path, inv, state, run_id, cluster, unit, exc, what=what, blocked=blocked)
        raise
    except Exception as exc:
        unexpected = CertopsError(f"unexpected {type(exc).__name__}: {exc}")
        _notify_failed(
            inventory_path, inv, state, run_id, cluster, unit, unexpected, what="renewal_failed", blocked=False
        )
        raise
    finally:
        try:
            if release or not state.changed_anything:
                if not state.changed_anything and store.load(cluster, unit) is not None and not release:
                    store.finish(state, "abandoned")
                _release_claim(cluster, unit, run_id)
        finally:
            if writing is not None:
                writing()
            kept.__exit__(None, None, None)
            sessions.__exit__(None, None, None)
            hostlock.release()


def _release_claim(cluster: str, unit: str, run_id: str) -> None:
    """Release this run's claim; a Prefect server too busy to answer does not fail a run that is done.

    Called only when the run's renewal finished or changed nothing. A claim left behind then frees
    itself: once this run is final, a claim whose renewal is not unfinished is free to the next run
    (``flows._locks.acquire_claim``). Seen with 50 renewals at once on a SQLite server: a completed
    renewal ended Failed because the lock's critical section timed out.
    """
    try:
        _locks.release_claim(cluster=cluster, unit=unit, run_id=run_id)
    except Exception as exc:  # noqa: BLE001 - the outcome stands; the claim frees itself (see above)
        get_run_logger().warning(
            "cluster %s [%s]: the lock could not be released now (%s: %s); it is free to the next run anyway, "
            "as this run is ending and left nothing unfinished",
            cluster,
            unit,
            type(exc).__name__,
            exc,
        )


def _nothing_to_do(
    inventory_path: str,
    inv: Inventory,
    cl: ClusterConfig,
    unit: str,
    plan: RenewalPlan,
    store: RenewalStore,
    requested: dt.datetime | None,
    only_if_due: bool,
) -> str | None:
    """Why this run need not renew (renewed by another run since it was requested; no longer due), or None."""
    nodes = [n.fqdn for n in plan.nodes]
    done = [f for f in store.finished(cl.name, unit) if f.status == "done"]
    last = done[-1] if done else None
    now: list[t.IdentityNow] | None = None
    if requested is not None and last is not None and last.updated_at > requested:
        now = t.read_identities(inventory_path, cl.name, unit, nodes)
        leaves = {p.fqdn: p.leaf_fingerprint for p in last.nodes.values()}
        if all(i.fingerprint_sha256 is not None and leaves.get(i.fqdn) == i.fingerprint_sha256 for i in now):
            by = last.run_ids[-1] if last.run_ids else "another run"
            return (
                f"renewed by run {by} at {last.updated_at:%Y-%m-%d %H:%M:%S} UTC, after this run was requested "
                f"({requested:%Y-%m-%d %H:%M:%S} UTC); every node holds the certificate it installed "
                "(--force renews anyway)"
            )
    if last is not None:
        _why_renew_again(last, requested, now)
    if only_if_due:
        now = now or t.read_identities(inventory_path, cl.name, unit, nodes)
        expiries = [i.not_after for i in now if i.not_after is not None]
        threshold = inv.policy_for(cl).threshold_for(unit)
        if expiries and len(expiries) == len(now):
            left = (min(expiries) - dt.datetime.now(dt.UTC)).days
            if left > threshold:
                return (
                    f"no longer due: the earliest {unit} certificate expires in {left} days "
                    f"({min(expiries):%Y-%m-%d}), beyond the {threshold}-day threshold"
                )
    return None


def _why_renew_again(last: RenewalState, requested: dt.datetime | None, now: list[t.IdentityNow] | None) -> None:
    """Log why an earlier completed renewal of this unit does not make this run unnecessary."""
    log = get_run_logger()
    by = last.run_ids[-1] if last.run_ids else "another run"
    if requested is None or last.updated_at <= requested:
        when = f"{requested:%Y-%m-%d %H:%M:%S.%f} UTC" if requested else "an unknown time"
        log.info(
            "renewing: the last completed renewal (run %s, %s UTC) ended before this run was requested (%s)",
            by,
            f"{last.updated_at:%Y-%m-%d %H:%M:%S.%f}",
            when,
        )
        return
    leaves = {p.fqdn: p.leaf_fingerprint for p in last.nodes.values()}
    differ = [i.fqdn for i in now or [] if leaves.get(i.fqdn) != i.fingerprint_sha256]
    log.info(
        "renewing: run %s renewed this unit after this run was requested, but %s no longer hold%s the certificate "
        "it installed",
        by,
        ", ".join(differ) or "some nodes",
        "s" if len(differ) == 1 else "",
    )


def _take_host_lock(lock: HostLock, cluster: str, unit: str, run_id: str, s: RenewalSettings, log: Any) -> None:
    """Hold the host-wide lock of (cluster, lock key): wait (bounded) or refuse while another process holds it."""

    wait = waiting.Wait(
        f"cluster {cluster} [{unit}]",
        f"the host lock {lock.path}",
        bound=s.lock_wait_timeout,
        log=log,
        setting="lock_wait_timeout",
    )

    def on_wait(holder: Holder | None) -> None:
        wait.tick(f"held by {holder.describe() if holder else 'another process'}")

    try:
        lock.acquire(
            Holder.this_process(run_id=run_id, unit=unit),
            wait=s.on_busy == "wait",
            timeout=s.lock_wait_timeout,
            poll=min(s.lock_poll, 2.0),
            on_wait=on_wait,
        )
        wait.done("the host lock is ours")
    except HostLockBusy as exc:
        who = exc.holder.describe() if exc.holder else "another process (its holder file is unreadable)"
        waited = f" after waiting {s.lock_wait_timeout:.0f} s" if s.on_busy == "wait" else ""
        raise PolicyViolation(
            f"cluster {cluster}: {unit} does not start{waited}: on this host, {who} holds the host lock of the "
            f"'{lock.key}' group ({lock.path}); two renewals of that group never run at once. Nothing was changed",
            cluster=cluster,
            unit=unit,
            rule="exclusion",
            hint=f"wait for that process to finish and rerun (certops lock status -i INVENTORY -c {cluster} shows it; "
            "the lock frees itself the moment that process ends)",
        ) from None
