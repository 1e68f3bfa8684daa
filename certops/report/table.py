"""The scan table: one row per certificate, sorted by days left, with its urgency.

Markdown for the Prefect artifact, a ``rich`` table for the command line. Pure: the same plan
gives the same text.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from typing import TYPE_CHECKING, TextIO

from certops.due import CertificateStatus, DuePlan, Urgency

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

COLUMNS = ("days left", "urgency", "cluster", "node", "unit", "not after", "issuer", "note")
_STYLE = {Urgency.EXPIRED: "bold red", Urgency.CRITICAL: "red", Urgency.DUE: "yellow", Urgency.OK: "green"}


def row(s: CertificateStatus) -> tuple[str, ...]:
    """The table cells for one certificate."""
    c = s.certificate
    note = s.skip_reason or ("self-signed" if c.self_signed else "")
    urgency = s.urgency.value if s.counted else f"({s.urgency.value})"
    return (
        str(s.days_left),
        urgency,
        c.cluster,
        c.node,
        c.unit,
        c.not_after.strftime("%Y-%m-%d"),
        c.issuer,
        note,
    )


def rows(plan: DuePlan) -> list[tuple[str, ...]]:
    """Every certificate's cells, in the plan's order (days left, then cluster, unit, node)."""
    return [_with_multi_server(plan, s, row(s)) for s in plan.statuses]


def multi_server_note(plan: DuePlan, s: CertificateStatus) -> str:
    """``multi-server (3 nodes)``, with the nodes it does not cover; empty for a per-node certificate."""
    m = plan.multi_server_of(s.certificate)
    if m is None:
        return ""
    note = f"multi-server ({len(m.nodes)} node{'s' if len(m.nodes) != 1 else ''})"
    if m.uncovered:
        note += f"; does not cover {', '.join(m.uncovered)}"
    return note


def _with_multi_server(plan: DuePlan, s: CertificateStatus, cells: tuple[str, ...]) -> tuple[str, ...]:
    extra = multi_server_note(plan, s)
    if not extra:
        return cells
    note = cells[-1]
    return (*cells[:-1], f"{note}; {extra}" if note else extra)


def multi_server_lines(plan: DuePlan) -> list[str]:
    """One line per multi-server certificate: where it is and which nodes it does not cover."""
    out = []
    for m in plan.multi_server:
        line = f"{m.cluster} {m.unit} (CN {m.subject_cn or '?'}, until {m.not_after:%Y-%m-%d}): on {', '.join(m.nodes)}"
        if m.uncovered:
            line += f"; does not cover {', '.join(m.uncovered)} (added after it was issued: renew it multi-server)"
        if m.elsewhere:
            line += f"; named but holding another certificate: {', '.join(m.elsewhere)}"
        if not m.configured:
            line += "; the inventory does not list it in multi_server (it would be renewed per node)"
        out.append(line)
    return out


def _md(cell: str) -> str:
    return cell.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _why_not_counted(reason: str) -> str:
    """A short name for a skip reason (the row's note has the whole sentence)."""
    if reason.startswith("self-signed"):
        return "self-signed"
    if "renewal policy's units" in reason:
        return "unit not in the policy"
    if "is not in the inventory" in reason:
        return "node not in the inventory"
    if "is not renewed on a" in reason or "publisher only" in reason:
        return "unit not renewed on that node"
    return reason


def not_counted(plan: DuePlan) -> Counter[str]:
    """Certificates the policy leaves out, by short reason (self-signed, unit not renewed there, ...)."""
    return Counter(_why_not_counted(s.skip_reason or "not counted") for s in plan.statuses if not s.counted)


def summary(plan: DuePlan, *, bold: str = "") -> str:
    """One line whose numbers add up: every certificate read, the counted ones by urgency, the rest by reason.

    ``bold`` wraps the urgency names (``"**"`` for Markdown).
    """
    counts = plan.counts()
    counted = sum(counts.values())
    left_out = not_counted(plan)
    line = f"{len(plan.statuses)} certificates read: {counted} counted (" + " · ".join(
        f"{bold}{u.value}{bold}: {counts[u]}" for u in Urgency
    )
    line += ")"
    if left_out:
        line += f"; {sum(left_out.values())} not counted, in parentheses in the table (" + ", ".join(
            f"{why}: {n}" for why, n in sorted(left_out.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        line += ")"
    line += f"; nodes unreadable: {len(plan.failures)}"
    if plan.failures:
        line += " (their certificates are not in the table)"
    return line


def console(file: TextIO | None = None) -> Console:
    """A ``rich`` console for tables: ``$COLUMNS`` wide when set, the terminal's width, else 200."""
    from rich.console import Console

    out = file or sys.stdout
    try:
        columns: int | None = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = None
    tty = bool(getattr(out, "isatty", lambda: False)())
    width = columns if columns and columns > 0 else (None if tty else 200)
    return Console(file=out, width=width, highlight=False, force_terminal=tty or None)


def markdown_table(plan: DuePlan, *, max_rows: int | None = None) -> str:
    """The scan as a markdown document: counts, the table, unreadable nodes, renewals to start."""
    lines = [
        f"# Certificate scan {plan.generated_at:%Y-%m-%d %H:%M} UTC",
        "",
        summary(plan, bold="**"),
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---:|" + "---|" * (len(COLUMNS) - 1),
    ]
    all_rows = rows(plan)
    shown = all_rows if max_rows is None else all_rows[:max_rows]
    lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in shown]
    if len(shown) < len(all_rows):
        lines += ["", f"… {len(all_rows) - len(shown)} more certificates not shown (see the JSON report)"]
    if plan.failures:
        lines += ["", "## Nodes that could not be read", "", "| cluster | node | operation | reason | retry may help |"]
        lines += ["|---|---|---|---|---|"]
        lines += [
            "| " + " | ".join(_md(x) for x in (f.cluster, f.node, f.operation, f.reason)) + f" | {_yes(f.transient)} |"
            for f in plan.failures
        ]
    if plan.multi_server:
        lines += ["", "## Multi-server certificates", ""]
        lines += [f"- {_md(line)}" for line in multi_server_lines(plan)]
    if plan.start or plan.queued:
        lines += ["", "## Renewals", ""]
        lines += [
            f"- start **{c.cluster}** `{c.unit}`: {', '.join(c.nodes)} ({c.days_left} days left)" for c in plan.start
        ]
        lines += [
            f"- queued **{c.cluster}** `{c.unit}` behind `{c.queued_behind}` (never at the same time)"
            for c in plan.queued
        ]
    return "\n".join(lines) + "\n"


def rich_table(plan: DuePlan, *, max_rows: int | None = None) -> Table:
    """The scan as a ``rich`` table, coloured by urgency."""
    from rich.table import Table

    table = Table(title=f"Certificates, {plan.generated_at:%Y-%m-%d %H:%M} UTC", show_lines=False)
    for name in COLUMNS:
        table.add_column(name, justify="right" if name == "days left" else "left", overflow="fold")
    statuses = plan.statuses if max_rows is None else plan.statuses[:max_rows]
    for s in statuses:
        table.add_row(*_with_multi_server(plan, s, row(s)), style=_STYLE[s.urgency] if s.counted else "dim")
    if max_rows is not None and len(plan.statuses) > max_rows:
        table.caption = f"{len(plan.statuses) - max_rows} more certificates not shown (use --json)"
    return table
