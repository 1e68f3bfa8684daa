"""What starting the test suite's Prefect servers costs: one alone, and several at once (pytest-xdist workers).

Each pytest-xdist worker starts a Prefect server of its own (``tests/fixtures/prefect_server.py``),
and ``certops renew`` / ``certops demo`` without ``PREFECT_API_URL`` start an embedded one
(``certops.renewal.server.PrefectServerProcess``). This starts ``--servers`` of them at once, each in
a fresh temporary home, waits until each answers ``/api/health``, and prints per server the wall
seconds and the CPU seconds its process group used until then; then the same for a home that
already holds a migrated database (copied from the first run), which shows what the migrations cost.

    .venv/bin/python benchmarks/prefect_server_start.py [--servers 4]

The machine's load average is printed with the figures: on a shared box they vary with it.
Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from certops.renewal.server import PrefectServerProcess


def _group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of the live processes of process group ``pgid`` (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def _start(home: Path) -> tuple[float, float]:
    """Start a server in ``home``; (wall seconds, CPU seconds) until healthy. Stops it."""
    began = time.monotonic()
    server = PrefectServerProcess(home=home, startup_timeout=900)
    server.start()
    wall = time.monotonic() - began
    proc = server._proc
    cpu = _group_cpu_seconds(proc.pid) if proc is not None else 0.0  # its own session: group id = its PID
    server.stop()
    return wall, cpu


def _round(label: str, homes: list[Path]) -> None:
    with ThreadPoolExecutor(len(homes)) as pool:
        figures = list(pool.map(_start, homes))
    load = os.getloadavg()[0]
    walls = ", ".join(f"{w:.0f}" for w, _ in figures)
    cpus = ", ".join(f"{c:.1f}" for _, c in figures)
    print(f"{label}: {len(homes)} at once, load {load:.1f}: wall s [{walls}], CPU s [{cpus}]", flush=True)


def main() -> None:
    """Parse the arguments and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=4, help="servers started at once (default 4)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="certops-bench-start-"))
    try:
        first = root / "first"
        _round("fresh database", [first])
        _round("fresh databases", [root / f"fresh-{i}" for i in range(args.servers)])
        migrated = []
        for i in range(args.servers):
            home = root / f"migrated-{i}"
            home.mkdir()
            shutil.copy(first / "prefect.db", home / "prefect.db")
            migrated.append(home)
        _round("migrated databases", migrated)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
