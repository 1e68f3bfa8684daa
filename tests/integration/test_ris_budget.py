"""Every RisPort70 read waits for the cluster's request budget instead of failing on its rate limit.

Against the simulator with a small limit (``ris_rate_limit`` requests per ``ris_rate_window``
seconds, cluster-wide, like RIS's 15 per minute): many reads at once in one process share one
budget per cluster, and reads refused with ``Server.RateControl`` because other clients spent the
cluster's limit back off until the window can have freed, then succeed. None fails.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from certops.cucm.soap import RisPortClient
from certops.errors import CucmRateLimited
from certops.inventory import Inventory
from certops.models import PhoneCount
from certops.renewal.adapters import load_inventory, open_node
from certops.renewal.steps import read_registered_phones, ris_budget_for
from simulator.fleet import SimulatedFleet

LIMIT = 8
WINDOW = 1.0
PHONES = 8


def _fleet(sim_factory: Callable[..., SimulatedFleet]) -> tuple[SimulatedFleet, Inventory, str]:
    fleet = sim_factory(nodes=2, phones_per_cluster=PHONES, ris_rate_limit=LIMIT, ris_rate_window=WINDOW)
    inv = load_inventory(Path(fleet.state_dir) / "inventory.yaml")
    return fleet, inv, fleet.cluster("c1").publisher.fqdn


def _baseline(inv: Inventory, pub: str, said: list[str]) -> PhoneCount:
    """What preflight does for its phone baseline: one count within this process's budget for c1."""
    budget = ris_budget_for(inv, "c1", LIMIT, WINDOW)
    with open_node(inv, "c1", pub) as api:
        return read_registered_phones(api, cluster="c1", budget=budget, max_wait=60.0, log=said.append)


def test_forty_simultaneous_baseline_reads_in_one_process_share_one_budget_and_all_succeed(sim_factory):
    _, inv, pub = _fleet(sim_factory)
    said: list[str] = []
    assert ris_budget_for(inv, "c1", LIMIT, WINDOW) is ris_budget_for(inv, "c1", LIMIT, WINDOW)

    with ThreadPoolExecutor(max_workers=40) as pool:
        counts = list(pool.map(lambda _: _baseline(inv, pub, said), range(40)))

    assert [c.registered for c in counts] == [PHONES] * 40  # every read succeeded, none failed


def test_reads_refused_because_other_clients_spent_the_limit_back_off_and_all_succeed(sim_factory):
    _, inv, pub = _fleet(sim_factory)
    said: list[str] = []
    node = next(n for n in inv.cluster("c1").nodes if n.fqdn != pub)
    stop = threading.Event()
    refused_us = threading.Event()

    def other_client() -> None:
        """Another process (RTMT, monitoring) keeps the cluster's RIS limit spent until we were refused."""
        with open_node(inv, "c1", node.fqdn) as api:
            ris: RisPortClient = api.risport()  # type: ignore[attr-defined]
            while not stop.is_set():
                try:
                    ris.select_cm_device()
                except CucmRateLimited:
                    if refused_us.wait(0.01):
                        return

    def watch(message: str) -> None:
        said.append(message)
        if "Server.RateControl" in message:
            refused_us.set()

    spender = threading.Thread(target=other_client, daemon=True)
    spender.start()
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            budget = ris_budget_for(inv, "c1", LIMIT, WINDOW)

            def read(_: int) -> PhoneCount:
                with open_node(inv, "c1", pub) as api:
                    return read_registered_phones(api, cluster="c1", budget=budget, max_wait=120.0, log=watch)

            counts = list(pool.map(read, range(20)))
    finally:
        stop.set()
        spender.join(timeout=30)

    assert [c.registered for c in counts] == [PHONES] * 20
    backoffs = [m for m in said if "Server.RateControl" in m]
    assert backoffs, said
    assert "backing off until its 1 s window can have freed" in backoffs[0] and "at most 120 s" in backoffs[0]
