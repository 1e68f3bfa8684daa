"""``certops lock status | reap``: who holds a cluster's renewal locks, and proving a dead holder dead.

- ``lock status -i INV -c CLUSTER [-u UNIT]``: per lock key, the Prefect claim (run, unit, nodes,
  since, the run's state, its process) and this host's lock (``certops.hostlock``).
- ``lock reap -i INV -c CLUSTER [-u UNIT] [--quiet-minutes N]``: marks the holder run Crashed
  when it is proven dead: on this host, its process (PID and start time, from the claim) is gone;
  elsewhere, the run shows no state change, task run or log line for ``N`` minutes (default 15).
  Refuses, explaining, when the holder may be alive, and never touches a run that waits for a
  person (approve or deny it). Then the normal stale-claim rule applies: an unfinished renewal
  still blocks the other units of its group until it is rerun or abandoned.

Exit codes: 0 done (or nothing held), 1 refused (the holder may be alive), 2 bad input.
"""

from __future__ import annotations

import datetime as dt
import getpass
import socket
from pathlib import Path
from typing import Annotated

import typer

from certops.cli._app import app

lock_app = typer.Typer(help="Who holds a cluster's renewal locks; mark a dead holder's run Crashed.")
app.add_typer(lock_app, name="lock")

EXIT_OK, EXIT_REFUSED, EXIT_BAD_INPUT = 0, 1, 2


def _keys(unit: str | None) -> list[str]:
    from certops.planning import exclusion_key
    from certops.units import UNITS

    if unit is not None:
        return [exclusion_key(UNITS[unit])]
    keys: list[str] = []
    for spec in UNITS.values():
        if exclusion_key(spec) not in keys:
            keys.append(exclusion_key(spec))
    return keys


def _check_input(inventory: Path, cluster: str, unit: str | None) -> str | None:
    from certops.errors import CertopsError
    from certops.renewal.adapters import load_inventory
    from certops.units import UNITS

    try:
        load_inventory(inventory).cluster(cluster)
    except (CertopsError, KeyError) as exc:
        return f"error: {exc}"
    if unit is not None and unit not in UNITS:
        return f"error: unknown unit {unit!r}; units: {', '.join(UNITS)}"
    return None


def _prefect_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def last_activity(run_id: str) -> dt.datetime | None:
    """The latest sign of life of a run: its state change, a task run's state change, a log line."""
    from uuid import UUID

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort, TaskRunSort

    seen: list[dt.datetime] = []
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(run_id))
        if run.state is not None:
            seen.append(run.state.timestamp)
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])), sort=TaskRunSort.EXPECTED_START_TIME_DESC
        )
        seen += [t.state.timestamp for t in tasks if t.state is not None]
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])), limit=1, sort=LogSort.TIMESTAMP_DESC
        )
        seen += [log.timestamp for log in logs]
    return max(seen) if seen else None


def _status_lines(cluster: str, key: str) -> list[str]:
    from certops.hostlock import HostLock, process_alive

    lines = [f"{cluster} / '{key}' lock:"]
    if _prefect_url() is None:
        lines.append(
            "  Prefect claim: PREFECT_API_URL is not set, so no server's claim can be read (the claim of a certops "
            "renew with an embedded server lives in that server, only while it runs)"
        )
    else:
        from flows import _locks

        held = _locks.read_claim(cluster, key)
        if held is None:
            lines.append("  Prefect claim: free")
        else:
            info = _locks.run_info(held.run_id)
            alive = ""
            if held.pid and held.host == socket.gethostname():
                alive = " (running)" if process_alive(held.pid, held.process_start) else " (GONE: the process is dead)"
            state = info.state_name or info.state or "unknown to this server"
            lines.append(f"  Prefect claim: {held.describe()}; run state {state}; {held.process()}{alive}")
    holder = HostLock(cluster, key).current_holder()
    lines.append(f"  host lock on {socket.gethostname()}: " + (f"held by {holder.describe()}" if holder else "free"))
    return lines


@lock_app.command("status")
def status_cmd(
    inventory: Annotated[Path, typer.Option("--inventory", "-i", help="the inventory YAML file")],
    cluster: Annotated[str, typer.Option("--cluster", "-c", help="the cluster")],
    unit: Annotated[str | None, typer.Option("--unit", "-u", help="only this unit's lock")] = None,
) -> None:
    """Who holds the cluster's renewal locks: the Prefect claim (run, state, process) and this host's lock."""
    problem = _check_input(inventory, cluster, unit)
    if problem:
        typer.echo(problem, err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    for key in _keys(unit):
        for line in _status_lines(cluster, key):
            typer.echo(line)


def reap(cluster: str, key: str, *, quiet_minutes: float, inventory: Path) -> tuple[int, str]:
    """Mark the holder run of (cluster, key) Crashed if proven dead; (exit code, what was done or why not)."""
    from prefect import get_client
    from prefect.states import Crashed

    from certops import audit
    from certops.audit import AuditRecord
    from certops.hostlock import process_alive
    from flows import _locks

    held = _locks.read_claim(cluster, key)
    if held is None:
        return EXIT_OK, f"cluster {cluster}: nobody holds the '{key}' lock; nothing to reap"
    info = _locks.run_info(held.run_id)
    if info.final:
        return EXIT_OK, (
            f"cluster {cluster}: {held.describe()} already ended ({info.state or 'unknown to this server'}); nothing "
            f"to reap. If its {held.unit} renewal is unfinished it still blocks the other units: rerun it (certops "
            f"renew -i {inventory} -c {cluster} -u {held.unit}) or abandon it (... --abandon)"
        )
    if info.state == "PAUSED":
        return EXIT_REFUSED, (
            f"cluster {cluster}: {held.describe()} is {info.state_name or 'paused'}, waiting for a person: it has no "
            f"process by design and is not dead. Approve it (certops approve {held.run_id} --chain ...) or deny it "
            f"(certops deny {held.run_id} --reason ...)"
        )
    here = socket.gethostname()
    if held.pid and held.host == here:
        if process_alive(held.pid, held.process_start):
            return EXIT_REFUSED, (
                f"cluster {cluster}: {held.describe()} is {info.state} and its process {held.pid} on this host is "
                "alive; it is not reaped. Wait for it, or stop that process first (then reap)"
            )
        proof = f"its process {held.pid} on this host ({here}) no longer exists (PID and start time checked)"
    else:
        where = f"host {held.host}" if held.host else "an unrecorded host"
        last = last_activity(held.run_id)
        quiet = (dt.datetime.now(dt.UTC) - last).total_seconds() / 60 if last else float("inf")
        if quiet < quiet_minutes:
            return EXIT_REFUSED, (
                f"cluster {cluster}: {held.describe()} runs on {where}, whose processes this host cannot see; its "
                f"last sign of life (state change, task run or log line) was {quiet:.1f} min ago, less than the "
                f"{quiet_minutes:g} min required, so it may be alive and is not reaped. Check that host, or retry "
                f"once it has been quiet for {quiet_minutes:g} min"
            )
        proof = (
            f"it runs on {where} (not checkable from here) and showed no state change, task run or log line for "
            f"{quiet:.0f} min (at least {quiet_minutes:g} min required)"
        )
    message = f"proven dead by certops lock reap: {proof}"
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(held.run_id, Crashed(message=message), force=True)
    audit.append(
        AuditRecord(
            who=getpass.getuser(),
            cluster=cluster,
            unit=held.unit,
            operation="reap",
            detail=f"{held.describe()}: {proof}",
        )
    )
    return EXIT_OK, (
        f"cluster {cluster}: marked {held.describe()} Crashed: {proof}. Its claim now follows the stale-claim rule: "
        f"if its {held.unit} renewal is unfinished it still blocks the other units of the '{key}' group until it is "
        f"rerun (certops renew -i {inventory} -c {cluster} -u {held.unit}) or abandoned (... --abandon)"
    )


@lock_app.command("reap")
def reap_cmd(
    inventory: Annotated[Path, typer.Option("--inventory", "-i", help="the inventory YAML file")],
    cluster: Annotated[str, typer.Option("--cluster", "-c", help="the cluster")],
    unit: Annotated[str | None, typer.Option("--unit", "-u", help="only the lock of this unit")] = None,
    quiet_minutes: Annotated[
        float,
        typer.Option(
            "--quiet-minutes", min=1.0, help="a holder on another host must show no activity this long to count dead"
        ),
    ] = 15.0,
) -> None:
    """Mark a holder run Crashed once it is proven dead (its process is gone, or it has been quiet long enough)."""
    problem = _check_input(inventory, cluster, unit)
    if problem:
        typer.echo(problem, err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    if _prefect_url() is None:
        typer.echo(
            "error: PREFECT_API_URL is not set: point it at the Prefect server the holder run belongs to", err=True
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    code = EXIT_OK
    for key in _keys(unit):
        rc, text = reap(cluster, key, quiet_minutes=quiet_minutes, inventory=inventory)
        typer.echo(text, err=rc != EXIT_OK)
        code = max(code, rc)
    raise typer.Exit(code)
