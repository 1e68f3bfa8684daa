"""The preflight's CLI logins started ahead (``SessionPool.log_in_ahead``), judged by the simulator's log.

The renewal flow starts every node's login as soon as it holds the host lock, so the CLI banner
(seconds on a real node) runs out while it claims the cluster. What a UC engineer must not see:
a second login on a node, a second refused password (it counts towards the account's lockout),
or a session left open on a node after the run let its sessions go.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from certops.cucm.node import CucmNode
from certops.cucm.shell import SessionPool, reuse_sessions
from certops.errors import CucmAuthError
from certops.renewal.adapters import load_inventory
from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import OS_PASSWORD_ENV


def _world(sim_factory: Callable[..., SimulatedFleet]) -> tuple[SimulatedFleet, Any, str]:
    fleet = sim_factory(nodes=2, cli_banner_seconds=0.5)
    inv = load_inventory(Path(fleet.state_dir) / "inventory.yaml")
    return fleet, inv, fleet.cluster("c1").nodes[1].fqdn


def _count(fleet: SimulatedFleet, operation: str, since: int) -> Counter[str]:
    return Counter(e["node"] for e in fleet.events()[since:] if e["operation"] == operation)


def test_a_step_opening_the_cli_while_its_login_ahead_runs_uses_that_login(sim_factory):
    fleet, inv, sub = _world(sim_factory)
    mark = len(fleet.events())
    with reuse_sessions():
        assert CucmNode.from_inventory(inv, "c1", sub).log_in_ahead()
        # the preflight's read comes at once, while the banner still runs: it waits for that login
        with CucmNode.from_inventory(inv, "c1", sub) as node:
            assert node.active_version().startswith("15.0")
        with CucmNode.from_inventory(inv, "c1", sub) as node:  # a later step of the block
            assert node.cli_service_list()
    assert _count(fleet, "ssh_login", mark) == Counter({sub: 1})


def test_a_refused_login_ahead_is_the_steps_error_and_the_node_sees_the_password_once(sim_factory, monkeypatch):
    fleet, inv, sub = _world(sim_factory)
    monkeypatch.setenv(OS_PASSWORD_ENV, "not-the-password")
    mark = len(fleet.events())
    with pytest.raises(CucmAuthError) as alone, CucmNode.from_inventory(inv, "c1", sub) as node:
        node.active_version()  # what one login with that password costs the node, without a login ahead
    once = _count(fleet, "ssh_login_refused", mark)
    assert once[sub] >= 1
    mark = len(fleet.events())
    with reuse_sessions():
        assert CucmNode.from_inventory(inv, "c1", sub).log_in_ahead()
        with pytest.raises(CucmAuthError) as ahead, CucmNode.from_inventory(inv, "c1", sub) as node:
            node.active_version()
    assert str(ahead.value) == str(alone.value)  # what failed, on which node, what to do: as without it
    assert sub in str(ahead.value)
    assert _count(fleet, "ssh_login_refused", mark) == once  # no second try with the same password
    assert _count(fleet, "ssh_login", mark) == Counter()


def test_a_login_ahead_that_ends_after_the_sessions_were_let_go_is_logged_out(sim_factory):
    fleet, inv, sub = _world(sim_factory)
    pool = SessionPool()
    mark = len(fleet.events())
    with pool.scope():
        cli = CucmNode.from_inventory(inv, "c1", sub)._new_cli()
        cli.pool = pool
        thread = pool.log_in_ahead(cli)
        assert thread is not None
        pool.close_idle()  # another run holds the cluster: this one lets its sessions go while it waits
        thread.join(timeout=60)
        assert not thread.is_alive()
        assert pool._idle == {}  # nothing kept on the node
        with CucmNode.from_inventory(inv, "c1", sub) as node:
            node.cli().pool = pool
            node.active_version()  # the wait is over: the step logs in anew
    assert _count(fleet, "ssh_login", mark) == Counter({sub: 2})


def test_no_login_ahead_starts_outside_a_scope(sim_factory):
    fleet, inv, sub = _world(sim_factory)
    mark = len(fleet.events())
    assert not CucmNode.from_inventory(inv, "c1", sub).log_in_ahead()
    assert _count(fleet, "ssh_login", mark) == Counter()
