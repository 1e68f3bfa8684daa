"""``certops sim``: run a simulated CUCM fleet in the foreground (lab, demos, integration tests).

The simulator lives in the top-level ``simulator`` package; it is imported inside the command so
``certops --help`` stays fast.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from certops.cli._app import app

OS_PASSWORD_ENV = "CUCM_SIM_OS_PASSWORD"
APP_PASSWORD_ENV = "CUCM_SIM_APP_PASSWORD"


def _secret(value: str | None, env: str, what: str) -> str:
    if value:
        return value
    from_env = os.environ.get(env)
    if from_env:
        return from_env
    raise typer.BadParameter(f"give {what} with the option, or set ${env} (the value is never printed)")


@app.command("sim")
def sim(
    nodes: Annotated[
        int, typer.Option("--nodes", min=1, help="nodes per cluster (node 1 publisher; IM&P last when >= 3)")
    ] = 3,
    clusters: Annotated[int, typer.Option("--clusters", min=1, help="number of clusters (c1, c2, ...)")] = 1,
    username: Annotated[str, typer.Option("--username", help="OS/platform admin user (certmgr REST, SSH)")] = "admin",
    password: Annotated[
        str | None,
        typer.Option("--password", help=f"OS admin password; default ${OS_PASSWORD_ENV}", show_default=False),
    ] = None,
    app_username: Annotated[str, typer.Option("--app-username", help="application user (SOAP)")] = "ccmadmin",
    app_password: Annotated[
        str | None,
        typer.Option(
            "--app-password", help=f"application user password; default ${APP_PASSWORD_ENV}", show_default=False
        ),
    ] = None,
    write_inventory: Annotated[
        Path, typer.Option("--write-inventory", help="where to write the inventory YAML")
    ] = Path("sim-inventory.yaml"),
    latency: Annotated[
        float, typer.Option("--latency", min=0, help="milliseconds added to each request and command")
    ] = 0.0,
    version: Annotated[
        list[str] | None,
        typer.Option("--version", help="CUCM version (12.5, 14.0, 15.0); repeat to mix across clusters"),
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="CA bundle, known_hosts, events.jsonl (default: a temp dir)")
    ] = None,
    phones: Annotated[int, typer.Option("--phones", min=0, help="phones per cluster")] = 20,
    restart_seconds: Annotated[float, typer.Option("--restart-seconds", min=0)] = 5.0,
    tomcat_restart_seconds: Annotated[float, typer.Option("--tomcat-restart-seconds", min=0)] = 10.0,
    banner_seconds: Annotated[float, typer.Option("--banner-seconds", min=0, help="slow CLI start banner")] = 2.0,
    reregister_seconds: Annotated[
        float, typer.Option("--reregister-seconds", min=0, help="how long a reset phone takes to register again")
    ] = 1.0,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            help="inject a fault, e.g. unreachable:NODE, sso, mixed-mode, drf-backup:SECONDS, "
            "restart-fails:NODE:SERVICE, phones-never-reregister, upload-error:NODE, ssh-drop:NODE, "
            "latency:SECONDS:NODE",
        ),
    ] = None,
    from_capture: Annotated[
        Path | None,
        typer.Option(
            "--from-capture",
            help="start a twin of the cluster a `certops doctor --capture DIR` captured (its nodes, "
            "versions, certificates, services, security mode, SSO, phones); --nodes/--clusters/--version ignored",
        ),
    ] = None,
    lab_rows: Annotated[
        bool,
        typer.Option(
            "--lab-rows",
            help="with --from-capture of a real cluster: print the [LAB] rows for docs/simulator.md (what the "
            "capture confirmed or corrected, and what the twin adopts, with the capture as the source) and exit",
        ),
    ] = False,
) -> None:
    """Run a simulated CUCM fleet until Ctrl-C (SIGINT) or SIGTERM.

    Every node gets loopback HTTPS (certmgr REST, SOAP), TLS service ports and an SSH CLI.

    The inventory is written once every listener is ready.

    Passwords come from the options or the environment and are never printed.
    """
    from simulator.faults import parse_fault
    from simulator.fleet import FleetOptions, SimulatedFleet
    from simulator.twin import TwinError, TwinFleet

    if lab_rows:  # nobody logs in to a twin that only writes rows
        import secrets

        os_pw = app_pw = secrets.token_urlsafe(16)
    else:
        os_pw = _secret(password, OS_PASSWORD_ENV, "--password")
        app_pw = _secret(app_password, APP_PASSWORD_ENV, "--app-password")
    try:
        faults = [parse_fault(f) for f in fault or []]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fault") from exc
    opts = FleetOptions(
        clusters=clusters,
        nodes=nodes,
        username=username,
        password=os_pw,
        app_username=app_username,
        app_password=app_pw,
        version=version if version and len(version) > 1 else (version[0] if version else "15.0"),
        latency=latency / 1000.0,
        restart_seconds=restart_seconds,
        tomcat_restart_seconds=tomcat_restart_seconds,
        phones_per_cluster=phones,
        cli_banner_seconds=banner_seconds,
        reregister_seconds=reregister_seconds,
        state_dir=state_dir,
    )
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    if lab_rows and from_capture is None:
        raise typer.BadParameter("--lab-rows reads a capture: give --from-capture DIR too", param_hint="--lab-rows")
    if from_capture is not None:
        try:
            fleet: SimulatedFleet = TwinFleet(from_capture, opts)
        except TwinError as exc:
            raise typer.BadParameter(str(exc), param_hint="--from-capture") from exc
    else:
        fleet = SimulatedFleet(opts)
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            fleet.start()
        except TwinError as exc:  # a captured shape the twin does not build
            raise typer.BadParameter(str(exc), param_hint="--from-capture") from exc
        if lab_rows:
            from simulator.lab import lab_rows as rows_of

            assert from_capture is not None
            try:
                rows = rows_of(from_capture, list(getattr(fleet, "notes", [])))
            except TwinError as exc:
                raise typer.BadParameter(str(exc), param_hint="--from-capture") from exc
            typer.echo("\n".join(rows))
            return
        for spec in faults:
            try:
                fleet.set_fault(**spec)
            except (KeyError, ValueError) as exc:
                raise typer.BadParameter(str(exc), param_hint="--fault") from exc
        inventory = fleet.write_inventory(
            write_inventory, password_env=OS_PASSWORD_ENV, app_password_env=APP_PASSWORD_ENV
        )
        typer.echo(
            f"Simulated CUCM fleet ready: {len(fleet.clusters)} cluster(s), {len(fleet.nodes)} node(s), "
            f"started in {fleet.start_seconds:.1f}s"
        )
        for note in getattr(fleet, "notes", []):
            typer.echo(f"  twin note:   {note}")
        typer.echo(f"  inventory:   {inventory.resolve()}")
        typer.echo(
            f"  admin URL:   {fleet.admin_url}  (GET /admin/events, GET /admin/state, POST|DELETE /admin/faults)"
        )
        typer.echo(f"  CA bundle:   {fleet.ca_bundle_path}")
        typer.echo(f"  known_hosts: {fleet.known_hosts_path}")
        typer.echo(f"  events:      {fleet.events_path}")
        for spec in faults:
            typer.echo(f"  fault:       {spec}")
        typer.echo("Export the passwords for certops (values not shown):")
        typer.echo(f"  export {OS_PASSWORD_ENV}=<the OS admin password>")
        typer.echo(f"  export {APP_PASSWORD_ENV}=<the application user password>")
        typer.echo("Press Ctrl-C to stop.", err=False)
        while not stop.wait(0.5):
            pass
        typer.echo("Stopping the simulated fleet ...")
    finally:
        fleet.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    typer.echo("Stopped.")
