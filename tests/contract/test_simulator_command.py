"""Contract: ``certops sim`` runs a fleet in the foreground, writes the inventory, never prints passwords."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from certops.inventory import Inventory


def _start(tmp_path: Path, *args: str, env_password: bool = True) -> tuple[subprocess.Popen[str], Path]:
    inventory = tmp_path / "inv.yaml"
    env = {**os.environ}
    if env_password:
        env["CUCM_SIM_OS_PASSWORD"] = "cli-os-secret"
        env["CUCM_SIM_APP_PASSWORD"] = "cli-app-secret"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from certops.cli import main; main()",
            "sim",
            "--write-inventory",
            str(inventory),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    return proc, inventory


def _read_until_ready(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    assert proc.stdout is not None
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out.append(line)
        if "Press Ctrl-C to stop." in line:
            return "".join(out)
    raise AssertionError("certops sim did not become ready: " + "".join(out))


def test_sim_command_serves_until_sigint_and_hides_passwords(tmp_path: Path) -> None:
    proc, inventory = _start(tmp_path, "--nodes", "2", "--clusters", "2", "--banner-seconds", "0", "--fault", "sso")
    try:
        banner = _read_until_ready(proc)
        inv = Inventory.model_validate(yaml.safe_load(inventory.read_text()))
        assert [c.name for c in inv.clusters] == ["c1", "c2"]
        assert "CUCM_SIM_OS_PASSWORD" in banner
        assert "cli-os-secret" not in banner and "cli-app-secret" not in banner
        admin = next(line.split()[2] for line in banner.splitlines() if "admin URL:" in line)
        state = httpx.get(f"{admin}/admin/state", timeout=10).json()
        assert [c["sso_enabled"] for c in state["clusters"]] == [True, True]
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "Stopped." in rest


def test_sim_command_refuses_to_start_without_a_password(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUCM_SIM_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from certops.cli import main; main()",
            "sim",
            "--write-inventory",
            str(tmp_path / "i.yaml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "CUCM_SIM_OS_PASSWORD" in proc.stderr + proc.stdout
    assert not (tmp_path / "i.yaml").exists()
