"""The ``certops`` command line.

Each sub-command lives in its own module and registers itself on the shared typer app.
Commands that need Prefect import it inside the command, so ``certops --help`` and the library
stay fast and Prefect-free.
"""

from __future__ import annotations

from certops.cli import (  # noqa: F401  (imported to register their commands)
    certificates,
    check,
    config_cmd,
    demo,
    lock,
    renew,
    scan,
    sim,
    units,
)
from certops.cli._app import app


def main() -> None:
    """Entry point of the ``certops`` console script."""
    app()


__all__ = ["app", "main"]
