"""Orchestration overhead of a renewal: every unit on a 6-node simulated cluster.

The simulator's waits are known (each service restart takes ``restart_seconds`` — Cisco Tomcat
``tomcat_restart_seconds`` — and phones re-register ``reregister_seconds`` after a reset), and
the event log says how many restarts happened. The script renews each unit with the lab CA on a
real Prefect server (embedded, 127.0.0.1) and prints, per unit, the wall time, the simulated
waits inside it, and the overhead (wall - waits) as a ratio of the waits.

    .venv/bin/python benchmarks/renewal_overhead.py [--restart-seconds 1.0] [--units tomcat CAPF ...]
"""

from __future__ import annotations

import argparse
import contextvars
import os
import tempfile
import time
from pathlib import Path

import yaml

UNITS = ["tomcat", "tomcat-ECDSA", "ipsec", "CAPF", "CallManager", "CallManager-ECDSA", "TVS"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restart-seconds", type=float, default=1.0)
    parser.add_argument("--tomcat-restart-seconds", type=float, default=2.0)
    parser.add_argument("--reregister-seconds", type=float, default=2.0)
    parser.add_argument("--phones", type=int, default=50)
    parser.add_argument("--units", nargs="*", default=UNITS)
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
        cli_banner_seconds=0.0,
        state_dir=work / "sim",
    )
    # short polls so polling granularity is not counted as orchestration overhead
    settings = RenewalSettings(
        restart_poll=0.1,
        registration_interval=0.5,
        ris_requests_per_minute=15,
        phone_batch_size=100,
        phone_batch_pause=0.0,
    )
    t_server = time.monotonic()
    with SimulatedFleet(opts) as fleet, PrefectServerProcess(home=work / "prefect") as server:
        print(f"prefect server start: {time.monotonic() - t_server:.1f} s (not counted below)")
        lab = LabCa(work / "lab-ca")
        with fleet.ca_bundle_path.open("a") as fh:
            fh.write(lab.root_pem)
        inv = fleet.inventory_dict()
        inv["ca_backends"] = {"lab": {"type": "lab", "directory": str(work / "lab-ca")}}
        inv["defaults"]["ca"] = "lab"
        path = work / "inventory.yaml"
        path.write_text(yaml.safe_dump(inv, sort_keys=False))
        with temporary_settings(updates={PREFECT_API_URL: server.api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            from flows.renew import renew

            print(f"{'unit':18} {'nodes':>5} {'wall s':>8} {'sim waits s':>12} {'overhead s':>11} {'ratio':>7}")
            tot_wall = tot_wait = 0.0
            for unit in args.units:
                mark = len(fleet.events())
                t0 = time.monotonic()
                report = contextvars.copy_context().run(renew, str(path), "c1", unit, settings=settings)
                wall = time.monotonic() - t0
                events = fleet.events()[mark:]
                waits = sum(
                    float(e["detail"]["seconds"]) for e in events if e["operation"] == "service_restart_started"
                )
                if any(e["operation"] == "phone_reset" for e in events):
                    waits += args.reregister_seconds
                over = wall - waits
                tot_wall += wall
                tot_wait += waits
                ratio = f"{over / waits:7.2f}" if waits else "    n/a"
                print(f"{unit:18} {len(report.nodes):5d} {wall:8.1f} {waits:12.1f} {over:11.1f} {ratio}")
            print(
                f"{'all':18} {'':5} {tot_wall:8.1f} {tot_wait:12.1f} {tot_wall - tot_wait:11.1f} "
                f"{(tot_wall - tot_wait) / tot_wait:7.2f}"
            )


if __name__ == "__main__":
    main()
