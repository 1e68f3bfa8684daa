"""A RisPort70 budget take sleeps until the request fits, from the server's own figures, instead of
asking and being refused: Prefect's wait after a refusal is the time a whole request takes to refill
(and the refusal loses the decay since the last take), so a take that needed a fraction of a second
waited about nine. What the user sees: phone-watch reads that do not oversleep the maintenance window."""

from __future__ import annotations

import math
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


def _refusals(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the server's 423 answers (the bucket is full) to the budget's slot increments."""
    refused: list[int] = []
    real = ris_budget._increment_once

    def increment(client: Any, name: str, occupy: int) -> httpx.Response:
        try:
            return real(client, name, occupy)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 423:
                refused.append(1)
            raise

    monkeypatch.setattr(ris_budget, "_increment_once", increment)
    return refused


def test_a_take_past_the_burst_sleeps_until_it_fits_and_is_never_refused(prefect_server, monkeypatch):
    budget = ris_budget.ClusterRisBudget("c-fit", per_minute=10, window=6.0)
    burst, _ = ris_budget.shape(10, 6.0)
    refused = _refusals(monkeypatch)
    slept: list[float] = []
    real_take = ris_budget.take_slots

    def take(name: str, occupy: int, **kwargs: Any) -> float:
        slept.append(real_take(name, occupy, **kwargs))
        return slept[-1]

    monkeypatch.setattr(ris_budget, "take_slots", take)
    budget.take(burst)  # the bucket is full now
    budget.take(1)
    budget.take(1)
    assert refused == []  # each take waited for room instead of being refused and waiting a whole refill
    assert slept[0] == 0.0 and slept[1] > 0 and slept[2] > 0
