"""The cluster's RisPort70 budget lives on the Prefect server; a server too busy to answer for a
moment (HTTP 503: SQLite "database is locked", or a write that lost to another, with many runs at
once) is asked again soon, not a failed renewal and not Prefect's 2 s retry. Seen with 50 renewals
at once: one CallManager renewal failed after its uploads and restarts, in the phone watch, on a
503 from the rate limit; on an idle embedded server about one take in three met an immediate 503."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prefect.exceptions import PrefectHTTPStatusError

import tasks.ris_budget as ris_budget
from certops.errors import CertopsError

pytestmark = [pytest.mark.prefect]


def _answers(monkeypatch: pytest.MonkeyPatch, statuses: list[int]) -> list[int]:
    """The server answers the next slot increments with ``statuses`` (then for real); returns each answer."""
    seen: list[int] = []
    real = ris_budget._increment_once

    def increment(client: Any, name: str, occupy: int) -> httpx.Response:
        if len(seen) < len(statuses):
            seen.append(statuses[len(seen)])
            request = httpx.Request("POST", "http://127.0.0.1/api/v2/concurrency_limits/increment")
            response = httpx.Response(seen[-1], request=request, json={"exception_message": "Service Unavailable"})
            raise PrefectHTTPStatusError.from_httpx_error(
                httpx.HTTPStatusError("refused", request=request, response=response)
            )
        seen.append(200)
        return real(client, name, occupy)

    monkeypatch.setattr(ris_budget, "_increment_once", increment)
    return seen


def test_a_busy_prefect_server_is_asked_again_soon_while_taking_the_risport_budget(prefect_server, monkeypatch):
    budget = ris_budget.ClusterRisBudget("c-busy", per_minute=15)
    seen = _answers(monkeypatch, [503, 503])
    pauses: list[float] = []
    real_take = ris_budget.take_slots
    monkeypatch.setattr(
        ris_budget, "take_slots", lambda name, occupy, **kw: real_take(name, occupy, sleep=pauses.append, **kw)
    )
    budget.take(1)
    assert seen == [503, 503, 200]  # two refusals by a busy server, then the slots were taken
    assert pauses == [ris_budget.BUSY_FIRST_PAUSE, 2 * ris_budget.BUSY_FIRST_PAUSE]  # not Prefect's 2 s each


def test_a_budget_error_that_is_not_a_busy_server_stands_at_once(prefect_server, monkeypatch):
    budget = ris_budget.ClusterRisBudget("c-refused", per_minute=15)
    seen = _answers(monkeypatch, [422])
    with pytest.raises(PrefectHTTPStatusError) as err:
        budget.take(1)
    assert err.value.response.status_code == 422 and seen == [422]


def test_a_budget_deleted_while_a_renewal_runs_says_so_and_what_to_do(prefect_server):
    from prefect import get_client

    budget = ris_budget.ClusterRisBudget("c-deleted", per_minute=15)
    with get_client(sync_client=True) as client:
        client.delete_global_concurrency_limit_by_name(budget.name)
    with pytest.raises(CertopsError, match=r"cluster c-deleted: the RisPort70 budget .* is missing") as err:
        budget.take(1)
    assert "rerun" in str(err.value)
