"""One SSH login per node for a block of CLI steps: sessions kept between clients, judged by the simulator.

The simulator records an ``ssh_login`` event for every authenticated session and an
``ssh_dropped`` event when its ``ssh-drop`` fault cuts a session mid-output; these tests count
them, not what certops says about itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from certops.cucm.node import CucmNode
from certops.cucm.shell import SessionPool, read_only, reuse_sessions
from certops.errors import CucmConnectionError
from certops.renewal import steps
from certops.renewal.adapters import load_inventory
from certops.units import RestartVia
from simulator.fleet import SimulatedFleet


def _world(sim_factory: Callable[..., SimulatedFleet]) -> tuple[SimulatedFleet, Any, str]:
    fleet = sim_factory(nodes=2, cli_banner_seconds=0.2, tomcat_restart_seconds=0.3)
    inv = load_inventory(Path(fleet.state_dir) / "inventory.yaml")
    return fleet, inv, fleet.cluster("c1").nodes[1].fqdn


def _logins(fleet: SimulatedFleet, since: int = 0) -> Counter[str]:
    return Counter(e["node"] for e in fleet.events()[since:] if e["operation"] == "ssh_login")


def test_clients_of_one_node_inside_the_scope_share_one_login(sim_factory):
    fleet, inv, sub = _world(sim_factory)
    mark = len(fleet.events())
    with reuse_sessions():
        for _ in range(4):  # four tasks, each with its own client, as a renewal's block of steps
            with CucmNode.from_inventory(inv, "c1", sub) as node:
                assert node.active_version().startswith("15.0")
                assert node.cli_service_list()
    assert _logins(fleet, mark) == Counter({sub: 1})


def test_outside_the_scope_every_client_logs_in_and_out(sim_factory):
    fleet, inv, sub = _world(sim_factory)
    mark = len(fleet.events())
    for _ in range(2):
        with CucmNode.from_inventory(inv, "c1", sub) as node:
            node.active_version()
    assert _logins(fleet, mark) == Counter({sub: 2})


def test_the_last_scope_to_end_logs_every_kept_session_out(sim_factory):
    _fleet, inv, sub = _world(sim_factory)
    pool = SessionPool()
    with pool.scope():
        with pool.scope():  # a second renewal of this process  # noqa: SIM117  (a scope inside a scope is the point)
            with CucmNode.from_inventory(inv, "c1", sub) as node:
                node.cli().pool = pool
                node.active_version()
        assert sum(len(v) for v in pool._idle.values()) == 1  # kept for the first scope
    assert pool._idle == {}


def test_a_kept_session_the_node_dropped_meanwhile_is_replaced_by_one_new_login(sim_factory):
    fleet, inv, sub = _world(sim_factory)
    mark = len(fleet.events())
    with reuse_sessions():
        with CucmNode.from_inventory(inv, "c1", sub) as node:
            node.active_version()
        fleet.set_fault("unreachable", node=sub)  # the node drops its sessions (a reboot, a cut link)
        fleet.clear_faults()
        with CucmNode.from_inventory(inv, "c1", sub) as node:
            assert node.active_version().startswith("15.0")
    assert _logins(fleet, mark) == Counter({sub: 2})


class _DropAfterRestart:
    """The real node; right after its CLI restart returns, the simulator cuts the session's next output."""

    def __init__(self, node: CucmNode, fleet: SimulatedFleet) -> None:
        self._node, self._fleet = node, fleet

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)

    def restart_service_cli(self, name: str) -> None:
        self._node.restart_service_cli(name)
        self._fleet.set_fault("ssh-drop", node=self._node.fqdn, times=1)


def test_a_session_dropped_mid_block_reconnects_once_and_the_restart_is_not_repeated(sim_factory):
    fleet, inv, sub = _world(sim_factory)
    mark = len(fleet.events())
    with reuse_sessions(), CucmNode.from_inventory(inv, "c1", sub) as node:
        api: Any = _DropAfterRestart(node, fleet)
        assert steps.restart_wanted(api, "Cisco Tomcat", RestartVia.CLI)[0]
        steps.restart_and_confirm(api, "Cisco Tomcat", RestartVia.CLI, unit="tomcat", timeout=30, poll=0.2)
        # the block's next step reads the services (the next restart's look): its output is cut
        assert steps.restart_wanted(api, "Cisco Tomcat", RestartVia.CLI)[0]
    events = fleet.events()[mark:]
    assert [e["operation"] for e in events if e["operation"] == "ssh_dropped"] == ["ssh_dropped"]
    restarts = [e for e in events if e["operation"] == "service_restart_started"]
    assert [(e["node"], e["service"]) for e in restarts] == [(sub, "Cisco Tomcat")]  # one disruptive event
    assert _logins(fleet, mark) == Counter({sub: 2})  # the first login and the one reconnect
    assert fleet.node(sub).services["Cisco Tomcat"].current_status() == "Started"


def test_a_command_that_changes_the_node_is_never_repeated_after_a_drop(sim_factory):
    fleet, inv, sub = _world(sim_factory)
    mark = len(fleet.events())
    with reuse_sessions(), CucmNode.from_inventory(inv, "c1", sub) as node:
        node.active_version()
        fleet.set_fault("ssh-drop", node=sub, times=1)
        with pytest.raises(CucmConnectionError, match="dropped while running 'utils service restart Cisco Tomcat'"):
            node.restart_service_cli("Cisco Tomcat")
    assert _logins(fleet, mark) == Counter({sub: 1})  # no new login to repeat it


@pytest.mark.parametrize(
    ("command", "reads"),
    [
        ("show version active", True),
        ("utils service list", True),
        ("utils disaster_recovery status backup", True),
        ("utils sso status", True),
        ("utils service restart Cisco Tomcat", False),
        ("utils ctl update CTLFile", False),
        ("set csr gen tomcat", False),
        ("set cert import own tomcat", False),
        ("utils disaster_recovery backup network UCM dev1", False),
    ],
)
def test_only_commands_that_read_are_repeated_after_a_drop(command, reads):
    assert read_only(command) is reads
