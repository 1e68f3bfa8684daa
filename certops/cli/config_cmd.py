"""``certops config check FILE``: validate an inventory and report every problem with its place.

Exit codes: 0 valid (a short summary: clusters, nodes per role, CA backends, warnings),
2 problems (every one found in one pass, each on its own line with its YAML path and
line/column). A node CA bundle (``tls.ca_bundle``) that does not exist while TLS verification is
on is a problem, unless ``--files-elsewhere`` says the inventory's files are on another machine;
password variables that are not set here and other missing files are warnings (the flows may run
elsewhere). Never prints a secret.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from certops.cli._app import app

EXIT_OK = 0
EXIT_PROBLEMS = 2
_ROLE_NAMES = ("publisher", "subscriber", "imp-publisher", "imp")

config_app = typer.Typer(name="config", help="Check the inventory file.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="the inventory YAML file")],
    files_elsewhere: Annotated[
        bool,
        typer.Option(
            "--files-elsewhere", help="the CA bundles the inventory names are on another machine: missing ones warn"
        ),
    ] = False,
) -> None:
    """Validate the inventory FILE; list every problem with its place. Exit 0 when valid, 2 otherwise."""
    raise typer.Exit(run_config_check(file, files_elsewhere=files_elsewhere))


def run_config_check(file: Path, *, files_elsewhere: bool = False) -> int:
    """Check ``file``, print the result, return the exit code."""
    from certops.inventory_file import check_inventory

    result = check_inventory(file, files_elsewhere=files_elsewhere)
    for warning in result.warnings:
        typer.secho(f"WARNING: {warning}", fg=typer.colors.YELLOW, err=True)
    if result.problems or result.inventory is None:
        typer.secho(f"{file}: {len(result.problems)} problem(s):", fg=typer.colors.RED, err=True)
        for problem in result.problems:
            typer.echo(f"  - {problem}", err=True)
        return EXIT_PROBLEMS
    inv = result.inventory
    roles: Counter[str] = Counter(n.role.value for c in inv.clusters for n in c.nodes)
    typer.echo(f"{file}: OK")
    typer.echo(
        f"  {len(inv.clusters)} cluster(s), {sum(roles.values())} node(s): "
        + ", ".join(f"{roles[r]} {r}" for r in _ROLE_NAMES if roles[r])
    )
    for cluster in inv.clusters:
        ca_name, ca = inv.ca_for(cluster)
        cluster_roles: Counter[str] = Counter(n.role.value for n in cluster.nodes)
        typer.echo(
            f"  - {cluster.name} (CUCM {cluster.version}): "
            + ", ".join(f"{cluster_roles[r]} {r}" for r in _ROLE_NAMES if cluster_roles[r])
            + f"; CA {ca_name} ({ca.type})"
        )
    typer.echo("  CA backends: " + ", ".join(f"{name} ({cfg.type})" for name, cfg in inv.ca_backends.items()))
    typer.echo(f"  warnings: {len(result.warnings)}")
    return EXIT_OK
