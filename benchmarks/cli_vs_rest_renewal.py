"""What the CLI path costs on CUCM 12.5 compared with certmgr REST on 15: one unit's node-level renewal.

For each release, starts a one-node simulated cluster, then for each unit times certops's node adapter
(``certops.cucm.node.CucmNode``, no Prefect) doing the node-level steps of a renewal: read the
current certificate, generate the CSR, read it back, upload root and intermediate to the unit's
trust store, upload the signed leaf, read the certificate again. 12.5 goes over SSH (``set csr gen``,
``show csr own``, ``set cert import``, ``show cert own``), 15 over certmgr REST. Restarts, phones and
the CA are left out: they are the same on both paths.

    .venv/bin/python benchmarks/cli_vs_rest_renewal.py [--rounds 3] [--units tomcat,CallManager]

Prints one line per release and unit: the median seconds over the rounds and the simulator events
seen (the commands that changed something). Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from certops.cucm.node import CucmNode
from certops.inventory import Inventory
from certops.models import CsrRequest
from certops.units import UNITS
from simulator.fleet import SimulatedFleet
from simulator.options import FleetOptions
from tests.fixtures.simulator import SimTestCa

PUB = "cucm-pub.c1.certops.test"
DEFAULT_UNITS = "tomcat,tomcat-ECDSA,CallManager,CAPF,TVS,ipsec,ITLRecovery"


def _one(node: CucmNode, unit: str, ca: SimTestCa) -> float:
    started = time.perf_counter()
    node.read_certificate(unit)
    ec = UNITS[unit].key_type == "ec"
    request = CsrRequest(unit=unit, common_name=PUB, key_type="ec" if ec else "rsa", key_length=256 if ec else 2048)
    csr = node.generate_csr(request)
    node.pending_csr(unit)
    node.upload_trust(UNITS[unit].trust_store.removesuffix("-trust"), [ca.root_pem, ca.intermediate_pem], "bench")
    node.upload_identity(unit, [ca.sign(csr), ca.intermediate_pem])
    node.read_certificate(unit)
    return time.perf_counter() - started


def main() -> None:
    """Run the comparison and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--units", default=DEFAULT_UNITS)
    args = parser.parse_args()
    units = [u for u in args.units.split(",") if u]
    print(f"node-level renewal steps, median of {args.rounds} rounds (seconds); one simulated node per release")
    for version in ("12.5", "15.0"):
        with tempfile.TemporaryDirectory() as tmp:
            opts = FleetOptions(
                nodes=1, version=version, phones_per_cluster=0, cli_banner_seconds=0.0, state_dir=Path(tmp)
            )
            with SimulatedFleet(opts) as fleet:
                os.environ["CUCM_SIM_OS_PASSWORD"] = fleet.options.password
                os.environ["CUCM_SIM_APP_PASSWORD"] = fleet.options.app_password
                inv = Inventory.model_validate(fleet.inventory_dict())
                with CucmNode.from_inventory(inv, "c1", PUB) as node:
                    for unit in units:
                        mark = len(fleet.events())
                        times = [_one(node, unit, SimTestCa(f"Bench {unit} {i}")) for i in range(args.rounds)]
                        changes = len([e for e in fleet.events()[mark:] if e["operation"] != "ssh_login"])
                        print(
                            f"{version:>5} {node.path.via.value:<4} {unit:<18} {statistics.median(times):6.2f} s"
                            f"  ({changes // args.rounds} simulator events per round)"
                        )


if __name__ == "__main__":
    main()
