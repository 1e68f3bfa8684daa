"""Due selection: which certificates are due, how urgent, and which renewals the scan starts."""

from __future__ import annotations

import datetime as dt

import pytest

from certops.due import Urgency, select_due, urgency_of
from certops.models import NodeFailure
from tests.unit.test_due_factories import NOW, cert, inventory, report

PUB, SUB1, SUB2 = "pub.c1.example.com", "sub1.c1.example.com", "sub2.c1.example.com"


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (-1, Urgency.EXPIRED),
        (0.5, Urgency.CRITICAL),
        (7.5, Urgency.CRITICAL),
        (8.5, Urgency.DUE),
        (30.5, Urgency.DUE),
        (31.5, Urgency.OK),
    ],
)
def test_urgency_levels_follow_threshold_and_urgent_days(days, expected):
    na = NOW + dt.timedelta(days=days)
    assert urgency_of(na, NOW, threshold_days=30, urgent_days=7) is expected


def test_certificate_at_threshold_is_due_and_one_day_later_is_not():
    plan = select_due(report([cert(node=PUB, days=30.2), cert(node=SUB1, days=31.2)]), inventory())
    assert [s.node for s in plan.due] == [PUB]
    assert plan.counts()[Urgency.OK] == 1


def test_one_renewal_per_cluster_and_unit_covers_every_due_node_publisher_first():
    certs = [cert(node=SUB2, days=3), cert(node=PUB, days=20), cert(node=SUB1, days=200)]
    plan = select_due(report(certs), inventory())
    assert len(plan.start) == 1
    r = plan.start[0]
    assert (r.cluster, r.unit, r.nodes) == ("c1", "tomcat", [PUB, SUB2])
    assert r.urgency is Urgency.CRITICAL
    assert r.days_left == 3


def test_per_unit_threshold_overrides_the_default():
    inv = inventory(policy={"threshold_days": 30, "per_unit_threshold_days": {"ipsec": 60}})
    plan = select_due(report([cert(unit="ipsec", days=45), cert(unit="tomcat", days=45)]), inv)
    assert [(c.unit, c.nodes) for c in plan.start] == [("ipsec", [PUB])]


def test_capf_counts_on_the_publisher_only():
    plan = select_due(report([cert(node=PUB, unit="CAPF", days=5), cert(node=SUB1, unit="CAPF", days=1)]), inventory())
    assert [c.nodes for c in plan.start] == [[PUB]]
    skipped = next(s for s in plan.statuses if s.node == SUB1)
    assert not skipped.counted
    assert "publisher only" in (skipped.skip_reason or "")


def test_self_signed_certificates_are_left_out_unless_the_policy_includes_them():
    certs = [cert(node=PUB, days=5, self_signed=True)]
    assert select_due(report(certs), inventory()).start == []
    assert len(select_due(report(certs), inventory(policy={"include_self_signed": True})).start) == 1


def test_units_outside_the_policy_are_not_due():
    plan = select_due(report([cert(unit="ipsec", days=1)]), inventory(policy={"units": ["tomcat"]}))
    assert plan.start == []
    assert plan.statuses[0].skip_reason == "unit ipsec is not in the renewal policy's units"


def test_callmanager_and_tvs_due_on_one_cluster_start_one_and_queue_the_other():
    certs = [cert(unit="TVS", days=10), cert(unit="CallManager", days=4), cert(unit="tomcat", days=12)]
    plan = select_due(report(certs), inventory())
    assert [c.unit for c in plan.start] == ["CallManager", "tomcat"]
    assert [(c.unit, c.queued_behind) for c in plan.queued] == [("TVS", "CallManager")]


def test_exclusion_group_is_per_cluster():
    inv = inventory({"c1": 1, "c2": 1})
    certs = [cert(unit="TVS", days=10), cert(cluster="c2", node="pub.c2.example.com", unit="CallManager", days=4)]
    plan = select_due(report(certs), inv)
    assert sorted(c.key for c in plan.start) == ["c1:TVS", "c2:CallManager"]
    assert plan.queued == []


def test_statuses_are_sorted_by_days_left_and_failures_are_kept():
    failure = NodeFailure(cluster="c1", node=SUB2, operation="read_certificates", reason="refused", transient=True)
    plan = select_due(
        report([cert(days=90), cert(node=SUB1, days=-2), cert(node=PUB, unit="ipsec", days=40)], [failure]), inventory()
    )
    assert [s.days_left for s in plan.statuses] == [-2, 40, 90]
    assert plan.statuses[0].urgency is Urgency.EXPIRED
    assert plan.failures == [failure]


def test_same_report_gives_the_same_plan():
    r = report([cert(days=3), cert(node=SUB1, unit="TVS", days=2), cert(node=PUB, unit="CallManager", days=2)])
    assert select_due(r, inventory()) == select_due(r, inventory())
