"""The cluster's RisPort70 budget lives on the Prefect server; a server too busy to answer for a
moment (HTTP 503: SQLite "database is locked" with many runs at once) is waited out, not a failed
renewal. Seen with 50 renewals at once: one CallManager renewal failed after its uploads and
restarts, in the phone watch, on ``ConcurrencySlotAcquisitionError: ... 503 Service Unavailable``."""

from __future__ import annotations

from typing import Any

import pytest

import tasks.ris_budget as ris_budget

pytestmark = [pytest.mark.prefect]


class ConcurrencySlotAcquisitionError(Exception):  # the name Prefect's (private) class has
    pass


def _flaky(monkeypatch: pytest.MonkeyPatch, message: str, failures: int) -> list[int]:
    calls: list[int] = []
    real = ris_budget.rate_limit

    def rate_limit(name: str, occupy: int, strict: bool) -> Any:
        calls.append(occupy)
        if len(calls) <= failures:
            raise ConcurrencySlotAcquisitionError(f"Unable to acquire concurrency slots on [{name!r}]: {message}")
        return real(name, occupy=occupy, strict=strict)

    monkeypatch.setattr(ris_budget, "rate_limit", rate_limit)
    return calls


def test_a_busy_prefect_server_is_waited_out_while_taking_the_risport_budget(prefect_server, monkeypatch):
    budget = ris_budget.ClusterRisBudget("c-busy", per_minute=15)
    calls = _flaky(monkeypatch, "503 Service Unavailable", failures=2)
    budget.take(1)
    assert len(calls) == 3  # two refusals by a busy server, then the slots were taken


def test_a_budget_error_that_is_not_a_busy_server_stands_at_once(prefect_server, monkeypatch):
    budget = ris_budget.ClusterRisBudget("c-missing", per_minute=15)
    calls = _flaky(monkeypatch, "the concurrency limit must be created first", failures=1)
    with pytest.raises(ConcurrencySlotAcquisitionError, match="must be created"):
        budget.take(1)
    assert len(calls) == 1
