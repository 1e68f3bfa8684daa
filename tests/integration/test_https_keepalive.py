"""HTTPS connections kept between a renewal's steps (``certops.cucm.keepalive``), judged by the simulator.

What a UC engineer must see: the steps of a renewal that talk to a node one after another share
one TLS connection (one handshake and one HTTP Basic login checked by the node's Tomcat, not one
per step); a step never rides on a connection made with another account's password; a node
that ended its connections (a Tomcat restart) is simply connected to again; and no connection
stays open on a node once the run let its connections go.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from certops.cucm import keepalive
from certops.cucm.keepalive import reuse_connections
from certops.cucm.node import CucmNode
from certops.errors import CucmAuthError
from certops.renewal.adapters import kept_connections, let_connections_go, load_inventory
from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import APP_PASSWORD_ENV


@pytest.fixture(autouse=True)
def _long_keepalive(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Idle connections live a minute here: a busy machine's pause between two steps does not end them."""
    monkeypatch.setattr(keepalive.CLIENTS, "keepalive_expiry", 60.0)
    yield


def _world(sim_factory: Callable[..., SimulatedFleet]) -> tuple[SimulatedFleet, Any, str]:
    fleet = sim_factory(nodes=2)
    inv = load_inventory(Path(fleet.state_dir) / "inventory.yaml")
    return fleet, inv, fleet.cluster("c1").nodes[1].fqdn


def _made(fleet: SimulatedFleet, before: dict[str, int], fqdn: str) -> int:
    return fleet.https_connections().get(fqdn, 0) - before.get(fqdn, 0)


def _read_tomcat(inv: Any, fqdn: str) -> str:
    """One step: open the node, read its tomcat certificate (certmgr REST), close the node."""
    with CucmNode.from_inventory(inv, "c1", fqdn) as node:
        return node.read_certificate("tomcat").fingerprint_sha256


def _open_after_close(fleet: SimulatedFleet, fqdn: str) -> int:
    """The node's open HTTPS connections, once a client's close has reached it (a bounded wait, not a timing)."""
    for _ in range(400):
        if fleet.open_https_connections().get(fqdn, 0) == 0:
            return 0
        time.sleep(0.05)
    return fleet.open_https_connections().get(fqdn, 0)


def test_steps_one_after_another_on_a_node_share_one_tls_connection(sim_factory):
    fleet, inv, sub = _world(sim_factory)
    before = fleet.https_connections()
    with reuse_connections():
        prints = {_read_tomcat(inv, sub) for _ in range(4)}
    assert len(prints) == 1
    assert _made(fleet, before, sub) == 1
    before = fleet.https_connections()
    for _ in range(2):  # outside a renewal's scope each step connects for itself, as before
        _read_tomcat(inv, sub)
    assert _made(fleet, before, sub) == 2


def test_the_soap_steps_of_a_node_share_their_connection_too(sim_factory):
    fleet, inv, sub = _world(sim_factory)
    before = fleet.https_connections()
    with kept_connections():
        for _ in range(3):
            with CucmNode.from_inventory(inv, "c1", sub) as node:
                assert any(s.name == "Cisco Tomcat" for s in node.service_status(["Cisco Tomcat"]))
    assert _made(fleet, before, sub) == 1


def test_a_step_with_another_password_never_rides_on_a_kept_connection(sim_factory, monkeypatch):
    fleet, inv, sub = _world(sim_factory)
    before = fleet.https_connections()
    with reuse_connections():
        with CucmNode.from_inventory(inv, "c1", sub) as node:
            node.service_status(["Cisco Tomcat"])
        monkeypatch.setenv(APP_PASSWORD_ENV, "not-the-password")
        with pytest.raises(CucmAuthError) as refused, CucmNode.from_inventory(inv, "c1", sub) as node:
            node.service_status(["Cisco Tomcat"])
    assert sub in str(refused.value)
    assert "HTTP 401" in str(refused.value)
    assert _made(fleet, before, sub) == 2  # the second step made its own connection, with its own password


def test_a_node_that_ended_its_connections_is_connected_to_again(sim_factory):
    fleet, inv, sub = _world(sim_factory)
    node = fleet.node(sub)
    before = fleet.https_connections()
    with reuse_connections():
        first = _read_tomcat(inv, sub)
        _, token = node.begin_restart("Cisco Tomcat", "test")  # every open connection is cut
        assert node.finish_restart("Cisco Tomcat", token)
        assert _read_tomcat(inv, sub) == first  # the kept connection was dead: a new one, and the step works
        assert _read_tomcat(inv, sub) == first
    assert _made(fleet, before, sub) == 2


def test_no_connection_stays_open_on_a_node_after_the_run_lets_them_go(sim_factory):
    fleet, inv, sub = _world(sim_factory)
    with reuse_connections():
        _read_tomcat(inv, sub)
        assert fleet.open_https_connections().get(sub, 0) == 1  # kept for the next step
        let_connections_go()  # before a long wait (a person's approval, another run holding the cluster)
        assert _open_after_close(fleet, sub) == 0
        _read_tomcat(inv, sub)  # the next step connects anew
    assert _open_after_close(fleet, sub) == 0  # and the scope's end closes what was kept
