"""A report-only scan loads only what the read needs: start-up is part of what a scan costs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import SIM_APP_PASSWORD, SIM_OS_PASSWORD

_CHILD = """\
import sys
from certops.cli import main
sys.argv = ["certops", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("EXIT", code, sorted({m.split(".")[0] for m in sys.modules} & {"matplotlib", "paramiko", "prefect"}))
"""


@pytest.mark.parametrize("command", [["scan", "--no-renew"], ["certificates"]], ids=["scan", "certificates"])
def test_a_report_only_scan_of_cucm_15_nodes_loads_no_plotting_ssh_or_prefect(
    sim_fleet: SimulatedFleet, tmp_path: Path, command: list[str]
) -> None:
    # matplotlib (~0.5 s to import) only for --picture; paramiko only for 12.5 nodes; Prefect only for flow runs
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(sim_fleet.inventory_dict(), sort_keys=False))
    env = {**os.environ, "CUCM_SIM_OS_PASSWORD": SIM_OS_PASSWORD, "CUCM_SIM_APP_PASSWORD": SIM_APP_PASSWORD}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, *command, "-i", str(inventory)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert "ertificates" in out.stdout, out.stderr[-2000:]  # the table was printed
    assert out.stdout.strip().splitlines()[-1] == "EXIT 0 []", out.stderr[-2000:]


_CHILD_HTTP = """\
import sys
from certops.cli import main
sys.argv = ["certops", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("EXIT", code, sorted(set(sys.modules) & {"httpx", "h11", "rich.progress"}))
"""


@pytest.mark.parametrize("command", [["scan", "--no-renew"], ["certificates"]], ids=["scan", "certificates"])
def test_a_report_only_scan_that_nodes_answer_plainly_loads_no_http_client_library_nor_a_progress_bar(
    sim_fleet: SimulatedFleet, tmp_path: Path, command: list[str]
) -> None:
    # the fleet read parses the common answer itself (h11 only for an odd one, httpx only to decode a
    # compressed body or an error's text); the progress bar only on a terminal
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(sim_fleet.inventory_dict(), sort_keys=False))
    env = {**os.environ, "CUCM_SIM_OS_PASSWORD": SIM_OS_PASSWORD, "CUCM_SIM_APP_PASSWORD": SIM_APP_PASSWORD}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD_HTTP, *command, "-i", str(inventory)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert "ertificates" in out.stdout, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "EXIT 0 []", out.stderr[-2000:]
