"""Contract: 1,000 simulated nodes start in one process (start time and memory are printed, not asserted)."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import SIM_OS_PASSWORD, SIM_OS_USER, SimShell, sim_https, sim_options


@pytest.mark.slow
def test_thousand_nodes_start_in_one_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    with SimulatedFleet(sim_options(clusters=200, nodes=5, state_dir=tmp_path / "sim", phones_per_cluster=5)) as fleet:
        started = time.monotonic() - t0
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert len(fleet.nodes) == 1000
        assert len({n.https_port for n in fleet.nodes} | {n.ssh_port for n in fleet.nodes}) == 2000
        last = fleet.node("imp1.c200.certops.test")
        with sim_https(fleet, last) as c:
            r = c.get("/platformcom/api/v1/certmgr/config/snapshot/server", auth=(SIM_OS_USER, SIM_OS_PASSWORD))
        assert r.status_code == 200 and r.json()["server"] == last.fqdn
        with SimShell(fleet, fleet.node("cucm-sub2.c137.certops.test")) as shell:
            shell.wait_prompt()
            assert "Active Master Version" in shell.run("show version active")
        listeners = sum(2 + len(n.service_tls_ports) + 1 for n in fleet.nodes)
    with capsys.disabled():
        print(
            f"\n[simulator scale] 1000 nodes, {listeners} listeners: started in {started:.2f}s; "
            f"max RSS grew by {(rss_after - rss_before) / 1024:.0f} MB to {rss_after / 1024:.0f} MB"
        )
