"""The unit table follows Cisco's Security Guides release by release, down to the Service Update."""

from __future__ import annotations

import pytest

from certops.inventory import Inventory
from certops.planning import StepKind, plan_renewal
from certops.units import UNITS, NodeRole, Source, parse_release, release_label, unit


def _restarts(name: str, role: NodeRole, release: tuple[int, ...]) -> list[str]:
    return [r.service for r in unit(name).restarts_for(role, release)]


@pytest.mark.parametrize(
    ("build", "release", "label"),
    [
        ("12.5.1.10000-22", (12, 5, 0), "12.5"),
        ("12.5.1.12900-115", (12, 5, 2), "12.5SU2"),
        ("14.0.1.10000-20", (14, 0, 0), "14.0"),
        ("14.0.1.11900-132", (14, 0, 1), "14SU1"),
        ("14.0.1.12900-161", (14, 0, 2), "14SU2"),
        ("15.0.1.11900-40", (15, 0, 1), "15SU1"),
        ("12.5.1.14074-1", (12, 5, 3), "12.5SU3"),  # an engineering special counts as the SU before it
    ],
)
def test_show_version_active_is_read_down_to_the_service_update(build, release, label):
    assert parse_release(build) == release
    assert release_label(parse_release(build)) == label


def test_a_short_version_leaves_the_su_unknown_and_the_inventory_can_state_it():
    assert parse_release("14.0") == (14, 0)
    assert parse_release("14.0.1.10000-20", service_update=2) == (14, 0, 2)


def test_tomcat_also_restarts_tftp_on_every_release_but_only_on_cucm_nodes():
    for release in [(12, 5, 0), (14, 0, 2), (15, 0, 1)]:
        assert "Cisco Tftp" in _restarts("tomcat", NodeRole.SUBSCRIBER, release)
    assert "Cisco Tftp" not in _restarts("tomcat", NodeRole.IMP, (15, 0, 1))


def test_tomcat_on_14_also_restarts_the_services_of_the_14su2_guide():
    on14 = _restarts("tomcat", NodeRole.PUBLISHER, (14, 0, 0))
    for service in [
        "Cisco Intercluster Lookup Service",
        "Cisco Location Bandwidth Manager",
        "Cisco DRF Local",
        "Cisco DRF Master",
        "Cisco Extension Mobility",
        "Cisco AXL Tomcat",
    ]:
        assert service in on14
        assert service not in _restarts("tomcat", NodeRole.PUBLISHER, (12, 5, 7))
    assert "Cisco Intercluster Lookup Service" not in _restarts("tomcat", NodeRole.IMP, (14, 0, 2))


def test_tomcat_ecdsa_follows_its_own_list_without_tftp():
    names = _restarts("tomcat-ECDSA", NodeRole.PUBLISHER, (15, 0, 1))
    assert names == ["Cisco Tomcat", "Cisco UDS Tomcat", "Cisco AXL Tomcat", "Cisco DRF Master", "Cisco DRF Local"]


def test_callmanager_haproxy_is_seed_from_14_0_and_guide_from_14su1_so_both_restart_it_from_14_0():
    haproxy = next(r for r in unit("CallManager").restarts if r.service == "Cisco HAProxy")
    assert {(c.source, c.since) for c in haproxy.cites} == {
        (Source.SEED, (14, 0, 0)),
        (Source.GUIDE_14_SU2, (14, 0, 1)),
    }
    assert "Cisco HAProxy" not in _restarts("CallManager", NodeRole.PUBLISHER, (12, 5, 7))
    assert "Cisco HAProxy" in _restarts("CallManager", NodeRole.PUBLISHER, (14, 0, 0))
    assert "Cisco HAProxy" in _restarts("CallManager", NodeRole.PUBLISHER, (14, 0, 1))
    assert haproxy.sources_text() == "[SEED 14.0+] [GUIDE 14SU2 14SU1+]"


def test_a_restart_tied_to_an_su_applies_when_the_su_is_unknown():
    from certops.units import Cite, RestartVia, ServiceRestart

    only_su1 = ServiceRestart("X", RestartVia.SOAP, frozenset(NodeRole), (Cite(Source.GUIDE_14_SU2, (14, 0, 1)),))
    assert not only_su1.applies_to(NodeRole.PUBLISHER, (14, 0, 0))
    assert only_su1.applies_to(NodeRole.PUBLISHER, (14, 0, 1))
    assert only_su1.applies_to(NodeRole.PUBLISHER, (14, 0))  # one more restart is the safe side


def test_tvs_capf_and_itlrecovery_keep_the_seeds_restarts_and_say_the_guide_differs():
    for name in ("TVS", "CAPF", "ITLRecovery"):
        assert "Cisco Tftp" in _restarts(name, NodeRole.PUBLISHER, (14, 0, 2))
        assert any("SEED over GUIDE 14SU2" in n for n in unit(name).guide_notes)


def test_every_restart_names_its_source():
    for spec in UNITS.values():
        for r in spec.restarts:
            assert r.cites and r.sources_text().startswith("["), (spec.name, r.service)


def test_dry_run_plan_shows_the_release_and_each_restarts_source():
    inv = Inventory.model_validate(
        {
            "defaults": {
                "os_admin": {"username": "admin", "password_env": "CUCM_OS_PW"},
                "app_user": {"username": "app", "password_env": "CUCM_APP_PW"},
            },
            "clusters": [
                {
                    "name": "lab",
                    "version": "14.0.1.12900-161",
                    "nodes": [{"fqdn": "pub.lab.example", "role": "publisher"}],
                }
            ],
        }
    )
    plan = plan_renewal(inv, "lab", "tomcat")
    text = plan.render()
    assert "pub.lab.example (publisher, 14.0.1.12900-161 = 14SU2)" in text
    restarts = [s.text for s in plan.steps if s.kind is StepKind.RESTART]
    assert any("Cisco Tftp" in t and "[GUIDE 12.5SU2]" in t for t in restarts)
    assert any("Cisco Extension Mobility" in t and "[GUIDE 14SU2 14.0+]" in t for t in restarts)


def test_the_inventorys_service_update_overrides_the_build_in_the_plan():
    inv = Inventory.model_validate(
        {
            "defaults": {
                "os_admin": {"username": "admin", "password_env": "CUCM_OS_PW"},
                "app_user": {"username": "app", "password_env": "CUCM_APP_PW"},
            },
            "clusters": [
                {
                    "name": "lab",
                    "version": "14.0",
                    "service_update": 1,
                    "nodes": [{"fqdn": "pub.lab.example", "role": "publisher"}],
                }
            ],
        }
    )
    plan = plan_renewal(inv, "lab", "CallManager")
    assert plan.nodes[0].release == (14, 0, 1)
    assert "(publisher, 14.0 = 14SU1)" in plan.render()


def test_dry_run_shows_the_guides_warnings_before_anything_goes_to_a_ca():
    from certops.planning import ClusterState

    inv = Inventory.model_validate(
        {
            "defaults": {
                "os_admin": {"username": "admin", "password_env": "CUCM_OS_PW"},
                "app_user": {"username": "app", "password_env": "CUCM_APP_PW"},
            },
            "clusters": [
                {"name": "lab", "version": "15.0", "nodes": [{"fqdn": "pub.lab.example", "role": "publisher"}]}
            ],
        }
    )
    cm = plan_renewal(inv, "lab", "CallManager", state=ClusterState(security_mode=1)).render()
    assert "[applies] guide: certops asks the node for a 2048-bit RSA CSR" in cm
    assert "renew TVS first" in cm and "take a DRF backup of cluster lab" in cm
    unknown = plan_renewal(inv, "lab", "CAPF").render()
    assert "in mixed mode some endpoints reject CA certificates of 4096 bits or more" in unknown
    tomcat = plan_renewal(inv, "lab", "tomcat", state=ClusterState(sso_enabled=True)).render()
    assert "SP metadata exported and re-provisioned on the IdP" in tomcat
    assert "SP metadata" not in plan_renewal(inv, "lab", "tomcat", state=ClusterState(sso_enabled=False)).render()
