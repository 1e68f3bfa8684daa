"""``certops sim`` in its own process for a benchmark: started, waited for, stopped with its children.

A benchmark that runs the simulator apart from the client (as a CUCM is another machine: its CPU
is not the client's) starts it with :func:`certops_sim`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def certops_sim(options: list[str], inventory: Path, state_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``certops sim OPTIONS`` until the block ends; yield its process once its inventory is written.

    The simulator writes ``inventory`` (whole: renamed into place) once every listener is ready.
    At the end its process group gets SIGINT, and SIGKILL if it has not stopped within 60 s; a
    SIGTERM to the benchmark meanwhile ends the block too, so the simulator never outlives it.
    """

    def terminated(signum: int, frame: object) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    cmd = [str(Path(sys.executable).parent / "certops"), "sim", *options]
    cmd += ["--write-inventory", str(inventory), "--state-dir", str(state_dir)]
    before = signal.signal(signal.SIGTERM, terminated)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while not inventory.exists():
            if proc.poll() is not None:
                raise SystemExit(f"certops sim exited with {proc.returncode}")
            time.sleep(0.1)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        signal.signal(signal.SIGTERM, before)
