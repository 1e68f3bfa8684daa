"""``certops certificates --inventory FILE [--json] [--cluster C]``: every identity certificate.

A table of every node's identity certificates (cluster, node, unit, subject, issuer, SANs,
not-after, days left, self-signed or CA-signed), soonest expiry first, then the nodes that could
not be read with their reasons. ``--json`` prints the ``CertificateReport``.
Exit codes: 0 every node answered, 1 some node failed, 2 bad inventory or arguments.
"""

from __future__ import annotations

import datetime as dt
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


@app.command("certificates")
def certificates(
    inventory: Annotated[Path, typer.Option("--inventory", "-i", help="the inventory YAML file")],
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    cluster: Annotated[list[str] | None, typer.Option("--cluster", "-c", help="only this cluster (repeatable)")] = None,
    unit: Annotated[list[str] | None, typer.Option("--unit", "-u", help="only this unit (repeatable)")] = None,
    max_workers: Annotated[int, typer.Option(help="nodes read at once")] = 32,
    per_cluster: Annotated[int, typer.Option(help="nodes of one cluster read at once")] = 4,
) -> None:
    """List every identity certificate of every node, soonest expiry first; failures after."""
    raise typer.Exit(
        run_certificates(
            inventory,
            as_json=as_json,
            clusters=cluster or None,
            units=unit or None,
            max_workers=max_workers,
            per_cluster=per_cluster,
        )
    )


def run_certificates(
    inventory_path: Path,
    *,
    as_json: bool = False,
    clusters: list[str] | None = None,
    units: list[str] | None = None,
    max_workers: int = 32,
    per_cluster: int = 4,
) -> int:
    """Read and print; return the exit code."""
    from certops.fleet import read_fleet_certificates
    from certops.units import UNITS

    inv = load_for_command(inventory_path, clusters)
    if inv is None:
        return EXIT_BAD_INPUT
    for name in units or []:
        if name not in UNITS:
            typer.echo(f"error: unknown unit {name!r}; known units (case matters): {', '.join(UNITS)}", err=True)
            return EXIT_BAD_INPUT
    report = read_fleet_certificates(
        inv, clusters=clusters, units=units, max_workers=max_workers, per_cluster=per_cluster
    )
    with kept_until_done():  # the report stays until the command ends: collections skip it
        if as_json:
            typer.echo(report.model_dump_json(indent=2))
        else:
            _print_table(report)
    return EXIT_OK if report.ok else EXIT_NODE_FAILED


def _cn(name: str) -> str:
    for part in name.split(","):
        if part.strip().upper().startswith("CN="):
            return part.strip()[3:]
    return name


def _print_table(report: object) -> None:
    from certops.cli._table import print_table
    from certops.models import CertificateReport
    from certops.report.table import console as table_console

    assert isinstance(report, CertificateReport)
    console = table_console(sys.stdout)  # $COLUMNS wide when set
    now = dt.datetime.now(dt.UTC)
    rows: list[tuple[tuple[str, ...], str | None]] = []
    for cert in sorted(report.certificates, key=lambda c: (c.not_after, c.cluster, c.node, c.unit)):
        days = cert.days_left(now)
        style = "bold red" if days < 0 else "red" if days <= 30 else "yellow" if days <= 60 else None
        cells = (
            cert.cluster,
            cert.node,
            cert.unit,
            cert.subject_cn or cert.subject,
            _cn(cert.issuer),
            ", ".join([*cert.sans_dns, *cert.sans_ip]),
            cert.not_after.strftime("%Y-%m-%d %H:%M"),
            str(days),
            "self-signed" if cert.self_signed else "CA-signed",
        )
        rows.append((cells, style))
    print_table(
        console,
        ("cluster", "node", "unit", "subject", "issuer", "SANs", "not after (UTC)", "days left", "signed"),
        rows,
        title=f"Identity certificates ({len(report.certificates)})",
        title_justify="left",
        right=("days left",),
    )
    if report.failures:
        console.print(f"[bold red]{len(report.failures)} node(s) could not be read:[/bold red]")
        for failure in sorted(report.failures, key=lambda f: (f.cluster, f.node)):
            retry = " (temporary: retry later)" if failure.transient else ""
            console.print(
                f"  - {failure.cluster} {failure.node}: {failure.operation}: {failure.reason}{retry}",
                markup=False,
                soft_wrap=True,
            )
    else:
        console.print("every node answered")
