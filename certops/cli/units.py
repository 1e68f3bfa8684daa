"""``certops units``: print the one table of certificate units that drives every renewal."""

from __future__ import annotations

import typer

from certops.cli._app import app


@app.command("units")
def units() -> None:
    """Print the unit table (nodes, trust store, restarts, CTL, phone reset, risk, rules) as Markdown."""
    from certops.units import units_markdown

    typer.echo(units_markdown(), nl=False)
