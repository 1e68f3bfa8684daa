"""One RisPort70 budget per cluster, shared by every run, task and process on the Prefect server.

RisPort70 counts ``selectCmDevice`` requests cluster-wide (15 in any 60 s on CUCM; past that it
answers ``Server.RateControl``). A budget in one process (``certops.renewal.steps.RateBudget``)
cannot see what a second ``certops renew`` or a worker's run spends, so the budget is a Prefect
global concurrency limit used as a rate limit (``rate_limit`` with ``slot_decay_per_second``):
every RisPort70 request of every renewal takes from the cluster's limit first.

A rate limit is a token bucket: with room for ``burst`` requests that refills at ``rate`` per
second, any ``window`` seconds see at most ``burst + rate * window`` requests. So for
``per_minute`` requests in any window (``RenewalSettings.ris_requests_per_minute``, of the 15 that
CUCM allows everyone) the burst is a third of them and the rest refill over the window. Each
request occupies :data:`SLOTS_PER_REQUEST` slots: the server decays whole slots only (it floors
``decay * seconds`` at each update), so fine slots keep a slow refill from being lost to rounding.

The limit is created (or put back to what the settings say, and active) on first use in a
process; a disabled limit would let everything through, so it is re-enabled, never trusted.

A take (:func:`take_slots`) reads the limit first, sleeps until the request fits, then takes it,
instead of Prefect's ``rate_limit``: Prefect's wait after a refusal (HTTP 423) is ``Retry-After =
(slots + denied slots) / decay``, the time a whole request takes to refill however close the bucket
was, and the server's refusal moves the limit's ``updated`` time without decaying its slots, so the
decay since the last take is lost. Measured on a bare server (10 a minute, burst 3): a fifth take
waited 9.9 s where room came after 0.2 s. The wait is computed from the server's own figures, with
no clock: the slots it reports (decayed to the moment it answered), the limit and the decay, so it
is right however far apart the clocks of certops and the server are. A taker that loses the race
to another reads again.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.settings import PREFECT_API_URL

from certops.errors import CertopsError
from tasks.server_busy import (
    BUSY_FIRST_PAUSE,
    BUSY_LONGEST_PAUSE,
    BUSY_SERVER_WAIT,
    can_send_once,
    send_once,
    worth_asking_again,
)

SLOTS_PER_REQUEST = 60
"""Slots one RisPort70 request occupies (so the decay per second is a whole number of slots)."""

_ENSURED: dict[tuple[str, str], tuple[int, float]] = {}  # (API URL, limit) -> the shape last applied
_LOCK = threading.Lock()


def limit_name(cluster: str, endpoint: tuple[str, ...] = ()) -> str:
    """Name of the rate limit of ``cluster``'s RisPort70: its name, and a digest of the publisher's
    RIS endpoint (two inventories that both call a cluster ``c1`` do not share a budget by mistake)."""
    digest = hashlib.sha256("|".join(endpoint).encode()).hexdigest()[:10] if endpoint else ""
    return "certops-ris-" + re.sub(r"[^a-z0-9_-]", "_", cluster.lower()) + (f"-{digest}" if digest else "")


def shape(per_minute: int, window: float) -> tuple[int, float]:
    """``(burst, rate per second)`` so that any ``window`` seconds hold at most ``per_minute`` requests."""
    burst = max(1, per_minute // 3)
    # one request a window needs a slower refill: 1 + floor(0.5) requests fit in any window
    rate = (per_minute - burst) / window if per_minute > burst else 0.5 / window
    return burst, rate


def ensure(cluster: str, per_minute: int, window: float, endpoint: tuple[str, ...] = ()) -> str:
    """Create (or correct and re-enable) the cluster's RisPort70 rate limit; return its name."""
    name = limit_name(cluster, endpoint)
    key = (str(PREFECT_API_URL.value()), name)
    with _LOCK:
        if _ENSURED.get(key) == (per_minute, window):
            return name
    burst, rate = shape(per_minute, window)
    limit = burst * SLOTS_PER_REQUEST
    decay = rate * SLOTS_PER_REQUEST
    with get_client(sync_client=True) as client:
        try:
            got = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=limit, active=True, slot_decay_per_second=decay)
                )
            except ObjectAlreadyExists:
                got = client.read_global_concurrency_limit_by_name(name)
            else:
                got = None
        if got is not None and (
            not got.active or got.limit != limit or not math.isclose(got.slot_decay_per_second, decay)
        ):
            client.update_global_concurrency_limit(
                name, GlobalConcurrencyLimitUpdate(active=True, limit=limit, slot_decay_per_second=decay)
            )
    with _LOCK:
        _ENSURED[key] = (per_minute, window)
    return name


class ClusterRisBudget:
    """The cluster's RisPort70 budget on the Prefect server: ``take`` waits until the requests fit.

    Has the interface ``certops.renewal.steps`` reads from a budget (``take``, ``window``).
    """

    def __init__(self, cluster: str, per_minute: int, window: float = 60.0, endpoint: tuple[str, ...] = ()) -> None:
        self.cluster = cluster
        self.per_minute = per_minute
        self.window = window
        self.name = ensure(cluster, per_minute, window, endpoint)

    def take(self, cost: int = 1) -> float:
        """Wait until ``cost`` more requests fit in the cluster's rate limit, take them; return the seconds waited."""
        t0 = time.monotonic()
        burst, _ = shape(self.per_minute, self.window)
        left = cost
        while left > 0:  # never ask for more than the bucket holds at once
            n = min(left, burst)
            take_slots(self.name, n * SLOTS_PER_REQUEST, cluster=self.cluster)
            left -= n
        return time.monotonic() - t0


FIT_MARGIN = 0.02
"""Seconds slept past the computed fit (the server's answer reached us after it decayed the slots)."""


def seconds_until_it_fits(active_slots: int, limit: int, decay_per_second: float, occupy: int) -> float:
    """Seconds from a read of the limit until ``occupy`` more slots fit, 0.0 when they fit now.

    The server decays ``floor(decay * elapsed)`` slots since the limit's last update; as
    ``floor(a + b) >= floor(a) + floor(b)``, ``need / decay`` more seconds decay at least the
    ``need`` whole slots missing, wherever in a slot the read fell. ``inf``: it never decays.
    """
    need = active_slots + occupy - limit
    if need <= 0:
        return 0.0
    if decay_per_second <= 0:
        return math.inf
    return need / decay_per_second


def take_slots(name: str, occupy: int, *, cluster: str = "", sleep: Callable[[float], None] | None = None) -> float:
    """Occupy ``occupy`` slots of the rate limit ``name``: read it, sleep until they fit, take them.

    Returns the seconds slept. A take that loses the race to another taker (HTTP 423) reads again;
    a server too busy to answer, or a dropped connection, is asked again after
    :data:`BUSY_FIRST_PAUSE` doubling, up to :data:`BUSY_SERVER_WAIT` seconds (the increment is
    sent once each time, :func:`_increment_once`, not with Prefect's 2 s back-off).
    Raises ``CertopsError`` (with what to do) for a missing limit or one that no longer decays.

    Seen with 50 renewals at once on a SQLite server: one CallManager renewal failed after its
    uploads and restarts, in the phone watch, on a 503 from the rate limit; and on an idle embedded
    server about one take in three met an immediate 503 and waited Prefect's 2 s retry.
    """
    nap = sleep or time.sleep
    where = f"cluster {cluster}: " if cluster else ""
    deadline = time.monotonic() + BUSY_SERVER_WAIT
    pause = BUSY_FIRST_PAUSE
    slept = 0.0

    def again(seconds: float) -> None:
        nonlocal slept
        nap(seconds)
        slept += seconds

    with get_client(sync_client=True) as client:
        while True:
            try:
                got = client.read_global_concurrency_limit_by_name(name)
                wait = seconds_until_it_fits(got.active_slots, got.limit, got.slot_decay_per_second, occupy)
                if got.active and math.isinf(wait):
                    raise CertopsError(
                        f"{where}the RisPort70 budget {name} on the Prefect server no longer refills "
                        "(its slot decay is 0)",
                        hint="delete that global concurrency limit (prefect gcl delete) or rerun: certops creates "
                        "it again with the shape ris_requests_per_minute asks for",
                    )
                if got.active and wait > 0:
                    again(wait + FIT_MARGIN)
                    continue
                response = _increment_once(client, name, occupy)
            except ObjectNotFound as exc:
                raise _missing(where, name) from exc
            except (httpx.HTTPStatusError, httpx.TransportError) as exc:
                if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code == 423:
                    again(FIT_MARGIN)  # another taker was faster: its slots show on the next read
                    continue
                if not worth_asking_again(exc) or time.monotonic() + pause > deadline:
                    raise
                again(pause)
                pause = min(pause * 2, BUSY_LONGEST_PAUSE)
                continue
            limits = response.json()
            if not limits:
                raise _missing(where, name)
            _emit_acquired(limits, occupy)
            return slept


def _increment_once(client: Any, name: str, occupy: int) -> Any:
    """``POST /v2/concurrency_limits/increment`` sent once (``tasks.server_busy.send_once``).

    Where the client lends no ``httpx.Client``, or the server wants CSRF tokens, it is the
    client's own call, Prefect's retries and all.
    """
    body = {"names": [name], "slots": occupy, "mode": "rate_limit"}
    if not can_send_once(client):
        return client.increment_concurrency_slots(names=[name], slots=occupy, mode="rate_limit")
    return send_once(client, "POST", "/v2/concurrency_limits/increment", json=body)


def _missing(where: str, name: str) -> Exception:
    return CertopsError(
        f"{where}the RisPort70 budget {name} is missing on the Prefect server (deleted while certops ran?)",
        hint="rerun: certops creates it on first use; do not delete certops-ris-* limits while renewals run",
    )


def _emit_acquired(limits: list[dict[str, object]], occupy: int) -> None:
    """The events Prefect's own ``rate_limit`` emits for a take (its event feed shows the budget's use)."""
    try:
        from prefect.client.schemas.responses import MinimalConcurrencyLimitResponse
        from prefect.concurrency._events import emit_concurrency_acquisition_events
    except ImportError:  # a private module of Prefect: the take stands without its events
        return
    emit_concurrency_acquisition_events([MinimalConcurrencyLimitResponse.model_validate(x) for x in limits], occupy)
