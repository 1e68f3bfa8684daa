"""The kill-and-rerun proof for an IM and Presence unit: cup-xmpp, killed inside its IM&P trust step.

The same machinery as ``test_renew_killed.py`` (``killed_support``: the renewal in a child process,
SIGKILLed the moment the simulator records the chosen event, while the node still handles the
request). The cases here are the steps only an IM&P unit has: the CA upload to the IM&P database
publisher, and the Cisco Intercluster Sync Agent restart there (killed as the restart finishes and
the replication starts, so the killed run never saw the agent Started). The rerun must neither
upload twice, nor make a new CSR, nor restart the agent again, and must complete.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from typing import Any

import pytest

from flows.renew import renew
from tests.flows.conftest import FAST, RenewalEnv, served_fingerprint
from tests.flows.killed_support import KillPoint, KillSwitch, mark_crashed, running_run_of, start_child

pytestmark = [pytest.mark.prefect]

IMP1 = "imp1.c1.certops.test"
IMP2 = "imp2.c1.certops.test"
SYNC_AGENT = "Cisco Intercluster Sync Agent"
IMP_FAST = FAST.model_copy(update={"imp_trust_replication_timeout": 30.0, "imp_trust_replication_poll": 0.2})

CASES = {
    "imp-publisher-trust-uploaded": KillPoint("trust_uploaded", node=IMP1),
    "sync-agent-restarted-replication-started": KillPoint("trust_replication_started", node=IMP1),
    "first-imp-identity-uploaded": KillPoint("identity_uploaded", node=IMP1),
}


def _ops(env: RenewalEnv, operation: str) -> list[dict[str, Any]]:
    return env.fleet.events(operation=operation)


def _kill_at(env: RenewalEnv, point: KillPoint, child_env: dict[str, str], log_dir: Any) -> dict[str, Any]:
    """Run the cup-xmpp renewal in a child process and SIGKILL it at ``point``; return the event it died at.

    As ``test_renew_killed._kill_at``, with the IM&P settings, and waiting for the kill as long as the
    child runs (its start alone can take a minute on a loaded box); ``guard`` only keeps a hung child
    from hanging the suite.
    """
    switch = KillSwitch(env.fleet, point).install()
    log = log_dir / "killed-run.log"
    proc = start_child(env.inventory_path, env.cluster, "cup-xmpp", IMP_FAST.model_dump_json(), child_env, log)
    switch.pid = proc.pid
    guard = time.monotonic() + 900
    try:
        while not switch.fired.wait(0.2):
            if proc.poll() is not None or time.monotonic() > guard:
                raise AssertionError(
                    f"the renewal ended (rc {proc.returncode}) before {point}:\n{log.read_text()[-3000:]}"
                )
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        switch.uninstall()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
    assert switch.event is not None
    return switch.event


@pytest.mark.parametrize("where", list(CASES))
def test_killed_imp_renewal_continues_on_rerun_without_repeating_its_trust_step(
    make_env, prefect_server, tmp_path, where
):
    env = make_env(ca="auto", fleet={"nodes": 4, "imp_nodes": 2, "federation": (2,), "trust_replication_seconds": 0.5})
    killed_at = _kill_at(env, CASES[where], prefect_server.child_env(), tmp_path)
    killed = running_run_of(env.inventory_path)
    mark_crashed(killed.id)

    report = renew(str(env.inventory_path), env.cluster, "cup-xmpp", settings=IMP_FAST)

    assert report.status == "completed", killed_at
    nodes = [n.fqdn for n in report.nodes]
    assert nodes == [IMP1, IMP2]
    assert Counter(e["node"] for e in _ops(env, "csr_generated")) == Counter(nodes)
    # the CA certificates went once, to the IM&P database publisher only
    trust = Counter((e["node"], e["detail"]["common_name"]) for e in _ops(env, "trust_uploaded"))
    assert trust and set(trust.values()) == {1} and {n for n, _ in trust} == {IMP1}, trust
    # the Sync Agent restarted once, XCP Router once per node
    restarts = Counter((e["node"], e["service"]) for e in _ops(env, "service_restart_started"))
    assert restarts == Counter({(IMP1, SYNC_AGENT): 1, (IMP1, "Cisco XCP Router"): 1, (IMP2, "Cisco XCP Router"): 1})
    assert Counter(e["node"] for e in _ops(env, "identity_uploaded")) == Counter(nodes)
    assert [e["unit"] for e in _ops(env, "trust_replicated") if e["node"] == IMP2] == ["cup-xmpp-trust"]
    for n in report.nodes:
        assert n.verified and n.after is not None and n.before is not None
        assert served_fingerprint(env, n.fqdn, "cup-xmpp") == n.after.fingerprint_sha256
