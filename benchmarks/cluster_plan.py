"""One cluster plan (tomcat, TVS, CallManager due) on a simulated cluster: how long, and the gaps between units.

Prints, from the simulator's event log: each unit's span (its first change to its last), the gap
from one unit's last change to the next unit's first, the gap from TVS's phones back (the last
re-registration after its uploads) to CallManager's first CSR (with per-unit runs started by the
scan, that gap is one scan interval: a day), and when the DRF backup was asked for after the last
regeneration. Figures only, never asserted.

    .venv/bin/python benchmarks/cluster_plan.py [--nodes 3] [--phones 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

CHANGES = ("csr_generated", "trust_uploaded", "identity_uploaded", "service_restart_started", "ctl_updated")


def _t(event: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--phones", type=int, default=20)
    args = parser.parse_args()

    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from certops.ca.local import LabCa
    from certops.renewal.server import PrefectServerProcess
    from certops.renewal.settings import RenewalSettings
    from simulator.fleet import SimulatedFleet
    from simulator.options import DEFAULT_EXPIRY_DAYS, FleetOptions

    work = Path(tempfile.mkdtemp(prefix="certops-bench-plan-"))
    os.environ.update(
        {
            "CUCM_SIM_OS_PASSWORD": "bench-os",
            "CUCM_SIM_APP_PASSWORD": "bench-app",
            "CERTOPS_STATE_DIR": str(work / "state"),
            "CERTOPS_AUDIT_LOG": str(work / "audit.jsonl"),
            "CERTOPS_LOCK_DIR": str(work / "locks"),
        }
    )
    expiry = {u: 400 for u in DEFAULT_EXPIRY_DAYS} | {"tomcat": 5, "TVS": 12, "CallManager": 20}
    opts = FleetOptions(
        nodes=args.nodes,
        password="bench-os",
        app_password="bench-app",
        phones_per_cluster=args.phones,
        expiry_days=expiry,
        drf_backup_seconds=5.0,
        state_dir=work / "sim",
    )
    settings = RenewalSettings(restart_poll=0.5, registration_interval=2.0, drf_poll=1.0)
    with SimulatedFleet(opts) as fleet, PrefectServerProcess(home=work / "prefect", startup_timeout=600) as server:
        lab = LabCa(work / "lab-ca")
        with fleet.ca_bundle_path.open("a") as fh:
            fh.write(lab.root_pem)
        inv = fleet.inventory_dict()
        inv["ca_backends"] = {"lab": {"type": "lab", "directory": str(work / "lab-ca")}}
        inv["defaults"]["ca"] = "lab"
        inv["clusters"][0]["drf_backup"] = {"device": "NETWORK_BACKUP", "poll_seconds": 1.0}
        path = work / "inventory.yaml"
        path.write_text(yaml.safe_dump(inv, sort_keys=False))
        with temporary_settings(updates={PREFECT_API_URL: server.api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            from flows.renew_cluster import renew_cluster

            t0 = time.monotonic()
            report = renew_cluster(str(path), "c1", settings=settings, notify=False)
            wall = time.monotonic() - t0
        events = fleet.events()
    print(f"simulator: {args.nodes} nodes, {args.phones} phones; plan {report.status}: {', '.join(report.regenerated)}")
    print(f"plan wall time: {wall:.1f} s (reading the certificates, three renewals, the DRF backup)")
    spans = {}
    for unit in report.regenerated:
        ts = [_t(e) for e in events if e["operation"] in CHANGES and e.get("unit") == unit]
        spans[unit] = (min(ts), max(ts))
        print(f"  {unit:12} first change to last: {max(ts) - min(ts):6.1f} s")
    units = list(spans)
    for a, b in itertools.pairwise(units):
        print(f"  gap {a} -> {b}: {spans[b][0] - spans[a][1]:6.1f} s (last change of {a} to first of {b})")
    if "TVS" in spans and "CallManager" in spans:
        back = [_t(e) for e in events if e["operation"] == "phone_registered" and spans["TVS"][1] <= _t(e)]
        back = [t for t in back if t <= spans["CallManager"][0]]
        if back:
            print(
                f"  TVS's phones back -> CallManager's first CSR: {spans['CallManager'][0] - max(back):6.1f} s "
                "(per-unit runs from the scan: the next scan, about a day)"
            )
    asked = [_t(e) for e in events if e["operation"] == "drf_backup_requested"]
    if asked and spans:
        last = max(s[1] for s in spans.values())
        print(f"  DRF backup asked {asked[0] - last:6.1f} s after the last regeneration; {report.drf_backup.status}")


if __name__ == "__main__":
    main()
