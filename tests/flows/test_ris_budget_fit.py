"""A RisPort70 budget take sleeps until the request fits, from the server's own figures, instead of
asking and being refused: Prefect's wait after a refusal is the time a whole request takes to refill
(and the refusal loses the decay since the last take), so a take that needed a fraction of a second
waited about nine. What the user sees: phone-watch reads that do not oversleep the maintenance window."""

from __future__ import annotations

import math
import time
from typing import Any

import httpx
import pytest

from tasks import ris_budget

pytestmark = [pytest.mark.prefect]


def test_the_wait_is_the_missing_slots_over_the_decay_and_nothing_when_they_fit():
    decay = 7.0  # 7 requests a minute refilled, in slots of 60
    assert ris_budget.seconds_until_it_fits(180, 180, decay, 60) == pytest.approx(60 / decay)
    assert ris_budget.seconds_until_it_fits(130, 180, decay, 60) == pytest.approx(10 / decay)
    assert ris_budget.seconds_until_it_fits(120, 180, decay, 60) == 0.0
    assert ris_budget.seconds_until_it_fits(0, 180, decay, 180) == 0.0
    assert math.isinf(ris_budget.seconds_until_it_fits(180, 180, 0.0, 60))  # never decays: left to Prefect


class _Answers:
    """Per take: the server's answers to the slot increments, what its figures said the take had to
    wait before each increment, and the take's naps."""

    def __init__(self) -> None:
        self.refused = 0  # 423: the bucket is full
        self.busy: list[int] = []  # 429/502/503 per take: each is followed by one short nap
        self.naps: list[list[float]] = []
        self.waits: list[list[float]] = []  # seconds_until_it_fits of each read, from the server's figures

    def next_take(self) -> None:
        self.busy.append(0)
        self.naps.append([])
        self.waits.append([])

    def fit_waits(self, take: int) -> int:
        """How many of the take's naps waited for room (not out a busy server)."""
        return len(self.naps[take]) - self.busy[take]


def _answers(monkeypatch: pytest.MonkeyPatch) -> _Answers:
    seen = _Answers()
    real = ris_budget._increment_once

    def increment(client: Any, name: str, occupy: int) -> httpx.Response:
        try:
            return real(client, name, occupy)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 423:
                seen.refused += 1
            elif exc.response.status_code in (429, 502, 503):
                seen.busy[-1] += 1
            raise

    monkeypatch.setattr(ris_budget, "_increment_once", increment)
    real_fits = ris_budget.seconds_until_it_fits

    def fits(active: int, limit: int, decay: float, occupy: int) -> float:
        wait = real_fits(active, limit, decay, occupy)
        seen.waits[-1].append(wait)
        return wait

    monkeypatch.setattr(ris_budget, "seconds_until_it_fits", fits)
    real_take = ris_budget.take_slots

    def nap(seconds: float) -> None:
        seen.naps[-1].append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(ris_budget, "take_slots", lambda name, occupy, **kw: real_take(name, occupy, sleep=nap, **kw))
    return seen


def test_a_take_past_the_burst_sleeps_until_it_fits_and_is_never_refused(prefect_server, monkeypatch):
    seen = _answers(monkeypatch)
    # 10 a minute in any 20 s: a burst of 3, then one request every 2.9 s. A server that stalls
    # longer than that between the burst and the next take lets it fit at once (nothing to show):
    # then the same is tried on a fresh budget, at most three times.
    for attempt in range(3):
        budget = ris_budget.ClusterRisBudget(f"c-fit-{attempt}", per_minute=10, window=20.0)
        burst, _ = ris_budget.shape(10, 20.0)
        seen.next_take()
        budget.take(burst)  # the bucket is full now
        seen.next_take()
        budget.take(1)
        if seen.waits[-1][0] > 0:
            break
    assert seen.waits[-1][0] > 0, "the server stalled past a refill three times: no take had to wait"
    assert seen.refused == 0  # each take waited for room instead of being refused and waiting a whole refill
    for take, waits in enumerate(seen.waits):
        # it slept for room exactly as often as the server's figures said the slots did not fit
        # yet (a busy server's short pauses aside), and took them on a read that said they fit
        assert seen.fit_waits(take) == sum(1 for w in waits if w > 0)
        assert waits[-1] == 0
    assert seen.waits[0][0] == 0 and seen.fit_waits(0) == 0  # a fresh budget's burst fits at once
