"""``certops doctor --inventory INV [--cluster C] [--capture DIR] [--anonymize]``: read-only proof.

For every node of the cluster: TLS trust of each port, the SSH host key, the OS admin over REST
and SSH, the application user over AXL, Control Center and RisPort70, the versions, the
certificates, and the state certops's rules read (security mode, SSO, DRF, Phone Interaction).
Prints a verdict per check and per [INF] item; then either "certops can renew every unit" (exit
0) or what to fix, node by node, one paragraph each (exit 1). Exit 2: bad input.
``--capture DIR`` writes what the nodes answered, redacted (``docs/doctor.md``); ``certops sim
--from-capture DIR`` starts a twin of the cluster from it.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certops.cli._app import app
from certops.cli._inventory import load_for_command

if TYPE_CHECKING:
    from certops.doctor.verdicts import DoctorReport

EXIT_OK = 0
EXIT_BLOCKED = 1
EXIT_BAD_INPUT = 2


@app.command("doctor")
def doctor(
    inventory: Annotated[Path, typer.Option("--inventory", "-i", help="the inventory YAML file")],
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="the cluster (default: every cluster)")] = None,
    capture: Annotated[
        Path | None, typer.Option("--capture", help="write what the nodes answered, redacted, into this folder")
    ] = None,
    anonymize: Annotated[
        bool, typer.Option("--anonymize", help="in the capture, replace host names and addresses consistently")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="also list every [INF] item not reachable")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the verdicts as JSON (one object per cluster)")
    ] = False,
) -> None:
    """Prove, read-only, that certops can renew every unit of a cluster; say what to fix otherwise."""
    raise typer.Exit(
        run_doctor_command(inventory, cluster, capture=capture, anonymize=anonymize, verbose=verbose, as_json=as_json)
    )


def run_doctor_command(
    inventory_path: Path,
    cluster: str | None,
    *,
    capture: Path | None = None,
    anonymize: bool = False,
    verbose: bool = False,
    as_json: bool = False,
) -> int:
    """Run doctor on the cluster(s), print the verdicts, write the capture; return the exit code."""
    from certops.doctor.capture import write_capture
    from certops.doctor.run import run_doctor

    inv = load_for_command(inventory_path, [cluster] if cluster else None)
    if inv is None:
        return EXIT_BAD_INPUT
    names = [cluster] if cluster else [c.name for c in inv.clusters]
    if capture is not None and len(names) > 1:
        typer.echo(
            f"error: --capture holds one cluster; the inventory has {', '.join(names)}: add --cluster NAME", err=True
        )
        return EXIT_BAD_INPUT
    if anonymize and capture is None:
        typer.echo("error: --anonymize applies to a capture: add --capture DIR", err=True)
        return EXIT_BAD_INPUT
    code = EXIT_OK
    for name in names:
        run = run_doctor(inv, name)
        if as_json:
            typer.echo(json.dumps(report_dict(run.report), indent=2))
        else:
            _print(run.report, verbose=verbose)
        if capture is not None:
            path = write_capture(capture, run, anonymize=anonymize)
            typer.echo(
                f"capture written: {path} ({len(run.recorder.exchanges)} answers, redacted"
                + (", anonymized" if anonymize else "")
                + ")",
                err=as_json,  # stdout stays JSON
            )
        if not run.report.ok:
            code = EXIT_BLOCKED
    return code


def report_dict(report: DoctorReport) -> dict[str, Any]:
    """The verdicts as JSON: ``ok`` (exit 0), the units blocked per node, every check, every [INF] id."""
    nodes = list(dict.fromkeys(c.node for c in report.checks))
    return {
        "cluster": report.cluster,
        "version": report.version,
        "ok": report.ok,
        "units": list(report.units),
        "blocked": {n: report.blocked_units(n) for n in nodes if report.blocked_units(n)},
        "checks": [c.as_json() for c in report.checks],
        "inf": [v.as_json() for v in sorted(report.inf_summary().values(), key=lambda v: v.id)],
    }


_MARK = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "unreachable": "UNREACHABLE", "skipped": "skipped"}


def _print(report: object, *, verbose: bool) -> None:
    from certops.doctor.inf import INF_ITEMS
    from certops.doctor.verdicts import CheckStatus, DoctorReport, InfStatus

    assert isinstance(report, DoctorReport)
    nodes = list(dict.fromkeys(c.node for c in report.checks))
    typer.echo(f"certops doctor: cluster {report.cluster} (version {report.version}), {len(nodes)} node(s), read-only")
    typer.echo(f"units configured: {', '.join(report.units)}")
    for node in nodes:
        typer.echo(f"\n{node}")
        for c in (c for c in report.checks if c.node == node):
            detail = f"  {c.detail}" if c.detail else ""
            typer.echo(f"  {_MARK[c.status.value]:<11} {c.id:<22} {c.title}{detail}")
    summary = report.inf_summary()
    counts = {s: sum(1 for v in summary.values() if v.status is s) for s in InfStatus}
    typer.echo(
        f"\n[INF] items ({len(summary)}; docs/simulator.md): {counts[InfStatus.CONFIRMED]} confirmed, "
        f"{counts[InfStatus.REFUTED]} refuted, {counts[InfStatus.NOT_REACHABLE]} not reachable from here"
    )
    for v in sorted(summary.values(), key=lambda v: (list(InfStatus).index(v.status), v.id)):
        if v.status is InfStatus.NOT_REACHABLE and not verbose:
            continue
        item = INF_ITEMS.get(v.id)
        said = (
            f" — the node said: {v.said}"
            if v.status is InfStatus.REFUTED and v.said
            else (f" — {v.said}" if v.said and v.status is InfStatus.NOT_REACHABLE else "")
        )
        where = f" ({v.node})" if v.node else ""
        typer.echo(f"  {v.status.value:<13} {v.id:<30} {item.behaviour if item else ''}{where}{said}")
    if not verbose and counts[InfStatus.NOT_REACHABLE]:
        typer.echo("  (--verbose lists the items not reachable from here)")
    warnings = [c for c in report.checks if c.status is CheckStatus.WARN and c.fix]
    if report.ok:
        typer.echo(f"\nVerdict: certops can renew every configured unit on every node of {report.cluster}.")
        _paragraphs("Worth knowing", warnings)
        return
    typer.echo(
        f"\nVerdict: certops cannot renew everything on {report.cluster} as configured. What to fix, node by node:"
    )
    for node in nodes:
        blocking = [c for c in report.blocking if c.node == node]
        if not blocking:
            continue
        units = report.blocked_units(node)
        typer.echo(f"\n{node} — blocks: {', '.join(units) if units else 'nothing configured'}")
        for fix in dict.fromkeys(c.fix or f"{c.title}: {c.detail}" for c in blocking):
            typer.echo(_fill(fix))
    _paragraphs("Also worth knowing", warnings)


def _fill(text: str) -> str:
    return textwrap.fill(
        text,
        width=100,
        initial_indent="  - ",
        subsequent_indent="    ",
        break_on_hyphens=False,
        break_long_words=False,
    )


def _paragraphs(title: str, checks: Sequence[object]) -> None:
    if not checks:
        return
    typer.echo(f"\n{title}:")
    for fix in dict.fromkeys(getattr(c, "fix", "") for c in checks):
        typer.echo(_fill(fix))
