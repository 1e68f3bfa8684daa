"""Renewals restart what Cisco's Security Guides ask for on the release the node runs (simulator event log)."""

from __future__ import annotations

import pytest

from flows.renew import renew
from tests.flows.conftest import FAST

pytestmark = [pytest.mark.prefect]


def _restarted(env, node: str) -> list[str]:
    return [
        e["service"] for e in env.fleet.events() if e["operation"] == "service_restart_started" and e["node"] == node
    ]


def test_tomcat_renewal_on_15_restarts_tftp_and_the_14su2_guides_services(make_env):
    env = make_env(ca="auto", fleet={"version": "15.0", "nodes": 2})
    report = renew(str(env.inventory_path), "c1", "tomcat", settings=FAST)
    assert report.status == "completed"
    pub, sub = env.node_names()[:2]
    on_pub = _restarted(env, pub)
    assert on_pub[:2] == ["Cisco Tomcat", "Cisco Tftp"]
    for service in [
        "Cisco Intercluster Lookup Service",  # activated on the publisher in the simulator
        "Cisco Location Bandwidth Manager",
        "Cisco Extension Mobility",
        "Cisco DRF Master",
        "Cisco DRF Local",
        "Cisco UDS Tomcat",
        "Cisco AXL Tomcat",
    ]:
        assert service in on_pub
    on_sub = _restarted(env, sub)
    assert "Cisco Tftp" in on_sub and "Cisco DRF Master" not in on_sub
    # not activated on this subscriber: never touched
    assert "Cisco Intercluster Lookup Service" not in on_sub and "Cisco Extension Mobility" not in on_sub
    # what to do now, in the report (Cisco's Security Guides)
    assert any("take a DRF backup of cluster c1" in w for w in report.warnings)
    # phones that use SIP OAuth are reset after the Tomcat restart on 14+ (14SU2); the simulator has none here
    assert report.phones_outcome == (
        "no phone uses SIP OAuth: none to reset after the Tomcat restart on CUCM 14+ (Cisco Security Guide 14SU2)"
    )


def test_tomcat_ecdsa_renewal_on_14su2_follows_its_own_list_without_tftp(make_env):
    env = make_env(ca="auto", fleet={"version": "14SU2", "nodes": 2})
    report = renew(str(env.inventory_path), "c1", "tomcat-ECDSA", settings=FAST)
    assert report.status == "completed"
    pub = env.node_names()[0]
    assert _restarted(env, pub) == [
        "Cisco Tomcat",
        "Cisco UDS Tomcat",
        "Cisco AXL Tomcat",
        "Cisco DRF Master",
        "Cisco DRF Local",
    ]


def test_callmanager_renewal_reads_phone_interaction_before_the_phone_step_and_reports_it(make_env):
    env = make_env(ca="auto", fleet={"version": "15.0", "nodes": 2})
    report = renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    assert report.status == "completed"
    assert report.phones_interaction == "automatic"  # Cisco's default on 14+
    assert "Phone Interaction on Certificate Update: automatic." in report.to_markdown()
    assert "Cisco HAProxy" in _restarted(env, env.node_names()[0])
