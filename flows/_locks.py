"""Cluster locks: CallManager, CallManager-ECDSA, TVS and ITLRecovery never at once on a cluster.

The hold must last from the first CSR until the phones re-registered — across processes,
workers, and runs suspended for days awaiting approval (no process at all). A concurrency
lease cannot span that, so the design is two-level (``docs/renewal.md``):

1. **Critical section** — a global concurrency limit (GCL) per (cluster, lock key), limit 1,
   ``strict=True``, a modest lease. It is created by certops (``ensure_limits``) and checked to
   exist, be ACTIVE and have limit 1 right before every acquisition; otherwise we fail closed,
   because a missing or DISABLED limit silently locks nothing (prefect-notes §2).
2. **Claim** — inside that critical section, a Prefect Variable ``certops-claim-<cluster>-<key>``
   names the flow run holding the cluster. Other runs read it and wait (bounded, naming the
   holder) or refuse. A claim is stale when its run is in a terminal state, *unless* the
   holder's renewal is unfinished and for another unit (a CallManager run that failed after
   its restarts still blocks TVS: only a rerun of that CallManager renewal, or an explicit
   abandon, releases it).

The lock key is the unit's exclusion group (``itl``), or the unit itself for units without
one, so two renewals of one unit on one cluster never overlap either.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import httpx
from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from pydantic import BaseModel, ConfigDict

from certops.errors import CertopsError, PolicyViolation
from certops.inventory import Inventory
from certops.planning import exclusion_key
from certops.renewal.waiting import Wait
from certops.units import UNITS
from tasks.server_busy import asking_again, can_send_once, send_once, server_busy

LEASE_SECONDS = 300  # the critical section takes well under a second; a write inside must end long before
SECTION_WRITE_BUDGET = 60.0  # a write inside starts, and its tries end, this long after the slot was asked for
GCL_TIMEOUT_SECONDS = 300.0  # a busy SQLite server (50 renewals at once) took over 60 s to grant the slot


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "_", text.lower())


def lock_keys() -> list[str]:
    """Every lock key the unit table implies (exclusion groups, then units without one)."""
    keys: list[str] = []
    for spec in UNITS.values():
        key = exclusion_key(spec)
        if key not in keys:
            keys.append(key)
    return keys


def limit_name(cluster: str, key: str) -> str:
    """Name of the global concurrency limit guarding (cluster, key)."""
    return f"certops-{_slug(cluster)}-{_slug(key)}"


def claim_name(cluster: str, key: str) -> str:
    """Name of the Prefect Variable holding the claim on (cluster, key)."""
    return f"certops-claim-{_slug(cluster)}-{_slug(key)}"


class Claim(BaseModel):
    """Who holds a cluster's lock key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    cluster: str
    unit: str
    since: dt.datetime
    nodes: list[str] = []
    # the process that runs the holding run (to prove it dead: certops lock reap); empty in old claims
    host: str = ""
    pid: int = 0
    process_start: str | None = None

    def describe(self) -> str:
        """``flow run <id> (CallManager on pub, sub1) since 2026-...``."""
        where = ", ".join(self.nodes) or "the cluster"
        return f"flow run {self.run_id} ({self.unit} on {where}) since {self.since:%Y-%m-%d %H:%M} UTC"

    def process(self) -> str:
        """``process 123 on host h`` (or that it is not recorded)."""
        return f"process {self.pid} on host {self.host}" if self.pid else "a process not recorded in the claim"


class RunInfo(BaseModel):
    """The state of the run holding a claim, as the Prefect server sees it."""

    model_config = ConfigDict(frozen=True)

    exists: bool
    state: str = ""  # RUNNING, PAUSED, CRASHED, ...
    state_name: str = ""  # e.g. Suspended, Paused, Running
    final: bool = True
    since: dt.datetime | None = None


def run_info(run_id: str) -> RunInfo:
    """What the server says of the holder run (a run it does not know counts as ended)."""
    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(UUID(run_id))
        except (ObjectNotFound, ValueError):
            return RunInfo(exists=False)
    st = run.state
    if st is None:
        return RunInfo(exists=True)
    return RunInfo(exists=True, state=st.type.value, state_name=st.name or "", final=st.is_final(), since=st.timestamp)


def _holder_now() -> dict[str, Any]:
    from certops.hostlock import Holder

    me = Holder.this_process()
    return {"host": me.host, "pid": me.pid, "process_start": me.process_start}


def busy_message(cluster: str, unit: str, key: str, held: Claim, info: RunInfo, *, waited: float | None = None) -> str:
    """One paragraph: who holds what since when, what state that run is in, what to do."""
    group = ", ".join(u for u, s in UNITS.items() if exclusion_key(s) == key)
    head = f"cluster {cluster}: {unit} cannot start" + (f" (waited {waited:.0f} s)" if waited else " now")
    who = (
        f"{head}: the '{key}' lock ({group}: never two at once on a cluster) is held by {held.describe()}, "
        f"run by {held.process()}."
    )
    inv = "-i INVENTORY"
    if info.final:
        ended = info.state or "unknown to this Prefect server"
        return (
            f"{who} That run ended ({ended}) but its {held.unit} renewal is unfinished, so it still holds the "
            f"cluster. Rerun it (certops renew {inv} -c {cluster} -u {held.unit}: it continues where it stopped) "
            f"or abandon it (certops renew {inv} -c {cluster} -u {held.unit} --abandon), then retry"
        )
    if info.state == "PAUSED":
        return (
            f"{who} That run is {info.state_name or 'paused'}, waiting for a person (certops pending lists it). "
            f"Approve it (certops approve {held.run_id} --chain ...) or deny it (certops deny {held.run_id} "
            "--reason ...), then retry"
        )
    return (
        f"{who} That run is {info.state or 'not final'} on the Prefect server. Wait for it to finish. If its "
        f"process died (kill -9, a lost machine) the run stays {info.state or 'RUNNING'} until zombie detection "
        f"marks it: prove it dead and mark it Crashed with certops lock reap {inv} -c {cluster} -u {held.unit} "
        f"(certops lock status {inv} -c {cluster} shows the holder)"
    )


def ensure_limits(
    inventory: Inventory, *, repair: bool = False, clusters: list[str] | None = None, keys: list[str] | None = None
) -> list[str]:
    """Create the missing limits (limit 1, active) for every cluster and lock key (or only ``clusters``,
    ``keys``); return the names created.

    Idempotent under concurrency: when another process creates a limit between our read and our
    create (``ObjectAlreadyExists``), the limit is read back and treated as found.

    With ``repair`` (bootstrap/deploy), a disabled limit or one whose limit is not 1 is reset;
    without it such a limit is left alone, and ``verify_limit`` refuses to run against it.
    """
    created: list[str] = []
    with get_client(sync_client=True) as client:
        for cluster in inventory.clusters:
            if clusters is not None and cluster.name not in clusters:
                continue
            for key in lock_keys() if keys is None else keys:
                name = limit_name(cluster.name, key)
                try:
                    limit = client.read_global_concurrency_limit_by_name(name)
                except ObjectNotFound:
                    try:
                        client.create_global_concurrency_limit(
                            GlobalConcurrencyLimitCreate(name=name, limit=1, active=True)
                        )
                        created.append(name)
                        continue
                    except ObjectAlreadyExists:
                        # another run created it between our read and our create: read what it made
                        limit = client.read_global_concurrency_limit_by_name(name)
                if repair and (not limit.active or limit.limit != 1):
                    client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active=True, limit=1))
    return created


def verify_limit(cluster: str, key: str) -> str:
    """Fail closed unless the limit exists, is ACTIVE and has limit 1; return its name."""
    name = limit_name(cluster, key)
    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            raise PolicyViolation(
                f"the concurrency limit {name!r} that guards {key} renewals on cluster {cluster} does not exist; "
                "without it nothing would lock, so the renewal does not start",
                cluster=cluster,
                rule="exclusion",
                hint=f"create it: prefect gcl create {name} --limit 1 (a renewal run creates missing limits "
                "before it acquires them)",
            ) from None
    if not limit.active or limit.limit != 1:
        state = "DISABLED" if not limit.active else f"limit {limit.limit}"
        raise PolicyViolation(
            f"the concurrency limit {name!r} that guards {key} renewals on cluster {cluster} is {state}; "
            "a disabled limit locks nothing, so the renewal does not start",
            cluster=cluster,
            rule="exclusion",
            hint=f"enable it with limit 1: prefect gcl update {name} --enable --limit 1",
        )
    return name


@contextmanager
def _client(lent: Any = None) -> Iterator[Any]:
    """The Prefect client ``lent`` (the critical section's), or a new one for this call."""
    if lent is not None:
        yield lent
        return
    with get_client(sync_client=True) as client:
        yield client


def _run_is_final(run_id: str, *, client: Any = None) -> bool:
    with _client(client) as c:
        try:
            run = c.read_flow_run(UUID(run_id))
        except (ObjectNotFound, ValueError):
            return True
    return run.state is None or run.state.is_final()


_local_locks: dict[str, threading.Lock] = {}
_local_guard = threading.Lock()


class _Section:
    """The time left to write inside a critical section before its lease could run out, and its client.

    The claim's reads and writes inside use the section's Prefect client (``client``): one client
    and, where the server wants one, one CSRF token for the whole section.
    """

    def __init__(self, granted_by: float | None, client: Any) -> None:
        self._by = granted_by  # monotonic time the write budget ends (None: Prefect's own lease renewal)
        self.client = client

    def left(self) -> float | None:
        """Seconds left to start a write (None: no bound, Prefect renews the lease)."""
        return None if self._by is None else self._by - time.monotonic()

    def check(self, cluster: str, key: str) -> float | None:
        """The seconds a write may take; raises ``SectionExpired`` when they are spent (nothing was written)."""
        left = self.left()
        if left is not None and left <= 0:
            raise SectionExpired(f"cluster {cluster}: the '{key}' lock's critical section ran out of time")
        return left


class SectionExpired(CertopsError):
    """The critical section's write budget is spent before the write: start it again (nothing was written)."""

    transient = True

    def __init__(self, message: str) -> None:
        super().__init__(
            f"{message} (a Prefect server too slow to answer); nothing was written",
            hint="rerun; if it keeps happening, the Prefect server is overloaded (see certops doctor)",
        )


@contextmanager
def _critical(name: str) -> Iterator[_Section]:
    """The GCL critical section around reading/writing a claim.

    Threads of one process are serialised by a local lock first, a precaution: a released slot is
    reported not to wake same-process waiters (PrefectHQ/prefect#23183, prefect-notes §7). Across
    processes the GCL does the work.

    The slot is taken and given back by certops itself (``POST /v2/concurrency_limits/
    increment-with-lease`` and ``decrement-with-lease``, each sent once per try, ``tasks.server_busy``):
    Prefect's ``concurrency()`` waits 2 s after the immediate 503 an embedded SQLite server gives a
    take that lost to another write, seen at the end of most ipsec renewals. The lease is not
    renewed; instead every write inside must start within :data:`SECTION_WRITE_BUDGET` seconds of
    asking for the slot and its tries end by then, so it lands well before the lease
    (:data:`LEASE_SECONDS`) could expire, whatever the server's clock. Where the client lends no
    ``httpx.Client`` it is Prefect's ``concurrency()``, which renews the lease.
    """
    with _local_guard:
        local = _local_locks.setdefault(name, threading.Lock())
    with local, get_client(sync_client=True) as client:
        if not can_send_once(client):
            with concurrency(
                name, occupy=1, strict=True, lease_duration=LEASE_SECONDS, timeout_seconds=GCL_TIMEOUT_SECONDS
            ):
                yield _Section(None, client)
            return
        asked = time.monotonic()
        lease = _take_slot(client, name)
        try:
            yield _Section(asked + SECTION_WRITE_BUDGET, client)
        finally:
            _give_slot_back(client, lease)


def _take_slot(client: Any, name: str) -> str:
    """The lease id of the one slot of GCL ``name``: waits while another holds it, up to :data:`GCL_TIMEOUT_SECONDS`."""
    body = {"names": [name], "slots": 1, "mode": "concurrency", "lease_duration": LEASE_SECONDS}
    deadline = time.monotonic() + GCL_TIMEOUT_SECONDS
    while True:
        try:
            answer = asking_again(
                lambda: send_once(client, "POST", "/v2/concurrency_limits/increment-with-lease", json=body),
                wait=max(0.0, deadline - time.monotonic()),
            )
        except httpx.HTTPStatusError as exc:
            if _status(exc) != 423:
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"Attempt to acquire concurrency slots timed out after {GCL_TIMEOUT_SECONDS} second(s)"
                ) from exc
            try:  # held by another run's critical section (under a second): the server says when to look
                after = float(exc.response.headers.get("Retry-After", "0.1"))
            except ValueError:
                after = 0.1
            time.sleep(min(max(after, 0.05), 1.0, left))
            continue
        got = answer.json()
        if not got.get("limits"):  # strict: a missing limit locks nothing
            raise CertopsError(
                f"the concurrency limit {name!r} disappeared while a renewal took it; nothing was changed",
                hint=f"create it again (prefect gcl create {name} --limit 1), then rerun",
            )
        return str(got["lease_id"])


def _give_slot_back(client: Any, lease_id: str) -> None:
    """Give the slot back; a lease the server no longer has (expired, released) counts as given back."""

    def release() -> None:
        try:
            send_once(client, "POST", "/v2/concurrency_limits/decrement-with-lease", json={"lease_id": lease_id})
        except httpx.HTTPStatusError as exc:
            if _status(exc) not in (404, 410):
                raise

    asking_again(release)


def _status(exc: httpx.HTTPStatusError) -> int:
    return exc.response.status_code


def _variable_value(name: str, *, client: Any = None) -> Any:
    """The value of Prefect Variable ``name`` (None when there is none).

    Like the claim's other reads and writes, sent once per try and asked again soon while the
    server is busy (``tasks.server_busy``), not with Prefect's 2 s back-off. ``client``: the
    critical section's (a new one when None).
    """
    with _client(client) as client:
        if not can_send_once(client):
            var = client.read_variable_by_name(name)
            return var.value if var is not None else None

        def read() -> Any:
            try:
                return send_once(client, "GET", f"/variables/name/{name}").json().get("value")
            except httpx.HTTPStatusError as exc:
                if _status(exc) == 404:
                    return None
                raise

        return asking_again(read)


def _set_variable(name: str, value: Any, *, wait: float | None = None, client: Any = None) -> None:
    """Set Prefect Variable ``name`` to ``value``, creating it when there is none (idempotent)."""
    body = {"name": name, "value": value}
    with _client(client) as client:
        if not can_send_once(client):
            from prefect.client.schemas.actions import VariableCreate, VariableUpdate

            if client.read_variable_by_name(name) is None:
                client.create_variable(VariableCreate(**body))
            else:
                client.update_variable(VariableUpdate(**body))
            return

        def write() -> None:
            try:
                send_once(client, "PATCH", f"/variables/name/{name}", json=body)
            except httpx.HTTPStatusError as exc:
                if _status(exc) != 404:
                    raise
                try:
                    send_once(client, "POST", "/variables/", json=body)
                except httpx.HTTPStatusError as again:
                    if _status(again) != 409:  # created meanwhile (our own earlier try): set it
                        raise
                    send_once(client, "PATCH", f"/variables/name/{name}", json=body)

        asking_again(write, wait=wait)


def _delete_variable(name: str, *, wait: float | None = None, client: Any = None) -> None:
    """Delete Prefect Variable ``name``; one that is gone already counts as deleted."""
    with _client(client) as client:
        if not can_send_once(client):
            with contextlib.suppress(ObjectNotFound):
                client.delete_variable_by_name(name)
            return

        def delete() -> None:
            try:
                send_once(client, "DELETE", f"/variables/name/{name}")
            except httpx.HTTPStatusError as exc:
                if _status(exc) != 404:  # a try the server did carry out before it answered busy
                    raise

        asking_again(delete, wait=wait)


def read_claim(cluster: str, key: str, *, client: Any = None) -> Claim | None:
    """The current claim on (cluster, key), or None (``client``: the critical section's, or a new one)."""
    value: Any = _variable_value(claim_name(cluster, key), client=client)
    return Claim.model_validate(value) if value else None


def acquire_claim(
    *,
    cluster: str,
    unit: str,
    run_id: str,
    nodes: list[str],
    on_busy: str = "wait",
    wait_timeout: float = 3600.0,
    poll: float = 10.0,
    unfinished: Callable[[str, str], bool] = lambda cluster, unit: False,
    log: Callable[[str], None] = print,
    on_held: Callable[[], object] = lambda: None,
) -> Claim:
    """Claim (cluster, lock key of ``unit``) for ``run_id``; wait (bounded) or refuse while another run holds it.

    ``unfinished(cluster, unit)`` says whether a renewal of ``unit`` is recorded as unfinished
    (started, not done): such a holder blocks other units even after its run ended. ``on_held`` is
    called once, the first time the claim is seen held by another run (before waiting or refusing).
    """
    key = exclusion_key(UNITS[unit])
    deadline = time.monotonic() + wait_timeout
    announced = ""
    wait = Wait(
        f"cluster {cluster} [{unit}]", f"the '{key}' lock", bound=wait_timeout, log=log, setting="lock_wait_timeout"
    )
    while True:
        name = verify_limit(cluster, key)
        try:
            with _critical(name) as section:
                held = read_claim(cluster, key, client=section.client)
                free = held is None or held.run_id == run_id
                if held is not None and not free and _run_is_final(held.run_id, client=section.client):
                    free = held.unit == unit or not unfinished(cluster, held.unit)
                if free:
                    me = _holder_now()
                    claim = Claim(
                        run_id=run_id, cluster=cluster, unit=unit, since=dt.datetime.now(dt.UTC), nodes=nodes, **me
                    )
                    if held is not None and held.run_id == run_id:
                        claim = held.model_copy(update=me)  # resumed in another process: record that one
                    _set_variable(
                        claim_name(cluster, key),
                        claim.model_dump(mode="json"),
                        wait=section.check(cluster, key),
                        client=section.client,
                    )
                    wait.done("the lock is ours")
                    return claim
        except Exception as exc:
            # a server too busy to answer (SQLite with 50 renewals at once: HTTP 503 on the critical
            # section) is asked again within the wait's bound; nothing was claimed or changed yet
            if not (server_busy(exc) or isinstance(exc, SectionExpired)) or time.monotonic() >= deadline:
                raise
            log(f"cluster {cluster} [{unit}]: the Prefect server is busy ({type(exc).__name__}); asking again")
            time.sleep(min(poll, 5.0))
            continue
        assert held is not None
        if not announced:
            on_held()
        info = run_info(held.run_id)
        if on_busy == "refuse":
            raise PolicyViolation(
                busy_message(cluster, unit, key, held, info), cluster=cluster, unit=unit, rule="exclusion"
            )
        # say what it waits for at the first look, even when the bound is already spent (a slow look)
        if announced != held.run_id:
            log(busy_message(cluster, unit, key, held, info))
            announced = held.run_id
        wait.tick(f"held by {held.describe()}")
        if time.monotonic() >= deadline:
            raise PolicyViolation(
                busy_message(cluster, unit, key, held, info, waited=wait_timeout),
                cluster=cluster,
                unit=unit,
                rule="exclusion",
            )
        time.sleep(poll)


def release_claim(*, cluster: str, unit: str, run_id: str) -> bool:
    """Release the claim if ``run_id`` holds it (inside the critical section). True if released.

    The limit is not looked up first (as acquiring does, to fail closed): this run verified it when
    it claimed, and a limit gone or disabled since fails the critical section's slot anyway, which
    the caller reports; one request fewer at the end of every renewal.
    """
    key = exclusion_key(UNITS[unit])
    name = limit_name(cluster, key)
    with _critical(name) as section:
        held = read_claim(cluster, key, client=section.client)
        if held is None or held.run_id != run_id:
            return False
        _delete_variable(claim_name(cluster, key), wait=section.check(cluster, key), client=section.client)
        return True


def force_release(*, cluster: str, unit: str) -> Claim | None:
    """Drop the claim on the lock key of ``unit`` if its run has ended (abandon). Returns the claim dropped."""
    key = exclusion_key(UNITS[unit])
    name = verify_limit(cluster, key)
    with _critical(name) as section:
        held = read_claim(cluster, key, client=section.client)
        if held is not None and not _run_is_final(held.run_id, client=section.client):
            raise PolicyViolation(
                f"cluster {cluster}: the '{key}' lock is held by {held.describe()}, which is still active",
                cluster=cluster,
                unit=unit,
                rule="exclusion",
                hint="deny it (certops deny RUN --reason ...) or cancel it in the Prefect UI first",
            )
        if held is not None:
            _delete_variable(claim_name(cluster, key), wait=section.check(cluster, key), client=section.client)
        return held
