"""The typer application every ``certops`` sub-command registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="certops",
    help="Renew CA-signed certificates on Cisco Unified Communications Manager clusters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Renew CA-signed certificates on Cisco Unified Communications Manager clusters."""


@app.command("version")
def version() -> None:
    """Print the certops version."""
    from certops import __version__

    typer.echo(f"certops {__version__}")


# Sub-commands registered here rather than in certops/cli/__init__.py (imported last: each
# imports ``app`` from this module, which is defined by now).
from certops.cli import doctor as _doctor  # noqa: E402,F401
