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
