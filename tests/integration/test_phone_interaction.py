"""certops reads "Phone Interaction on Certificate Update" through AXL (simulated CUCM 12.5 and 15.0)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from certops.cucm.node import CucmNode
from certops.inventory import Inventory
from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import client_options, inventory_with_passwords

OS_PW = "pi-Os-pw-1"
APP_PW = "pi-App-pw-1"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    opts = client_options(
        tmp_path_factory.mktemp("sim-pi"),
        password=OS_PW,
        app_password=APP_PW,
        clusters=2,
        nodes=1,
        version=["15.0", "12.5"],
        phones_per_cluster=2,
    )
    with SimulatedFleet(opts) as f:
        yield f


@pytest.fixture()
def inventory(fleet: SimulatedFleet, monkeypatch: pytest.MonkeyPatch) -> Inventory:
    return inventory_with_passwords(fleet, monkeypatch, password=OS_PW, app_password=APP_PW)


def _pub(inventory: Inventory, cluster: str) -> CucmNode:
    return CucmNode.from_inventory(inventory, cluster, inventory.cluster(cluster).publisher.fqdn)


def test_cucm_15_resets_phones_automatically_by_default_and_manual_is_read_as_manual(
    fleet: SimulatedFleet, inventory: Inventory
) -> None:
    with _pub(inventory, "c1") as node:
        assert node.phone_interaction() == "automatic"
    fleet.cluster("c1").phone_interaction = "manual"
    try:
        with _pub(inventory, "c1") as node:
            assert node.phone_interaction() == "manual"
    finally:
        fleet.cluster("c1").phone_interaction = "automatic"


def test_cucm_12_5_has_no_such_parameter(inventory: Inventory) -> None:
    with _pub(inventory, "c2") as node:
        assert node.phone_interaction() is None
