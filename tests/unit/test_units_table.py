"""The unit table says what Cisco's procedure says, per unit."""

from __future__ import annotations

import pytest

from certops.units import UNITS, NodeRole, RestartVia, parse_version, unit, units_for_role


def test_imp_nodes_are_scanned_for_tomcat_ipsec_and_every_cup_unit_s2s_renewed_only_with_federation() -> None:
    imp = ["tomcat", "tomcat-ECDSA", "ipsec", "cup", "cup-ECDSA", "cup-xmpp", "cup-xmpp-ECDSA"]
    s2s = ["cup-xmpp-s2s", "cup-xmpp-s2s-ECDSA"]
    # every IM&P node holds the s2s certificates and the scan shows them all ...
    assert units_for_role(NodeRole.IMP) == [*imp, *s2s]
    assert units_for_role(NodeRole.IMP_PUBLISHER) == [*imp, *s2s]
    # ... but only a node with XMPP federation has them renewed
    assert all(UNITS[u].nodes_with(NodeRole.IMP, True) and not UNITS[u].nodes_with(NodeRole.IMP, False) for u in s2s)


def test_cucm_nodes_are_scanned_for_every_identity_unit_but_itlrecovery() -> None:
    assert set(units_for_role(NodeRole.SUBSCRIBER)) == {
        "tomcat",
        "tomcat-ECDSA",
        "ipsec",
        "CAPF",
        "CallManager",
        "CallManager-ECDSA",
        "TVS",
    }


def test_callmanager_tvs_and_itlrecovery_share_one_exclusion_group() -> None:
    groups = {name: spec.exclusion_group for name, spec in UNITS.items()}
    assert groups["CallManager"] == groups["TVS"] == groups["ITLRecovery"] == "itl"
    assert groups["tomcat"] is None and groups["ipsec"] is None


def test_tomcat_and_haproxy_are_restarted_by_cli_only() -> None:
    for spec in UNITS.values():
        for r in spec.restarts:
            if r.service in ("Cisco Tomcat", "Cisco HAProxy"):
                assert r.via is RestartVia.CLI, (spec.name, r.service)


def test_tomcat_restarts_on_cucm_12_5_are_tomcat_and_tftp_only() -> None:
    names = [r.service for r in unit("tomcat").restarts_for(NodeRole.SUBSCRIBER, (12, 5, 2))]
    assert names == ["Cisco Tomcat", "Cisco Tftp"]
    names14 = [r.service for r in unit("tomcat").restarts_for(NodeRole.PUBLISHER, (14, 0, 0))]
    assert names14[:2] == ["Cisco Tomcat", "Cisco Tftp"]
    assert {"Cisco UDS Tomcat", "Cisco AXL Tomcat", "Cisco DRF Master", "Cisco DRF Local"} <= set(names14)


def test_capf_is_publisher_only_and_must_be_a_ca() -> None:
    capf = unit("CAPF")
    assert capf.nodes_with(NodeRole.PUBLISHER) and not capf.nodes_with(NodeRole.SUBSCRIBER)
    assert capf.must_be_ca and "key_cert_sign" in capf.key_usage


def test_unknown_unit_names_the_known_ones_and_case_matters() -> None:
    with pytest.raises(KeyError, match="known units"):
        unit("callmanager")


@pytest.mark.parametrize(("text", "expected"), [("15.0", (15, 0)), ("12.5", (12, 5)), ("14.0.1.12900-5", (14, 0))])
def test_versions_parse_to_major_minor(text: str, expected: tuple[int, int]) -> None:
    assert parse_version(text) == expected


def test_ecdsa_units_are_verified_on_their_rsa_twins_port_when_only_that_is_configured() -> None:
    from certops.inventory import NodeConfig

    node = NodeConfig(fqdn="cucm-pub.example.com", role="publisher", service_tls_ports={"CallManager": 15061})
    assert node.tls_port_for("CallManager-ECDSA") == 15061
    assert node.tls_port_for("TVS") == 2445
    assert node.tls_port_for("tomcat-ECDSA") == node.https_port
    assert node.tls_port_for("ipsec") is None


def test_no_unit_that_resets_phones_waits_at_a_gate_so_its_early_phone_baseline_stays_current() -> None:
    # the renewal takes the phones' baseline beside the preflight's node reads, before the SSO and DRF
    # gates; a unit with both would count phones that a long wait may have made stale
    from certops.units import Precondition

    gates = {Precondition.SSO_DISABLED, Precondition.NO_DRF_JOB}
    assert [u.name for u in UNITS.values() if u.reset_phones and gates & set(u.preconditions)] == []
    assert any(u.reset_phones for u in UNITS.values()) and any(gates & set(u.preconditions) for u in UNITS.values())
