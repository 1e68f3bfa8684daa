"""Prefect tasks of the expiry scan: read the fleet, publish the report, find and start renewals.

Each task does one thing and returns a model. Reading is read-only and records node failures
instead of raising; starting a renewal is fire-and-forget (``run_deployment(..., timeout=0)``)
with an idempotency key per cluster, unit and day.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun
from pydantic import BaseModel, ConfigDict

from certops.due import DuePlan, RenewalCandidate, Urgency
from certops.fleet import read_fleet_certificates
from certops.inventory_file import load_inventory
from certops.models import CertificateReport, NodeFailure
from certops.notify.messages import ApprovalReminder, DeliveryResult, RenewalStarted
from certops.report.outputs import ScanFiles, default_report_dir, write_scan_files
from certops.report.table import COLUMNS, markdown_table, rows
from certops.units import UNITS

ACTIVE_STATES = ("SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING")
"""Flow-run state types of a renewal that is still in flight."""

START_FAILED = "could not start"
"""Prefix of ``RenewalStarted.skipped_reason`` when starting the renewal failed (the scan then fails)."""

ARTIFACT_ROWS = 500  # rows in the scan's table artifact; the JSON file has them all


class InFlight(BaseModel):
    """A renewal flow run that has not finished."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    cluster: str
    unit: str
    state: str


class ScanResult(BaseModel):
    """What one scan found and did."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    generated_at: dt.datetime
    counts: dict[str, int]
    certificates: int
    failures: list[NodeFailure]
    started: list[RenewalStarted]
    files: ScanFiles
    slack: DeliveryResult | None = None


@task(name="read-fleet-certificates", cache_policy=NO_CACHE)
def read_certificates(
    inventory_path: str, clusters: list[str] | None, max_workers: int, per_cluster: int
) -> CertificateReport:
    """Read every unit on every node (bounded concurrency); unreadable nodes become failures."""
    log = get_run_logger()
    inv = load_inventory(inventory_path)
    total = sum(len(c.nodes) for c in inv.clusters if clusters is None or c.name in clusters)
    done = {"n": 0}

    def progress(cluster: str, node: str, ok: bool) -> None:
        done["n"] += 1
        if not ok or done["n"] % max(1, total // 10) == 0 or done["n"] == total:
            log.info("read %d/%d nodes (%s %s: %s)", done["n"], total, cluster, node, "ok" if ok else "FAILED")

    report = read_fleet_certificates(
        inv, clusters=clusters, max_workers=max_workers, per_cluster=per_cluster, progress=progress
    )
    for f in report.failures:
        log.warning("%s %s could not be read: %s: %s", f.cluster, f.node, f.operation, f.reason)
    return report


def _png_embed(path: str | None) -> str:
    if path is None:
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f"![Certificate expiry timeline](data:image/png;base64,{data})\n\n"


@task(name="publish-scan-report", cache_policy=NO_CACHE)
def publish_report(plan: DuePlan, output_dir: str | None, default_threshold_days: int = 30) -> ScanFiles:
    """Write the JSON, markdown and picture files, and create the scan's Prefect artifacts."""
    directory = Path(output_dir) if output_dir else default_report_dir()
    files = write_scan_files(plan, directory, default_threshold_days=default_threshold_days)
    counts = plan.counts()
    summary = ", ".join(f"{counts[u]} {u.value}" for u in Urgency) + f", {len(plan.failures)} nodes unreadable"
    create_markdown_artifact(
        key="certificate-scan", markdown=markdown_table(plan, max_rows=ARTIFACT_ROWS), description=summary
    )
    create_table_artifact(
        key="certificate-scan-table",
        table=[dict(zip(COLUMNS, r, strict=True)) for r in rows(plan)[:ARTIFACT_ROWS]],
        description=f"Certificates sorted by days left ({summary})",
    )
    create_markdown_artifact(
        key="certificate-expiry-timeline",
        markdown=_png_embed(files.png_path)
        + f"Files: `{files.png_path}`, `{files.svg_path}`, report `{files.json_path}`\n",
        description="Expiry timeline: one row per cluster and unit; today and the renewal threshold marked",
    )
    if files.svg_path:
        create_link_artifact(
            key="certificate-expiry-timeline-svg",
            link=Path(files.svg_path).resolve().as_uri(),
            link_text="expiry timeline (SVG)",
        )
    get_run_logger().info("scan report written to %s", files.directory)
    return files


@task(name="find-in-flight-renewals", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def in_flight_renewals(flow_name: str = "renew", require_unit: bool = True) -> list[InFlight]:
    """Renewal runs of ``flow_name`` that are scheduled, pending, running, paused or cancelling.

    ``require_unit`` False: runs without a ``unit`` parameter count too (cluster plans, unit ``*``).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    found: list[InFlight] = []
    with get_client(sync_client=True) as client:
        offset = 0
        while True:
            page = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in ACTIVE_STATES]))
                ),
                limit=200,
                offset=offset,
            )
            for run in page:
                params: dict[str, Any] = run.parameters or {}
                if "cluster" in params and ("unit" in params or not require_unit):
                    state = run.state.name if run.state else "unknown"
                    found.append(
                        InFlight(
                            run_id=str(run.id),
                            cluster=str(params["cluster"]),
                            unit=str(params.get("unit", "*")),
                            state=state,
                        )
                    )
            if len(page) < 200:
                break
            offset += 200
    return found


def blocking_run(candidate: RenewalCandidate, in_flight: list[InFlight]) -> tuple[InFlight, str] | None:
    """The in-flight run that forbids starting ``candidate`` now, and why; None when it may start."""
    for run in in_flight:
        if run.cluster != candidate.cluster:
            continue
        if run.unit == candidate.unit:
            return run, f"already in flight: run {run.run_id} ({run.state})"
        group = UNITS[run.unit].exclusion_group if run.unit in UNITS else None
        if candidate.exclusion_group is not None and group == candidate.exclusion_group:
            return run, (
                f"{run.unit} renewal in flight (run {run.run_id}, {run.state}); {run.unit} and {candidate.unit} "
                "never run together: the next scan starts it"
            )
    return None


@task(name="start-renewal", cache_policy=NO_CACHE)
def start_renewal(
    deployment: str,
    inventory_path: str,
    candidate: RenewalCandidate,
    day: str,
    extra_parameters: dict[str, Any] | None = None,
) -> RenewalStarted:
    """Start the renewal deployment for ``candidate`` without waiting for it.

    The idempotency key ``cluster:unit:day`` makes a second start on the same day return the
    existing run instead of creating another.
    """
    from prefect.deployments import run_deployment

    log = get_run_logger()
    parameters: dict[str, Any] = {
        "inventory_path": inventory_path,
        "cluster": candidate.cluster,
        "unit": candidate.unit,
        "nodes": candidate.nodes,
        "only_if_due": True,  # once it holds the lock it ends "nothing to do" if another run renewed it meanwhile
        **(extra_parameters or {}),
    }
    from prefect.exceptions import ObjectNotFound

    try:
        run: FlowRun = run_deployment(  # type: ignore[assignment]
            deployment,
            parameters=parameters,
            timeout=0,
            idempotency_key=f"{candidate.cluster}:{candidate.unit}:{day}",
            tags=["certops", f"cluster:{candidate.cluster}", f"unit:{candidate.unit}"],
            as_subflow=False,
        )
    except ObjectNotFound:
        log.error("cannot start renewal %s: deployment %s does not exist", candidate.key, deployment)
        return RenewalStarted(
            cluster=candidate.cluster,
            unit=candidate.unit,
            nodes=candidate.nodes,
            days_left=candidate.days_left,
            skipped_reason=f"{START_FAILED}: deployment {deployment} does not exist "
            "(deploy deployments/prefect.yaml, see docs/operations.md)",
        )
    state = run.state.type.value if run.state else "SCHEDULED"
    base = RenewalStarted(
        cluster=candidate.cluster,
        unit=candidate.unit,
        nodes=candidate.nodes,
        days_left=candidate.days_left,
        run_id=str(run.id),
    )
    if state not in ACTIVE_STATES:
        log.info("renewal %s already ran today: run %s (%s)", candidate.key, run.id, state)
        return base.model_copy(update={"skipped_reason": f"already ran today: run {run.id} ({state.lower()})"})
    log.info("started renewal %s on %s: run %s", candidate.key, ", ".join(candidate.nodes), run.id)
    return base


@task(name="start-cluster-plan", cache_policy=NO_CACHE)
def start_cluster_plan(
    deployment: str,
    inventory_path: str,
    cluster: str,
    candidates: list[RenewalCandidate],
    day: str,
    extra_parameters: dict[str, Any] | None = None,
) -> list[RenewalStarted]:
    """Start ONE cluster-plan run (``flows/renew_cluster.py``) for every due unit of ``cluster``.

    The plan renews them in Cisco's order, one after the other (the next ITL-group unit as soon as
    the previous one's phones re-registered, not at the next scan), then takes or asks for the DRF
    backup. The idempotency key ``cluster:plan:day`` makes a second start on the same day return the
    existing run. One ``RenewalStarted`` per unit, all naming that run.
    """
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    log = get_run_logger()
    units = [c.unit for c in candidates]
    parameters: dict[str, Any] = {
        "inventory_path": inventory_path,
        "cluster": cluster,
        "units": units,
        **(extra_parameters or {}),
    }

    def each(**extra: Any) -> list[RenewalStarted]:
        return [
            RenewalStarted(cluster=c.cluster, unit=c.unit, nodes=c.nodes, days_left=c.days_left, **extra)
            for c in candidates
        ]

    try:
        run: FlowRun = run_deployment(  # type: ignore[assignment]
            deployment,
            parameters=parameters,
            timeout=0,
            idempotency_key=f"{cluster}:plan:{day}",
            tags=["certops", f"cluster:{cluster}", "cluster-plan"],
            as_subflow=False,
        )
    except ObjectNotFound:
        log.error("cannot start the cluster plan of %s: deployment %s does not exist", cluster, deployment)
        return each(
            skipped_reason=f"{START_FAILED}: deployment {deployment} does not exist "
            "(deploy deployments/prefect.yaml, see docs/operations.md)"
        )
    state = run.state.type.value if run.state else "SCHEDULED"
    if state not in ACTIVE_STATES:
        log.info("cluster plan of %s already ran today: run %s (%s)", cluster, run.id, state)
        return each(run_id=str(run.id), skipped_reason=f"already ran today: run {run.id} ({state.lower()})")
    log.info("started the cluster plan of %s (%s): run %s", cluster, ", ".join(units), run.id)
    return each(run_id=str(run.id))


@task(name="remind-pending-approvals", cache_policy=NO_CACHE)
def remind_pending_approvals(
    inventory_path: str, within_hours: float = 48.0, flow_name: str = "renew", now: dt.datetime | None = None
) -> list[DeliveryResult]:
    """Post a reminder, in its thread, for each paused renewal whose approval deadline is near.

    A renewal that waits for a signed chain is PAUSED (suspended) with a deadline; once it passes
    the run fails and nothing was uploaded. Runs of clusters not in this inventory are left alone.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    from tasks.notify import notifier_for

    log = get_run_logger()
    now = now or dt.datetime.now(dt.UTC)
    clusters = {c.name for c in load_inventory(inventory_path).clusters}
    with get_client(sync_client=True) as client:
        paused = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
            ),
            limit=200,
        )
    due: list[ApprovalReminder] = []
    for run in paused:
        params: dict[str, Any] = run.parameters or {}
        deadline = run.state.state_details.pause_timeout if run.state else None
        if deadline is None or params.get("cluster") not in clusters:
            continue
        if now < deadline <= now + dt.timedelta(hours=within_hours):
            due.append(
                ApprovalReminder(
                    run_id=str(run.id),
                    cluster=str(params["cluster"]),
                    unit=str(params.get("unit")),
                    deadline=deadline,
                    now=now,
                )
            )
    if not due:
        return []
    notifier = notifier_for(inventory_path)
    if isinstance(notifier, DeliveryResult):
        log.warning("%d approval reminder(s) not sent: %s", len(due), notifier.error)
        return [notifier for _ in due]
    results = []
    for rem in due:
        result = notifier.approval_reminder(rem)
        log.info(
            "approval reminder for %s %s (run %s): %s",
            rem.cluster,
            rem.unit,
            rem.run_id,
            "sent" if result.delivered else result.error,
        )
        results.append(result)
    return results
