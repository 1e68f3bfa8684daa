"""``read_fleet_certificates``: many nodes at once, within bounds, one failure never hides the rest."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from certops.cucm.api import CucmNodeApi
from certops.cucm.node import CucmNode
from certops.errors import CucmConnectionError
from certops.fleet import read_fleet_certificates
from certops.inventory import Inventory
from certops.models import CertificateInfo
from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import client_options, inventory_with_passwords

OS_PW = "fleet-Os-pw-9"
APP_PW = "fleet-App-pw-9"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    opts = client_options(
        tmp_path_factory.mktemp("sim-fleet"),
        password=OS_PW,
        app_password=APP_PW,
        clusters=2,
        nodes=4,
        version=["15.0", "14.0"],
    )
    with SimulatedFleet(opts) as f:
        yield f


@pytest.fixture()
def inventory(fleet: SimulatedFleet, monkeypatch: pytest.MonkeyPatch) -> Inventory:
    return inventory_with_passwords(fleet, monkeypatch, password=OS_PW, app_password=APP_PW)


def test_every_node_of_two_clusters_is_read(inventory: Inventory) -> None:
    seen: list[tuple[str, str, bool]] = []
    report = read_fleet_certificates(inventory, progress=lambda c, n, ok: seen.append((c, n, ok)))
    assert report.ok
    nodes = {(c.name, n.fqdn) for c in inventory.clusters for n in c.nodes}
    assert {(c.cluster, c.node) for c in report.certificates} == nodes
    assert sorted((c, n) for c, n, _ in seen) == sorted(nodes) and all(ok for *_, ok in seen)


def test_cluster_and_unit_selection(inventory: Inventory) -> None:
    report = read_fleet_certificates(inventory, clusters=["c2"], units=["ipsec"])
    assert {c.cluster for c in report.certificates} == {"c2"}
    assert {c.unit for c in report.certificates} == {"ipsec"}
    assert len(report.certificates) == len(inventory.cluster("c2").nodes)


def test_unknown_cluster_is_a_key_error(inventory: Inventory) -> None:
    with pytest.raises(KeyError, match="no cluster 'c9'"):
        read_fleet_certificates(inventory, clusters=["c9"])


def test_unreachable_node_fails_alone(fleet: SimulatedFleet, inventory: Inventory) -> None:
    victim = inventory.cluster("c2").nodes[1].fqdn
    fleet.set_fault("unreachable", node=victim)
    try:
        report = read_fleet_certificates(inventory)
    finally:
        fleet.clear_faults()
    assert [(f.cluster, f.node, f.transient) for f in report.failures] == [("c2", victim, True)]
    assert "cannot reach" in report.failures[0].reason
    read = {c.node for c in report.certificates}
    assert victim not in read and len(read) == sum(len(c.nodes) for c in inventory.clusters) - 1


def test_unset_password_variable_is_a_failure_naming_the_variable(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUCM_SIM_OS_PASSWORD")
    report = read_fleet_certificates(inventory, clusters=["c1"])
    assert len(report.failures) == len(inventory.cluster("c1").nodes)
    assert all("$CUCM_SIM_OS_PASSWORD" in f.reason for f in report.failures)


class _SlowNode:
    """Stands in for CucmNode to observe concurrency: counts nodes in flight per cluster."""

    lock = threading.Lock()
    in_flight: ClassVar[dict[str, int]] = {}
    peak: ClassVar[dict[str, int]] = {}

    def __init__(self, cluster: str, fqdn: str, fail: bool) -> None:
        self.cluster, self.fqdn, self.fail = cluster, fqdn, fail

    def __enter__(self) -> _SlowNode:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read_certificates(self, units: list[str] | None = None) -> list[CertificateInfo]:
        with self.lock:
            self.in_flight[self.cluster] = self.in_flight.get(self.cluster, 0) + 1
            self.peak[self.cluster] = max(self.peak.get(self.cluster, 0), self.in_flight[self.cluster])
        time.sleep(0.05)
        with self.lock:
            self.in_flight[self.cluster] -= 1
        if self.fail:
            raise CucmConnectionError("connection refused", node=self.fqdn, operation="snapshot")
        return []


def test_at_most_per_cluster_nodes_of_one_cluster_are_read_at_once(inventory: Inventory) -> None:
    _SlowNode.peak.clear()
    failing = inventory.cluster("c1").nodes[0].fqdn

    def factory(inv: Inventory, cluster: str, fqdn: str) -> Any:
        return _SlowNode(cluster, fqdn, fail=fqdn == failing)

    report = read_fleet_certificates(inventory, per_cluster=2, max_workers=16, node_factory=factory)
    assert _SlowNode.peak == {"c1": 2, "c2": 2}
    assert [f.node for f in report.failures] == [failing]
    assert report.failures[0].reason == "connection refused" and report.failures[0].operation == "snapshot"


def test_real_nodes_are_built_from_the_inventory(inventory: Inventory) -> None:
    node = CucmNode.from_inventory(inventory, "c2", inventory.cluster("c2").publisher.fqdn)
    api: CucmNodeApi = node  # CucmNode implements the contract the flows use (checked by mypy)
    with api:
        assert node.uses_rest and api.fqdn == inventory.cluster("c2").publisher.fqdn
        assert api.read_certificate("tomcat").node == api.fqdn
