"""Loading the inventory for a command: every problem printed, unknown clusters named."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from certops.inventory import Inventory


def load_for_command(inventory_path: Path, clusters: list[str] | None = None) -> Inventory | None:
    """The inventory, or None after printing why not (the caller exits 2).

    ``clusters`` must all be in the inventory; an unknown one is named with the known ones.
    """
    from certops.errors import ConfigError
    from certops.inventory_file import load_inventory

    try:
        inv = load_inventory(inventory_path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        return None
    for name in clusters or []:
        if name not in {c.name for c in inv.clusters}:
            known = ", ".join(c.name for c in inv.clusters)
            typer.echo(f"error: no cluster {name!r} in {inventory_path}; clusters: {known}", err=True)
            return None
    return inv
