"""`certops renew` against a Prefect server too busy to create its flow run (HTTP 503: SQLite with
50 renewals started at once) asks again instead of ending with a traceback; nothing had started."""

from __future__ import annotations

import httpx
import pytest
from prefect.exceptions import PrefectHTTPStatusError

from certops.cli import renew as cli
from certops.errors import CertopsError


def _refused(code: int, method: str = "POST", path: str = "/api/flow_runs/") -> PrefectHTTPStatusError:
    request = httpx.Request(method, f"http://127.0.0.1:4200{path}")
    response = httpx.Response(code, request=request, json={"exception_message": "Service Unavailable"})
    return PrefectHTTPStatusError.from_httpx_error(
        httpx.HTTPStatusError("Server error", request=request, response=response)
    )


@pytest.fixture(autouse=True)
def _short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "BUSY_FIRST_PAUSE", 0.01)


def test_a_busy_server_refusing_to_create_the_flow_run_is_asked_again_and_the_renewal_starts(capsys):
    calls: list[int] = []

    def start() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _refused(503)
        return "started"

    assert cli._start_waiting_out_a_busy_server(start, "c1", "TVS") == "started"
    assert len(calls) == 3
    err = capsys.readouterr().err
    assert "the Prefect server is busy (HTTP 503 creating the flow run of c1 [TVS]); nothing started yet" in err


def test_a_server_that_stays_busy_ends_in_one_paragraph_saying_nothing_was_started(monkeypatch):
    monkeypatch.setattr(cli, "BUSY_SERVER_WAIT", 0.05)

    def start() -> str:
        raise _refused(503)

    with pytest.raises(CertopsError) as got:
        cli._start_waiting_out_a_busy_server(start, "c1", "TVS")
    text = str(got.value)
    assert "refused to create the flow run (HTTP 503)" in text and "nothing was started" in text
    assert "PostgreSQL" in (got.value.hint or "")


def test_other_server_errors_are_not_retried():
    # a 503 on a later request (the run exists and may have acted) is the flow's business, not a restart
    calls: list[int] = []

    def start() -> str:
        calls.append(1)
        raise _refused(503, method="PATCH", path="/api/flow_runs/abc/set_state")

    with pytest.raises(PrefectHTTPStatusError):
        cli._start_waiting_out_a_busy_server(start, "c1", "TVS")
    assert len(calls) == 1
