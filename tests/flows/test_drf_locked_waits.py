"""A renewal started while a DRF backup runs waits for it (HTTP 423 from the platform API means "DRF
running"), bounded by the DRF wait timeout, and says what it waits for; it does not fail.

The flow case runs an ipsec renewal against the simulator during a ``drf-backup`` fault and judges
from the simulator's event log (timestamps) that no ipsec change happened before the backup ended,
and from the run's log on the Prefect server that it said it waited for DRF.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from certops.errors import PlatformLocked, PolicyViolation
from certops.renewal.steps import wait_platform_unlocked
from flows.renew import renew
from tests.flows.conftest import FAST

CHANGES = ("csr_generated", "trust_uploaded", "identity_uploaded", "service_restart_started", "ctl_updated")


def _locked() -> PlatformLocked:
    return PlatformLocked(
        "HTTP 423: Platform API is locked by the Disaster Recovery System",
        node="cucm-pub.c1.example.com",
        operation="snapshot",
        unit="ipsec",
        status=423,
    )


def test_a_locked_platform_api_is_waited_for_and_the_wait_is_announced_once():
    answers: list[Any] = [_locked(), _locked(), _locked(), "snapshot"]
    slept: list[float] = []
    said: list[str] = []

    def call() -> str:
        got = answers.pop(0)
        if isinstance(got, Exception):
            raise got
        return str(got)

    out = wait_platform_unlocked(
        call, cluster="c1", node="cucm-pub", unit="ipsec", timeout=3600, poll=30, sleep=slept.append, log=said.append
    )
    assert out == "snapshot" and slept == [30, 30, 30]
    first = said[0]
    assert "waiting for DRF" in first and "HTTP 423" in first and "since" in first and "at most 3600 s" in first
    assert len(said) == 2 and "answers again" in said[1]


def test_a_platform_api_locked_past_the_drf_wait_timeout_is_a_drf_refusal_that_changes_nothing():
    def call() -> str:
        raise _locked()

    with pytest.raises(PolicyViolation) as info:
        wait_platform_unlocked(call, cluster="c1", node="cucm-pub", unit="ipsec", timeout=0.2, poll=0.05)
    assert info.value.rule == "drf"
    assert "still locked by a DRF backup or restore" in str(info.value) and "nothing was changed" in str(info.value)


def _times(events: list[dict[str, Any]], operations: tuple[str, ...]) -> list[dt.datetime]:
    return [dt.datetime.fromisoformat(e["time"]) for e in events if e["operation"] in operations]


def _run_log(run_id: str) -> list[str]:
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])), limit=200)
    return [entry.message for entry in logs]


@pytest.mark.prefect
def test_ipsec_renewal_started_during_a_drf_backup_waits_for_it_and_changes_nothing_before_it_ends(make_env):
    env = make_env(ca="auto")
    # the backup runs until the renewal has met the platform lock: no race between its length and the run's pace
    env.fleet.set_fault("drf-backup", cluster="c1", seconds=3600.0)
    ender = _end_backup_once_met(env)
    settings = FAST.model_copy(update={"drf_wait_timeout": 180.0, "drf_poll": 0.5})

    report = renew(str(env.inventory_path), "c1", "ipsec", settings=settings)
    ender.result(timeout=10)

    assert report.status == "completed"
    events = env.fleet.events()
    ended = _times(events, ("drf_backup_finished",))
    assert len(ended) == 1
    changes = _times(events, CHANGES)
    assert changes and min(changes) >= ended[0]  # nothing of the ipsec renewal before the backup ended
    assert any(e["operation"] == "platform_locked" for e in events)  # it did meet the lock
    messages = _run_log(report.run_id)
    waits = [m for m in messages if "waiting for DRF" in m]
    assert waits, messages
    assert "since" in waits[0] and "at most 180 s" in waits[0]


def _end_backup_once_met(env: Any, bound: float = 200.0) -> Any:
    """In a thread: once the renewal has met the platform lock (a ``platform_locked`` event), end the backup."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    def end() -> None:
        deadline = time.monotonic() + bound
        while not any(e["operation"] == "platform_locked" for e in env.fleet.events()):
            if time.monotonic() > deadline:
                env.fleet.cluster("c1").stop_drf()
                raise AssertionError(f"the renewal never met the platform lock within {bound:.0f} s")
            time.sleep(0.2)
        env.fleet.cluster("c1").stop_drf()

    pool = ThreadPoolExecutor(max_workers=1)
    fut = pool.submit(end)
    pool.shutdown(wait=False)
    return fut


def _chain_for_all(env: Any, unit: str) -> str:
    pending = [n.csrs[unit].pem for n in env.fleet.cluster("c1").nodes if unit in n.csrs]
    return "".join(env.ca.sign(pem, unit).leaf_pem for pem in pending) + "".join(env.ca.chain_pems)


@pytest.mark.prefect
def test_a_backup_started_while_tomcat_awaits_approval_delays_its_uploads_instead_of_failing_them(make_env):
    from prefect.flow_runs import resume_flow_run

    from tests.flows.conftest import start_in_thread, wait_paused

    env = make_env(ca="person")
    settings = FAST.model_copy(update={"drf_wait_timeout": 180.0, "drf_poll": 0.5})
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "tomcat", settings=settings)
    run = wait_paused(env)
    # tomcat has no DRF precondition: only the platform API's own HTTP 423 tells it a backup runs
    env.fleet.set_fault("drf-backup", cluster="c1", seconds=3600.0)
    ender = _end_backup_once_met(env)
    resume_flow_run(run.id, run_input={"chain_pem": _chain_for_all(env, "tomcat"), "approver": "alice"})
    report = fut.result(timeout=240)
    ender.result(timeout=10)

    assert report.status == "completed"
    events = env.fleet.events()
    ended = _times(events, ("drf_backup_finished",))
    uploads = _times(events, ("trust_uploaded", "identity_uploaded"))
    assert len(ended) == 1 and uploads and min(uploads) >= ended[0]
    assert any(e["operation"] == "platform_locked" for e in events)
    assert any("waiting for DRF" in m for m in _run_log(report.run_id))
