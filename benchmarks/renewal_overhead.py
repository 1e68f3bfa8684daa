"""Orchestration overhead of a renewal: every unit on a 6-node simulated cluster, judged by the simulator.

CUCM's own waits are what the simulator makes a client wait for and no client can avoid: each
service restart (``restart_seconds``; Cisco Tomcat ``tomcat_restart_seconds``), the phones'
re-registration after the reset (``reregister_seconds``) and the CLI's slow start after an SSH
login (``cli_banner_seconds``), counted once per node that needs the CLI — a second login on
the same node is the client's cost, not CUCM's — and the nodes' own making of the key and CSR
(the "keygen" column: how long the simulator took for each, overlapping ones counted once; on a
real node an RSA key takes as long or longer). Logins that start together (the preflight logs in
on every node at once) wait out their banners together: the "path" columns count the banner once
per such wave of logins, the waits on the critical path, and wall / path is the honest overhead
figure (the per-node "waits" count stays for comparison with earlier runs). The first unit
pays no one-time costs of a fresh process that ``certops renew`` pays while its embedded server
starts (the modules of a run, ``flows.machinery``; the server's first API answer, part of its start
``certops.renewal.server``): the figures are the renewal's own. The script renews
each unit with the lab CA on a real Prefect server (embedded, 127.0.0.1), with the default
``RenewalSettings`` (production polls), and prints per unit: wall time, CUCM's waits, the overhead
(wall - waits) as a ratio of the waits, the waits on the critical path and wall / path (the
"within 1.10x" figure), the SSH logins per node (most on one node,
and in all) and the RisPort70 requests and ``Server.RateControl`` refusals, all read from the
simulator's event log, and the polling slack: how long after the simulator finished a restart,
or the last phone re-registered, certops noticed it (the status look or RisPort70 read that saw it),
and the TLS connections the nodes accepted on HTTPS and SOAP ("https") and the reads of all of a
node's certificates they answered ("reads": certmgr ``GET /snapshot/server``; both in-process
simulator only).

"budget s" is how long the run's RisPort70 requests slept until they fitted in the cluster's
budget (certops's share of the 15 requests a minute CUCM allows all clients together:
``ris_requests_per_minute``, 10 by default). A run sleeps there only when the runs before it used
the budget up within the last minute, as back-to-back passes of the short units do (``--units
ipsec CAPF TVS --repeat 3``: the third TVS). That is CUCM's limit at work, not orchestration, yet
it stays in wall / path, in full or in part: a sleep during the preflight's CLI banners is not on
the critical path.

    .venv/bin/python benchmarks/renewal_overhead.py [--cli-banner-seconds 2] [--restart-seconds 1.0]
        [--units tomcat CAPF ...] [--repeat 3]

``--repeat N`` renews the whole set N times, one pass after another, and ends with each unit's
median wall / path and its range: a figure is worth as much as the spread of its runs.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import contextvars
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks.sim_process, as the other benchmarks

UNITS = ["tomcat", "tomcat-ECDSA", "ipsec", "CAPF", "CallManager", "CallManager-ECDSA", "TVS"]


def _t(event: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


class _Looks:
    """Wall-clock times at which certops saw a restart finished / the phones back (benchmark-only wrappers)."""

    def __init__(self, phones: int) -> None:
        self.phones = phones
        self.lock = threading.Lock()
        self.started: list[tuple[float, str, str]] = []  # (time, node, service) of each look that saw Started
        self.phones_back: list[float] = []
        self.budget_waits: list[tuple[float, float]] = []  # (time, seconds slept) of each RisPort70 budget take

    def budget_waited(self, since: float) -> float:
        """Seconds the RisPort70 requests since ``since`` slept until they fitted in the cluster's budget."""
        with self.lock:
            return sum(w for t, w in self.budget_waits if t >= since)

    def install(self) -> None:
        import tasks.ris_budget
        from certops.models import ServiceState
        from certops.renewal import steps

        take_slots = tasks.ris_budget.take_slots

        def taken(*a: Any, **kw: Any) -> float:
            slept = take_slots(*a, **kw)  # the seconds it slept until the request fitted
            with self.lock:
                self.budget_waits.append((time.time(), slept))
            return slept

        tasks.ris_budget.take_slots = taken

        status_of = steps._status_of
        read = steps.read_registered_phones

        def looked(api: Any, name: str, via: Any) -> Any:
            got = status_of(api, name, via)
            if got is not None and got.state is ServiceState.STARTED:
                with self.lock:
                    self.started.append((time.time(), api.fqdn, name))
            return got

        def counted(*a: Any, **kw: Any) -> Any:
            pc = read(*a, **kw)
            if pc.registered >= self.phones:
                with self.lock:
                    self.phones_back.append(time.time())
            return pc

        steps._status_of = looked  # type: ignore[assignment]
        steps.read_registered_phones = counted  # type: ignore[assignment]


def _login_waves(events: list[dict[str, Any]], banner: float) -> int:
    """Logins that wait out their CLI banners together count once: a wave is the logins that start
    within one banner of the wave's first (the preflight logs in on every node at once)."""
    waves, start = 0, None
    for t in sorted(_t(e) for e in events if e["operation"] == "ssh_login"):
        if start is None or t - start >= banner:
            waves, start = waves + 1, t
    return waves


class _SimProcess:
    """``certops sim`` in its own process (``benchmarks.sim_process``), read as a ``SimulatedFleet`` is:
    events (from its events.jsonl), CA bundle, inventory."""

    def __init__(self, args: argparse.Namespace, state_dir: Path) -> None:
        self.state_dir, self.args = state_dir, args
        self.inventory_path = state_dir.parent / "sim-inventory.yaml"
        self._running = contextlib.ExitStack()

    def __enter__(self) -> _SimProcess:
        from benchmarks.sim_process import certops_sim

        a = self.args
        options = ["--nodes", "6", "--phones", str(a.phones), "--restart-seconds", str(a.restart_seconds)]
        options += ["--tomcat-restart-seconds", str(a.tomcat_restart_seconds)]
        options += ["--reregister-seconds", str(a.reregister_seconds), "--banner-seconds", str(a.cli_banner_seconds)]
        self._running.enter_context(certops_sim(options, self.inventory_path, self.state_dir))
        return self

    def __exit__(self, *exc: object) -> None:
        self._running.close()

    @property
    def ca_bundle_path(self) -> Path:
        return self.state_dir / "ca-bundle.pem"

    def inventory_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(self.inventory_path.read_text())
        return data

    def events(self) -> list[dict[str, Any]]:
        lines = (self.state_dir / "events.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def https_connections(self) -> dict[str, int] | None:
        return None  # its admin endpoint's address is not written down: the column says "-"

    def certmgr_requests(self) -> collections.Counter[tuple[str, str]] | None:
        return None  # as above: the "reads" column says "-"


def _connections(fleet: Any) -> int | None:
    """TLS connections the simulator's nodes accepted on HTTPS and SOAP so far (None: not known)."""
    counts = fleet.https_connections()
    return None if counts is None else sum(counts.values())


def _snapshots(fleet: Any) -> int | None:
    """Reads of every certificate of a node (certmgr ``GET /snapshot/server``) the nodes answered so far."""
    counts = fleet.certmgr_requests()
    return None if counts is None else counts[("GET", "/snapshot/server")]


def _keygen(events: list[dict[str, Any]]) -> float:
    """Seconds during which some node was making a key and CSR (the simulator's ``csr_generated``
    events carry how long each took): the nodes make theirs at once, so overlapping ones count once."""
    spans = sorted(
        (_t(e) - float(e["detail"].get("seconds", 0.0)), _t(e)) for e in events if e["operation"] == "csr_generated"
    )
    total, end = 0.0, float("-inf")
    for a, b in spans:
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def _slack(events: list[dict[str, Any]], looks: _Looks, since: float) -> tuple[float, float]:
    """Seconds between CUCM being done and certops seeing it: (restarts: the first Started look after
    each finish, phones: the first full count after the last re-registration).

    With Phone Interaction automatic the phones also reset themselves after restarts, while certops
    is not waiting for them yet: the phones' figure then counts from a re-registration it never waited for."""
    total, phones_slack = 0.0, 0.0
    with looks.lock:
        started = [x for x in looks.started if x[0] >= since]
        phones = [x for x in looks.phones_back if x >= since]
    for e in events:
        if e["operation"] != "service_restart_finished":
            continue
        done = _t(e)
        seen = [x[0] for x in started if x[1] == e["node"] and x[2] == e["service"] and x[0] >= done - 0.05]
        if seen:
            total += max(0.0, min(seen) - done)
    back = [_t(e) for e in events if e["operation"] == "phone_registered"]
    if back and phones:
        last = max(back)
        seen_back = [x for x in phones if x >= last - 0.05]
        if seen_back:
            phones_slack = max(0.0, min(seen_back) - last)
    return total, phones_slack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli-banner-seconds", type=float, default=2.0)
    parser.add_argument("--restart-seconds", type=float, default=1.0)
    parser.add_argument("--tomcat-restart-seconds", type=float, default=2.0)
    parser.add_argument("--reregister-seconds", type=float, default=2.0)
    parser.add_argument("--phones", type=int, default=50)
    parser.add_argument("--units", nargs="*", default=UNITS)
    parser.add_argument(
        "--settings", default="{}", help="JSON of RenewalSettings fields over the defaults (default: none)"
    )
    parser.add_argument("--phases", action="store_true", help="also print each unit's time per phase")
    parser.add_argument(
        "--sim-process",
        action="store_true",
        help="run the simulator as 'certops sim' in its own process (its CPU is then not the client's)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="renew the whole set this many times, one pass after another"
    )
    parser.add_argument("--events", type=Path, help="write the simulator's event log of every run here (JSON lines)")
    args = parser.parse_args()

    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from certops.ca.local import LabCa
    from certops.renewal.server import PrefectServerProcess
    from certops.renewal.settings import RenewalSettings
    from simulator.fleet import SimulatedFleet
    from simulator.options import FleetOptions

    work = Path(tempfile.mkdtemp(prefix="certops-bench-"))
    os.environ.update(
        {
            "CUCM_SIM_OS_PASSWORD": "bench-os",
            "CUCM_SIM_APP_PASSWORD": "bench-app",
            "CERTOPS_STATE_DIR": str(work / "state"),
            "CERTOPS_AUDIT_LOG": str(work / "audit.jsonl"),
            "CERTOPS_LOCK_DIR": str(work / "locks"),
        }
    )
    opts = FleetOptions(
        nodes=6,
        password="bench-os",
        app_password="bench-app",
        restart_seconds=args.restart_seconds,
        tomcat_restart_seconds=args.tomcat_restart_seconds,
        reregister_seconds=args.reregister_seconds,
        phones_per_cluster=args.phones,
        cli_banner_seconds=args.cli_banner_seconds,
        state_dir=work / "sim",
    )
    settings = RenewalSettings.model_validate_json(args.settings)  # production polls unless told otherwise
    looks = _Looks(args.phones)
    looks.install()
    t_server = time.monotonic()
    fleet_cm: Any = _SimProcess(args, work / "sim") if args.sim_process else SimulatedFleet(opts)
    with fleet_cm as fleet, PrefectServerProcess(home=work / "prefect", startup_timeout=600) as server:
        print(f"prefect server start: {time.monotonic() - t_server:.1f} s (not counted below)")
        print(
            f"simulator ({'its own process' if args.sim_process else 'in this process'}): 6 nodes, "
            f"restarts {args.restart_seconds:g} s "
            f"(Cisco Tomcat {args.tomcat_restart_seconds:g} s), "
            f"phones {args.phones} re-register after {args.reregister_seconds:g} s, CLI banner "
            f"{args.cli_banner_seconds:g} s; settings: defaults{' + ' + args.settings if args.settings != '{}' else ''}"
        )
        lab = LabCa(work / "lab-ca")
        with fleet.ca_bundle_path.open("a") as fh:
            fh.write(lab.root_pem)
        inv = fleet.inventory_dict()
        inv["ca_backends"] = {"lab": {"type": "lab", "directory": str(work / "lab-ca")}}
        inv["defaults"]["ca"] = "lab"
        path = work / "inventory.yaml"
        path.write_text(yaml.safe_dump(inv, sort_keys=False))
        with temporary_settings(updates={PREFECT_API_URL: server.api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            from flows.machinery import load_run_machinery
            from flows.renew import renew

            load_run_machinery()  # as certops renew does while its server starts (flows.machinery)

            ratios: dict[str, list[float]] = collections.defaultdict(list)
            sets: list[float] = []
            for rep in range(args.repeat):
                if args.repeat > 1:
                    print(f"pass {rep + 1} of {args.repeat}")
                print(
                    f"{'unit':18} {'nodes':>5} {'wall s':>7} {'waits s':>8} {'over s':>7} {'wall/waits':>10} "
                    f"{'keygen s':>8} {'path s':>7} {'wall/path':>9} {'logins/node':>11} {'logins':>6} {'ris':>4} "
                    f"{'ratectl':>7} {'budget s':>8} "
                    f"{'slack s':>7} {'restarts':>8} {'phones':>6} {'https':>5} {'reads':>5}"
                )
                tot = collections.Counter()
                for unit in args.units:
                    mark = len(fleet.events())
                    conns = _connections(fleet)
                    snaps = _snapshots(fleet)
                    since = time.time()
                    t0 = time.monotonic()
                    report = contextvars.copy_context().run(renew, str(path), "c1", unit, settings=settings)
                    wall = time.monotonic() - t0
                    events = fleet.events()[mark:]
                    after = _connections(fleet)
                    https = "-" if conns is None or after is None else str(after - conns)
                    snaps_after = _snapshots(fleet)
                    reads = "-" if snaps is None or snaps_after is None else str(snaps_after - snaps)
                    if args.events:
                        with args.events.open("a") as fh:
                            fh.writelines(json.dumps({"run_unit": unit, **e}, default=str) + "\n" for e in events)
                    restarts = sum(
                        float(e["detail"]["seconds"]) for e in events if e["operation"] == "service_restart_started"
                    )
                    phones = args.reregister_seconds if any(e["operation"] == "phone_reset" for e in events) else 0.0
                    logins = collections.Counter(e["node"] for e in events if e["operation"] == "ssh_login")
                    banner = args.cli_banner_seconds * len(logins)  # one login per node is CUCM's cost
                    waits = restarts + phones + banner
                    keygen = _keygen(events)
                    on_path = (
                        restarts
                        + phones
                        + keygen
                        + args.cli_banner_seconds * _login_waves(events, args.cli_banner_seconds)
                    )
                    ris = sum(1 for e in events if e["operation"] == "ris_request")
                    ratectl = sum(1 for e in events if e["operation"] == "ris_rate_limited")
                    budget = looks.budget_waited(since)
                    restart_slack, phone_slack = _slack(events, looks, since)
                    slack = restart_slack + phone_slack
                    over = wall - waits
                    tot.update(
                        {
                            "wall": wall,
                            "waits": waits,
                            "path": on_path,
                            "keygen": keygen,
                            "logins": sum(logins.values()),
                            "ris": ris,
                            "ratectl": ratectl,
                            "budget": budget,
                        }
                    )
                    tot["slack"] += slack
                    tot["restart_slack"] += restart_slack
                    tot["phone_slack"] += phone_slack
                    tot["max_login"] = max(tot["max_login"], max(logins.values(), default=0))
                    print(
                        f"{unit:18} {len(report.nodes):5d} {wall:7.1f} {waits:8.1f} {over:7.1f} {wall / waits:10.2f} "
                        f"{keygen:8.1f} {on_path:7.1f} {wall / on_path:9.2f} "
                        f"{max(logins.values(), default=0):11d} {sum(logins.values()):6d} {ris:4d} {ratectl:7d} "
                        f"{budget:8.1f} {slack:7.1f} {restart_slack:8.1f} {phone_slack:6.1f} {https:>5} {reads:>5}"
                    )
                    ratios[unit].append(wall / on_path)
                    if args.phases:
                        print("    phases: " + ", ".join(f"{k} {v:.1f}" for k, v in report.timings.items()))
                print(
                    f"{'all':18} {'':5} {tot['wall']:7.1f} {tot['waits']:8.1f} {tot['wall'] - tot['waits']:7.1f} "
                    f"{tot['wall'] / tot['waits']:10.2f} {tot['keygen']:8.1f} {tot['path']:7.1f} "
                    f"{tot['wall'] / tot['path']:9.2f} "
                    f"{tot['max_login']:11d} {tot['logins']:6d} {tot['ris']:4d} "
                    f"{tot['ratectl']:7d} {tot['budget']:8.1f} {tot['slack']:7.1f} "
                    f"{tot['restart_slack']:8.1f} {tot['phone_slack']:6.1f}"
                )
                sets.append(tot["wall"] / tot["path"])
            if args.repeat > 1:
                print(f"wall / path over {args.repeat} passes: median (lowest-highest)")
                for unit, got in [*ratios.items(), ("all", sets)]:
                    print(f"{unit:18} {statistics.median(got):5.2f} ({min(got):.2f}-{max(got):.2f})")
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=10)  # the runs' last logs reach the server before it stops


if __name__ == "__main__":
    main()
