"""Figures for ``certops doctor`` against the simulator: time per cluster and node, answers, capture size.

Prints, never asserts. ``--nodes N`` per cluster, ``--latency SECONDS`` per request and command.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from certops.doctor.capture import write_capture
from certops.doctor.run import run_doctor
from certops.inventory_file import load_inventory
from simulator.fleet import FleetOptions, SimulatedFleet


def main() -> None:
    """Start a fleet, run doctor on its cluster, write the capture, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--version", default="15.0")
    args = parser.parse_args()
    os.environ["CUCM_SIM_OS_PASSWORD"] = "bench-os"
    os.environ["CUCM_SIM_APP_PASSWORD"] = "bench-app"
    tmp = Path(tempfile.mkdtemp(prefix="doctor-bench-"))
    options = FleetOptions(
        nodes=args.nodes,
        version=args.version,
        latency=args.latency,
        password="bench-os",
        app_password="bench-app",
        state_dir=tmp / "sim",
    )
    with SimulatedFleet(options) as fleet:
        inventory = load_inventory(fleet.write_inventory(tmp / "inventory.yaml"))
        started = time.monotonic()
        run = run_doctor(inventory, "c1")
        seconds = time.monotonic() - started
        started = time.monotonic()
        write_capture(tmp / "capture", run)
        capture_seconds = time.monotonic() - started
    size = sum(p.stat().st_size for p in (tmp / "capture").rglob("*") if p.is_file())
    print(
        f"doctor on {args.nodes} node(s), CUCM {args.version}, latency {args.latency * 1000:.0f} ms: "
        f"{seconds:.1f} s ({seconds / args.nodes:.1f} s per node), {len(run.report.checks)} checks, "
        f"{len(run.recorder.exchanges)} answers, verdict {'GO' if run.report.ok else 'NO-GO'}"
    )
    print(f"capture: {size / 1024:.0f} KiB in {capture_seconds:.2f} s ({tmp / 'capture'})")


if __name__ == "__main__":
    main()
