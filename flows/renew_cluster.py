"""One cluster, several units: every due unit renewed in Cisco's order in one plan, then the DRF backup.

Reads as orchestration. The order is planned in the library (``certops.planning.plan_cluster``
from the unit table's ``plan_order``); each unit is renewed by the ``renew`` flow as a subflow,
one after the other, so the locks and rules of a single renewal hold unchanged (CallManager and
TVS never at once: the next one starts only when the previous one completed, its phones
re-registered). A unit refused by its own rules before anything changed (``plan_order.independent``:
ipsec, tomcat) is skipped and the plan goes on; any other failure stops the plan, which says what
was done and what was not. After the last regeneration: the DRF backup (``tasks.drf``).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext

from certops.due import select_due
from certops.errors import CertopsError, PolicyViolation
from certops.planning import ClusterPlan, due_units, plan_cluster
from certops.renewal.adapters import load_inventory
from certops.renewal.drf_backup import DrfBackupOutcome
from certops.renewal.plan_report import ClusterRenewalReport, UnitOutcome
from certops.renewal.settings import RenewalSettings
from flows.renew import renew
from tasks.drf import drf_backup_after
from tasks.scan import read_certificates


class PlanStopped(CertopsError):
    """A cluster plan stopped at a unit; the message says what was done and what was not."""


def _run_id() -> str | None:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx and ctx.flow_run else None


def _plan(inventory_path: str, cluster: str, units: list[str] | None) -> ClusterPlan:
    """Read the cluster's certificates and plan its due units (restricted to ``units`` when given)."""
    inv = load_inventory(inventory_path)
    inv.cluster(cluster)
    found = read_certificates(inventory_path, [cluster], 8, 4)
    due, not_due = due_units(select_due(found, inv), cluster)
    if units is not None:
        due = [d for d in due if d.unit in units]
    unread = [f"{f.node}: {f.operation}: {f.reason}" for f in found.failures]
    return plan_cluster(inv, cluster, due, not_due, unread=unread)


def _outcome(position: int, unit: str, state: Any, independent: bool) -> UnitOutcome:
    """What the ``renew`` subflow's final state means for the plan."""
    run_id = str(state.state_details.flow_run_id) if state.state_details.flow_run_id else None
    if state.is_completed():
        report = state.result()
        status = "completed" if report.status == "completed" else "nothing_to_do"
        detail = "" if status == "completed" else (report.plan or "")
        return UnitOutcome(position=position, unit=unit, status=status, run_id=run_id, detail=detail)
    if state.is_cancelled():
        return UnitOutcome(position=position, unit=unit, status="denied", run_id=run_id, detail=state.message or "")
    exc = state.result(raise_on_failure=False)
    detail = str(exc) if isinstance(exc, BaseException) else (state.message or "failed")
    if independent and isinstance(exc, PolicyViolation):
        return UnitOutcome(position=position, unit=unit, status="skipped", run_id=run_id, detail=detail)
    return UnitOutcome(position=position, unit=unit, status="failed", run_id=run_id, detail=detail)


def _post(inventory_path: str, report: ClusterRenewalReport) -> None:
    """Post the plan's completion (or stop) message; a notification never fails the plan."""
    from tasks.notify import notifier_for

    log = get_run_logger()
    notifier = notifier_for(inventory_path)
    if not hasattr(notifier, "notify"):
        log.info("Slack: cluster plan message not sent: %s", getattr(notifier, "error", "no notifier"))
        return
    try:
        result = notifier.notify(report.slack_message())
    except Exception as exc:  # noqa: BLE001  (a notification must never fail the plan)
        log.warning("Slack: cluster plan message failed: %s", type(exc).__name__)
        return
    log.info("Slack: cluster plan message %s", "delivered" if result.delivered else f"not delivered: {result.error}")


@flow(name="renew-cluster", log_prints=True)
def renew_cluster(
    inventory_path: str,
    cluster: str,
    units: list[str] | None = None,
    approval_timeout_days: float = 7.0,
    settings: RenewalSettings | None = None,
    notify: bool = True,
) -> ClusterRenewalReport:
    """Renew every due unit of ``cluster`` (or of ``units`` among them) in Cisco's order, then back up.

    Each unit runs the ``renew`` flow as a subflow (``only_if_due``), after the previous one
    completed. The plan stops at the first failure or denial (raising ``PlanStopped`` that says
    what was done and what was not), except that a refusal by an ``independent`` unit's own rule
    skips it. After the last regeneration the DRF backup is taken (a device in the inventory) or
    said to be due now, in the report, on Slack and in the log.
    """
    log = get_run_logger()
    plan = _plan(inventory_path, cluster, units)
    log.info("%s", plan.render())
    outcomes: list[UnitOutcome] = []
    stopped = False
    for pos in plan.positions:
        if stopped:
            outcomes.append(UnitOutcome(position=pos.position, unit=pos.unit, status="not_started"))
            continue
        log.info("plan position %d: %s on %s (%s)", pos.position, pos.unit, ", ".join(pos.nodes), pos.starts)
        state = renew(
            inventory_path,
            cluster,
            pos.unit,
            pos.nodes,
            approval_timeout_days=approval_timeout_days,
            settings=settings,
            only_if_due=True,
            return_state=True,
        )
        got = _outcome(pos.position, pos.unit, state, pos.independent)
        outcomes.append(got)
        log.info("plan position %d: %s %s", pos.position, pos.unit, got.status)
        stopped = got.status not in ("completed", "nothing_to_do", "skipped")
    regenerated = [o.unit for o in outcomes if o.status == "completed"]
    drf: DrfBackupOutcome | None = drf_backup_after(inventory_path, cluster, regenerated) if regenerated else None
    report = ClusterRenewalReport(
        cluster=plan.cluster,
        status="stopped" if stopped else "completed",
        run_id=_run_id(),
        plan=plan,
        outcomes=outcomes,
        drf_backup=drf,
    )
    create_markdown_artifact(
        key=f"cluster-plan-{plan.cluster.lower().replace('_', '-').replace('.', '-')}",
        markdown=report.to_markdown(),
        description=f"Cluster plan on {plan.cluster}: {report.status}",
    )
    if notify and plan.positions:
        _post(inventory_path, report)
    if stopped:
        raise PlanStopped(
            report.summary() + (f" {drf.text}" if drf is not None else ""),
            hint="fix what stopped it, then run certops renew --cluster C --due again: the done units are no "
            "longer due and are not renewed twice",
        )
    return report


@flow(name="drf-backup", log_prints=True)
def drf_backup(inventory_path: str, cluster: str, units: list[str]) -> DrfBackupOutcome:
    """After a single renewal that completed: take the DRF backup (a device in the inventory) or say it is due.

    ``certops renew -u U`` runs it when the cluster names a backup device; the plan flow calls the
    same task after its last regeneration.
    """
    return drf_backup_after(inventory_path, cluster, units)
