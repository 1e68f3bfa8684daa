"""The IM and Presence units renewed end to end against the simulator, on a real Prefect server.

An IM&P cluster of the simulator: CUCM publisher and subscriber, IM&P nodes imp1 (the IM&P database
publisher) and imp2 (XMPP federation on). The CA certificates of a cup* unit go to imp1 only; Cisco
Intercluster Sync Agent restarts there; the simulator replicates them to imp2 on its own clock
(``trust_replication_seconds``); certops reads imp2's trust store until they are there, and only
then uploads the identities.
"""

from __future__ import annotations

from typing import Any

import pytest

from certops import audit
from certops.renewal.steps import RenewalStopped
from certops.units import UNITS
from flows.renew import renew
from tests.flows.conftest import FAST, RenewalEnv

pytestmark = [pytest.mark.prefect]

IMP1 = "imp1.c1.certops.test"  # the IM&P database publisher
IMP2 = "imp2.c1.certops.test"  # XMPP federation on
SYNC_AGENT = "Cisco Intercluster Sync Agent"
IMP_FLEET: dict[str, Any] = {"nodes": 4, "imp_nodes": 2, "federation": (2,), "trust_replication_seconds": 0.5}
IMP_FAST = FAST.model_copy(update={"imp_trust_replication_timeout": 30.0, "imp_trust_replication_poll": 0.2})

RESTARTS = {
    "cup": ["Cisco SIP Proxy", "Cisco Presence Engine"],
    "cup-ECDSA": ["Cisco SIP Proxy", "Cisco Presence Engine"],
    "cup-xmpp": ["Cisco XCP Router"],
    "cup-xmpp-ECDSA": ["Cisco XCP Router"],
    "cup-xmpp-s2s": ["Cisco XCP XMPP Federation Connection Manager"],
    "cup-xmpp-s2s-ECDSA": ["Cisco XCP XMPP Federation Connection Manager"],
}


def _ops(env: RenewalEnv, operation: str, **match: Any) -> list[dict[str, Any]]:
    return [e for e in env.fleet.events(operation=operation) if all(e.get(k) == v for k, v in match.items())]


def _index(env: RenewalEnv, event: dict[str, Any]) -> int:
    return env.fleet.events().index(event)


@pytest.mark.parametrize("version", ["15.0", "12.5"])
@pytest.mark.parametrize("unit", list(RESTARTS))
def test_imp_unit_is_renewed_with_its_trust_replicated_from_the_imp_publisher(make_env, unit, version):
    # 12.5: no certmgr REST, so CSR, trust and identity go over the CLI ('set csr gen', 'set cert import')
    env = make_env(ca="auto", fleet={**IMP_FLEET, "version": version})
    assert env.fleet.cluster("c1").version == version  # 12.5: the simulator's nodes answer no certmgr REST
    store = UNITS[unit].trust_store
    report = renew(str(env.inventory_path), "c1", unit, settings=IMP_FAST)

    assert report.status == "completed"
    expected = [IMP2] if "s2s" in unit else [IMP1, IMP2]  # cup-xmpp-s2s: the federation node only
    assert [n.fqdn for n in report.nodes] == expected
    for n in report.nodes:
        assert n.verified and n.before is not None and n.after is not None
        assert n.after.fingerprint_sha256 != n.before.fingerprint_sha256
        assert env.fleet.node(n.fqdn).served(unit).cert.fingerprint is not None
    # the CA certificates went to the IM&P database publisher only, then its Sync Agent restarted
    trust = _ops(env, "trust_uploaded", unit=store)
    assert trust and {e["node"] for e in trust} == {IMP1}
    sync = _ops(env, "service_restart_finished", node=IMP1, service=SYNC_AGENT)
    assert len(sync) == 1 and _index(env, trust[-1]) < _index(env, sync[0])
    # imp2 got them by replication, and only then its identity
    replicated = _ops(env, "trust_replicated", node=IMP2, unit=store)
    assert replicated and _index(env, sync[0]) < _index(env, replicated[0])
    uploads = _ops(env, "identity_uploaded", unit=unit)
    assert [e["node"] for e in uploads] == expected
    assert all(_index(env, replicated[0]) < _index(env, e) for e in uploads)
    # the unit's services restarted on its nodes (the federation service runs on imp2 only), one node at a time
    started = [(e["node"], e["service"]) for e in _ops(env, "service_restart_started") if e["service"] != SYNC_AGENT]
    assert started == [(node, s) for node in expected for s in RESTARTS[unit]]
    # no CUCM node touched, no phone reset
    cucm = {env.pub, "cucm-sub1.c1.certops.test"}
    assert not [e for e in env.changes() if e["node"] in cucm and e["operation"] != "fault_set"]
    assert not _ops(env, "phone_reset")
    ops = [r.operation for r in audit.read(env.audit_path)]
    assert "imp_trust_replicated" in ops and ops[-1] == "renewal_done"


def test_trust_that_never_reaches_an_imp_node_stops_the_renewal_naming_node_store_and_certificate(make_env):
    env = make_env(ca="auto", fleet=IMP_FLEET)
    env.fleet.set_fault("trust-never-replicates", node=IMP2)
    short = IMP_FAST.model_copy(update={"imp_trust_replication_timeout": 2.0})

    with pytest.raises(RenewalStopped) as err:
        renew(str(env.inventory_path), "c1", "cup-xmpp", settings=short)

    text = str(err.value)
    assert f"{IMP2}: cup-xmpp-trust lacks 'CN=" in text and "imp_trust_replication_timeout" in text
    assert IMP1 in text and SYNC_AGENT in text
    assert not _ops(env, "identity_uploaded"), "no identity may go up before the trust is on every IM&P node"
    assert not _ops(env, "trust_replicated", node=IMP2)

    # once the node can receive it again, a rerun restarts the Sync Agent once more and completes
    env.fleet.clear_faults()
    report = renew(str(env.inventory_path), "c1", "cup-xmpp", settings=IMP_FAST)
    assert report.status == "completed"
    assert len(_ops(env, "service_restart_finished", node=IMP1, service=SYNC_AGENT)) == 2
    assert {e["node"] for e in _ops(env, "trust_uploaded", unit="cup-xmpp-trust")} == {IMP1}
    assert len(_ops(env, "csr_generated", node=IMP2)) == 1, "the rerun keeps the CSRs of the stopped run"


def test_tomcat_on_an_imp_cluster_also_restarts_the_sync_agent_on_the_imp_publisher(make_env):
    env = make_env(ca="auto", fleet=IMP_FLEET)
    report = renew(str(env.inventory_path), "c1", "tomcat", settings=IMP_FAST)
    assert report.status == "completed"
    assert [n.fqdn for n in report.nodes][-2:] == [IMP1, IMP2]
    sync = _ops(env, "service_restart_started", service=SYNC_AGENT)
    assert [e["node"] for e in sync] == [IMP1]
    tomcat_imp1 = _ops(env, "service_restart_finished", node=IMP1, service="Cisco Tomcat")
    assert _index(env, tomcat_imp1[0]) < _index(env, sync[0])
