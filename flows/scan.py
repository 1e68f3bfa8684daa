"""The expiry scan: read every certificate, report, notify, and start the renewals that are due.

Reads as orchestration; the rules are in ``certops.due`` and the drawing in ``certops.report``.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from certops.due import select_due
from certops.errors import CertopsError
from certops.inventory_file import load_inventory
from certops.notify.messages import RenewalStarted
from tasks.notify import notify_scan_summary
from tasks.scan import (
    START_FAILED,
    ScanResult,
    blocking_run,
    in_flight_renewals,
    publish_report,
    read_certificates,
    remind_pending_approvals,
    start_cluster_plan,
    start_renewal,
)


def _start_cluster_plans(
    plan: Any, inventory_path: str, deployment: str, parameters: dict[str, Any] | None
) -> list[RenewalStarted]:
    """One cluster-plan run per cluster with due units (all of them, in Cisco's order, in one plan).

    A cluster with a plan already in flight is left alone (that plan renews what is due); a
    renewal of one unit in flight does not hold the plan back: the plan's renewal of that unit
    waits for the cluster lock, then finds nothing to do.
    """
    log = get_run_logger()
    by_cluster: dict[str, list[Any]] = {}
    for c in [*plan.start, *plan.queued]:
        by_cluster.setdefault(c.cluster, []).append(c)
    in_flight = in_flight_renewals(deployment.split("/")[0], require_unit=False)
    day = plan.generated_at.strftime("%Y-%m-%d")
    started: list[RenewalStarted] = []
    for cluster, candidates in by_cluster.items():
        running = next((r for r in in_flight if r.cluster == cluster), None)
        if running is not None:
            why = f"a cluster plan is in flight: run {running.run_id} ({running.state})"
            log.info("not starting the cluster plan of %s: %s", cluster, why)
            started += [
                RenewalStarted(
                    cluster=c.cluster,
                    unit=c.unit,
                    nodes=c.nodes,
                    days_left=c.days_left,
                    run_id=running.run_id,
                    skipped_reason=why,
                )
                for c in candidates
            ]
            continue
        extra = {k: v for k, v in (parameters or {}).items() if k in ("settings", "approval_timeout_days", "notify")}
        started += start_cluster_plan(deployment, inventory_path, cluster, candidates, day, extra)
    return started


def _ui_url() -> str | None:
    try:
        from prefect.context import FlowRunContext
        from prefect.settings import PREFECT_UI_URL

        ctx = FlowRunContext.get()
        base = PREFECT_UI_URL.value()
        if base and ctx and ctx.flow_run:
            return f"{base.rstrip('/')}/runs/flow-run/{ctx.flow_run.id}"
    except Exception:  # noqa: BLE001  (a missing link must not fail the scan)
        return None
    return None


@flow(name="scan", log_prints=False)
def scan(
    inventory_path: str,
    start_renewals: bool = True,
    clusters: list[str] | None = None,
    output_dir: str | None = None,
    renewal_deployment: str = "renew/renew",
    renewal_parameters: dict[str, Any] | None = None,
    notify: bool = True,
    remind_within_hours: float = 48.0,
    max_workers: int = 32,
    per_cluster: int = 4,
    cluster_deployment: str | None = None,
) -> ScanResult:
    """Scan every unit on every node of every cluster for expiry; start renewals that are due.

    Writes the report (JSON, markdown, PNG/SVG timeline) and Prefect artifacts, posts the Slack
    summary, reminds (in their threads) about approvals whose deadline is within
    ``remind_within_hours``, and — with ``start_renewals`` — starts one renewal deployment run per
    due cluster and unit without waiting for it. A renewal already in flight for the same cluster and unit is not
    started again, and CallManager/TVS (the ITL group) are never started together on a cluster.

    With ``cluster_deployment`` (e.g. ``renew-cluster/renew-cluster``) the scan starts instead ONE
    cluster-plan run per cluster with due units: every due unit in Cisco's order in one plan (the
    next ITL-group unit as soon as the previous one's phones re-registered, not at the next scan),
    then the DRF backup.
    """
    log = get_run_logger()
    inv = load_inventory(inventory_path)
    report = read_certificates(inventory_path, clusters, max_workers, per_cluster)
    plan = select_due(report, inv)
    files = publish_report(plan, output_dir, inv.defaults.policy.threshold_days)
    started: list[RenewalStarted] = []
    if start_renewals and cluster_deployment and (plan.start or plan.queued):
        started = _start_cluster_plans(plan, inventory_path, cluster_deployment, renewal_parameters)
    elif start_renewals and (plan.start or plan.queued):
        in_flight = in_flight_renewals(renewal_deployment.split("/")[0])
        day = plan.generated_at.strftime("%Y-%m-%d")
        for candidate in plan.start:
            blocked = blocking_run(candidate, in_flight)
            if blocked is not None:
                log.info("not starting %s: %s", candidate.key, blocked[1])
                started.append(
                    RenewalStarted(
                        cluster=candidate.cluster,
                        unit=candidate.unit,
                        nodes=candidate.nodes,
                        days_left=candidate.days_left,
                        run_id=blocked[0].run_id,
                        skipped_reason=blocked[1],
                    )
                )
                continue
            started.append(start_renewal(renewal_deployment, inventory_path, candidate, day, renewal_parameters))
        for candidate in plan.queued:
            log.info("queued %s behind %s (never together)", candidate.key, candidate.queued_behind)
            started.append(
                RenewalStarted(
                    cluster=candidate.cluster,
                    unit=candidate.unit,
                    nodes=candidate.nodes,
                    days_left=candidate.days_left,
                    queued_behind=candidate.queued_behind,
                )
            )
    slack = notify_scan_summary(inventory_path, plan, started, _ui_url()) if notify else None
    if notify and remind_within_hours > 0:
        remind_pending_approvals(inventory_path, remind_within_hours, renewal_deployment.split("/")[0])
    counts = plan.counts()
    log.info(
        "scan done: %d certificates, %s; %d nodes unreadable; %d renewals started",
        len(report.certificates),
        ", ".join(f"{n} {u.value}" for u, n in counts.items()),
        len(plan.failures),
        sum(1 for s in started if s.run_id and not s.skipped_reason),
    )
    failed = [s for s in started if s.skipped_reason and s.skipped_reason.startswith(START_FAILED)]
    if failed:
        # the report and the Slack summary are out; now fail the run so nobody mistakes it for done
        reasons = sorted({(s.skipped_reason or "").removeprefix(f"{START_FAILED}: ") for s in failed})
        raise CertopsError(
            f"{len(failed)} due renewal(s) could not be started ("
            + ", ".join(f"{s.cluster} {s.unit}" for s in failed)
            + "): "
            + "; ".join(reasons),
            hint="the scan report was written and posted; the next scan starts them once this is fixed",
        )
    return ScanResult(
        generated_at=plan.generated_at,
        counts={u.value: n for u, n in counts.items()},
        certificates=len(report.certificates),
        failures=list(plan.failures),
        started=started,
        files=files,
        slack=slack,
    )
