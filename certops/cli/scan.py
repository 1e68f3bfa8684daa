"""``certops scan --inventory FILE [--json] [--picture PATH] [--no-renew]``: the expiry scan.

Reads every unit on every node, shows a table sorted by days left with each certificate's
urgency (or the JSON plan with ``--json``), draws the expiry timeline with ``--picture``, and
says which renewals are due. ``--no-renew`` runs the library directly, without Prefect, with a
progress bar on long scans; without it the ``scan`` flow runs against the Prefect server
(``PREFECT_API_URL``) and starts the due renewal deployments.
Exit codes: 0 every node answered, 1 some node could not be read, 2 bad inventory or arguments,
3 a due renewal could not be started (the report was still written and posted).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from certops.cli._app import app
from certops.cli._inventory import load_for_command
from certops.heap import kept_until_done

EXIT_OK = 0
EXIT_NODE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_STARTED = 3
PROGRESS_FROM_NODES = 20  # show a progress bar when at least this many nodes are read


@app.command("scan")
def scan(
    inventory: Annotated[Path, typer.Option("--inventory", "-i", help="the inventory YAML file")],
    as_json: Annotated[bool, typer.Option("--json", help="print the plan (statuses, renewals) as JSON")] = False,
    picture: Annotated[
        Path | None, typer.Option("--picture", help="write the expiry timeline as PATH.png and PATH.svg")
    ] = None,
    no_renew: Annotated[
        bool, typer.Option("--no-renew", help="only report; run without Prefect and start nothing")
    ] = False,
    cluster: Annotated[list[str] | None, typer.Option("--cluster", "-c", help="only this cluster (repeatable)")] = None,
    slack: Annotated[bool, typer.Option("--slack", help="with --no-renew: also post the Slack summary")] = False,
    output_dir: Annotated[
        Path | None, typer.Option("--output-dir", help="flow runs: where the report files go")
    ] = None,
    renewal_deployment: Annotated[
        str, typer.Option("--renewal-deployment", help="flow runs: the renewal deployment to start")
    ] = "renew/renew",
    max_workers: Annotated[int, typer.Option(help="nodes read at once")] = 32,
    per_cluster: Annotated[int, typer.Option(help="nodes of one cluster read at once")] = 4,
) -> None:
    """Scan every certificate for expiry; show what is due; start renewals (unless --no-renew)."""
    if no_renew:
        code = run_local_scan(
            inventory,
            as_json=as_json,
            picture=picture,
            clusters=cluster or None,
            slack=slack,
            max_workers=max_workers,
            per_cluster=per_cluster,
        )
    else:
        code = run_flow_scan(
            inventory,
            as_json=as_json,
            picture=picture,
            clusters=cluster or None,
            output_dir=output_dir,
            renewal_deployment=renewal_deployment,
            max_workers=max_workers,
            per_cluster=per_cluster,
        )
    raise typer.Exit(code)


def run_local_scan(
    inventory_path: Path,
    *,
    as_json: bool = False,
    picture: Path | None = None,
    clusters: list[str] | None = None,
    slack: bool = False,
    max_workers: int = 32,
    per_cluster: int = 4,
) -> int:
    """Scan with the library only (no Prefect); print, draw, optionally post to Slack; return the exit code."""
    from rich.console import Console

    from certops.due import select_due
    from certops.fleet import read_fleet_certificates

    inv = load_for_command(inventory_path, clusters)
    if inv is None:
        return EXIT_BAD_INPUT
    total = sum(len(c.nodes) for c in inv.clusters if clusters is None or c.name in clusters)
    err = Console(stderr=True)
    if total >= PROGRESS_FROM_NODES and err.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("reading nodes"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            job = bar.add_task("read", total=total)
            report = read_fleet_certificates(
                inv,
                clusters=clusters,
                max_workers=max_workers,
                per_cluster=per_cluster,
                progress=lambda c, n, ok: bar.advance(job),
            )
    else:  # no bar to show: none to keep up either
        report = read_fleet_certificates(inv, clusters=clusters, max_workers=max_workers, per_cluster=per_cluster)
    with kept_until_done():  # the report stays until the command ends: collections skip it
        plan = select_due(report, inv)
        if picture is not None:
            from certops.report.timeline import write_timeline  # matplotlib: about 0.5 s to import, only for --picture

            for path in write_timeline(plan, picture, default_threshold_days=inv.defaults.policy.threshold_days):
                err.print(f"wrote {path}", highlight=False)
        if as_json:
            typer.echo(plan.model_dump_json(indent=2))
        else:
            _print(plan)
        if slack:
            from certops.errors import ConfigError
            from certops.notify.slack import SlackNotifier

            try:
                notifier = SlackNotifier.from_inventory(inv)
            except ConfigError as exc:
                err.print(f"Slack: not sent: {exc}", highlight=False, markup=False)
            else:
                if notifier is None:
                    err.print("Slack: not sent: the inventory has no notifications.slack section", highlight=False)
                else:
                    result = notifier.scan_summary(plan)
                    err.print(
                        "Slack: summary posted" if result.delivered else f"Slack: not delivered: {result.error}",
                        highlight=False,
                        markup=False,
                    )
        return EXIT_OK if report.ok else EXIT_NODE_FAILED


def _print(plan: object) -> None:
    """The scan on the terminal: the table (``$COLUMNS`` wide when set), a summary that adds up, what is due."""
    from certops.cli._table import print_lines, print_table
    from certops.due import DuePlan
    from certops.report.table import _STYLE, COLUMNS, row, summary
    from certops.report.table import console as table_console

    assert isinstance(plan, DuePlan)
    console = table_console(sys.stdout)
    print_table(  # what rich_table draws, without rich's cost per cell (thousands of rows)
        console,
        COLUMNS,
        [(row(s), _STYLE[s.urgency] if s.counted else "dim") for s in plan.statuses],
        title=f"Certificates, {plan.generated_at:%Y-%m-%d %H:%M} UTC",
        right=("days left",),
    )
    console.print(summary(plan), markup=False)
    for f in plan.failures:
        retry = " (temporary: retry later)" if f.transient else ""
        console.print(f"[red]not read[/red] {f.cluster} {f.node}: {f.operation}: {f.reason}{retry}", markup=True)
    print_lines(
        console, [f"due: {c.cluster} {c.unit} on {', '.join(c.nodes)} ({c.days_left} days left)" for c in plan.start]
    )
    print_lines(
        console, [f"queued: {c.cluster} {c.unit} after {c.queued_behind} (never at the same time)" for c in plan.queued]
    )


def _print_written_report(output_dir: Path | None, *, since: float) -> None:
    """Print the table of the scan report this run wrote (the newest JSON report since ``since``)."""
    from certops.due import DuePlan
    from certops.report.outputs import default_report_dir

    directory = output_dir or default_report_dir()
    written = [p for p in directory.glob("scan-*.json") if p.stat().st_mtime >= since - 1]
    if written:
        _print(DuePlan.model_validate_json(max(written, key=lambda p: p.stat().st_mtime).read_text()))


def run_flow_scan(
    inventory_path: Path,
    *,
    as_json: bool = False,
    picture: Path | None = None,
    clusters: list[str] | None = None,
    output_dir: Path | None = None,
    renewal_deployment: str = "renew/renew",
    max_workers: int = 32,
    per_cluster: int = 4,
) -> int:
    """Run the ``scan`` flow (Prefect) in this process: it starts the due renewal deployments."""

    inv = load_for_command(inventory_path, clusters)
    if inv is None:
        return EXIT_BAD_INPUT
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        typer.echo(
            "error: certops scan starts renewals through a Prefect server, and PREFECT_API_URL is not set — "
            "export PREFECT_API_URL=http://HOST:4200/api (see docs/operations.md), or use --no-renew to only report",
            err=True,
        )
        return EXIT_BAD_INPUT
    import time

    from certops.errors import CertopsError
    from flows.scan import scan as scan_flow

    started = time.time()
    try:
        result = scan_flow(
            str(inventory_path.resolve()),
            start_renewals=True,
            clusters=clusters,
            output_dir=str(output_dir) if output_dir else None,
            renewal_deployment=renewal_deployment,
            max_workers=max_workers,
            per_cluster=per_cluster,
        )
    except CertopsError as exc:
        if not as_json:
            _print_written_report(output_dir, since=started)  # the scan itself worked: show it
        typer.echo(f"error: {exc}", err=True)
        return EXIT_NOT_STARTED
    if picture is not None and result.files.png_path:
        import shutil

        stem = picture.with_suffix("") if picture.suffix in (".png", ".svg") else picture
        stem.parent.mkdir(parents=True, exist_ok=True)
        for src in (result.files.png_path, result.files.svg_path):
            if src:
                shutil.copyfile(src, stem.with_name(stem.name + Path(src).suffix))
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        from certops.due import DuePlan

        _print(DuePlan.model_validate_json(Path(result.files.json_path).read_text()))
        for s in result.started:
            what = s.skipped_reason or (f"queued behind {s.queued_behind}" if s.queued_behind else f"run {s.run_id}")
            typer.echo(f"renewal {s.cluster} {s.unit}: {what}")
    return EXIT_OK if not result.failures else EXIT_NODE_FAILED
