"""The cluster plan's report: what was done and what was not, and the DRF backup said plainly."""

from __future__ import annotations

from certops.planning import DueUnit, plan_cluster
from certops.renewal.drf_backup import backup_due
from certops.renewal.plan_report import ClusterRenewalReport, UnitOutcome
from tests.unit.test_due_factories import inventory


def _report(statuses: list[str], *, drf: bool = True) -> ClusterRenewalReport:
    due = [
        DueUnit(unit=u, nodes=["pub.c1.example.com"], days_left=9, urgency="due")
        for u in ("tomcat", "TVS", "CallManager")
    ]
    plan = plan_cluster(inventory(), "c1", due)
    outcomes = [
        UnitOutcome(position=i, unit=p.unit, status=s, detail="restart failed" if s == "failed" else "")
        for i, (p, s) in enumerate(zip(plan.positions, statuses, strict=True), 1)
    ]
    stopped = any(s not in ("completed", "nothing_to_do", "skipped") for s in statuses)
    done = [o.unit for o in outcomes if o.status == "completed"]
    return ClusterRenewalReport(
        cluster="c1",
        status="stopped" if stopped else "completed",
        plan=plan,
        outcomes=outcomes,
        drf_backup=backup_due("c1", done) if drf and done else None,
    )


def test_a_stopped_plan_says_where_it_stopped_what_was_done_and_what_was_not():
    report = _report(["completed", "failed", "not_started"])
    assert report.summary() == (
        "cluster c1: the plan stopped at TVS (failed: restart failed). Done: tomcat (completed). "
        "Not done: TVS, CallManager."
    )
    assert report.regenerated == ["tomcat"]
    assert "DRF BACKUP DUE NOW" in report.to_text()


def test_the_slack_message_of_a_completed_plan_says_the_drf_backup_is_due_now():
    msg = _report(["completed", "completed", "completed"]).slack_message()
    assert "DRF backup due NOW" in str(msg.blocks)
    assert "A DRF backup of c1 is due now" in msg.text
    assert "unlocking every phone by hand" in str(msg.blocks)


def test_a_plan_that_renewed_nothing_has_no_backup_line():
    report = _report(["nothing_to_do", "skipped", "nothing_to_do"])
    assert report.status == "completed" and report.drf_backup is None
    assert "DRF" not in report.to_text()
