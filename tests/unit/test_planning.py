"""The renewal plan: nodes and their order, steps per unit, the rules that apply."""

from __future__ import annotations

import datetime as dt

import pytest

from certops.errors import ConfigError
from certops.inventory import Inventory
from certops.planning import ClusterState, StepKind, plan_renewal


def _inventory(version: str = "15.0.1.11900-40", windows: list[dict] | None = None) -> Inventory:
    return Inventory.model_validate(
        {
            "defaults": {
                "os_admin": {"username": "admin", "password_env": "CUCM_OS_PW"},
                "app_user": {"username": "app", "password_env": "CUCM_APP_PW"},
            },
            "clusters": [
                {
                    "name": "lab",
                    "version": version,
                    "maintenance_windows": windows or [],
                    "nodes": [
                        {"fqdn": "sub1.lab.example", "role": "subscriber"},
                        {"fqdn": "imp1.lab.example", "role": "imp"},
                        {"fqdn": "pub.lab.example", "role": "publisher"},
                        {"fqdn": "sub2.lab.example", "role": "subscriber"},
                    ],
                }
            ],
        }
    )


def test_tomcat_runs_on_every_node_publisher_first_then_subscribers_then_imp():
    plan = plan_renewal(_inventory(), "lab", "tomcat", state=None)
    assert [n.fqdn for n in plan.nodes] == [
        "pub.lab.example",
        "sub1.lab.example",
        "sub2.lab.example",
        "imp1.lab.example",
    ]


def test_callmanager_skips_imp_and_capf_is_publisher_only():
    assert "imp1.lab.example" not in [n.fqdn for n in plan_renewal(_inventory(), "lab", "CallManager").nodes]
    assert [n.fqdn for n in plan_renewal(_inventory(), "lab", "CAPF").nodes] == ["pub.lab.example"]


def test_naming_a_node_that_does_not_hold_the_unit_is_a_clear_error():
    with pytest.raises(ConfigError) as err:
        plan_renewal(_inventory(), "lab", "CallManager", ["imp1.lab.example"])
    assert "imp1.lab.example (imp) does not hold the CallManager certificate" in str(err.value)


def test_naming_an_unknown_node_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"has no node 'nope\.lab\.example'"):
        plan_renewal(_inventory(), "lab", "tomcat", ["nope.lab.example"])


def test_nodes_restricts_and_is_still_ordered_publisher_first():
    plan = plan_renewal(_inventory(), "lab", "tomcat", ["sub2.lab.example", "pub.lab.example"])
    assert [n.fqdn for n in plan.nodes] == ["pub.lab.example", "sub2.lab.example"]


def test_tomcat_restarts_by_cli_on_15_and_only_tomcat_and_tftp_on_12_5():
    plan15 = plan_renewal(_inventory(), "lab", "tomcat")
    pub15 = [s.service for s in plan15.steps_for("pub.lab.example") if s.kind is StepKind.RESTART]
    assert pub15[:2] == ["Cisco Tomcat", "Cisco Tftp"]
    assert {"Cisco UDS Tomcat", "Cisco AXL Tomcat", "Cisco DRF Master", "Cisco DRF Local"} <= set(pub15)
    plan12 = plan_renewal(_inventory("12.5.1.10000-22"), "lab", "tomcat")
    pub12 = [s.service for s in plan12.steps_for("pub.lab.example") if s.kind is StepKind.RESTART]
    assert pub12 == ["Cisco Tomcat", "Cisco Tftp"]


def test_restarts_only_for_services_activated_on_the_node_when_known():
    state = ClusterState(activated_services={"pub.lab.example": ["Cisco CallManager", "Cisco Tftp"]})
    plan = plan_renewal(_inventory(), "lab", "CallManager", state=state)
    assert [s.service for s in plan.steps_for("pub.lab.example") if s.kind is StepKind.RESTART] == [
        "Cisco CallManager",
        "Cisco Tftp",
    ]


def test_ctl_update_comes_before_any_restart_in_mixed_mode_and_not_in_non_secure_mode():
    mixed = plan_renewal(_inventory(), "lab", "CallManager", state=ClusterState(security_mode=1))
    kinds = [s.kind for s in mixed.steps]
    assert kinds.index(StepKind.CTL_UPDATE) < kinds.index(StepKind.RESTART)
    assert [s.node for s in mixed.steps if s.kind is StepKind.CTL_UPDATE] == ["pub.lab.example"]
    secure0 = plan_renewal(_inventory(), "lab", "CallManager", state=ClusterState(security_mode=0))
    assert StepKind.CTL_UPDATE not in [s.kind for s in secure0.steps]
    tvs = plan_renewal(_inventory(), "lab", "TVS", state=ClusterState(security_mode=1))
    assert StepKind.CTL_UPDATE not in [s.kind for s in tvs.steps]


def test_phone_reset_and_reregistration_follow_the_restarts_for_callmanager_only():
    cm = [s.kind for s in plan_renewal(_inventory(), "lab", "CallManager").steps]
    assert cm.index(StepKind.RESET_PHONES) > max(i for i, k in enumerate(cm) if k is StepKind.RESTART)
    assert cm.index(StepKind.WAIT_REGISTRATION) == cm.index(StepKind.RESET_PHONES) + 1
    assert StepKind.RESET_PHONES not in [s.kind for s in plan_renewal(_inventory(), "lab", "tomcat").steps]


def test_trust_upload_precedes_identity_upload_on_each_node():
    plan = plan_renewal(_inventory(), "lab", "ipsec")
    for node in plan.nodes:
        kinds = [s.kind for s in plan.steps_for(node.fqdn)]
        assert kinds.index(StepKind.UPLOAD_TRUST) < kinds.index(StepKind.UPLOAD_IDENTITY)


def test_rules_block_when_sso_enabled_drf_running_or_claim_held():
    sso = plan_renewal(_inventory(), "lab", "tomcat", state=ClusterState(sso_enabled=True))
    assert [r.rule for r in sso.blockers] == ["sso"]
    drf = plan_renewal(_inventory(), "lab", "ipsec", state=ClusterState(drf_running=True))
    assert [r.rule for r in drf.blockers] == ["drf"]
    held = plan_renewal(_inventory(), "lab", "TVS", state=ClusterState(claims={"itl": "run abc (CallManager)"}))
    assert [r.rule for r in held.blockers] == ["exclusion"]
    assert "run abc (CallManager)" in held.render()


def test_callmanager_and_tvs_share_one_exclusion_key_but_tomcat_has_its_own():
    keys = {u: plan_renewal(_inventory(), "lab", u).exclusion_key for u in ("CallManager", "TVS", "tomcat")}
    assert keys["CallManager"] == keys["TVS"] == "itl"
    assert keys["tomcat"] == "tomcat"


def test_window_rule_blocks_outside_window_unless_expiry_is_urgent():
    inv = _inventory(windows=[{"start": "22:00", "end": "05:00"}])
    noon = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    far = ClusterState(now=noon, expiries={"pub.lab.example": noon + dt.timedelta(days=60)})
    assert [r.rule for r in plan_renewal(inv, "lab", "CAPF", state=far).blockers] == ["window"]
    near = ClusterState(now=noon, expiries={"pub.lab.example": noon + dt.timedelta(days=2)})
    assert plan_renewal(inv, "lab", "CAPF", state=near).blockers == []


def test_render_lists_every_step_per_node_and_says_nothing_changed():
    text = plan_renewal(_inventory(), "lab", "CallManager").render()
    assert "[pub.lab.example] restart Cisco CallManager" in text
    assert "[sub2.lab.example] upload the signed leaf to CallManager" in text
    assert "exclusion" in text and "Dry run: nothing was changed." in text
