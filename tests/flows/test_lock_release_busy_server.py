"""A renewal that finished is not failed by a Prefect server too busy to release its lock, and the
lock it could not release does not keep its partner out. Seen with 50 renewals at once on a SQLite
server: a completed CallManager renewal ended Failed ("timed out after 60 s") in the release."""

from __future__ import annotations

import pytest

import flows._locks as locks
from flows.renew import renew
from tests.flows.conftest import FAST

pytestmark = [pytest.mark.prefect]


class AcquireConcurrencySlotTimeoutError(TimeoutError):  # the name of Prefect's
    pass


def test_a_finished_renewal_whose_lock_release_times_out_completes_and_its_partner_still_runs(make_env, monkeypatch):
    env = make_env(ca="auto")
    real = locks.release_claim

    def busy(**kwargs: str) -> bool:
        raise AcquireConcurrencySlotTimeoutError("Attempt to acquire concurrency slots timed out after 300.0 second(s)")

    monkeypatch.setattr(locks, "release_claim", busy)
    first = renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    assert first.status == "completed"
    held = locks.read_claim("c1", "itl")
    assert held is not None and held.run_id == first.run_id  # left behind by the busy server
    monkeypatch.setattr(locks, "release_claim", real)
    second = renew(str(env.inventory_path), "c1", "TVS", settings=FAST.model_copy(update={"on_busy": "refuse"}))
    assert second.status == "completed"
    uploads = [e["unit"] for e in env.fleet.events(operation="identity_uploaded")]
    assert uploads.count("CallManager") == 2 and uploads.count("TVS") == 2


class ConcurrencySlotAcquisitionError(Exception):  # the name of Prefect's (private) class
    pass


def test_a_busy_server_while_claiming_the_lock_is_asked_again_and_the_renewal_completes(make_env, monkeypatch):
    # 2 of 50 renewals started at once on SQLite failed here before touching the cluster (HTTP 503)
    env = make_env(ca="auto")
    real = locks.concurrency
    calls: list[str] = []

    def busy_once(name: str, **kwargs: object) -> object:
        calls.append(name)
        if len(calls) == 1:
            raise ConcurrencySlotAcquisitionError(
                f"Unable to acquire concurrency slots on [{name!r}]: 503 Service Unavailable"
            )
        return real(name, **kwargs)

    monkeypatch.setattr(locks, "concurrency", busy_once)
    report = renew(str(env.inventory_path), "c1", "TVS", settings=FAST)
    assert report.status == "completed"
    assert calls[0] == calls[1]  # the same lock, asked again
    assert [e["unit"] for e in env.fleet.events(operation="csr_generated")].count("TVS") == 2


def test_the_claims_reads_and_writes_meet_a_busy_server_and_are_asked_again_soon_not_after_prefects_2_s(
    make_env, monkeypatch
):
    # On the embedded SQLite server the claim's delete at the end of a renewal met an immediate 503
    # in about one run in two, and Prefect's client slept 2 s before asking again.
    import httpx
    from prefect.exceptions import PrefectHTTPStatusError

    import tasks.server_busy as server_busy

    env = make_env(ca="auto")
    real_send = locks.send_once
    refused: dict[str, int] = {"GET": 1, "POST": 1, "PATCH": 1, "DELETE": 2}  # answered 503 before the real answer
    sent: list[tuple[str, int]] = []

    def send_once(client: object, method: str, path: str, **kw: object) -> httpx.Response:
        if "/variables/" in path and refused.get(method, 0) > 0:
            refused[method] -= 1
            request = httpx.Request(method, f"http://127.0.0.1/api{path}")
            response = httpx.Response(503, request=request, json={"exception_message": "Service Unavailable"})
            sent.append((method, 503))
            raise PrefectHTTPStatusError.from_httpx_error(
                httpx.HTTPStatusError("busy", request=request, response=response)
            )
        response = real_send(client, method, path, **kw)
        if "/variables/" in path:
            sent.append((method, response.status_code))
        return response

    pauses: list[float] = []
    real_again = server_busy.asking_again
    monkeypatch.setattr(locks, "send_once", send_once)
    monkeypatch.setattr(locks, "asking_again", lambda call, **kw: real_again(call, sleep=pauses.append, **kw))
    report = renew(str(env.inventory_path), "c1", "CAPF", settings=FAST)
    assert report.status == "completed"
    assert locks.read_claim("c1", "CAPF") is None  # released, though the server was busy at the delete
    assert sent[:5] == [("GET", 503), ("PATCH", 503), ("POST", 503), ("POST", 201), ("GET", 200)]  # claimed
    assert sent[-3:] == [("DELETE", 503), ("DELETE", 503), ("DELETE", 204)]  # released at the third try
    assert refused == {"GET": 0, "POST": 0, "PATCH": 0, "DELETE": 0}
    first = server_busy.BUSY_FIRST_PAUSE
    # each call's own pauses, doubling: the read, the write (refused at PATCH, then at POST), the delete
    assert pauses == [first, first, 2 * first, first, 2 * first]
