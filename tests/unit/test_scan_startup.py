"""``certops certificates`` and ``certops scan --no-renew`` start without loading what a CUCM 14+ read never uses."""

from __future__ import annotations

import subprocess
import sys


def test_reading_rest_nodes_does_not_load_the_ssh_stack_or_prefect() -> None:
    # paramiko (SSH, for 12.5 nodes) costs ~70 ms of start-up; Prefect far more. Neither is needed
    # to read certmgr snapshots, so neither is imported until a node needs it.
    code = (
        "import sys, certops.cli, certops.fleet, certops.inventory_file, certops.due\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'paramiko', 'prefect'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
