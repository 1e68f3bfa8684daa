"""Every CUCM unit renewed end to end on a CUCM 12.5 cluster, where certmgr REST does not exist.

On 12.5 the simulator answers every certmgr REST path with 404 (cucm-interfaces.md §1.1), so a
renewal that completes here went over the CLI: ``set csr gen`` (answering "Include OU in CSR
(yes|no)?"), ``show csr own``, ``set cert import trust``/``own`` with one paste each, restarts over
the CLI or Control Center as the unit's table says. The rules are those of 14+: the ITL group
never overlaps, SSO stops tomcat, a DRF job holds ipsec back, and the node must serve the new
certificate (verification) before the run says completed.
"""

from __future__ import annotations

import pytest

from certops import audit
from certops.errors import PolicyViolation
from flows.renew import renew
from tests.flows.conftest import FAST, served_fingerprint, start_in_thread

pytestmark = [pytest.mark.prefect]

V125 = {"version": "12.5"}
UNITS = ["tomcat", "tomcat-ECDSA", "CallManager", "CallManager-ECDSA", "CAPF", "TVS", "ipsec", "ITLRecovery"]
PUBLISHER_ONLY = {"CAPF", "ITLRecovery"}
ALL_NODES = {"tomcat", "tomcat-ECDSA", "ipsec"}  # the IM&P node holds these too
NOT_SERVED = {"ipsec", "ITLRecovery"}  # no TLS port of their own: verified by reading the identity back
RESETS_PHONES = {"CAPF", "CallManager", "CallManager-ECDSA", "TVS", "ITLRecovery"}


def _ops(env, op):
    return [e for e in env.fleet.events() if e["operation"] == op]


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_renews_over_the_cli_on_12_5_and_the_node_serves_the_new_certificate(make_env, unit):
    env = make_env(ca="auto", fleet=V125)
    assert env.fleet.cluster("c1").version_tuple == (12, 5)
    report = renew(str(env.inventory_path), "c1", unit, settings=FAST)

    assert report.status == "completed"
    names = env.node_names()
    expected = names[:1] if unit in PUBLISHER_ONLY else names if unit in ALL_NODES else names[:2]
    assert [n.fqdn for n in report.nodes] == expected
    for n in report.nodes:
        assert n.verified and n.before is not None and n.after is not None
        assert n.after.fingerprint_sha256 != n.before.fingerprint_sha256
        if unit not in NOT_SERVED:
            assert served_fingerprint(env, n.fqdn, unit) == n.after.fingerprint_sha256
    events = env.fleet.events()
    # one CSR and one identity upload per node, publisher first, trust before identity on each node
    # every node makes its CSR at once; each exactly once
    assert sorted(e["node"] for e in events if e["operation"] == "csr_generated" and e["unit"] == unit) == sorted(
        expected
    )
    assert [e["node"] for e in events if e["operation"] == "identity_uploaded"] == expected
    for fqdn in expected:
        ops = [e["operation"] for e in events if e["node"] == fqdn]
        assert ops.index("trust_uploaded") < ops.index("identity_uploaded")
    assert not _ops(env, "upload_refused"), "nothing pasted over the CLI was refused"
    assert bool(_ops(env, "phone_reset")) == (unit in RESETS_PHONES)
    ops = [r.operation for r in audit.read(env.audit_path)]
    assert ops.count("upload_identity") == len(expected) and ops[-1] == "renewal_done"


def test_sso_enabled_refuses_tomcat_on_12_5_and_changes_nothing(make_env):
    env = make_env(ca="auto", fleet=V125)
    env.fleet.set_fault("sso", cluster="c1")
    with pytest.raises(PolicyViolation) as err:
        renew(str(env.inventory_path), "c1", "tomcat", settings=FAST)
    assert "SAML SSO is enabled" in str(err.value)
    assert _ops(env, "csr_generated") == [] and _ops(env, "identity_uploaded") == []


def test_a_drf_backup_running_on_12_5_holds_the_ipsec_renewal_until_it_ends(make_env):
    env = make_env(ca="auto", fleet=V125)
    env.fleet.set_fault("drf-backup", cluster="c1", seconds=2.0)
    report = renew(str(env.inventory_path), "c1", "ipsec", settings=FAST)
    assert report.status == "completed"
    events = env.fleet.events()
    finished = max(i for i, e in enumerate(events) if e["operation"] == "drf_backup_finished")
    changes = [i for i, e in enumerate(events) if e["operation"] in ("csr_generated", "identity_uploaded")]
    assert changes and min(changes) > finished


def test_callmanager_and_tvs_started_together_on_12_5_never_overlap(make_env):
    env = make_env(ca="auto", fleet=V125)
    a = start_in_thread(renew, str(env.inventory_path), "c1", "CallManager", settings=FAST)
    b = start_in_thread(renew, str(env.inventory_path), "c1", "TVS", settings=FAST)
    assert a.result(timeout=300).status == "completed"
    assert b.result(timeout=300).status == "completed"
    units = [e["unit"] for e in env.fleet.events() if e["operation"] in ("csr_generated", "identity_uploaded")]
    # all of one unit's CSRs and uploads, then all of the other's: never interleaved
    first = units[0]
    switch = next(i for i, u in enumerate(units) if u != first)
    assert set(units[:switch]) == {first} and first not in units[switch:]


def test_mixed_mode_on_12_5_updates_the_ctl_over_the_cli_once_before_any_restart(make_env):
    env = make_env(ca="auto", fleet=V125)
    env.fleet.set_fault("mixed-mode", cluster="c1")
    report = renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    assert report.status == "completed" and report.ctl_updated
    events = env.fleet.events()
    ctl = [i for i, e in enumerate(events) if e["operation"] == "ctl_updated"]
    restarts = [i for i, e in enumerate(events) if e["operation"] == "service_restart_started"]
    assert len(ctl) == 1 and events[ctl[0]]["node"] == env.pub and ctl[0] < min(restarts)
