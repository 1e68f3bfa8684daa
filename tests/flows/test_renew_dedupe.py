"""Renewals of one unit requested together renew it once: the others end "nothing to do"."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

import pytest

from certops.hostlock import Holder, HostLock
from certops.planning import exclusion_key
from certops.units import unit as unit_spec
from flows.renew import renew
from tests.flows.conftest import FAST, start_in_thread
from tests.flows.killed_support import running_runs_of

pytestmark = [pytest.mark.prefect]


def _why_each_run_decided(reports: list) -> str:
    """For a failure message: each run's request time and what it logged about renewing or not."""
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    lines = []
    with get_client(sync_client=True) as client:
        for r in reports:
            created = client.read_flow_run(r.run_id).created if r.run_id else None
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[r.run_id])), limit=400)
            said = [e.message for e in logs if e.message.startswith(("renewing:", "nothing to do"))]
            lines.append(f"run {r.run_id} requested {created} -> {r.status}: {said or r.plan}")
    return "; ".join(lines)


def test_three_callmanager_renewals_requested_together_renew_once_and_the_others_say_who_did(make_env):
    env = make_env(ca="auto")
    # "together" by construction: the test holds the cluster's ITL host lock (as a second shell
    # would) until all three runs exist and wait for it; on a busy machine a thread's flow run was
    # otherwise created after the first renewal had finished, and that run rightly renewed again
    gate = HostLock("c1", exclusion_key(unit_spec("CallManager")))
    gate.acquire(Holder.this_process(run_id="the test", unit="CallManager"), wait=False, timeout=0)
    try:
        futures = [
            start_in_thread(renew, str(env.inventory_path), "c1", "CallManager", settings=FAST) for _ in range(3)
        ]
        deadline = time.monotonic() + 120  # a guard against a hung start only, not a measure
        while len(running_runs_of(env.inventory_path)) < 3:  # all three Running: waiting for the host lock
            assert time.monotonic() < deadline, "the three renewals did not all start within 120 s"
            assert not any(f.done() for f in futures), [f.result() for f in futures if f.done()]
            time.sleep(0.2)
    finally:
        gate.release()
    reports = [f.result(timeout=300) for f in futures]
    statuses = Counter(r.status for r in reports)
    assert statuses == Counter({"completed": 1, "nothing_to_do": 2}), (statuses, _why_each_run_decided(reports))
    done = next(r for r in reports if r.status == "completed")
    for r in reports:
        if r.status == "nothing_to_do":
            assert r.plan is not None and f"renewed by run {done.run_id}" in r.plan
    events = env.fleet.events()
    csrs = Counter(e["node"] for e in events if e["operation"] == "csr_generated")
    assert csrs == Counter(n.fqdn for n in done.nodes)  # one CSR per node, ever
    assert Counter(e["node"] for e in events if e["operation"] == "identity_uploaded") == csrs
    # the phones reset themselves (automatic) after the one renewal's uploads; none of the three runs reset them
    auto = {e["detail"]["phone"] for e in events if e["operation"] == "phone_auto_reset"}
    assert auto == {p.name for p in env.fleet.cluster("c1").phones}
    assert [e for e in events if e["operation"] == "phone_reset"] == []
    restarts = Counter((e["node"], e["service"]) for e in events if e["operation"] == "service_restart_started")
    assert restarts and set(restarts.values()) == {1}


def test_a_scan_started_renewal_of_a_unit_no_longer_due_changes_nothing_unless_forced(make_env):
    env = make_env(ca="auto")
    assert renew(str(env.inventory_path), "c1", "CAPF", settings=FAST).status == "completed"
    mark = len(env.fleet.events())
    report = renew(str(env.inventory_path), "c1", "CAPF", settings=FAST, only_if_due=True)
    assert report.status == "nothing_to_do" and "no longer due" in (report.plan or "")
    assert [e for e in env.fleet.events()[mark:] if e["operation"] == "csr_generated"] == []
    forced = renew(str(env.inventory_path), "c1", "CAPF", settings=FAST, only_if_due=True, force=True)
    assert forced.status == "completed"
    assert [e["operation"] for e in env.fleet.events()[mark:]].count("csr_generated") == 1


def test_a_renewal_requested_before_another_finished_is_not_repeated_though_its_run_was_created_later(make_env):
    # two shells: the second `certops renew` started while the first renewed, but its flow run was
    # created only after the first had finished (its embedded server took that long to start); the
    # command's own start time (requested_at) is what counts
    env = make_env(ca="auto")
    asked = dt.datetime.now(dt.UTC)
    first = renew(str(env.inventory_path), "c1", "TVS", settings=FAST)
    assert first.status == "completed"
    mark = len(env.fleet.events())
    second = renew(str(env.inventory_path), "c1", "TVS", settings=FAST, requested_at=asked)
    assert second.status == "nothing_to_do" and f"renewed by run {first.run_id}" in (second.plan or "")
    assert [e["operation"] for e in env.fleet.events()[mark:] if e["operation"] == "csr_generated"] == []
    # asked after the first one finished: a new renewal
    third = renew(str(env.inventory_path), "c1", "TVS", settings=FAST, requested_at=dt.datetime.now(dt.UTC))
    assert third.status == "completed"
