"""``certops renew | pending | approve | deny``: the renewal from the command line.

- ``renew --inventory FILE --cluster C --unit U [--nodes N ...] [--dry-run]``: the dry run prints
  the plan (every step per node, the rules) after a read-only look at the cluster and changes
  nothing; without it the Prefect flow runs (against ``PREFECT_API_URL``, else an embedded
  server) and the report is printed.
- ``pending``: runs awaiting approval (with their CSR files). ``csr RUN [--dir DIR]``: writes the
  CSRs a run waits to have signed, one file per node. ``approve RUN --chain FILE ... --approver
  NAME``: checks the chain locally first, then resumes the run. ``deny RUN --reason ...``: ends it
  cleanly. Without ``PREFECT_API_URL`` these use the embedded server of a ``certops renew``
  running on this machine (its discovery file), or refuse and say how to find the server.
- ``demo`` lives in ``certops.cli.demo``.

Exit codes: 0 done, 1 the renewal (or the check) failed, 2 bad inventory or arguments.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from certops.cli._app import app

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def _err(text: str) -> None:
    typer.echo(text, err=True)


@contextlib.contextmanager
def _prefect_api(quiet: bool = False) -> Iterator[str]:
    """``PREFECT_API_URL`` if set, else an embedded server for the duration (stopped at the end)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = PREFECT_API_URL.value()
    if url:
        yield url
        return

    from certops.renewal.server import PrefectServerProcess
    from flows.machinery import load_in_background

    if not quiet:
        _err("PREFECT_API_URL is not set: starting an embedded Prefect server on 127.0.0.1 ...")
    loading = load_in_background()  # the run's modules load while the server starts (flows.machinery)
    with (
        PrefectServerProcess(announce=not quiet) as server,
        temporary_settings(updates={PREFECT_API_URL: server.api_url}),
    ):
        loading.join()
        if not quiet:
            _err(
                f"Prefect UI: {server.ui_url}  (certops pending/approve/deny in another terminal of this machine find "
                f"this server; elsewhere approve with PREFECT_API_URL={server.api_url})"
            )
        # Threads that Prefect or the library start without a copy of this context read their
        # settings from the environment: without this they would start a second, temporary server.
        previous = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = server.api_url
        try:
            yield server.api_url
        finally:
            _drain_prefect()
            if previous is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = previous


def _drain_prefect() -> None:
    """Send buffered run logs and events while the embedded server still runs."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)
    EventsWorker.drain_all(timeout=5)


@app.command("renew")
def renew_cmd(
    inventory: Annotated[Path, typer.Option("--inventory", "-i", help="the inventory YAML file")],
    cluster: Annotated[str, typer.Option("--cluster", "-c", help="the cluster")],
    unit: Annotated[str | None, typer.Option("--unit", "-u", help="the certificate unit (case matters)")] = None,
    nodes: Annotated[list[str] | None, typer.Option("--nodes", "-n", help="only these nodes (repeatable)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the plan; change nothing")] = False,
    offline: Annotated[bool, typer.Option("--offline", help="dry run without reading the cluster")] = False,
    on_busy: Annotated[
        str, typer.Option("--on-busy", help="wait | refuse when another run holds the cluster")
    ] = "wait",
    approval_timeout_days: Annotated[float, typer.Option(help="deadline for the signed chain")] = 7.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    abandon: Annotated[
        bool, typer.Option("--abandon", help="give up the unfinished renewal of this unit and free the cluster lock")
    ] = False,
    ignore_pending_csr: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore-pending-csr",
            help="a pending CSR on the nodes that is a leftover of an abandoned attempt (its sha256, 8+ hex digits, "
            "or its unit): not counted as another renewal in flight; recorded in the audit log (repeatable)",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="renew even if another run renewed this unit since this one was requested")
    ] = False,
    due: Annotated[
        bool,
        typer.Option(
            "--due",
            help="every due unit of the cluster, in Cisco's order, in one plan (instead of --unit); then the DRF "
            "backup",
        ),
    ] = False,
) -> None:
    """Renew one unit on one cluster, or with --due every due unit in Cisco's order (--dry-run: print the plan)."""
    if due or unit is None:
        if unit is not None or not due or nodes or abandon or ignore_pending_csr or force:
            _err(
                "error: give either --unit U (one unit; --nodes, --abandon, --ignore-pending-csr and --force go "
                "with it) or --due (every due unit of the cluster, in Cisco's order)"
            )
            raise typer.Exit(EXIT_BAD_INPUT)
        from certops.cli.renew_due import run_renew_due

        raise typer.Exit(
            run_renew_due(
                inventory,
                cluster,
                dry_run=dry_run,
                offline=offline,
                on_busy=on_busy,
                approval_timeout_days=approval_timeout_days,
                as_json=as_json,
            )
        )
    if abandon:
        raise typer.Exit(run_abandon(inventory, cluster, unit, dry_run=dry_run))
    raise typer.Exit(
        run_renew(
            inventory,
            cluster,
            unit,
            nodes or None,
            dry_run=dry_run,
            offline=offline,
            on_busy=on_busy,
            approval_timeout_days=approval_timeout_days,
            as_json=as_json,
            ignore_pending_csrs=ignore_pending_csr or [],
            force=force,
        )
    )


def run_renew(
    inventory_path: Path,
    cluster: str,
    unit: str,
    nodes: list[str] | None,
    *,
    dry_run: bool = False,
    offline: bool = False,
    on_busy: str = "wait",
    approval_timeout_days: float = 7.0,
    as_json: bool = False,
    ignore_pending_csrs: list[str] | None = None,
    force: bool = False,
) -> int:
    """The ``renew`` command; returns the exit code."""
    # a renewal of the same unit that another shell finishes after this moment makes this one
    # unnecessary, even when this process's flow run is created later (its embedded server starts first)
    requested_at = dt.datetime.now(dt.UTC)
    from certops.errors import CertopsError, ConfigError
    from certops.planning import plan_renewal
    from certops.renewal.adapters import load_inventory

    try:
        inv = load_inventory(inventory_path)
        plan = plan_renewal(inv, cluster, unit, nodes)
    except (ConfigError, KeyError) as exc:
        _err(f"error: {exc}")
        return EXIT_BAD_INPUT
    if dry_run:
        from certops.planning import dry_run_verdict

        problems: list[str] = []
        read_nodes: set[str] = set()
        if not offline:
            from certops.renewal.preflight import read_cluster_state

            state, problems = read_cluster_state(inv, cluster, unit, nodes)
            for p in problems:
                _err(f"warning: {p}")
            read_nodes = set(state.versions)
            state = state.model_copy(update=_lock_state(inv, cluster, unit))
            plan = plan_renewal(inv, cluster, unit, nodes, state=state)
        verdict = dry_run_verdict(plan, problems, looked=not offline, read_nodes=read_nodes)
        if as_json:
            typer.echo(verdict.model_dump_json(indent=2))
        else:
            typer.echo(plan.render())
            typer.echo(verdict.text())
        return EXIT_OK if verdict.go else EXIT_FAILED
    if on_busy not in ("wait", "refuse"):
        _err("error: --on-busy is 'wait' or 'refuse'")
        return EXIT_BAD_INPUT
    from certops.renewal.settings import RenewalSettings

    for leftover in ignore_pending_csrs or []:
        _err(f"WARNING: pending CSRs matching {leftover!r} are IGNORED as leftovers (recorded in the audit log)")
    try:
        with _prefect_api():
            from flows.renew import renew

            _quiet_expected_tracebacks()

            def start() -> Any:
                return renew(
                    str(inventory_path),
                    cluster,
                    unit,
                    nodes,
                    approval_timeout_days=approval_timeout_days,
                    settings=RenewalSettings.from_environment(on_busy=on_busy),
                    return_state=True,
                    requested_at=requested_at,
                    **_flow_extras(ignore_pending_csrs or [], force),
                )

            state_: Any = _start_waiting_out_a_busy_server(start, cluster, unit)
            if state_.is_cancelled():
                _err(f"renewal ended: {state_.message}")
                return EXIT_FAILED
            report = state_.result()
            drf = _drf_after_single(str(inventory_path), inv, cluster, unit, report)
    except CertopsError as exc:
        _err(f"renewal failed: {exc}")
        return EXIT_FAILED
    typer.echo(report.model_dump_json(indent=2) if as_json else report.to_text())
    if drf is not None:
        _err(("DRF backup: " if drf.status == "taken" else "DRF BACKUP NOT TAKEN: ") + drf.text)
        return EXIT_OK if drf.status == "taken" else EXIT_FAILED
    return EXIT_OK


BUSY_SERVER_WAIT = 300.0
"""Seconds ``certops renew`` keeps asking a Prefect server that is too busy to create its flow run."""
BUSY_FIRST_PAUSE = 2.0  # then doubling, at most 30 s


def _creating_the_flow_run_was_refused(exc: BaseException) -> int | None:
    """The HTTP status (429/502/503) when the server was too busy to create the flow run, else None."""
    from prefect.exceptions import PrefectHTTPStatusError

    from tasks.server_busy import server_busy

    if not isinstance(exc, PrefectHTTPStatusError) or not server_busy(exc):
        return None
    request = exc.request
    if request.method == "POST" and request.url.path.rstrip("/").endswith("/flow_runs"):
        return exc.response.status_code
    return None


def _start_waiting_out_a_busy_server(start: Any, cluster: str, unit: str) -> Any:
    """``start()``; while the server refuses to create the flow run (busy), wait and ask again.

    Nothing has started then (no flow run exists, the cluster was not touched), so asking again is
    safe. Past :data:`BUSY_SERVER_WAIT` the refusal stands, in one paragraph. Seen with 50
    ``certops renew`` started at once on a SQLite server: 14 ended with HTTP 503 tracebacks.
    """
    import time

    from certops.errors import CertopsError

    deadline = time.monotonic() + BUSY_SERVER_WAIT
    pause = BUSY_FIRST_PAUSE
    while True:
        try:
            return start()
        except Exception as exc:
            code = _creating_the_flow_run_was_refused(exc)
            if code is None:
                raise
            if time.monotonic() + pause > deadline:
                raise CertopsError(
                    f"cluster {cluster} [{unit}]: the Prefect server refused to create the flow run (HTTP {code}) "
                    f"for {BUSY_SERVER_WAIT:.0f} s; nothing was started and the cluster was not touched",
                    hint="run the same certops renew again when the server is less busy; for many renewals at "
                    "once use a Prefect server on PostgreSQL (docs/operations.md)",
                ) from exc
            _err(
                f"the Prefect server is busy (HTTP {code} creating the flow run of {cluster} [{unit}]); nothing "
                f"started yet; asking again in {pause:.0f} s"
            )
            time.sleep(pause)
            pause = min(pause * 2, 30.0)


def _drf_after_single(inventory_path: str, inv: Any, cluster: str, unit: str, report: Any) -> Any:
    """After a completed single renewal on a cluster that names a DRF backup device: take the backup.

    None when the renewal did not complete or no device is named (the report's warning then says a
    DRF backup is due now). Cisco's Security Guides ask for one after every regeneration.
    """
    if getattr(report, "status", None) != "completed" or inv.cluster(cluster).drf_backup is None:
        return None
    from flows.renew_cluster import drf_backup

    return drf_backup(inventory_path, cluster, [unit])


class _ExpectedOutcomeFilter:
    """Drops, from the terminal only, log records that carry a ``CertopsError`` (an expected outcome).

    Prefect's flow and task engines log a failed run's exception with its traceback ("Encountered
    exception during execution", "Task run failed with exception"); for a refusal certops raised on
    purpose (lock held, SSO enabled, a node unreachable, a denial) the CLI prints the error's own
    paragraph instead. The run's log on the Prefect server keeps the record with its traceback.
    """

    def filter(self, record: Any) -> bool:
        """False for a record whose exception is a ``CertopsError``."""
        from certops.errors import CertopsError

        exc = record.exc_info[1] if isinstance(record.exc_info, tuple) else None
        if isinstance(exc, CertopsError):
            return False
        # the engines' closing line repeats the error by class name: "Finished in state Failed('... exception X: ...')"
        import re

        import certops.errors

        # repr() quotes with " when the message holds a ' (e.g. "check the node's address")
        found = re.search(r"Finished in state Failed\(['\"].*?exception:? (\w+):", record.getMessage())
        named = getattr(certops.errors, found.group(1), None) if found else None
        return not (isinstance(named, type) and issubclass(named, CertopsError))


_EXPECTED_OUTCOME_FILTER = _ExpectedOutcomeFilter()


def _quiet_expected_tracebacks() -> None:
    """Put ``_ExpectedOutcomeFilter`` on every console handler Prefect (or anyone) configured; idempotent."""
    import logging

    loggers = [
        logging.getLogger(),
        *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and _EXPECTED_OUTCOME_FILTER not in handler.filters:
                handler.addFilter(_EXPECTED_OUTCOME_FILTER)


def _lock_state(inv: Any, cluster: str, unit: str) -> dict[str, Any]:
    """For the dry run: the Prefect claim holder, this host's lock holder, what the nodes show in flight."""
    from certops.hostlock import HostLock
    from certops.planning import exclusion_key
    from certops.renewal import inflight
    from certops.renewal.state import RenewalStore
    from certops.units import UNITS

    key = exclusion_key(UNITS[unit])
    out: dict[str, Any] = {"host_lock_read": True}
    holder = HostLock(cluster, key).current_holder()
    out["host_lock"] = holder.describe() if holder else None
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        try:
            from flows import _locks

            claim = _locks.read_claim(cluster, key)
            if claim is not None:
                info = _locks.run_info(claim.run_id)
                out["claims"] = {key: f"{claim.describe()} (run state {info.state_name or info.state or 'unknown'})"}
        except Exception as exc:  # noqa: BLE001  (a dry run reports what it could not read)
            out["claims_note"] = f"the Prefect claim could not be read ({type(exc).__name__}: {exc})"
    else:
        out["claims_note"] = (
            "PREFECT_API_URL is not set: no Prefect server's claim can be read (a certops renew with an embedded "
            "server keeps its claim there, only while it runs)"
        )
    if inflight.group_units(unit):
        store = RenewalStore()
        finished = inflight.finished_renewals(store, cluster)
        active = store.load(cluster, unit)
        own = {p.csr.fingerprint_sha256 for p in active.nodes.values() if p.csr is not None} if active else set()
        look = inflight.look_at_cluster(inv, cluster, unit)
        out["inflight"] = [f.line() for f in inflight.find_inflight(look, unit=unit, own_csrs=own, finished=finished)]
    return out


def _flow_extras(ignore_pending_csrs: list[str], force: bool) -> dict[str, Any]:
    """The renew flow's optional parameters the command line set (left out when at their defaults)."""
    extras: dict[str, Any] = {}
    if ignore_pending_csrs:
        extras["ignore_pending_csrs"] = list(ignore_pending_csrs)
    if force:
        extras["force"] = True
    return extras


def run_abandon(inventory_path: Path, cluster: str, unit: str, *, dry_run: bool = False) -> int:
    """Abandon the unfinished renewal of ``unit`` on ``cluster``: archive its state, free its lock.

    ``dry_run``: say what would be abandoned and released; change nothing (no lock freed, no audit
    record). Nothing unfinished and no claim held: one line, exit 0, nothing written.
    """
    from certops import audit
    from certops.audit import AuditRecord
    from certops.errors import CertopsError
    from certops.planning import exclusion_key
    from certops.renewal.adapters import load_inventory
    from certops.renewal.state import RenewalStore
    from certops.units import UNITS

    try:
        load_inventory(inventory_path).cluster(cluster)
        key = exclusion_key(UNITS[unit])
    except (CertopsError, KeyError) as exc:
        _err(f"error: {exc}")
        return EXIT_BAD_INPUT
    store = RenewalStore()
    state = store.load(cluster, unit)
    try:
        with _prefect_api(quiet=True):
            from flows import _locks

            claim = _locks.read_claim(cluster, key)
            if state is None and claim is None:
                typer.echo(f"nothing to abandon: no unfinished {unit} renewal on {cluster} and no claim on its lock")
                return EXIT_OK
            if dry_run:
                what = (
                    f"would abandon the {unit} renewal on {cluster}"
                    if state is not None
                    else (f"no unfinished {unit} renewal on {cluster}")
                )
                typer.echo(
                    what
                    + (f"; would release {claim.describe()} (if its run has ended)" if claim is not None else "")
                    + ". Dry run: nothing was changed."
                )
                return EXIT_OK
            held = _locks.force_release(cluster=cluster, unit=unit)
    except CertopsError as exc:
        _err(f"error: {exc}")
        return EXIT_FAILED
    who = getpass.getuser()
    if state is not None:
        store.finish(state, "abandoned")
    audit.append(
        AuditRecord(
            who=who,
            cluster=cluster,
            unit=unit,
            operation="abandon",
            detail=f"lock held by {held.describe() if held else 'nobody'}",
        )
    )
    typer.echo(f"abandoned the {unit} renewal on {cluster}" + (f"; released {held.describe()}" if held else ""))
    typer.echo("CSRs already pending on the nodes stay there; a new renewal generates new ones")
    return EXIT_OK


NO_SERVER = (
    "error: PREFECT_API_URL is not set and no certops renew on this machine runs an embedded Prefect server "
    "(none is announced in {folder}), so there is no server to ask. Point this command at the server the "
    "renewal runs against: a certops renew that started its own server printed "
    "'elsewhere approve with PREFECT_API_URL=http://127.0.0.1:PORT/api'; with a shared server it is the URL the "
    "workers use, e.g. export PREFECT_API_URL=http://127.0.0.1:4200/api"
)


def _approver_servers(run: str | None = None) -> list[str | None]:
    """The Prefect APIs ``pending/approve/deny/csr`` ask: ``[None]`` (PREFECT_API_URL as set) if set.

    Otherwise the embedded servers of the ``certops renew`` processes running on this host (for
    ``run``: the one that knows it); each use is said on stderr. None found: refuse (exit 2).
    """
    import httpx
    from prefect.settings import PREFECT_API_URL

    from certops.renewal.server import discovered_servers, runtime_dir

    if PREFECT_API_URL.value():
        return [None]
    live = []
    for ann in discovered_servers():
        try:
            if httpx.get(f"{ann.api_url}/health", timeout=5.0).status_code == 200:
                live.append(ann)
        except httpx.HTTPError:
            continue
    if not live:
        _err(NO_SERVER.format(folder=runtime_dir()))
        raise typer.Exit(EXIT_BAD_INPUT)
    if run is not None:
        holding = []
        for ann in live:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{ann.api_url}/flow_runs/{run}", timeout=5.0).status_code == 200:
                    holding.append(ann)
        live = holding or live[:1]
    for ann in live:
        _err(f"PREFECT_API_URL is not set: using {ann.describe()}")
    return [ann.api_url for ann in live]


@contextlib.contextmanager
def _using_server(url: str | None) -> Iterator[None]:
    """Point Prefect (this context and new threads) at ``url`` for the duration; None: leave it as set."""
    if url is None:
        yield
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


def _on_run_server(command: Any) -> Any:
    """Run an approver command (``run`` argument) against the Prefect server that holds that run."""
    import functools

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        (url,) = _approver_servers(str(kwargs.get("run")))[:1]
        with _using_server(url):
            return command(*args, **kwargs)

    return wrapper


def _run_error_code(exc: Exception) -> int:
    """Exit 2 (bad input) when the run id given names no flow run on the server; 1 for any other refusal."""
    message = str(getattr(exc, "message", exc))
    return EXIT_BAD_INPUT if message.startswith("no flow run ") else EXIT_FAILED


def _ca_request(unit: str, csrs: dict[str, str]) -> str:
    """The exact KU, EKU and basic constraints ``unit`` needs (``certops.x509.usages.ca_request``)."""
    from certops.errors import CertopsError
    from certops.x509.read import read_csr
    from certops.x509.usages import ca_request

    try:
        csr = read_csr(next(iter(csrs.values())).encode()) if csrs else None
    except CertopsError:
        csr = None
    return ca_request(unit, csr)


@app.command("pending")
def pending_cmd(as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False) -> None:
    """List the renewal runs awaiting approval (cluster, unit, nodes, since, deadline, CSR files, commands)."""
    from flows.approval import pending_approvals

    runs = []
    for url in _approver_servers():
        with _using_server(url):
            runs += pending_approvals()
    if as_json:
        for p in runs:
            typer.echo(p.model_dump_json(exclude={"csrs"}))
        raise typer.Exit(EXIT_OK)
    if not runs:
        typer.echo("no renewal is waiting for approval")
        raise typer.Exit(EXIT_OK)
    for p in runs:
        since = f"{p.since:%Y-%m-%d %H:%M}" if p.since else "?"
        deadline = f"{p.deadline:%Y-%m-%d %H:%M}" if p.deadline else "none"
        typer.echo(
            f"{p.run_id}  {p.cluster}  {p.unit}  waits for {p.waiting_for}  since {since} UTC  "
            f"deadline {deadline} UTC  nodes: {', '.join(p.nodes)}"
        )
        if p.waiting_for != "chain":
            continue
        for node in p.nodes:
            typer.echo(f"    CSR of {node}: {p.csr_files.get(node, '(no file written: use certops csr)')}")
        typer.echo(f"    write the CSRs here: certops csr {p.run_id} --dir DIR")
        typer.echo(f"    ask the CA for: {_ca_request(p.unit, p.csrs)}")
        typer.echo(
            f"    approve: certops approve {p.run_id} --chain SIGNED.pem INTERMEDIATE.pem ROOT.pem --approver YOUR_NAME"
        )


@app.command("csr")
@_on_run_server
def csr_cmd(
    run: Annotated[str, typer.Argument(help="the flow run id (certops pending)")],
    directory: Annotated[Path, typer.Option("--dir", help="where to write the CSR files")] = Path("."),
) -> None:
    """Write the CSRs a run waits to have signed (one file per node, named after node and unit) and what to ask."""
    from certops.ca.manual import ManualCa, what_to_ask_the_ca
    from certops.errors import CertopsError
    from flows.approval import pending_approval

    try:
        pending = pending_approval(run)
    except CertopsError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(_run_error_code(exc)) from None
    if pending.waiting_for != "chain" or not pending.csrs:
        _err(f"error: run {run} ({pending.cluster} {pending.unit}) waits for {pending.waiting_for}, not a signed chain")
        raise typer.Exit(EXIT_FAILED)
    writer = ManualCa(csr_directory=directory)
    for node in pending.nodes:
        try:
            path = writer.write_csr(pending.csrs[node], unit=pending.unit, node=node, cluster=pending.cluster)
        except CertopsError as exc:
            _err(f"error: {node} [{pending.unit}]: {exc}")
            raise typer.Exit(EXIT_FAILED) from None
        except OSError as exc:
            _err(f"error: cannot write the CSR of {node} in {directory}: {exc.strerror}; choose another --dir")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        typer.echo(f"{node}: {path.resolve()}")
    typer.echo(f"ask the CA for ({pending.unit} on cluster {pending.cluster}):")
    for line in what_to_ask_the_ca(pending.unit, pending.csrs):
        typer.echo(f"  {line}")
    typer.echo(f"then: certops approve {run} --chain SIGNED.pem INTERMEDIATE.pem ROOT.pem --approver YOUR_NAME")


@app.command("approve")
@_on_run_server
def approve_cmd(
    run: Annotated[str, typer.Argument(help="the flow run id (certops pending)")],
    chain: Annotated[list[Path], typer.Option("--chain", help="signed certificate(s) and chain files, any format")],
    approver: Annotated[str, typer.Option("--approver", help="your name")],
    more: Annotated[list[Path] | None, typer.Argument(metavar="[FILE ...]", help="more chain files")] = None,
    comment: Annotated[str, typer.Option("--comment", help="why")] = "",
) -> None:
    """Check the signed chain locally against the run's CSRs, then resume the run with it.

    ``--chain leaf.pem intermediate.pem root.pem`` and repeated ``--chain`` both work. Every check
    of the flow runs here first (whole chain, one leaf per node, tls.ca_bundle); a refused chain is
    never sent, so the run keeps waiting: exit 1 for a refused chain, 2 for unreadable files.
    """
    from certops.errors import CertificateError, CertopsError
    from flows.approval import approve_checked

    chain = [*chain, *(more or [])]

    try:
        blobs = [p.read_bytes() for p in chain]
        found = approve_checked(run, blobs, [str(p) for p in chain], approver=approver, comment=comment)
    except OSError as exc:
        _err(f"error: cannot read {exc.filename}: {exc.strerror}; nothing was sent, run {run} keeps waiting")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except CertificateError as exc:
        _err(f"error: {exc}. Nothing was sent: run {run} keeps waiting")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except CertopsError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(_run_error_code(exc)) from None
    for note in found.notes:
        _err(f"note: {note}")
    if found.problems:
        _err(f"the chain was NOT sent to the run (run {run} keeps waiting); fix these first:")
        for p in found.problems:
            _err(f"  - {p}")
        raise typer.Exit(EXIT_FAILED)
    typer.echo(f"approved: run {run} resumes with the chain (approver {approver})")


@app.command("deny")
@_on_run_server
def deny_cmd(
    run: Annotated[str, typer.Argument(help="the flow run id (certops pending)")],
    reason: Annotated[str, typer.Option("--reason", help="why (recorded in the audit log and report)")],
    approver: Annotated[str | None, typer.Option("--approver", help="your name (default: $USER)")] = None,
) -> None:
    """End a run awaiting approval: nothing is uploaded, the reason is recorded, the run ends Cancelled."""
    from certops.errors import CertopsError
    from flows.approval import deny_run

    who = approver or getpass.getuser()
    try:
        deny_run(run, approver=who, reason=reason)
    except CertopsError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(_run_error_code(exc)) from None
    typer.echo(f"denied: run {run} ends without uploading anything ({who}: {reason})")
