"""Thin Prefect tasks of the renewal: each builds its client, calls one library verb, returns a model.

Read-only steps retry on transient errors only (``certops.errors.is_transient``). Steps that
change a node never retry blindly and never cache (``NO_CACHE``): they check the node's state
first and skip what is already done (``certops.renewal.steps``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict

from certops.ca.base import CaTicket, SignedChainPem
from certops.cucm.api import CucmNodeApi
from certops.errors import CaError, CucmError, is_transient
from certops.inventory import Inventory
from certops.models import CertificateInfo, CsrArtifact, CsrRequest, PhoneCount, SsoStatus
from certops.renewal import adapters, steps
from certops.renewal.adapters import ca_backend, open_node
from certops.renewal.inflight import ClusterLook
from certops.renewal.state import CertSummary
from certops.units import RestartVia
from certops.units import unit as unit_spec
from certops.x509.checks import CheckReport, check_signed_chain


def only_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry only errors certops marks transient."""
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 (any failure: ask whether it is transient)
        return is_transient(exc)
    return False


_BACKOFF = [1.0, 5.0, 15.0]
_READ: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    "retries": 3,
    "retry_delay_seconds": _BACKOFF,
    "retry_condition_fn": only_transient,
}
"""A task that only reads (or whose change is idempotent): never cached, retried on transient errors only."""


class NodeSnapshot(BaseModel):
    """What preflight read on one node."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fqdn: str
    version: str
    certificate: CertificateInfo | None


class EarlierAttempt(BaseModel):
    """An earlier run's unconfirmed restart request: when it was recorded, and the leaf it was for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: str | None  # ISO time, recorded just before the request; None in state files of older versions
    new_leaf: str | None = None


class DrfCheck(BaseModel):
    """Where and how long to wait for a DRF backup or restore to end before a change (units with a DRF rule)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    publisher: str  # the DRF master: its ``utils disaster_recovery status`` speaks for the cluster
    timeout: float
    poll: float


def _drf_idle(
    inv: Inventory, cluster: str, unit: str, drf: DrfCheck | None, *, node: CucmNodeApi | None = None
) -> None:
    """Wait until no DRF job runs (``drf``; None: the unit has no DRF rule), in the task about to make the change.

    Checked in the same task as the change, right before it, on the publisher's kept CLI session:
    no separate task (and no time) between the last look and the change. ``node``: the client
    the task holds open, used when it is the publisher's (its session is the one to ask on).
    """
    if drf is None:
        return
    with contextlib.ExitStack() as stack:
        pub = node if node is not None and node.fqdn == drf.publisher else None
        if pub is None:
            pub = stack.enter_context(open_node(inv, cluster, drf.publisher))
        waited = steps.wait_drf_idle(pub, cluster=cluster, unit=unit, timeout=drf.timeout, poll=drf.poll, log=_info)
    if waited > 0.5:
        _info(f"waited {waited:.0f} s for DRF: the backup or restore finished")


class RestartOutcome(BaseModel):
    """One service on one node: restarted (and Started again) or left alone, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str
    restarted: bool
    reason: str
    seconds: float = 0.0
    done: bool = False  # runs with the new certificate (restarted now or started since an earlier attempt)


def _info(message: str) -> None:
    get_run_logger().info("%s", message)


_INVENTORIES: dict[tuple[str, int, int], Inventory] = {}
_INVENTORIES_LOCK = threading.Lock()


def load_inventory(path: str) -> Inventory:
    """The inventory at ``path``, read once per process while the file is unchanged (mtime and size).

    Every task of a renewal names the same file; reading and validating it is ≈15 ms each time.
    """
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_mtime_ns, st.st_size)
    with _INVENTORIES_LOCK:
        inv = _INVENTORIES.get(key)
    if inv is None:
        inv = adapters.load_inventory(path)
        with _INVENTORIES_LOCK:
            for old in [k for k in _INVENTORIES if k[0] == key[0]]:  # an older version of the same file
                del _INVENTORIES[old]
            _INVENTORIES[key] = inv
    return inv


def _ris_budget(inventory_path: str, cluster: str, per_minute: int, window: float) -> Any:
    """The cluster's one RisPort70 budget: a Prefect rate limit shared by every run, task and process."""
    from tasks.ris_budget import ClusterRisBudget

    pub = load_inventory(inventory_path).cluster(cluster).publisher
    return ClusterRisBudget(cluster, per_minute, window, (pub.fqdn, pub.connect_address, str(pub.soap_port)))


def cli_sessions() -> contextlib.AbstractContextManager[Any]:
    """Keep each node's CLI session and HTTPS connections open between the tasks of this process
    (one login per node per run; ``certops.renewal.adapters.kept_connections``)."""
    return adapters.kept_connections()


def log_in_ahead(inventory: Inventory, cluster: str, fqdns: list[str]) -> int:
    """Start each node's CLI login now, in the background, inside :func:`cli_sessions` (its banner runs out
    while the flow claims the cluster and submits its first tasks); returns how many started."""
    return adapters.log_in_ahead(inventory, cluster, fqdns)


def close_idle_sessions() -> int:
    """Log out every CLI session kept idle in this process, and close its idle HTTPS connections (before a
    long wait); returns how many CLI sessions were logged out."""
    return adapters.let_connections_go()


@task(name="read-node", **_READ)
def read_node(
    inventory_path: str,
    cluster: str,
    fqdn: str,
    unit: str,
    drf_wait_timeout: float = 4 * 3600.0,
    drf_poll: float = 60.0,
) -> NodeSnapshot:
    """Preflight on one node: reachable, active version, current certificate of ``unit``.

    HTTP 423 (the platform API locked by a DRF backup or restore) is waited out, at most
    ``drf_wait_timeout`` seconds, saying so in the run's log.
    """
    inv = load_inventory(inventory_path)

    def read() -> NodeSnapshot:
        with open_node(inv, cluster, fqdn) as api:
            version = api.active_version()
            try:
                cert: CertificateInfo | None = api.read_certificate(unit)
            except CucmError as exc:
                if exc.transient:
                    raise
                cert = None
        return NodeSnapshot(fqdn=fqdn, version=version, certificate=cert)

    return steps.wait_platform_unlocked(
        read, cluster=cluster, node=fqdn, unit=unit, timeout=drf_wait_timeout, poll=drf_poll, log=_info
    )


@task(name="read-security-mode", **_READ)
def read_security_mode(inventory_path: str, cluster: str, publisher: str) -> int:
    """Cluster Security Mode (0 non-secure, 1 mixed) from the publisher."""
    inv = load_inventory(inventory_path)
    with open_node(inv, cluster, publisher) as api:
        return api.cluster_security_mode()


@task(name="read-phone-interaction", **_READ)
def read_phone_interaction(inventory_path: str, cluster: str, publisher: str) -> str | None:
    """Enterprise parameter "Phone Interaction on Certificate Update" from the publisher (automatic, manual, None)."""
    inv = load_inventory(inventory_path)
    with open_node(inv, cluster, publisher) as api:
        return api.phone_interaction()


@task(name="read-sip-oauth-phones", **_READ)
def read_sip_oauth_phones(inventory_path: str, cluster: str, publisher: str) -> list[str]:
    """The phones whose security profile enables SIP OAuth (AXL, publisher), sorted."""
    inv = load_inventory(inventory_path)
    with open_node(inv, cluster, publisher) as api:
        return api.sip_oauth_phones()


@task(name="read-sso-status", **_READ)
def read_sso_status(inventory_path: str, cluster: str, publisher: str) -> SsoStatus:
    """``utils sso status`` on the publisher."""
    inv = load_inventory(inventory_path)
    with open_node(inv, cluster, publisher) as api:
        return api.sso_status()


@task(name="wait-drf-idle", cache_policy=NO_CACHE)
def wait_drf_idle(inventory_path: str, cluster: str, publisher: str, unit: str, timeout: float, poll: float) -> float:
    """Wait (bounded) until no DRF backup/restore runs; unknown counts as running."""
    inv = load_inventory(inventory_path)
    with open_node(inv, cluster, publisher) as api:
        return steps.wait_drf_idle(api, cluster=cluster, unit=unit, timeout=timeout, poll=poll, log=_info)


@task(name="count-phones", **_READ)
def count_phones(
    inventory_path: str,
    cluster: str,
    publisher: str,
    per_minute: int = 10,
    window: float = 60.0,
    rate_limited_max_wait: float = 600.0,
) -> PhoneCount:
    """Registered phones, cluster-wide (RisPort70): the baseline before any change.

    Takes from the cluster's budget on the Prefect server and waits out ``Server.RateControl``.
    """
    inv = load_inventory(inventory_path)
    budget = _ris_budget(inventory_path, cluster, per_minute, window)
    with open_node(inv, cluster, publisher) as api:
        return steps.read_registered_phones(
            api, cluster=cluster, budget=budget, max_wait=rate_limited_max_wait, log=_info
        )


@task(name="list-phones", **_READ)
def list_phones(inventory_path: str, cluster: str, publisher: str) -> list[str]:
    """Every phone configured on the cluster (AXL ``listPhone`` on the publisher), to compare with the registered."""
    inv = load_inventory(inventory_path)
    with open_node(inv, cluster, publisher) as api:
        return api.list_phones()


@task(name="generate-csr", cache_policy=NO_CACHE, retries=0)
def generate_csr(
    inventory_path: str,
    cluster: str,
    fqdn: str,
    unit: str,
    current: CertificateInfo | None,
    existing: CsrArtifact | None,
    sent_to_ca: bool,
    identity_uploaded: bool,
    requested_before: bool = False,
    drf_wait_timeout: float = 4 * 3600.0,
    drf_poll: float = 60.0,
) -> tuple[CsrArtifact, bool]:
    """The CSR on the node: reuse the pending one this renewal made (checked by fingerprint), else generate.

    HTTP 423 (DRF holds the platform API; the request changed nothing) is waited out, as in preflight.
    """
    inv = load_inventory(inventory_path)
    request = steps.csr_request(inv.cluster(cluster).node(fqdn), unit_spec(unit), current)
    return ensure_csr_on(
        inv,
        cluster,
        fqdn,
        unit,
        request,
        existing,
        sent_to_ca,
        identity_uploaded,
        requested_before,
        drf_wait_timeout,
        drf_poll,
    )


def ensure_csr_on(
    inv: Inventory,
    cluster: str,
    fqdn: str,
    unit: str,
    request: CsrRequest,
    existing: CsrArtifact | None,
    sent_to_ca: bool,
    identity_uploaded: bool,
    requested_before: bool,
    drf_wait_timeout: float,
    drf_poll: float,
) -> tuple[CsrArtifact, bool]:
    """``request``'s CSR on ``fqdn`` (:func:`certops.renewal.steps.ensure_csr`), HTTP 423 waited out.

    The one body of the per-node and the multi-server CSR tasks.
    """

    def make() -> tuple[CsrArtifact, bool]:
        with open_node(inv, cluster, fqdn) as api:
            return steps.ensure_csr(
                api,
                cluster=cluster,
                request=request,
                existing=existing,
                sent_to_ca=sent_to_ca,
                identity_uploaded=identity_uploaded,
                requested_before=requested_before,
            )

    return steps.wait_platform_unlocked(
        make, cluster=cluster, node=fqdn, unit=unit, timeout=drf_wait_timeout, poll=drf_poll, log=_info
    )


@task(name="submit-csr", **_READ)
def submit_csr(inventory_path: str, cluster: str, csr: CsrArtifact) -> CaTicket:
    """Hand the CSR to the cluster's CA backend."""
    inv = load_inventory(inventory_path)
    return ca_backend(inv, cluster).submit(csr.pem, unit=csr.unit, node=csr.node, cluster=cluster)


@task(name="collect-signed", cache_policy=NO_CACHE)
def collect_signed(inventory_path: str, cluster: str, ticket: CaTicket, timeout: float, poll: float) -> SignedChainPem:
    """Poll the CA until it returns the signed chain (bounded)."""
    import time

    inv = load_inventory(inventory_path)
    backend = ca_backend(inv, cluster)
    deadline = time.monotonic() + timeout
    while True:
        try:
            chain = backend.poll(ticket)
        except CaError as exc:
            if not exc.transient:
                raise
            chain = None
        if chain is not None:
            return chain
        if time.monotonic() >= deadline:
            raise CaError(
                f"no signed certificate for ticket {ticket.reference} after {timeout:.0f} s",
                backend=ticket.backend,
                hint="check the CA; rerun the renewal later: the same CSR is polled again",
            )
        time.sleep(max(poll, ticket.retry_after))


@task(name="check-chain", cache_policy=NO_CACHE)
def check_chain(csr: CsrArtifact, chain: SignedChainPem, unit: str) -> CheckReport:
    """``check_chain`` of the signed chain against the CSR pending on the node (nothing uploads before it passes)."""
    return check_signed_chain(csr.pem, chain.leaf_pem, chain.chain_pems, unit, node=csr.node)


@task(name="upload-trust", cache_policy=NO_CACHE, retries=0)
def upload_trust(
    inventory_path: str,
    cluster: str,
    fqdn: str,
    unit: str,
    trust_pems: list[str],
    drf_wait_timeout: float = 4 * 3600.0,
    drf_poll: float = 60.0,
    drf: DrfCheck | None = None,
) -> list[str]:
    """Upload root, then intermediates, to the unit's trust store (skipping those present).

    ``drf``: first wait until no DRF backup or restore runs (the unit's DRF rule). HTTP 423 (DRF
    holds the platform API; nothing was imported) is waited out, then the store is read again.
    """
    inv = load_inventory(inventory_path)
    store_unit = unit_spec(unit).trust_store.removesuffix("-trust")  # tomcat-ECDSA -> tomcat-trust

    def upload() -> list[str]:
        _drf_idle(inv, cluster, unit, drf)
        with open_node(inv, cluster, fqdn) as api:
            return steps.upload_trust_missing(api, store_unit, trust_pems)

    return steps.wait_platform_unlocked(
        upload, cluster=cluster, node=fqdn, unit=unit, timeout=drf_wait_timeout, poll=drf_poll, log=_info
    )


@task(name="upload-identity", cache_policy=NO_CACHE, retries=0)
def upload_identity(
    inventory_path: str,
    cluster: str,
    fqdn: str,
    unit: str,
    identity_pems: list[str],
    leaf_fp: str,
    drf_wait_timeout: float = 4 * 3600.0,
    drf_poll: float = 60.0,
    drf: DrfCheck | None = None,
) -> tuple[bool, str | None]:
    """Upload the signed leaf unless the node already holds it; returns (uploaded, fingerprint before).

    ``drf``: first wait until no DRF backup or restore runs (the unit's DRF rule). HTTP 423 (DRF
    holds the platform API; nothing was installed) is waited out, then the node is read again.
    """
    inv = load_inventory(inventory_path)

    def upload() -> tuple[bool, str | None]:
        _drf_idle(inv, cluster, unit, drf)
        with open_node(inv, cluster, fqdn) as api:
            return steps.upload_identity_unless_installed(api, unit, identity_pems, leaf_fp)

    return steps.wait_platform_unlocked(
        upload, cluster=cluster, node=fqdn, unit=unit, timeout=drf_wait_timeout, poll=drf_poll, log=_info
    )


@task(name="ctl-update", cache_policy=NO_CACHE, retries=0)
def ctl_update(inventory_path: str, cluster: str, publisher: str) -> str:
    """``utils ctl update CTLFile`` on the publisher (mixed mode)."""
    inv = load_inventory(inventory_path)
    with open_node(inv, cluster, publisher) as api:
        return api.ctl_update()


@task(name="restart-service", cache_policy=NO_CACHE, retries=0)
def restart_service(
    inventory_path: str,
    cluster: str,
    fqdn: str,
    unit: str,
    service: str,
    via: str,
    timeout: float,
    poll: float,
    earlier: EarlierAttempt | None = None,
    drf: DrfCheck | None = None,
) -> RestartOutcome:
    """Restart one service if activated and running on the node, and wait until it is Started.

    ``drf``: right before the restart, wait until no DRF backup or restore runs (the unit's DRF rule).

    ``earlier``: an earlier run recorded this restart as attempted (just before asking) but did not
    see it Started. If the service runs now and the node shows it started after that attempt, it is
    done; if the node shows otherwise or cannot tell, or the service does not run, it is restarted
    (:func:`certops.renewal.steps.started_since_attempt`).
    """
    inv = load_inventory(inventory_path)
    how = RestartVia(via)
    with open_node(inv, cluster, fqdn) as api:
        wanted, reason = steps.restart_wanted(api, service, how)
        if earlier is not None and wanted:
            at = dt.datetime.fromisoformat(earlier.at) if earlier.at else None
            since, why = steps.started_since_attempt(
                api, service, unit=unit, attempted_at=at, new_leaf=earlier.new_leaf
            )
            if since:
                return RestartOutcome(service=service, restarted=False, reason=why, done=True)
            get_run_logger().warning(
                "%s: %s was asked to restart by an earlier run that did not see it done, and %s: restarting it",
                fqdn,
                service,
                why,
            )
        elif not wanted and not (earlier is not None and "not running" in reason):
            return RestartOutcome(service=service, restarted=False, reason=reason)
        _drf_idle(inv, cluster, unit, drf, node=api)
        took = steps.restart_and_confirm(
            api, service, how, unit=unit, timeout=timeout, poll=poll, history=(cluster, service)
        )
    return RestartOutcome(service=service, restarted=True, reason="Started again", seconds=took, done=True)


@task(name="reset-phones", cache_policy=NO_CACHE, retries=0)
def reset_phones(
    inventory_path: str,
    cluster: str,
    publisher: str,
    batch_size: int,
    batch_pause: float,
    skip: list[str] | None = None,
    before_reset: Any = None,
    only: list[str] | None = None,
) -> int:
    """Reset every phone (or ``only`` these) in throttled batches (AXL)."""
    inv = load_inventory(inventory_path)
    with open_node(inv, cluster, publisher) as api:
        return steps.reset_phones(
            api,
            batch_size=batch_size,
            batch_pause=batch_pause,
            skip=frozenset(skip or ()),
            before_reset=before_reset,
            only=only,
        )


@task(name="watch-automatic-reset", cache_policy=NO_CACHE)
def watch_automatic_reset(
    inventory_path: str,
    cluster: str,
    publisher: str,
    unit: str,
    baseline: dict[str, int],
    timeout: float,
    interval: float,
    per_minute: int,
    window: float = 60.0,
    rate_limited_max_wait: float = 600.0,
) -> list[str]:
    """Watch the phones reset themselves (RisPort70, this process's budget); return those not back in time."""
    inv = load_inventory(inventory_path)
    budget = _ris_budget(inventory_path, cluster, per_minute, window)
    with open_node(inv, cluster, publisher) as api:
        return steps.watch_automatic_reset(
            api,
            cluster=cluster,
            unit=unit,
            baseline=baseline,
            timeout=timeout,
            interval=interval,
            budget=budget,
            rate_limited_max_wait=rate_limited_max_wait,
            log=_info,
        )


@task(name="wait-registration", cache_policy=NO_CACHE)
def wait_registration(
    inventory_path: str,
    cluster: str,
    publisher: str,
    unit: str,
    baseline: int,
    timeout: float,
    interval: float,
    per_minute: int,
    window: float = 60.0,
    rate_limited_max_wait: float = 600.0,
) -> int:
    """Poll RisPort70 (within budget) until the registered count is back to the baseline; fail loudly past timeout.

    The budget is the cluster's one budget on the Prefect server, shared with every run and process.
    """
    inv = load_inventory(inventory_path)
    budget = _ris_budget(inventory_path, cluster, per_minute, window)
    with open_node(inv, cluster, publisher) as api:
        count, _ = steps.wait_registration(
            api,
            cluster=cluster,
            unit=unit,
            baseline=baseline,
            timeout=timeout,
            interval=interval,
            budget=budget,
            rate_limited_max_wait=rate_limited_max_wait,
            log=_info,
            history=(cluster, "registration"),
        )
    return count


@task(name="verify-node", **_READ)
def verify_node(
    inventory_path: str, cluster: str, fqdn: str, unit: str, leaf_fp: str, old_fp: str | None
) -> CertSummary:
    """The node serves the uploaded leaf (TLS handshake / identity read back), not the old one."""
    inv = load_inventory(inventory_path)
    node = inv.cluster(cluster).node(fqdn)
    with open_node(inv, cluster, fqdn) as api:
        held = api.read_certificate(unit)  # one read: the summary, and the check where the read-back is it
        steps.verify_served(api, node, unit, leaf_fp=leaf_fp, old_fp=old_fp, read_back=held.fingerprint_sha256)
        return steps.summary_of(held)


@task(
    name="look-for-inflight",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=_BACKOFF,
    retry_condition_fn=only_transient,
)
def look_for_inflight(inventory_path: str, cluster: str, unit: str, read_phones: bool = False) -> ClusterLook:
    """Read every node holding another unit of ``unit``'s ITL group: pending CSRs, identities, what is served.

    Returns the ``ClusterLook`` for ``find_inflight``; read failures are in it
    (counted as in flight), never raised.
    """
    from certops.renewal import inflight

    return inflight.look_at_cluster(load_inventory(inventory_path), cluster, unit, read_phones=read_phones)


class IdentityNow(BaseModel):
    """One node's current identity of a unit: fingerprint and expiry (None: unreadable)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fqdn: str
    fingerprint_sha256: str | None = None
    not_after: Any = None  # datetime


@task(
    name="read-identities",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=_BACKOFF,
    retry_condition_fn=only_transient,
)
def read_identities(inventory_path: str, cluster: str, unit: str, nodes: list[str]) -> list[IdentityNow]:
    """The identity of ``unit`` each node holds now (is a renewal still needed?)."""
    inv = load_inventory(inventory_path)
    out: list[IdentityNow] = []
    for fqdn in nodes:
        with open_node(inv, cluster, fqdn) as api:
            try:
                cert = api.read_certificate(unit)
            except CucmError as exc:
                if exc.transient:
                    raise
                out.append(IdentityNow(fqdn=fqdn))
                continue
        out.append(IdentityNow(fqdn=fqdn, fingerprint_sha256=cert.fingerprint_sha256, not_after=cert.not_after))
    return out
