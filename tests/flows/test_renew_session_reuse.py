"""A renewal logs in once per node, and a session dropped mid-block costs one reconnect, no repeated step.

Judged by the simulator's event log: ``ssh_login`` (one per authenticated session),
``ssh_dropped`` (its ``ssh-drop`` fault) and ``service_restart_started`` (the disruptive step).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from certops.cucm.node import CucmNode
from certops.renewal import adapters
from flows.renew import renew
from tests.flows.conftest import FAST

pytestmark = [pytest.mark.prefect]


def test_a_tomcat_renewal_logs_in_at_most_once_per_node_for_all_its_cli_steps(make_env):
    env = make_env(ca="auto", fleet={"cli_banner_seconds": 0.2})
    mark = len(env.fleet.events())
    report = renew(str(env.inventory_path), "c1", "tomcat", settings=FAST)
    assert report.status == "completed"
    events = env.fleet.events()[mark:]
    cli_restarts = Counter(
        e["node"] for e in events if e["operation"] == "service_restart_started" and e["detail"]["via"] == "cli"
    )
    assert set(cli_restarts) == set(env.node_names())  # every node had CLI steps (several restarts each)
    assert max(cli_restarts.values()) > 1
    logins = Counter(e["node"] for e in events if e["operation"] == "ssh_login")
    assert logins == Counter({n: 1 for n in env.node_names()})


class _DropAfterFirstRestart:
    """The real node; after the first CLI restart on ``victim`` returns, the simulator cuts its next output."""

    dropped = False

    def __init__(self, node: CucmNode, env: Any, victim: str) -> None:
        self._node, self._env, self._victim = node, env, victim

    def __enter__(self) -> _DropAfterFirstRestart:
        return self

    def __exit__(self, *exc: object) -> None:
        self._node.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)

    def restart_service_cli(self, name: str) -> None:
        self._node.restart_service_cli(name)
        if self._node.fqdn == self._victim and not _DropAfterFirstRestart.dropped:
            _DropAfterFirstRestart.dropped = True
            self._env.fleet.set_fault("ssh-drop", node=self._victim, times=1)


def test_a_session_dropped_mid_renewal_reconnects_once_and_repeats_no_restart(make_env):
    env = make_env(ca="auto", fleet={"cli_banner_seconds": 0.2})
    victim = env.node_names()[1]
    _DropAfterFirstRestart.dropped = False
    adapters.set_node_factory(
        lambda inv, cluster, fqdn: _DropAfterFirstRestart(CucmNode.from_inventory(inv, cluster, fqdn), env, victim)
    )
    mark = len(env.fleet.events())
    try:
        report = renew(str(env.inventory_path), "c1", "tomcat", settings=FAST)
    finally:
        adapters.set_node_factory(None)
    assert report.status == "completed"
    events = env.fleet.events()[mark:]
    assert [e["node"] for e in events if e["operation"] == "ssh_dropped"] == [victim]
    restarts = Counter((e["node"], e["service"]) for e in events if e["operation"] == "service_restart_started")
    assert restarts and set(restarts.values()) == {1}  # no disruptive step twice, the dropped block included
    logins = Counter(e["node"] for e in events if e["operation"] == "ssh_login")
    assert logins == Counter({n: (2 if n == victim else 1) for n in env.node_names()})
