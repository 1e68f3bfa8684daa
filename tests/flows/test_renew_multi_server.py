"""Multi-server (Multi-SAN) renewals end to end against the simulator, judged by its event log.

One CSR on the publisher (distribution multi-server, every node in its SANs), one signature, one
upload on the publisher; the simulator distributes the certificate to the other nodes; restarts,
phones and verification then go node by node as for a per-node renewal.
"""

from __future__ import annotations

from typing import Any

import pytest

from certops import audit
from flows.renew import renew
from tests.flows.conftest import FAST, served_fingerprint

pytestmark = [pytest.mark.prefect]

MS = FAST.model_copy(update={"multi_server_distribution_timeout": 20.0, "multi_server_distribution_poll": 0.2})


def _ops(events: list[dict[str, Any]], operation: str, unit: str) -> list[dict[str, Any]]:
    return [e for e in events if e["operation"] == operation and e.get("unit") == unit]


def _renewed_as_one_certificate(env: Any, unit: str, nodes: list[str], csr_node: str) -> dict[str, Any]:
    """What every multi-server test checks: one CSR, one upload, distribution before restarts, one leaf served."""
    report = renew(str(env.inventory_path), "c1", unit, settings=MS)
    assert report.status == "completed", report
    assert [n.fqdn for n in report.nodes] == nodes
    events = env.fleet.events()
    csrs = _ops(events, "csr_generated", unit)
    assert [e["node"] for e in csrs] == [csr_node], "one CSR, on the publisher only"
    assert set(csrs[0]["detail"]["sans"]) >= set(nodes), "the CSR names every node"
    assert [e["node"] for e in _ops(events, "identity_uploaded", unit)] == [csr_node], "one upload"
    got = [e["node"] for e in _ops(events, "identity_distributed", unit)]
    assert sorted(got) == sorted(n for n in nodes if n != csr_node)
    leaf = {served_fingerprint(env, n, unit) for n in nodes}
    assert len(leaf) == 1, "every node serves the one multi-server certificate"
    for n in report.nodes:
        assert n.verified and n.after is not None and n.before is not None
        assert n.after.fingerprint_sha256 in leaf and n.after.fingerprint_sha256 != n.before.fingerprint_sha256
    # on every node the certificate was there before any restart there (no restart serves the old one)
    for fqdn in nodes:
        idx = [i for i, e in enumerate(events) if e["node"] == fqdn]
        arrived = next(
            i
            for i in idx
            if events[i]["operation"] in ("identity_uploaded", "identity_distributed") and events[i].get("unit") == unit
        )
        restarts = [i for i in idx if events[i]["operation"] == "service_restart_started"]
        assert restarts and min(restarts) > arrived
    ops = [r.operation for r in audit.read(env.audit_path)]
    assert ops.count("generate_csr") == 1 and ops.count("upload_identity") == 1
    assert ops.count("identity_distributed") == len(nodes) - 1 and ops[-1] == "renewal_done"
    return {"report": report, "events": events}


def test_tomcat_multi_server_is_one_csr_on_the_publisher_distributed_to_every_node(make_env):
    env = make_env(ca="auto", cluster={"multi_server": ["tomcat"]})
    nodes = env.node_names()
    out = _renewed_as_one_certificate(env, "tomcat", nodes, env.pub)
    events = out["events"]
    # restarts node by node, publisher first, Cisco Tomcat on every node
    tomcat = [
        e["node"] for e in events if e["operation"] == "service_restart_started" and e["service"] == "Cisco Tomcat"
    ]
    assert tomcat == nodes


def test_callmanager_multi_server_keeps_the_phone_rules_and_names_the_publisher_ms(make_env):
    env = make_env(ca="auto", cluster={"multi_server": ["CallManager"]})
    nodes = env.node_names()[:2]  # the CUCM nodes (the third is IM&P)
    out = _renewed_as_one_certificate(env, "CallManager", nodes, env.pub)
    events = out["events"]
    host, _, domain = env.pub.partition(".")
    csr = _ops(events, "csr_generated", "CallManager")[0]
    assert csr["detail"]["common_name"] == f"{host}-ms.{domain}"
    # the phones reset themselves once (Phone Interaction automatic) and every one came back; certops reset none
    auto = [e["detail"]["phone"] for e in events if e["operation"] == "phone_auto_reset"]
    phones = {p.name for p in env.fleet.cluster("c1").phones}
    assert sorted(auto) == sorted(phones)
    assert [e for e in events if e["operation"] == "phone_reset"] == []


def test_a_multi_server_certificate_that_never_reaches_a_node_stops_before_any_restart_naming_it(make_env):
    env = make_env(ca="auto", cluster={"multi_server": ["tomcat"]}, fleet={"multi_server_distribution_seconds": 3600})
    settings = MS.model_copy(update={"multi_server_distribution_timeout": 1.5})
    with pytest.raises(Exception) as info:
        renew(str(env.inventory_path), "c1", "tomcat", settings=settings)
    text = str(info.value)
    for fqdn in env.node_names()[1:]:
        assert fqdn in text
    assert "did not reach" in text
    events = env.fleet.events()
    assert [e for e in events if e["operation"] == "service_restart_started"] == []
    assert [e["node"] for e in _ops(events, "identity_uploaded", "tomcat")] == [env.pub]


def test_tvs_multi_server_is_renewed_as_one_certificate_with_the_phones_back(make_env):
    env = make_env(ca="auto", cluster={"multi_server": ["TVS"]})
    nodes = env.node_names()[:2]
    out = _renewed_as_one_certificate(env, "TVS", nodes, env.pub)
    auto = [e["detail"]["phone"] for e in out["events"] if e["operation"] == "phone_auto_reset"]
    assert sorted(auto) == sorted(p.name for p in env.fleet.cluster("c1").phones)


IMP_FLEET: dict[str, Any] = {
    "nodes": 5,
    "imp_nodes": 3,
    "federation": (2, 3),
    "trust_replication_seconds": 0.5,
}
IMP_MS = MS.model_copy(update={"imp_trust_replication_timeout": 30.0, "imp_trust_replication_poll": 0.2})


@pytest.mark.parametrize(
    ("unit", "holders", "csr_node"),
    [
        ("cup-xmpp", ["imp1", "imp2", "imp3"], "imp1"),  # every IM&P node; the CSR on the IM&P database publisher
        ("cup-xmpp-s2s", ["imp2", "imp3"], "imp2"),  # the federation nodes; imp1 has federation off
    ],
)
def test_imp_unit_multi_server_is_one_csr_distributed_to_the_imp_nodes(make_env, unit, holders, csr_node):
    env = make_env(ca="auto", fleet=IMP_FLEET, cluster={"multi_server": [unit]})
    nodes = [f"{h}.c1.certops.test" for h in holders]
    report = renew(str(env.inventory_path), "c1", unit, settings=IMP_MS)
    assert report.status == "completed", report
    events = env.fleet.events()
    assert [e["node"] for e in _ops(events, "csr_generated", unit)] == [f"{csr_node}.c1.certops.test"]
    assert [e["node"] for e in _ops(events, "identity_uploaded", unit)] == [f"{csr_node}.c1.certops.test"]
    got = {e["node"] for e in _ops(events, "identity_distributed", unit)}
    # every other renewed node got it (the simulator's CSR names every IM&P node holding the unit, imp1 too)
    assert {n for n in nodes if not n.startswith(csr_node)} <= got
    assert len({served_fingerprint(env, n, unit) for n in nodes}) == 1
    assert all(n.verified for n in report.nodes) and [n.fqdn for n in report.nodes] == nodes


def test_a_person_approves_one_multi_server_chain_once_and_every_node_serves_it(make_env):
    from prefect.flow_runs import resume_flow_run

    from tests.flows.conftest import start_in_thread, wait_paused

    env = make_env(ca="person", cluster={"multi_server": ["tomcat"]})
    nodes = env.node_names()
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "tomcat", settings=MS, return_state=True)
    run = wait_paused(env)
    pending = [n.fqdn for n in env.fleet.cluster("c1").nodes if "tomcat" in n.csrs]
    assert pending == [env.pub], "one CSR to sign, on the publisher"
    csr = env.fleet.node(env.pub).csrs["tomcat"].pem
    chain = env.ca.sign(csr, "tomcat").leaf_pem + "".join(env.ca.chain_pems)
    resume_flow_run(run.id, run_input={"chain_pem": chain, "approver": "alice"})
    state = fut.result(timeout=120)
    assert state.is_completed(), state
    assert len({served_fingerprint(env, n, "tomcat") for n in nodes}) == 1
    events = env.fleet.events()
    assert [e["node"] for e in _ops(events, "identity_uploaded", "tomcat")] == [env.pub]
    assert sorted(e["node"] for e in _ops(events, "identity_distributed", "tomcat")) == sorted(nodes[1:])
    assert [r.operation for r in audit.read(env.audit_path)].count("approve") == 1


def test_the_dry_run_of_a_multi_server_unit_says_one_csr_reads_every_node_and_changes_nothing(make_env):
    from typer.testing import CliRunner

    from certops.cli import app

    env = make_env(ca="auto", cluster={"multi_server": ["CallManager"]})
    mark = len(env.fleet.events())
    sub = env.node_names()[1]
    args = ["renew", "-i", str(env.inventory_path), "-c", "c1", "-u", "CallManager", "-n", sub, "--dry-run"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output  # go: the publisher was read too, though only sub1 was named
    out = result.output
    assert f"multi-server: one CSR on {env.pub}, distributed to 1 node ({sub})" in out
    steps = out.split("Steps:")[1].split("Rules:")[0]
    assert steps.count("generate one multi-server RSA CSR") == 1
    assert env.changes(since=mark) == []
