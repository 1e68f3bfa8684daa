"""``certops units``: print the one table of certificate units that drives every renewal.

The terminal gets ``rich`` tables (a cell's lines one under the other, ``$COLUMNS`` wide when set);
``docs/units.md`` keeps the Markdown that ``certops.units.units_markdown`` generates. Both come
from that one text, so they cannot drift apart.
"""

from __future__ import annotations

import re
import sys
from typing import Annotated

import typer

from certops.cli._app import app

_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table line, ``<br>`` as a line break."""
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") else inner
    return [c.strip().replace("\\|", "|").replace("<br>", "\n") for c in _CELL_SPLIT.split(inner)]


def print_markdown_tables(markdown: str) -> None:
    """Print ``markdown`` on the terminal: its tables as ``rich`` tables, headings bold, the rest as text."""
    from rich.table import Table
    from rich.text import Text

    from certops.report.table import console as table_console

    console = table_console(sys.stdout)
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|") and i + 1 < len(lines) and set(lines[i + 1].replace("|", "").strip()) <= set("-: "):
            header = _cells(line)
            body: list[list[str]] = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                body.append(_cells(lines[i]))
                i += 1
            table = Table(show_lines=True, header_style="bold")
            widths: list[tuple[int, int]] = []
            for k, name in enumerate(header):
                # no column narrower than its longest word (up to 14), none wider than its longest line
                column = [row[k] for row in body if k < len(row)]
                longest = max((len(part) for cell in column for part in cell.split("\n")), default=4)
                word = max((len(w) for cell in [name, *column] for w in cell.split()), default=4)
                widths.append((min(word, 14), max(longest, word, 8)))
            roomy = sum(w for w, _ in widths) + 3 * len(widths) + 1 <= console.width
            for name, (narrowest, widest) in zip(header, widths, strict=True):
                table.add_column(name, overflow="fold", min_width=narrowest if roomy else None, max_width=widest)
            for row in body:
                table.add_row(*row)
            console.print(table)
            continue
        if line.startswith("#"):
            console.print(Text(line.lstrip("#").strip(), style="bold"))
        else:
            console.print(Text(line.replace("`", "")))
        i += 1


@app.command("units")
def units(
    markdown: Annotated[bool, typer.Option("--markdown", help="print the Markdown of docs/units.md instead")] = False,
) -> None:
    """Print the unit table (nodes, trust store, restarts, CTL, phone reset, risk, rules)."""
    from certops.units import units_markdown

    if markdown:
        typer.echo(units_markdown(), nl=False)
    else:
        print_markdown_tables(units_markdown())
