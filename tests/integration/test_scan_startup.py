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
watched = set(sys.argv[1].split(","))
sys.argv = ["certops", *sys.argv[2:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("EXIT", code, sorted({m for m in sys.modules if m in watched or m.split(".")[0] in watched}))
"""


def _loaded_by(sim_fleet: SimulatedFleet, tmp_path: Path, command: list[str], watched: list[str]) -> str:
    """Run ``certops <command>`` against the fleet in a child; return its last line, ``EXIT <code> [<watched loaded>]``.

    A name is watched as a package (``prefect``: any of its modules) and as a module (``rich.progress``).
    """
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(sim_fleet.inventory_dict(), sort_keys=False))
    env = {**os.environ, "CUCM_SIM_OS_PASSWORD": SIM_OS_PASSWORD, "CUCM_SIM_APP_PASSWORD": SIM_APP_PASSWORD}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, ",".join(watched), *command, "-i", str(inventory)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert "ertificates" in out.stdout, out.stderr[-2000:]  # the table was printed
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("command", [["scan", "--no-renew"], ["certificates"]], ids=["scan", "certificates"])
def test_a_report_only_scan_of_cucm_15_nodes_loads_no_plotting_ssh_or_prefect(
    sim_fleet: SimulatedFleet, tmp_path: Path, command: list[str]
) -> None:
    # matplotlib (~0.5 s to import) only for --picture; paramiko only for 12.5 nodes; Prefect only for flow runs
    assert _loaded_by(sim_fleet, tmp_path, command, ["matplotlib", "paramiko", "prefect"]) == "EXIT 0 []"


@pytest.mark.parametrize("command", [["scan", "--no-renew"], ["certificates"]], ids=["scan", "certificates"])
def test_a_report_only_scan_that_nodes_answer_plainly_loads_no_http_client_library_nor_a_progress_bar(
    sim_fleet: SimulatedFleet, tmp_path: Path, command: list[str]
) -> None:
    # the fleet read parses the common answer itself (h11 only for an odd one, httpx only to decode a
    # compressed body or an error's text); the progress bar only on a terminal
    assert _loaded_by(sim_fleet, tmp_path, command, ["httpx", "h11", "rich.progress"]) == "EXIT 0 []"
