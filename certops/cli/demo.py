"""``certops demo``: the whole story on a simulated cluster, a lab CA and an embedded Prefect server.

A simulated CUCM cluster (publisher, subscriber, IM&P), a lab CA, a local Slack stand-in and a
real Prefect server, all on 127.0.0.1: the expiry scan (table and picture), tomcat renewed on
every node through an approval given by a simulated approver, then CallManager and TVS started at
the same moment, one waiting for the other (shown from the simulator's event log).

What a person looks at afterwards stays in ``--dir``: the inventory (with copies of the CA bundle
and known_hosts it names, so it still loads after the simulator is gone), the scan files, the
audit log and the renewal state. Everything else lives in a scratch folder that is removed when
the demo ends, also when it is stopped with Ctrl-C or SIGTERM (``--keep`` waits for either);
the Prefect server ends with it.

Exit codes: 0 every renewal completed without overlap, 1 otherwise, 130/143 interrupted before the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from certops.cli._app import app

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every context manager cleans up."""


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While inside: SIGTERM raises ``_Terminated`` (main thread only; elsewhere nothing changes)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _drain_prefect() -> None:
    from certops.cli.renew import _drain_prefect as drain

    drain()


@app.command("demo")
def demo_cmd(
    keep: Annotated[
        bool, typer.Option("--keep", help="keep the Prefect server running until Ctrl-C or SIGTERM")
    ] = False,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="where the scan report, picture, audit log and inventory go (default: new temp dir)"
        ),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="shorter simulated waits (restarts, phone re-registration, polls)")
    ] = False,
) -> None:
    """Simulated cluster + lab CA + Prefect + local Slack: scan, then renew tomcat with an approver, then CM and TVS."""
    raise typer.Exit(run_demo(keep=keep, directory=directory, quick=quick))


def run_demo(*, keep: bool = False, out: Any = None, directory: Path | None = None, quick: bool = False) -> int:
    """The demo; returns the exit code.

    The results a person looks at afterwards (inventory, scan JSON/Markdown/PNG/SVG, audit log,
    renewal state) stay in ``directory`` (default: a new temporary directory, printed at the end);
    the simulator, lab CA and Prefect server live in a scratch directory that is removed.
    """
    import shutil
    import tempfile

    out = out or sys.stdout
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="certops-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="certops-demo-run-"))
    saved = {k: os.environ.get(k) for k in _DEMO_ENV}
    try:
        with _sigterm_unwinds():
            return _demo(directory.resolve(), scratch, keep=keep, out=out, quick=quick)
    except _Terminated:
        _say(out, "certops demo: stopped (SIGTERM); server and simulator stopped, scratch folder removed")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        _say(out, "certops demo: stopped (Ctrl-C); server and simulator stopped, scratch folder removed")
        return EXIT_INTERRUPTED
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(scratch, ignore_errors=True)


_DEMO_ENV = (
    "CUCM_SIM_OS_PASSWORD",
    "CUCM_SIM_APP_PASSWORD",
    "CERTOPS_STATE_DIR",
    "CERTOPS_AUDIT_LOG",
    "CERTOPS_DEMO_SLACK_TOKEN",
    "PREFECT_API_URL",
    "CERTOPS_LOCK_DIR",
)
DEMO_CHANNEL = "#uc-certs"


def _say(out: Any, text: str) -> None:
    out.write(text + "\n")
    out.flush()


def _demo(work: Path, scratch: Path, *, keep: bool, out: Any, quick: bool) -> int:
    import shutil
    import threading
    import time

    import yaml

    from certops.ca.local import LabCa
    from certops.renewal.server import PrefectServerProcess
    from certops.renewal.settings import RenewalSettings
    from simulator.fleet import SimulatedFleet
    from simulator.options import FleetOptions
    from simulator.slack import SlackServer

    t0 = time.monotonic()
    os.environ.update(
        {
            "CUCM_SIM_OS_PASSWORD": "demo-" + os.urandom(6).hex(),
            "CUCM_SIM_APP_PASSWORD": "demo-" + os.urandom(6).hex(),
            "CERTOPS_STATE_DIR": str(work / "state"),
            "CERTOPS_AUDIT_LOG": str(work / "audit.jsonl"),
            "CERTOPS_DEMO_SLACK_TOKEN": "xoxb-demo-" + os.urandom(8).hex(),
            "CERTOPS_LOCK_DIR": str(scratch / "locks"),  # its own host locks: its cluster is its own
        }
    )
    options = FleetOptions(
        clusters=1,
        nodes=3,
        username="admin",
        password=os.environ["CUCM_SIM_OS_PASSWORD"],
        app_password=os.environ["CUCM_SIM_APP_PASSWORD"],
        restart_seconds=0.2 if quick else 0.5,
        tomcat_restart_seconds=0.3 if quick else 1.0,
        phones_per_cluster=20,
        reregister_seconds=0.3 if quick else 1.0,
        cli_banner_seconds=0.0,
        state_dir=scratch / "sim",
    )
    _say(out, "certops demo: a simulated CUCM cluster (1 publisher, 1 subscriber, 1 IM&P), a lab CA, Prefect, Slack")
    with (
        SimulatedFleet(options) as fleet,
        SlackServer(token=os.environ["CERTOPS_DEMO_SLACK_TOKEN"]) as slack,
        PrefectServerProcess(home=scratch / "prefect") as server,
    ):
        # threads without the settings context (Prefect's own, the scan's node readers) read the
        # environment; set it before Prefect is first imported, or they start a second, ephemeral server
        os.environ["PREFECT_API_URL"] = server.api_url
        from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        lab = LabCa(scratch / "lab-ca", name="lab")
        with fleet.ca_bundle_path.open("a") as fh:
            fh.write(lab.root_pem)  # the nodes serve lab-signed certificates after the renewal
        inv = fleet.inventory_dict()
        # the inventory kept in --dir names copies in --dir, not files of the scratch folder
        pki = work / "pki"
        pki.mkdir(exist_ok=True)
        for key, section, src in (
            ("ca_bundle", "tls", fleet.ca_bundle_path),
            ("known_hosts", "ssh", fleet.known_hosts_path),
        ):
            kept = pki / src.name
            shutil.copyfile(src, kept)
            inv["defaults"][section][key] = str(kept)
        inv["ca_backends"] = {"manual": {"type": "manual", "instructions": "the demo's lab CA (a simulated approver)"}}
        inv["defaults"]["ca"] = "manual"
        inv["notifications"] = {
            "slack": {
                "token_env": "CERTOPS_DEMO_SLACK_TOKEN",
                "channel": DEMO_CHANNEL,
                "base_url": slack.api_url,
                "ui_url": server.ui_url,
            }
        }
        inventory = work / "inventory.yaml"
        inventory.write_text(yaml.safe_dump(inv, sort_keys=False))
        _say(out, f"simulator up; inventory {inventory}")
        _say(out, f"Prefect UI {server.ui_url}; local Slack server {slack.url} (channel {DEMO_CHANNEL})")
        settings = RenewalSettings(
            lock_poll=0.5 if quick else 1.0,
            restart_poll=0.1 if quick else 0.3,
            registration_interval=0.5 if quick else 4.0,
            approval_poll_interval=1,
            phone_batch_pause=0.0 if quick else 0.5,
            phone_batch_size=10,
        )
        stop = threading.Event()
        approvals: list[str] = []
        with temporary_settings(updates={PREFECT_API_URL: server.api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            import contextvars

            files = _demo_scan(inventory, work / "scan", out)
            approver = threading.Thread(
                target=contextvars.copy_context().run, args=(_approver, lab, stop, approvals, out), daemon=True
            )
            approver.start()
            try:
                ok = _demo_renewals(fleet, inventory, settings, out)
            finally:
                stop.set()
                approver.join(timeout=10)
                _drain_prefect()
        _say(out, "")
        _say(out, f"approvals given by the simulated approver: {len(approvals)}")
        _print_slack(slack, out)
        _say(out, "")
        _say(out, "where things are:")
        _say(out, f"  scan report (JSON):       {files.json_path}")
        _say(out, f"  scan table (Markdown):    {files.markdown_path}")
        _say(out, f"  expiry timeline:          {files.png_path}  and  {files.svg_path}")
        _say(out, f"  audit log:                {work / 'audit.jsonl'} ({_lines(work / 'audit.jsonl')} records)")
        _say(out, f"  renewal state / history:  {work / 'state'}")
        _say(out, f"  inventory:                {inventory}")
        _say(
            out,
            f"  Prefect UI (runs, approval forms, report artifacts): {server.ui_url}"
            + ("" if keep else "  (stopped with the demo; --keep keeps it running)"),
        )
        _say(out, f"demo took {time.monotonic() - t0:.0f} s")
        if keep:
            _wait_until_stopped(out)
    return EXIT_OK if ok else EXIT_FAILED


def _wait_until_stopped(out: Any) -> None:
    """``--keep``: say the server keeps running, then wait for Ctrl-C or SIGTERM and say it stops.

    The line is printed inside the waiting block, so a signal sent as soon as someone reads it
    still ends the wait cleanly (exit 0) instead of interrupting the demo (exit 143).
    """
    import time

    with contextlib.suppress(KeyboardInterrupt, _Terminated):
        _say(out, "the Prefect server keeps running; Ctrl-C to stop")
        while True:
            time.sleep(1)
    _say(out, "stopping the Prefect server")


def _lines(path: Path) -> int:
    try:
        with path.open() as fh:
            return sum(1 for _ in fh)
    except OSError:
        return 0


def _demo_scan(inventory: Path, directory: Path, out: Any) -> Any:
    """Run the scan flow (no renewals started): print its table and where the picture is; return its files."""
    from certops.due import DuePlan
    from certops.report.table import console as table_console
    from certops.report.table import rich_table, summary
    from flows.scan import scan

    _say(out, "")
    _say(out, "1) the expiry scan: every certificate on every node, sorted by days left")
    result = scan(str(inventory), start_renewals=False, output_dir=str(directory), remind_within_hours=0)
    plan = DuePlan.model_validate_json(Path(result.files.json_path).read_text())
    table_console(out).print(rich_table(plan))
    _say(out, "   " + summary(plan))
    for c in plan.start:
        _say(out, f"   due: {c.cluster} {c.unit} on {', '.join(c.nodes)} ({c.days_left} days left)")
    for c in plan.queued:
        _say(out, f"   queued: {c.cluster} {c.unit} after {c.queued_behind} (never at the same time)")
    _say(out, f"   expiry timeline picture: {result.files.png_path}")
    _say(out, f"                            {result.files.svg_path}")
    slack = result.slack
    if slack is not None:
        _say(out, "   Slack: scan summary " + ("posted" if slack.delivered else f"NOT delivered: {slack.error}"))
    return result.files


def _print_slack(slack: Any, out: Any) -> None:
    """What the local Slack server received: top-level messages, each with its thread's replies and files."""
    messages = list(slack.messages)
    _say(out, "")
    _say(out, f"Slack: {len(messages)} messages received by the local Slack server")
    top = [m for m in messages if m.thread_ts is None]
    for m in top:
        _say(out, f"  {m.channel or 'webhook'}  {_first_line(m)}")
        for reply in (r for r in messages if r.thread_ts == m.ts):
            _say(out, f"      └ in thread: {_first_line(reply)}")
    orphans = [m for m in messages if m.thread_ts is not None and m.thread_ts not in {t.ts for t in top}]
    for m in orphans:
        _say(out, f"  {m.channel or 'webhook'}  (reply to {m.thread_ts}) {_first_line(m)}")


def _first_line(m: Any) -> str:
    if m.files:
        return "file " + ", ".join(str(f.get("name")) for f in m.files)
    text = (m.text or m.all_text()).strip()
    first = text.splitlines()[0] if text else "(no text)"
    return first if len(first) <= 130 else first[:129] + "…"


def _approver(lab: Any, stop: Any, approvals: list[str], out: Any) -> None:
    """A person at the CA: takes each pending run's CSRs to the lab CA and approves with the chain."""

    from flows.approval import approve_run, pending_approvals

    while not stop.is_set():
        for p in pending_approvals():
            if p.run_id in approvals or p.waiting_for != "chain":
                continue
            blobs: list[bytes] = []
            for pem in p.csrs.values():
                signed = lab.sign(pem, p.unit)
                blobs.append(signed.leaf_pem.encode())
            blobs += [lab.intermediate_pem.encode(), lab.root_pem.encode()]
            problems = approve_run(
                p.run_id,
                blobs,
                [f"cert{i}.pem" for i in range(len(blobs))],
                approver="demo-approver",
                comment="signed by the lab CA",
            )
            approvals.append(p.run_id)
            _say(
                out,
                f"  approver: {p.unit} on {', '.join(p.nodes)} -> " + ("approved" if not problems else f"{problems}"),
            )
        stop.wait(1.0)


def _demo_renewals(fleet: Any, inventory: Path, settings: Any, out: Any) -> bool:
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    from flows.renew import renew

    _say(out, "")
    _say(out, "2) tomcat on every node (publisher first), signed through an approval:")
    report: Any = renew(str(inventory), "c1", "tomcat", settings=settings)
    _say(out, report.to_text())
    mark = len(fleet.events())
    _say(out, "")
    _say(out, "3) CallManager and TVS started at the same moment: one waits for the other")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futs = {
            u: pool.submit(contextvars.copy_context().run, renew, str(inventory), "c1", u, settings=settings)
            for u in ("CallManager", "TVS")
        }
        reports: dict[str, Any] = {u: f.result() for u, f in futs.items()}
    for r in reports.values():
        _say(out, r.to_text())
    spans = _spans(fleet.events()[mark:])
    for unit, (start, end) in spans.items():
        _say(out, f"  simulator event log: {unit:12} first CSR {start[11:23]}  ->  phones re-registered {end[11:23]}")
    ordered = sorted(spans.values())
    overlap = len(ordered) == 2 and ordered[1][0] < ordered[0][1]
    _say(
        out,
        "  overlap: "
        + (
            "YES (this must never happen)"
            if overlap
            else "none: the second started after the first finished, phones re-registered"
        ),
    )
    return report.status == "completed" and all(r.status == "completed" for r in reports.values()) and not overlap


def _spans(events: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """(first CSR, last phone re-registration before the other unit's first CSR) per unit, from the event log."""
    spans: dict[str, list[str]] = {}
    current: str | None = None
    for e in events:
        if e["operation"] == "csr_generated" and e["unit"] != current:
            current = e["unit"]
            spans.setdefault(current, [e["time"], e["time"]])
        if current and e["operation"] == "phone_registered":
            spans[current][1] = e["time"]
    return {u: (s[0], s[1]) for u, s in spans.items()}
