"""One RisPort70 budget per cluster on the Prefect server: reads of different tasks and runs never
trip the cluster's rate limit together.

The simulator enforces RIS's rule (``ris_rate_limit`` requests in any ``ris_rate_window`` seconds,
cluster-wide) and records each request (``ris_request``) and each refusal (``ris_rate_limited``,
what CUCM answers with ``Server.RateControl``). Each reader below builds its own budget object, as a
task in another process would: only the Prefect rate limit is shared.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from prefect import flow

from simulator.fleet import SimulatedFleet
from tasks import renewal as t
from tasks import ris_budget
from tests.flows.conftest import start_in_thread

pytestmark = [pytest.mark.prefect]

LIMIT = 4
WINDOW = 4.0


def _fleet(sim_factory: Callable[..., SimulatedFleet]) -> tuple[SimulatedFleet, str, str]:
    fleet = sim_factory(nodes=1, phones_per_cluster=3, ris_rate_limit=LIMIT, ris_rate_window=WINDOW)
    return fleet, str(Path(fleet.state_dir) / "inventory.yaml"), fleet.cluster("c1").publisher.fqdn


def test_the_budget_shape_never_allows_more_than_the_rate_in_any_window():
    for per_minute in (1, 4, 10, 15, 18):
        burst, rate = ris_budget.shape(per_minute, 60.0)
        assert burst >= 1 and rate > 0  # requests at once, and a refill (a bucket that never refills stalls)
        assert burst + math.floor(rate * 60.0 + 1e-9) <= per_minute  # whole requests in any 60 s


def test_two_runs_reading_phones_at_once_share_the_clusters_budget_and_see_no_rate_control(prefect_server, sim_factory):
    fleet, inventory, pub = _fleet(sim_factory)
    mark = len(fleet.events())

    @flow(name="ris-reader")
    def reader() -> list[int]:  # a renewal's baseline and re-registration reads, one task each
        return [t.count_phones(inventory, "c1", pub, LIMIT, WINDOW, 120.0).registered for _ in range(4)]

    runs = [start_in_thread(reader) for _ in range(2)]
    counts = [r.result(timeout=240) for r in runs]

    assert counts == [[3] * 4, [3] * 4]
    events = fleet.events()[mark:]
    assert sum(e["operation"] == "ris_request" for e in events) == 8
    assert [e for e in events if e["operation"] == "ris_rate_limited"] == []  # never a Server.RateControl


def test_a_disabled_rate_limit_is_enabled_again_before_it_is_trusted(prefect_server, sim_factory):
    from prefect import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    _, inventory, pub = _fleet(sim_factory)

    @flow(name="ris-reader")
    def read() -> int:
        return t.count_phones(inventory, "c1", pub, LIMIT, WINDOW, 120.0).registered

    read()
    node = t.load_inventory(inventory).cluster("c1").publisher
    name = ris_budget.limit_name("c1", (node.fqdn, node.connect_address, str(node.soap_port)))
    with get_client(sync_client=True) as client:
        client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active=False))
    ris_budget._ENSURED.clear()  # a new process: it checks the limit before its first read
    read()
    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name(name).active
