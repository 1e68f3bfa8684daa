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
"""

from __future__ import annotations

import hashlib
import math
import re
import threading

from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.concurrency.sync import rate_limit
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.settings import PREFECT_API_URL

from tasks.server_busy import server_busy

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
        """Wait (Prefect's rate limit) until ``cost`` more requests fit; return the seconds waited."""
        import time

        t0 = time.monotonic()
        burst, _ = shape(self.per_minute, self.window)
        left = cost
        while left > 0:  # never ask for more than the bucket holds at once
            n = min(left, burst)
            _rate_limit_waiting_out_a_busy_server(self.name, n * SLOTS_PER_REQUEST)
            left -= n
        return time.monotonic() - t0


BUSY_SERVER_WAIT = 300.0
"""Seconds a budget take waits out a Prefect server answering 502/503/429 (SQLite "database is
locked" under many runs at once) before the error stands."""


def _rate_limit_waiting_out_a_busy_server(name: str, occupy: int) -> None:
    """``rate_limit(name, occupy)``; a server too busy to answer (after the client's own retries) is
    asked again with back-off, up to :data:`BUSY_SERVER_WAIT` seconds, instead of failing the renewal.

    Seen with 50 renewals at once on a SQLite server: one CallManager renewal failed after its uploads
    and restarts, in the phone watch, on ``ConcurrencySlotAcquisitionError: ... 503 Service Unavailable``.
    """
    import time

    deadline = time.monotonic() + BUSY_SERVER_WAIT
    pause = 0.5
    while True:
        try:
            rate_limit(name, occupy=occupy, strict=True)
            return
        except Exception as exc:  # Prefect's ConcurrencySlotAcquisitionError lives in a private module
            if not server_busy(exc) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 15.0)
