"""The IM and Presence units: the table, the inventory's IM&P roles and federation, the replication wait."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from certops.errors import CertopsError
from certops.inventory import Inventory
from certops.planning import plan_renewal
from certops.renewal import imp_trust
from certops.renewal.steps import RenewalStopped
from certops.units import IPSEC_END_SYSTEM, UNITS, NodeRole, NodeScope, RestartVia

IMP_UNITS = ["cup", "cup-ECDSA", "cup-xmpp", "cup-xmpp-ECDSA", "cup-xmpp-s2s", "cup-xmpp-s2s-ECDSA"]


def _ca(cn: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _inventory(nodes: list[dict[str, Any]]) -> Inventory:
    return Inventory.model_validate(
        {
            "defaults": {
                "os_admin": {"username": "admin", "password_env": "PW"},
                "app_user": {"username": "app", "password_env": "PW"},
            },
            "clusters": [
                {"name": "lab", "version": "15.0", "nodes": [{"fqdn": "pub.lab.example", "role": "publisher"}, *nodes]}
            ],
        }
    )


@pytest.mark.parametrize("name", IMP_UNITS)
def test_imp_units_restart_their_services_on_imp_nodes_only_and_trust_via_the_imp_publisher(name: str) -> None:
    spec = UNITS[name]
    assert spec.trust_via_imp_publisher and not spec.reset_phones and not spec.ctl_update_in_mixed_mode
    assert spec.trust_store == ("cup-trust" if name.startswith("cup-ECDSA") or name == "cup" else "cup-xmpp-trust")
    assert spec.key_type == ("ec" if name.endswith("-ECDSA") else "rsa")
    assert IPSEC_END_SYSTEM in spec.extended_key_usage
    assert not spec.nodes_with(NodeRole.PUBLISHER) and not spec.nodes_with(NodeRole.SUBSCRIBER)
    for r in spec.restarts:
        assert r.via is RestartVia.SOAP and r.roles == {NodeRole.IMP, NodeRole.IMP_PUBLISHER}
    services = {r.service for r in spec.restarts}
    if name.startswith("cup-xmpp-s2s"):
        assert services == {"Cisco XCP XMPP Federation Connection Manager"} and spec.scope is NodeScope.IMP_FEDERATION
        assert spec.nodes_with(NodeRole.IMP, federation=True) and not spec.nodes_with(NodeRole.IMP)
    elif name.startswith("cup-xmpp"):
        assert services == {"Cisco XCP Router"} and spec.nodes_with(NodeRole.IMP)
    else:
        assert services == {"Cisco SIP Proxy", "Cisco Presence Engine"}


def test_tomcat_restarts_the_sync_agent_on_the_imp_publisher_only() -> None:
    tomcat = UNITS["tomcat"]
    on_pub = [r.service for r in tomcat.restarts_for(NodeRole.IMP_PUBLISHER, (15, 0, 1))]
    assert on_pub[0] == "Cisco Tomcat" and "Cisco Intercluster Sync Agent" in on_pub
    assert "Cisco Intercluster Sync Agent" not in [r.service for r in tomcat.restarts_for(NodeRole.IMP, (15, 0, 1))]
    assert "Cisco Intercluster Sync Agent" not in [r.service for r in tomcat.restarts_for(NodeRole.PUBLISHER, (15, 0))]


def test_inventory_names_the_imp_publisher_and_the_federation_nodes() -> None:
    inv = _inventory(
        [
            {"fqdn": "imp2.lab.example", "role": "imp", "federation": True},
            {"fqdn": "imp1.lab.example", "role": "imp-publisher"},
        ]
    )
    cl = inv.cluster("lab")
    assert cl.imp_publisher is not None and cl.imp_publisher.fqdn == "imp1.lab.example"
    assert [n.fqdn for n in plan_renewal(inv, "lab", "cup-xmpp").nodes] == ["imp1.lab.example", "imp2.lab.example"]
    assert [n.fqdn for n in plan_renewal(inv, "lab", "cup-xmpp-s2s").nodes] == ["imp2.lab.example"]
    assert [n.fqdn for n in plan_renewal(inv, "lab", "tomcat").nodes][-2:] == ["imp1.lab.example", "imp2.lab.example"]
    # without an imp-publisher, the first IM&P node listed is taken as the database publisher [INF]
    legacy = _inventory([{"fqdn": "impa.lab.example", "role": "imp"}, {"fqdn": "impb.lab.example", "role": "imp"}])
    assert legacy.cluster("lab").imp_publisher.fqdn == "impa.lab.example"  # type: ignore[union-attr]


def test_federation_on_a_cucm_node_or_two_imp_publishers_are_refused_with_the_node_named() -> None:
    with pytest.raises(ValidationError, match=r"pub2\.lab\.example.*federation applies to IM&P nodes only"):
        _inventory([{"fqdn": "pub2.lab.example", "role": "subscriber", "federation": True}])
    with pytest.raises(ValidationError, match=r"2 IM&P database publishers.*imp-publisher to one IM&P node only"):
        _inventory(
            [{"fqdn": "a.lab.example", "role": "imp-publisher"}, {"fqdn": "b.lab.example", "role": "imp-publisher"}]
        )


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_replication_wait_reads_every_node_until_each_holds_the_ca_certificates() -> None:
    root, inter = _ca("Lab Root"), _ca("Lab Issuing")
    clock = _Clock()
    arrive = {"imp2": 120.0, "imp3": 300.0}  # seconds after the Sync Agent restart
    lines: list[str] = []

    def read(fqdn: str) -> list[str]:
        return [root, inter] if clock.now >= arrive[fqdn] else [root]

    waited = imp_trust.wait_replicated(
        cluster="lab", unit="cup-xmpp", publisher="imp1", store="cup-xmpp-trust", nodes=["imp2", "imp3"],
        wanted_pems=[root, inter], read=read, timeout=1800, poll=60, log=lines.append, clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    assert waited == 300.0
    assert "waiting for the CA certificates in cup-xmpp-trust on the IM&P database publisher imp1" in lines[0]
    assert "at most 1800 s (30 min) (imp_trust_replication_timeout)" in lines[0]
    assert "not yet: imp2, imp3" in lines[0]
    assert "every IM&P node holds the CA certificates in cup-xmpp-trust" in lines[-1]


def test_replication_that_never_arrives_names_node_store_and_certificate_and_unreadable_nodes() -> None:
    root, inter = _ca("Lab Root"), _ca("Lab Issuing")
    clock = _Clock()

    def read(fqdn: str) -> list[str]:
        if fqdn == "imp3":
            raise CertopsError("cannot reach imp3:443")
        return [root] if fqdn == "imp2" else [root, inter]

    with pytest.raises(RenewalStopped) as err:
        imp_trust.wait_replicated(
            cluster="lab", unit="cup", publisher="imp1", store="cup-trust", nodes=["imp2", "imp3", "imp4"],
            wanted_pems=[root, inter], read=read, timeout=600, poll=60, log=lambda _: None, clock=clock,
            sleep=clock.sleep,
        )  # fmt: skip
    text = str(err.value)
    assert "imp2: cup-trust lacks 'CN=Lab Issuing'" in text and "Lab Root'" not in text.split("lacks")[1][:20]
    assert "imp3: its trust store could not be read (cannot reach imp3:443)" in text
    assert "imp4" not in text
    assert "within 600 s (10 min)" in text and "a plain rerun" in text
    assert clock.now >= 600
