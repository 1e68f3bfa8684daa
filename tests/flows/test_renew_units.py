"""Each unit renewed end to end against the simulator, on a real Prefect server."""

from __future__ import annotations

import pytest

from certops import audit
from flows.renew import renew
from tests.flows.conftest import FAST, served_fingerprint

pytestmark = [
    pytest.mark.prefect,
]


@pytest.mark.parametrize("unit", ["tomcat", "tomcat-ECDSA", "ipsec", "CAPF", "CallManager", "CallManager-ECDSA", "TVS"])
def test_unit_is_renewed_on_every_node_that_holds_it_and_verified(make_env, unit):
    env = make_env(ca="auto")
    report = renew(str(env.inventory_path), "c1", unit, settings=FAST)
    assert report.status == "completed"
    expected = {"tomcat": 3, "tomcat-ECDSA": 3, "ipsec": 3, "CAPF": 1}.get(unit, 2)
    assert [n.fqdn for n in report.nodes] == env.node_names()[:expected]
    events = env.fleet.events()
    for n in report.nodes:
        assert n.verified and n.after is not None and n.before is not None
        assert n.after.fingerprint_sha256 != n.before.fingerprint_sha256
        assert env.fleet.node(n.fqdn).identity(unit).cert is not None
        if unit != "ipsec":
            assert served_fingerprint(env, n.fqdn, unit) == n.after.fingerprint_sha256
    # publisher first; trust before identity on every node
    uploads = [e["node"] for e in events if e["operation"] == "identity_uploaded"]
    assert uploads == [n.fqdn for n in report.nodes]
    for n in report.nodes:
        node_ops = [e["operation"] for e in events if e["node"] == n.fqdn]
        assert node_ops.index("trust_uploaded") < node_ops.index("identity_uploaded")
    ops = [r.operation for r in audit.read(env.audit_path)]
    assert ops.count("upload_identity") == len(report.nodes) and ops[-1] == "renewal_done"
    # Phone Interaction on Certificate Update is automatic (the simulator's default, as Cisco's): the
    # phones reset themselves after a CAPF/CallManager/TVS upload, every one came back, certops reset none
    auto = {e["detail"]["phone"] for e in events if e["operation"] == "phone_auto_reset"}
    phones = {p.name for p in env.fleet.cluster("c1").phones}
    assert auto == (phones if unit in ("CAPF", "CallManager", "CallManager-ECDSA", "TVS") else set())
    assert [e for e in events if e["operation"] == "phone_reset"] == []
