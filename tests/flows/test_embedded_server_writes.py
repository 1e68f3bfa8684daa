"""The embedded Prefect server makes concurrent writers wait for each other instead of refusing one.

A renewal's lock claim and release and the shared RisPort70 budget are read-then-write transactions
on the server's SQLite database. Begun DEFERRED (Prefect's default for these endpoints), one that
loses to another connection's commit is refused at once with a 503, and its client must ask again:
measured with this test's load on a plain ``prefect server start``, about two claims in three. The
embedded server (``certops.cli.prefect_server``) begins them IMMEDIATE, so none is refused.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import Counter

import httpx
import pytest

pytestmark = [pytest.mark.prefect]

CLAIMERS = 6
ROUNDS = 20


def test_many_clients_claiming_and_releasing_one_limit_while_logs_are_written_are_never_told_the_server_is_busy(
    prefect_api_url: str,
) -> None:
    name = f"certops-test-{uuid.uuid4().hex[:8]}"
    created = httpx.post(f"{prefect_api_url}/v2/concurrency_limits/", json={"name": name, "limit": 3}, timeout=60)
    assert created.status_code == 201, created.text
    answers: Counter[str] = Counter()
    count = threading.Lock()

    def note(what: str, response: httpx.Response) -> None:
        with count:
            answers[f"{what} {response.status_code}"] += 1

    def claimer() -> None:
        with httpx.Client(base_url=prefect_api_url, timeout=120) as client:
            for _ in range(ROUNDS):
                claim = client.post(
                    "/v2/concurrency_limits/increment-with-lease",
                    json={"names": [name], "slots": 1, "mode": "concurrency", "lease_duration": 60},
                )
                note("claim", claim)
                if claim.status_code == 200:
                    release = client.post(
                        "/v2/concurrency_limits/decrement-with-lease", json={"lease_id": claim.json()["lease_id"]}
                    )
                    note("release", release)

    def logger() -> None:  # other commits between a claim's read and its write
        with httpx.Client(base_url=prefect_api_url, timeout=120) as client:
            for i in range(2 * ROUNDS):
                stamp = dt.datetime.now(dt.UTC).isoformat()
                entry = {"name": "t", "level": 20, "message": str(i), "timestamp": stamp}
                note("log", client.post("/logs/", json=[entry]))

    threads = [threading.Thread(target=claimer) for _ in range(CLAIMERS)]
    threads += [threading.Thread(target=logger) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert answers["claim 200"] + answers["claim 423"] == CLAIMERS * ROUNDS, answers  # granted, or full: never busy
        assert answers["release 204"] == answers["claim 200"] > 0, answers
        assert answers["log 201"] == 2 * 2 * ROUNDS, answers
        left = httpx.get(f"{prefect_api_url}/v2/concurrency_limits/{name}", timeout=60).json()
        assert left["active_slots"] == 0  # every release counted
    finally:
        httpx.delete(f"{prefect_api_url}/v2/concurrency_limits/{name}", timeout=60)
