"""The renewal's steps on one node, without Prefect: each checks the node first, then acts.

Disruptive steps are idempotent by checking the node's state before acting (a trust
certificate already present is not uploaded again; an identity that already equals the signed
leaf is not uploaded again), so a rerun after a crash continues without repeating them. Waits
(service restart, DRF job, phone re-registration) are bounded and end in an error that says
where the renewal stopped and what to do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certops.ca.base import SignedChainPem
from certops.cucm.api import CucmNodeApi
from certops.errors import (
    CertopsError,
    CucmError,
    CucmRateLimited,
    PlatformLocked,
    PolicyViolation,
    VerificationError,
)
from certops.inventory import Inventory, NodeConfig
from certops.models import CertificateInfo, CsrArtifact, CsrRequest, PhoneCount, ServiceState, ServiceStatus
from certops.renewal.expected import Span, expected_span, record_span
from certops.renewal.state import CertSummary
from certops.renewal.waiting import Wait
from certops.units import RestartVia, UnitSpec

Sleep = Callable[[float], None]
Log = Callable[[str], None]
T = TypeVar("T")


def _no_log(_: str) -> None:
    return None


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%H:%M:%S UTC")


class RenewalStopped(CertopsError):
    """The renewal stopped at a step; the message says where and what to do next."""


# --- certificates and CSRs ---------------------------------------------------------------------


def summary_of(info: CertificateInfo) -> CertSummary:
    """The before/after summary of a certificate read from a node."""
    return CertSummary(
        subject=info.subject, not_after=info.not_after, fingerprint_sha256=info.fingerprint_sha256, issuer=info.issuer
    )


def summary_of_pem(pem: str) -> CertSummary:
    """The summary of a PEM certificate."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    return CertSummary(
        subject=cert.subject.rfc4514_string(),
        not_after=cert.not_valid_after_utc,
        fingerprint_sha256=cert.fingerprint(_sha256()).hex(),
        issuer=cert.issuer.rfc4514_string(),
    )


def _sha256() -> hashes.HashAlgorithm:
    return hashes.SHA256()


def pem_fingerprint(pem: str) -> str:
    """SHA-256 fingerprint (hex, lower case) of a PEM certificate."""
    return x509.load_pem_x509_certificate(pem.encode()).fingerprint(_sha256()).hex()


def csr_artifact(cluster: str, node: str, unit: str, pem: str) -> CsrArtifact:
    """The artifact that identifies a CSR across runs: DER and public-key fingerprints."""
    csr = x509.load_pem_x509_csr(pem.encode())
    spki = csr.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return CsrArtifact(
        cluster=cluster,
        node=node,
        unit=unit,
        pem=pem,
        fingerprint_sha256=hashlib.sha256(csr.public_bytes(Encoding.DER)).hexdigest(),
        public_key_sha256=hashlib.sha256(spki).hexdigest(),
        created_at=dt.datetime.now(dt.UTC),
    )


def _csr_fingerprint(pem: str) -> str:
    return hashlib.sha256(x509.load_pem_x509_csr(pem.encode()).public_bytes(Encoding.DER)).hexdigest()


def csr_request(node: NodeConfig, spec: UnitSpec, current: CertificateInfo | None) -> CsrRequest:
    """The CSR settings for ``spec`` on ``node``: CN = the node's FQDN, SANs kept from the current one."""
    alt = [node.fqdn]
    if current is not None:
        alt += [n for n in current.sans_dns if n.lower() != node.fqdn and "*" not in n]
    ec = spec.key_type == "ec"
    return CsrRequest(
        unit=spec.name,
        common_name=node.fqdn,
        alt_names=alt,
        key_type="ec" if ec else "rsa",
        key_length=256 if ec else 2048,
        hash_algorithm="sha256",
    )


def ensure_csr(
    api: CucmNodeApi,
    *,
    cluster: str,
    request: CsrRequest,
    existing: CsrArtifact | None,
    sent_to_ca: bool,
    identity_uploaded: bool = False,
    requested_before: bool = False,
) -> tuple[CsrArtifact, bool]:
    """The CSR for this renewal on the node: reuse the one already made, else generate one.

    Returns ``(artifact, reused)``. A CSR that went to a CA is never regenerated: if it is no
    longer pending on the node, this stops with instructions instead.
    """
    unit = request.unit
    if existing is not None:
        if identity_uploaded:
            return existing, True
        pending = api.pending_csr(unit)
        if pending is not None and _csr_fingerprint(pending) == existing.fingerprint_sha256:
            return existing, True
        if pending is None and _installed_key(api, unit) == existing.public_key_sha256:
            return existing, True  # consumed by this renewal's own identity upload
        if sent_to_ca:
            found = "another CSR is pending" if pending else "no CSR is pending"
            raise RenewalStopped(
                f"{api.fqdn} [{unit}]: the CSR this renewal sent to the CA "
                f"(sha256 {existing.fingerprint_sha256[:16]}…) "
                f"is no longer pending on the node ({found}); its signed certificate can no longer be installed",
                hint="someone regenerated the CSR on the node; abandon this renewal "
                "(certops renew ... --abandon) and start a new one, which makes and sends a new CSR",
            )
    elif requested_before:  # an earlier run asked the node for a CSR and died before recording it
        pending = api.pending_csr(unit)
        if pending is not None and _csr_matches(pending, request):
            return csr_artifact(cluster, api.fqdn, unit, pending), False
    pem = api.generate_csr(request)
    return csr_artifact(cluster, api.fqdn, unit, pem), False


def _installed_key(api: CucmNodeApi, unit: str) -> str | None:
    try:
        pem = api.read_certificate(unit).pem
    except CucmError:
        return None
    spki = (
        x509.load_pem_x509_certificate(pem.encode())
        .public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    return hashlib.sha256(spki).hexdigest()


def _csr_matches(pem: str, request: CsrRequest) -> bool:
    csr = x509.load_pem_x509_csr(pem.encode())
    cn = [a.value for a in csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    try:
        sans = set(
            csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        )
    except x509.ExtensionNotFound:
        sans = set()
    return cn == [request.common_name] and {s.lower() for s in sans} == {a.lower() for a in request.alt_names}


def match_leaves(csrs: dict[str, CsrArtifact], blobs: list[bytes], source: str) -> dict[str, SignedChainPem]:
    """Split pasted/filed certificates into one chain per node, matching each leaf to a CSR by public key.

    Every certificate that is not a node's leaf (CA certificates) is offered to every node's
    chain; ``check_chain`` then keeps what belongs to it. Nodes with no matching leaf are absent.
    """
    from certops.x509.read import read_certificates, to_pem

    certs = read_certificates(blobs)
    by_key: dict[str, x509.Certificate] = {}
    others: list[x509.Certificate] = []
    for cert in certs:
        spki = hashlib.sha256(cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))
        by_key.setdefault(spki.hexdigest(), cert)
    wanted = {a.public_key_sha256: fqdn for fqdn, a in csrs.items()}
    leaves = {k: c for k, c in by_key.items() if k in wanted}
    others = [c for k, c in by_key.items() if k not in wanted]
    return {
        wanted[k]: SignedChainPem(leaf_pem=to_pem(leaf), chain_pems=[to_pem(o) for o in others], source=source)
        for k, leaf in leaves.items()
    }


def bundle_fingerprints(path: str) -> set[str]:
    """SHA-256 fingerprints of every certificate in a PEM bundle file."""
    from pathlib import Path

    data = Path(path).read_bytes()
    return {c.fingerprint(_sha256()).hex() for c in x509.load_pem_x509_certificates(data)} if data.strip() else set()


# --- uploads -------------------------------------------------------------------------------------


def upload_trust_missing(api: CucmNodeApi, unit: str, trust_pems: list[str]) -> list[str]:
    """Upload the CA certificates (root first) that ``<unit>-trust`` lacks; return their fingerprints."""
    present = {pem_fingerprint(p) for p in api.read_trust(unit)}
    missing = [p for p in trust_pems if pem_fingerprint(p) not in present]
    for pem in missing:
        api.upload_trust(unit, [pem], description="certops renewal: CA certificate")
    return [pem_fingerprint(p) for p in missing]


def installed_fingerprint(api: CucmNodeApi, unit: str) -> str | None:
    """Fingerprint of the node's current ``unit`` identity, or None when it cannot be read."""
    try:
        return api.read_certificate(unit).fingerprint_sha256
    except CucmError:
        return None


def upload_identity_unless_installed(
    api: CucmNodeApi, unit: str, identity_pems: list[str], leaf_fp: str
) -> tuple[bool, str | None]:
    """Upload the leaf (then its intermediates) unless the node already holds it.

    Returns (uploaded, the fingerprint the node held before; None: unreadable), from one read of the node.
    """
    before = installed_fingerprint(api, unit)
    if before == leaf_fp:
        return False, before
    api.upload_identity(unit, identity_pems)
    return True, before


# --- polls ---------------------------------------------------------------------------------------


def look_delay(
    elapsed: float,
    expected: Span | None,
    cap: float,
    *,
    floor: float,
    growth: float,
    near: float = 0.9,
    after: float = 0.03,
    late: float = 0.25,
    least: float | None = None,
) -> float:
    """Seconds until the next look at something that has taken ``elapsed`` seconds so far.

    Known span ``(lo, hi]`` of the last waits of its kind (:mod:`certops.renewal.expected`): no
    earlier look than ``near`` of ``lo`` (at most ``cap`` apart, so a failure still shows), then
    one in the middle of the span and one at ``hi`` (each wait of the same length halves the span
    it leaves to the next), then every ``after`` of the expected end until ``late`` past it; from
    there on as if nothing were known, so a stale record costs no storm of looks. Unknown: every
    ``growth`` of the time so far (a look never comes later than that fraction after the end).
    Never less than ``floor`` (the cost of one look), never more than ``cap`` (the configured poll
    interval); the pause before one of the planned looks (near ``lo``, the middle, ``hi``) is at
    least ``least`` instead (default ``floor``): they are three, so they may come closer together.
    """
    step = growth * elapsed
    if expected is not None:
        lo, hi = expected
        targets = [near * lo]
        if hi is not None and hi > lo:
            targets += [(lo + hi) / 2, hi]
        for target in targets:
            if elapsed < target:
                return min(cap, max(floor if least is None else least, target - elapsed))
        end = hi if hi is not None and hi > lo else lo
        if elapsed <= end * (1 + late):
            step = after * end
    return min(cap, max(floor, step))


# --- services ------------------------------------------------------------------------------------


def _status_of(api: CucmNodeApi, name: str, via: RestartVia) -> ServiceStatus | None:
    try:
        listing = api.cli_service_list() if via is RestartVia.CLI else api.service_status([name])
    except CucmError as exc:
        if "service not found" in str(exc).lower():  # Control Center's fault for a service the node does not run
            return None
        raise
    return next((s for s in listing if s.name == name), None)


def restart_wanted(api: CucmNodeApi, name: str, via: RestartVia) -> tuple[bool, str]:
    """Should ``name`` be restarted on this node? Only when activated and running (Cisco)."""
    status = _status_of(api, name, via)
    if status is None:
        return False, "not present on this node"
    if not status.activated:
        return False, f"not activated ({status.reason or status.state.value})"
    if status.state is not ServiceState.STARTED:
        return False, f"{status.state.value}{' - ' + status.reason if status.reason else ''}: not running, left alone"
    return True, "activated and running"


def started_since_attempt(
    api: CucmNodeApi,
    name: str,
    *,
    unit: str,
    attempted_at: dt.datetime | None,
    new_leaf: str | None,
    now: dt.datetime | None = None,
) -> tuple[bool, str]:
    """Did ``name`` (running now) start after an earlier run's restart attempt at ``attempted_at``?

    The attempt is recorded just before its request, so a run killed in between leaves an attempt
    the node never saw: the service then still runs with the old certificate. Evidence, in order:
    Control Center's ``UpTime`` (seconds since the service started [INF: the WSDL types it as an
    integer without a unit; seconds per Cisco's examples]) shorter than the time since the attempt;
    for Cisco Tomcat of a tomcat unit, HTTPS serving the new leaf. Without evidence, False: the
    service is restarted once more (the safe side, docs/renewal.md "Reruns").
    """
    if attempted_at is None:
        return False, "the earlier run did not record when it asked"
    since = ((now or dt.datetime.now(dt.UTC)) - attempted_at).total_seconds()
    status: ServiceStatus | None = None
    with contextlib.suppress(CucmError):  # Control Center may not list it (CLI-only services)
        listing = api.service_status([name])
        status = next((s for s in listing if s.name == name), None)
    if status is not None and status.up_seconds is not None:
        if status.up_seconds <= since:
            return True, f"Started {status.up_seconds} s ago, after the earlier attempt ({since:.0f} s ago)"
        return False, f"up {status.up_seconds} s, since before the earlier attempt ({since:.0f} s ago)"
    if name == "Cisco Tomcat" and unit.startswith("tomcat") and new_leaf is not None:
        with contextlib.suppress(CucmError, OSError):
            if hashlib.sha256(api.served_certificate_der()).hexdigest() == new_leaf:
                return True, "HTTPS serves the new certificate"
        return False, "HTTPS does not serve the new certificate yet"
    return False, "the node does not say when it started"


def restart_and_confirm(
    api: CucmNodeApi,
    name: str,
    via: RestartVia,
    *,
    unit: str,
    timeout: float,
    poll: float,
    sleep: Sleep = time.sleep,
    history: tuple[str, ...] | None = None,
) -> float:
    """Restart ``name`` and wait until it reports Started; return the seconds it took.

    Over the CLI, ``utils service restart`` returns once it printed the service Started (the
    client raises otherwise): that is the confirmation. Over Control Center, looks at the service
    right away, then near the end the last restarts of the same ``history`` key had, and in the
    middle and at the end of the span their looks left (:func:`look_delay`), at most ``poll``
    apart. Raises ``RenewalStopped`` naming the node, the service and what to do when it does not
    start.
    """
    t0 = time.monotonic()
    if via is RestartVia.CLI:
        # returns only once the CLI printed "<name>[STARTED]" (raises otherwise): no listing needed
        # to confirm it (`utils service list` takes seconds on a real node)
        api.restart_service_cli(name)
        return time.monotonic() - t0
    api.restart_service_soap(name)
    deadline = t0 + timeout
    last: ServiceStatus | None = None
    expected = expected_span(history)
    unfinished = 0.0  # when the last look that saw it not Started yet began
    while True:
        looked = time.monotonic() - t0
        last = _status_of(api, name, via)
        cost = time.monotonic() - t0 - looked  # one look: no two looks closer together than that
        if last is not None and last.state is ServiceState.STARTED:
            took = time.monotonic() - t0
            record_span(history, unfinished, took)
            return took
        unfinished = looked
        if time.monotonic() >= deadline:
            if last is None:
                said = "the node no longer lists it"
            elif last.reason:
                said = f"the node says: [{last.state.value.upper()}] {last.reason}"
            else:
                said = f"the node says it is {last.state.value}"
            raise RenewalStopped(
                f"{api.fqdn} [{unit}]: {name} did not come back to Started within {timeout:.0f} s after the restart "
                f"({said}); the renewal stopped here, before any later node was restarted",
                hint=f"check {name} on {api.fqdn} (Serviceability > Control Center, or "
                f"'utils service list'), start it, then rerun the same renewal: finished steps are skipped",
            )
        sleep(look_delay(time.monotonic() - t0, expected, poll, floor=max(0.02, cost), growth=0.1, least=cost))


# --- cluster state -----------------------------------------------------------------------------------


def wait_drf_idle(
    api: CucmNodeApi,
    *,
    cluster: str,
    unit: str,
    timeout: float,
    poll: float,
    sleep: Sleep = time.sleep,
    log: Log = _no_log,
) -> float:
    """Wait (bounded) until no DRF backup or restore runs; unknown counts as running. Returns seconds waited.

    ``log`` is told once what is waited for, since when and for how long at most.
    """
    t0 = time.monotonic()
    wait = Wait(f"cluster {cluster} [{unit}]", "DRF", bound=timeout, log=log, setting="drf_wait_timeout")
    while True:
        busy: list[str] = []
        for op in ("backup", "restore"):
            try:
                st = api.drf_status(op)
                if st.running:
                    busy.append(f"a DRF {op} runs ({st.percentage if st.percentage is not None else '?'}%)")
            except CucmError as exc:
                busy.append(f"the DRF {op} status is unknown ({exc.message})")
        if not busy:
            wait.done("the DRF job finished")
            return time.monotonic() - t0
        wait.tick(f"{'; '.join(busy)}; no {unit} change while it runs, checking every {poll:.0f} s")
        if time.monotonic() - t0 >= timeout:
            raise PolicyViolation(
                f"cluster {cluster} [{unit}]: {'; '.join(busy)} after waiting {timeout:.0f} s; "
                "no ipsec change is made while a DRF backup or restore runs",
                cluster=cluster,
                unit=unit,
                rule="drf",
                hint="let the backup finish (or cancel it: utils disaster_recovery cancel_backup), then rerun",
            )
        sleep(poll)


def wait_platform_unlocked(
    call: Callable[[], T],
    *,
    cluster: str,
    node: str,
    unit: str,
    timeout: float,
    poll: float,
    sleep: Sleep = time.sleep,
    log: Log = _no_log,
) -> T:
    """``call()``, waiting (bounded by ``timeout``) while the node answers HTTP 423 (``PlatformLocked``).

    A locked platform API means a DRF backup or restore runs: the request changed nothing, and
    the same request is made again once the job can have finished. ``log`` is told once what is
    waited for, since when and for how long at most; past ``timeout`` it is a ``PolicyViolation``
    (rule ``drf``) that says what to do.
    """
    t0 = time.monotonic()
    wait = Wait(f"{node} [{unit}]", "DRF", bound=timeout, log=log, setting="drf_wait_timeout")
    while True:
        try:
            result = call()
        except PlatformLocked as exc:
            waited = time.monotonic() - t0
            wait.tick(
                f"the platform API is locked by a DRF backup or restore (HTTP 423 on {exc.operation}); nothing is "
                f"changed while it runs, checking every {poll:.0f} s"
            )
            if waited >= timeout:
                raise PolicyViolation(
                    f"{node} [{unit}]: the platform API is still locked by a DRF backup or restore (HTTP 423 since "
                    f"{wait.since}) after waiting {timeout:.0f} s; nothing was changed",
                    cluster=cluster,
                    unit=unit,
                    rule="drf",
                    hint="let the backup finish (utils disaster_recovery status backup on the publisher; "
                    "utils disaster_recovery cancel_backup cancels it), then rerun the renewal",
                ) from exc
            sleep(max(0.05, min(poll, timeout - waited)))
            continue
        wait.done("the platform API answers again")
        return result


class Budget(Protocol):
    """What the RisPort70 steps need from a budget: ``take`` waits until requests fit; the window it counts."""

    window: float

    def take(self, cost: int = 1) -> float:
        """Wait until ``cost`` more requests fit, record them; return the seconds waited."""
        ...


class RateBudget:
    """At most ``per_minute`` requests in any ``window`` seconds (RisPort70: 15 per 60 s cluster-wide).

    Thread-safe: the renewals of one process share one budget per cluster (:func:`ris_budget`).
    """

    def __init__(
        self,
        per_minute: int,
        *,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = time.sleep,
    ):
        self.per_minute = per_minute
        self.window = window
        self._times: deque[float] = deque()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def take(self, cost: int = 1) -> float:
        """Wait until ``cost`` more requests fit in the budget, then record them; return seconds waited."""
        waited = 0.0
        for _ in range(cost):
            while True:
                with self._lock:
                    now = self._clock()
                    while self._times and now - self._times[0] >= self.window:
                        self._times.popleft()
                    if len(self._times) < self.per_minute:
                        self._times.append(now)
                        break
                    pause = self.window - (now - self._times[0]) + 0.01
                self._sleep(pause)  # outside the lock: other threads may look meanwhile
                waited += pause
        return waited


_BUDGETS: dict[tuple[str, ...], RateBudget] = {}
_BUDGETS_LOCK = threading.Lock()


def ris_budget(key: tuple[str, ...], per_minute: int, window: float = 60.0) -> RateBudget:
    """The one RisPort70 budget of this process for the cluster ``key`` (name and RIS endpoint).

    Every RisPort70 read of every renewal in the process takes from it (RIS counts requests
    cluster-wide, not per run). The limits follow the latest settings.
    """
    with _BUDGETS_LOCK:
        budget = _BUDGETS.get(key)
        if budget is None:
            budget = _BUDGETS[key] = RateBudget(per_minute, window=window)
        budget.per_minute, budget.window = per_minute, window
        return budget


def ris_budget_for(inventory: Inventory, cluster: str, per_minute: int, window: float = 60.0) -> RateBudget:
    """:func:`ris_budget` of ``cluster`` in ``inventory``, keyed by its name and publisher RIS endpoint."""
    pub = inventory.cluster(cluster).publisher
    return ris_budget((cluster, pub.fqdn, pub.connect_address, str(pub.soap_port)), per_minute, window)


def read_registered_phones(
    api: CucmNodeApi,
    *,
    cluster: str,
    budget: Budget,
    max_wait: float,
    sleep: Sleep = time.sleep,
    log: Log = _no_log,
) -> PhoneCount:
    """One RisPort70 count of registered phones, within ``budget``; waits out ``Server.RateControl``.

    RateControl means other clients (other processes, RTMT, a monitoring system) spent the
    cluster's budget: back off, doubling from a quarter of the window, until the window can have
    freed — in total longer than the window, at most ``max_wait`` seconds — saying so once.
    """
    t0 = time.monotonic()
    delay = max(budget.window / 4.0, 0.1)
    told = False
    while True:
        budget.take()
        try:
            pc = api.registered_phones()
        except CucmRateLimited as exc:
            waited = time.monotonic() - t0
            if waited >= max_wait:
                raise CucmRateLimited(
                    f"{exc.message}; still refused after backing off {waited:.0f} s",
                    node=exc.node,
                    operation=exc.operation,
                    hint=f"other clients keep RisPort70 of cluster {cluster} at its limit (RTMT, monitoring, "
                    "other certops processes); lower their polling or ris_requests_per_minute, then rerun",
                ) from exc
            pause = min(delay, max_wait - waited)
            if not told:
                log(
                    f"cluster {cluster}: RisPort70 refused with Server.RateControl (other clients share the "
                    f"cluster's limit); backing off until its {budget.window:.0f} s window can have freed, "
                    f"at most {max_wait:.0f} s in all (since {_utc_now()})"
                )
                told = True
            sleep(max(pause, 0.05))
            delay *= 2
            continue
        if pc.requests_used > 1:
            budget.take(pc.requests_used - 1)
        if told:
            log(f"cluster {cluster}: RisPort70 answered after {time.monotonic() - t0:.0f} s of back-off")
        return pc


def reset_phones(
    api: CucmNodeApi,
    *,
    batch_size: int,
    batch_pause: float,
    sleep: Sleep = time.sleep,
    skip: frozenset[str] = frozenset(),
    before_reset: Callable[[str], None] | None = None,
    only: list[str] | None = None,
) -> int:
    """Reset every phone (AXL) not in ``skip``, ``batch_size`` at a time; ``before_reset(name)`` records each first.

    ``only``: reset just these phones (those that did not come back from the automatic reset).
    """
    phones = [p for p in (api.list_phones() if only is None else only) if p not in skip]
    for i in range(0, len(phones), batch_size):
        for name in phones[i : i + batch_size]:
            if before_reset is not None:
                before_reset(name)
            api.reset_phone(name)
        if i + batch_size < len(phones):
            sleep(batch_pause)
    return len(phones)


def wait_registration(
    api: CucmNodeApi,
    *,
    cluster: str,
    unit: str,
    baseline: int,
    timeout: float,
    interval: float,
    budget: Budget,
    sleep: Sleep = time.sleep,
    rate_limited_max_wait: float = 600.0,
    log: Log = _no_log,
    history: tuple[str, ...] | None = None,
) -> tuple[int, float]:
    """Poll RisPort70 until the registered count is back to ``baseline``; return (count, seconds).

    Each read takes from ``budget`` and waits out ``Server.RateControl`` (:func:`read_registered_phones`).
    The reads are few (RisPort70 allows 15 a minute cluster-wide): the first comes near the time
    the last re-registrations of the same ``history`` key took, then in the middle and at the end
    of the span their reads left, or after a second when none was seen, then each after half the
    time so far (:func:`look_delay`), at most ``interval`` apart.
    Past ``timeout`` it raises ``RenewalStopped`` with the count reached: the run fails loudly.
    """
    t0 = time.monotonic()
    count = -1
    expected = expected_span(history)
    unfinished = 0.0  # when the last read that found phones missing began
    wait = Wait(
        f"cluster {cluster} [{unit}]",
        f"the phones to re-register (baseline {baseline})",
        bound=timeout,
        log=log,
        setting="registration_timeout",
    )
    while True:
        elapsed = time.monotonic() - t0
        sleep(look_delay(elapsed, expected, interval, floor=min(1.0, interval), growth=0.5, near=0.95, after=0.1))
        looked = time.monotonic() - t0
        pc = read_registered_phones(
            api, cluster=cluster, budget=budget, max_wait=rate_limited_max_wait, sleep=sleep, log=log
        )
        count = pc.registered
        if count >= baseline:
            wait.done(f"{count} of {baseline} phones registered")
            took = time.monotonic() - t0
            record_span(history, unfinished, took)
            return count, took
        unfinished = looked
        wait.tick(f"{count} of {baseline} registered")
        if time.monotonic() - t0 >= timeout:
            raise RenewalStopped(
                f"cluster {cluster} [{unit}]: only {count} of {baseline} phones re-registered within {timeout:.0f} s "
                "after the reset",
                hint="check the phones that did not come back (RTMT, Device > Phone); phones with an old ITL may "
                "need 'utils itl reset' or a factory reset. Do not start CallManager/TVS/ITLRecovery renewals until "
                "every phone is registered",
            )


def watch_automatic_reset(
    api: CucmNodeApi,
    *,
    cluster: str,
    unit: str,
    baseline: dict[str, int],
    timeout: float,
    interval: float,
    budget: RateBudget,
    sleep: Sleep = time.sleep,
    rate_limited_max_wait: float = 600.0,
    log: Log = _no_log,
) -> list[str]:
    """Watch the phones reset themselves (RisPort70, within ``budget``); return those not back in ``timeout``.

    ``baseline`` maps each phone registered before the change to its RIS TimeStamp: a phone is
    back when it is registered again with a later TimeStamp (:func:`certops.renewal.phones.not_back`).
    Never raises for phones that stay away: the caller resets them (the fallback).
    """
    from certops.renewal.phones import not_back

    t0 = time.monotonic()
    attempt = 0
    wait = Wait(
        f"cluster {cluster} [{unit}]",
        f"the phones' automatic reset: {len(baseline)} phones to re-register by themselves",
        bound=timeout,
        log=log,
        setting="registration_timeout",
    )
    while True:
        pc = read_registered_phones(
            api, cluster=cluster, budget=budget, max_wait=rate_limited_max_wait, sleep=sleep, log=log
        )
        missing = not_back(baseline, pc.stamps)
        back = len(baseline) - len(missing)
        if not missing:
            wait.done(f"all {len(baseline)} phones reset themselves and re-registered")
            return []
        if time.monotonic() - t0 >= timeout:
            wait.done(f"{back} of {len(baseline)} phones back; {len(missing)} did not come back by themselves")
            return missing
        wait.tick(f"{back} of {len(baseline)} back")
        sleep(min(interval, 2.0 * 2**attempt, max(0.05, timeout - (time.monotonic() - t0))))
        attempt += 1


# --- verification ------------------------------------------------------------------------------------


@functools.cache
def _peek_context(ecdsa_only: bool) -> ssl.SSLContext:
    """The one TLS context that reads what a listener presents (no CA store: nothing is validated).

    Made once: ``ssl.create_default_context()`` reads the system's CA store each time (~15 ms),
    and this context never uses it. Safe to share between threads.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if ecdsa_only:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDSA")
    return ctx


def fetch_tls_der(host: str, port: int, *, server_name: str, timeout: float = 10.0, ecdsa_only: bool = False) -> bytes:
    """DER of the certificate a TLS server presents (``ecdsa_only``: offer only ECDSA suites, TLS 1.2).

    The chain is not validated here on purpose: the caller compares the exact fingerprint with
    the leaf it uploaded, which is stricter than any CA check.
    """
    ctx = _peek_context(ecdsa_only)
    with (
        socket.create_connection((host, port), timeout=timeout) as sock,
        ctx.wrap_socket(sock, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise OSError(f"{host}:{port} presented no certificate")
    return der


def served_fingerprint(api: CucmNodeApi, node: NodeConfig, unit: str, *, read_back: str | None = None) -> str:
    """What the node serves for ``unit`` now: TLS handshake (tomcat: HTTPS), or the identity read back (ipsec).

    ``read_back``: the fingerprint of the unit's identity the caller has just read from the node;
    where the read-back is the check, it is used instead of reading the node again.
    """
    if unit.endswith("-ECDSA"):
        return _served_ecdsa_fingerprint(api, node, unit, read_back=read_back)
    if unit.startswith("tomcat"):
        return hashlib.sha256(api.served_certificate_der()).hexdigest()
    port = node.tls_port_for(unit)
    if port is None:
        return read_back or api.read_certificate(unit).fingerprint_sha256
    try:
        der = fetch_tls_der(node.connect_address, port, server_name=node.fqdn)
    except OSError as exc:
        raise VerificationError(
            f"could not read the certificate served on port {port}: {exc}",
            node=node.fqdn,
            unit=unit,
            hint=f"check the service behind port {port} runs, or set service_tls_ports.{unit} for this node",
        ) from exc
    return hashlib.sha256(der).hexdigest()


def _served_ecdsa_fingerprint(api: CucmNodeApi, node: NodeConfig, unit: str, *, read_back: str | None) -> str:
    """ECDSA units share the RSA unit's port; a client offering only ECDSA suites gets the EC certificate.

    When the node presents no EC certificate to such a client (or the port is closed), the
    identity read back from the node is what we can check.
    """
    base = unit.removesuffix("-ECDSA")
    port = node.tls_port_for(unit) if unit in node.service_tls_ports else node.tls_port_for(base)
    if port is not None:
        try:
            der = fetch_tls_der(node.connect_address, port, server_name=node.fqdn, ecdsa_only=True)
        except OSError:  # ssl.SSLError is an OSError: no ECDSA suite in common, or the port is closed
            der = b""
        if der and isinstance(x509.load_der_x509_certificate(der).public_key(), ec.EllipticCurvePublicKey):
            return hashlib.sha256(der).hexdigest()
    return read_back or api.read_certificate(unit).fingerprint_sha256


def verify_served(
    api: CucmNodeApi, node: NodeConfig, unit: str, *, leaf_fp: str, old_fp: str | None, read_back: str | None = None
) -> str:
    """Raise ``VerificationError`` unless the node serves the uploaded leaf (and not the old one).

    ``read_back``: as for :func:`served_fingerprint` (the identity just read from the node).
    """
    got = served_fingerprint(api, node, unit, read_back=read_back)
    if got != leaf_fp:
        old = " — it still serves the OLD certificate" if old_fp and got == old_fp else ""
        raise VerificationError(
            f"serves sha256 {got[:16]}…, not the uploaded leaf {leaf_fp[:16]}…{old}",
            node=node.fqdn,
            unit=unit,
            hint="check the restarts of this node ran (rerun the renewal: finished steps are skipped)",
        )
    return got
