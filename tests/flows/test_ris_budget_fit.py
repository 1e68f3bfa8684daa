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
    """The server's answers to the budget's slot increments and the naps of each take, per take."""

    def __init__(self) -> None:
        self.refused = 0  # 423: the bucket is full
        self.busy: list[int] = [0]  # 429/502/503 per take: each is followed by one short nap
        self.naps: list[list[float]] = [[]]

    def next_take(self) -> None:
        self.busy.append(0)
        self.naps.append([])

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
    real_take = ris_budget.take_slots

    def nap(seconds: float) -> None:
        seen.naps[-1].append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(ris_budget, "take_slots", lambda name, occupy, **kw: real_take(name, occupy, sleep=nap, **kw))
    return seen


def test_a_take_past_the_burst_sleeps_until_it_fits_and_is_never_refused(prefect_server, monkeypatch):
    budget = ris_budget.ClusterRisBudget("c-fit", per_minute=10, window=6.0)
    burst, _ = ris_budget.shape(10, 6.0)
    seen = _answers(monkeypatch)
    budget.take(burst)  # the bucket is full now
    seen.next_take()
    budget.take(1)
    seen.next_take()
    budget.take(1)
    assert seen.refused == 0  # each take waited for room instead of being refused and waiting a whole refill
    # the burst fitted at once; each later take waited for room (a busy server's short pauses aside)
    assert [seen.fit_waits(i) for i in range(3)] == [0, 1, 1]
