"""Renewals of one unit requested together renew it once: the others end "nothing to do"."""

from __future__ import annotations

from collections import Counter

import pytest

from flows.renew import renew
from tests.flows.conftest import FAST, start_in_thread

pytestmark = [pytest.mark.prefect]


@pytest.mark.xfail(
    strict=False,
    reason="KNOWN RACE, open in the [reliability] issue: on a clean-clone CI run one of three CallManager "
    "renewals requested together renewed again (Counter completed=2, nothing_to_do=1); passes in other runs. "
    "Kept running so the XPASS/XFAIL shows; the cause in flows/renew.py _nothing_to_do is not established.",
)
def test_three_callmanager_renewals_requested_together_renew_once_and_the_others_say_who_did(make_env):
    env = make_env(ca="auto")
    futures = [start_in_thread(renew, str(env.inventory_path), "c1", "CallManager", settings=FAST) for _ in range(3)]
    reports = [f.result(timeout=300) for f in futures]
    statuses = Counter(r.status for r in reports)
    assert statuses == Counter({"completed": 1, "nothing_to_do": 2}), statuses
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
