"""The CLI renewal path (12.5, and the CLI on 14/15) over real SSH against the simulator:
``set csr gen`` and its "Include OU in CSR (yes|no)?" question, and one certificate per paste."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from certops.cucm.node import CucmNode
from certops.cucm.shell import CucmCli
from certops.inventory import Inventory
from certops.models import CsrRequest
from simulator import pki
from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import SIM_OS_PASSWORD, SIM_OS_USER, SimTestCa

PUB = "cucm-pub.c1.certops.test"


def _fleet(sim_factory: Callable[..., SimulatedFleet], version: str) -> SimulatedFleet:
    return sim_factory(nodes=1, version=version, phones_per_cluster=0)


def _node(fleet: SimulatedFleet) -> CucmNode:
    return CucmNode.from_inventory(Inventory.model_validate(fleet.inventory_dict()), "c1", PUB)


def _cli(fleet: SimulatedFleet) -> CucmCli:
    node = fleet.node(PUB)
    return CucmCli(
        fqdn=PUB,
        address="127.0.0.1",
        port=node.ssh_port,
        username=SIM_OS_USER,
        password=SecretStr(SIM_OS_PASSWORD),
        known_hosts=fleet.known_hosts_path,
        login_timeout=60,
        command_timeout=60,
    )


def _has_ou(name: x509.Name) -> bool:
    return bool(name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME))


def _install_tomcat_without_ou(fleet: SimulatedFleet) -> None:
    """Give the publisher a current tomcat certificate whose subject has no OU (CN only)."""
    key = pki.new_key("rsa", 2048)
    cert = pki.issue_node_cert(
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PUB)]),
        sans=[PUB],
        key=key,
        not_after=pki.utcnow() + dt.timedelta(days=30),
        ca=fleet.ca,
        unit="tomcat",
    )
    fleet.node(PUB).set_identity("tomcat", cert, key)


def test_12_5_csr_keeps_the_ou_of_the_current_certificate(sim_factory: Callable[..., SimulatedFleet]) -> None:
    fleet = _fleet(sim_factory, "12.5")
    assert _has_ou(fleet.node(PUB).identity("tomcat").cert.subject)
    with _node(fleet) as node:
        pem = node.generate_csr(CsrRequest(unit="tomcat", common_name=PUB))
    csr = x509.load_pem_x509_csr(pem.encode())
    assert _has_ou(csr.subject), "the current subject has an OU, so the OU question was answered yes"
    assert csr.subject == fleet.node(PUB).identity("tomcat").cert.subject


def test_12_5_csr_leaves_the_ou_out_when_the_current_certificate_has_none(
    sim_factory: Callable[..., SimulatedFleet],
) -> None:
    fleet = _fleet(sim_factory, "12.5")
    _install_tomcat_without_ou(fleet)
    with _node(fleet) as node:
        pem = node.generate_csr(CsrRequest(unit="tomcat", common_name=PUB))
    csr = x509.load_pem_x509_csr(pem.encode())
    assert not _has_ou(csr.subject), "the current subject has no OU, so the OU question was answered no"
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == PUB


@pytest.mark.parametrize(("version", "asked"), [("14.0.1.10000-20", True), ("14SU1", False), ("15.0", False)])
def test_cli_csr_gen_on_14_and_15_answers_the_ou_question_only_where_it_is_asked(
    sim_factory: Callable[..., SimulatedFleet], version: str, asked: bool
) -> None:
    fleet = _fleet(sim_factory, version)
    with _cli(fleet) as cli:
        kept = cli.generate_csr("tomcat").raise_for_status()
        with_ou = x509.load_pem_x509_csr(fleet.node(PUB).csrs["tomcat"].pem.encode())
        _install_tomcat_without_ou(fleet)
        dropped = cli.generate_csr("tomcat").raise_for_status()
        second = x509.load_pem_x509_csr(fleet.node(PUB).csrs["tomcat"].pem.encode())
    assert "Successfully Generated CSR for tomcat." in kept.output and not kept.failed
    assert "Successfully Generated CSR for tomcat." in dropped.output
    assert _has_ou(with_ou.subject)
    # where the question is asked, "no" drops the OU; 14SU1+ and 15 do not ask and keep CUCM's subject
    assert _has_ou(second.subject) is (not asked)


def test_csr_gen_with_an_explicit_answer_needs_no_certificate_read(sim_factory: Callable[..., SimulatedFleet]) -> None:
    fleet = _fleet(sim_factory, "12.5")
    with _cli(fleet) as cli:
        result = cli.generate_csr("tomcat", include_ou=False)
    assert not result.failed
    assert not _has_ou(x509.load_pem_x509_csr(fleet.node(PUB).csrs["tomcat"].pem.encode()).subject)


def test_12_5_renewal_through_the_cli_end_to_end_with_a_ca_bundle(sim_factory: Callable[..., SimulatedFleet]) -> None:
    fleet = _fleet(sim_factory, "12.5")
    ca = SimTestCa("CLI Renewal")
    with _node(fleet) as node:
        csr = node.generate_csr(CsrRequest(unit="tomcat", common_name=PUB))
        node.upload_trust("tomcat", [ca.root_pem + ca.intermediate_pem], "CA bundle")  # one string, two PEMs
        leaf = ca.sign(csr)
        node.upload_identity("tomcat", [leaf + ca.intermediate_pem])
        installed = node.read_certificate("tomcat")
    assert {"CLI Renewal Root CA", "CLI Renewal Issuing CA"} <= set(fleet.node(PUB).trust["tomcat-trust"])
    assert installed.serial == format(x509.load_pem_x509_certificate(leaf.encode()).serial_number, "x")
    trust_events = [
        e for e in fleet.events() if e["operation"] == "trust_uploaded" and "CLI Renewal" in str(e["detail"])
    ]
    assert len(trust_events) == 2, "one paste per certificate"
    assert not [e for e in fleet.events() if e["operation"] == "upload_refused"]


def test_rest_trust_upload_of_a_ca_bundle_imports_every_certificate(sim_factory: Callable[..., SimulatedFleet]) -> None:
    fleet = _fleet(sim_factory, "15.0")
    ca = SimTestCa("REST Bundle")
    with _node(fleet) as node:
        node.upload_trust("tomcat", [ca.root_pem + ca.intermediate_pem], "CA bundle")
        listed = node.read_trust("tomcat")
    assert {"REST Bundle Root CA", "REST Bundle Issuing CA"} <= set(fleet.node(PUB).trust["tomcat-trust"])
    assert ca.root_pem in listed and ca.intermediate_pem in listed
    assert not [e for e in fleet.events() if e["operation"] == "upload_refused"]
