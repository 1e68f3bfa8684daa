"""Contract: the simulated 12.5 platform CLI for certificate renewal, over raw paramiko.

12.5 has no certmgr REST API (cucm-interfaces.md §1.1), so everything a renewal needs is a CLI
command (§5.2): ``set csr gen <unit>`` with its "Include OU in CSR (yes|no)?" question, ``show csr
own <unit>``, ``set cert import trust|own <unit>`` with "Paste the Certificate and Hit Enter",
``show cert list trust`` (the same style as ``show cert list own``: blocks before 15) and ``show
cert trust <store>/<file>``. What no source settles is [INF] in docs/simulator.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import SimShell, SimTestCa

PUB = "cucm-pub.c1.certops.test"
FAILED = "Executed command unsuccessfully"
UNITS = ["tomcat", "tomcat-ECDSA", "CallManager", "CallManager-ECDSA", "CAPF", "TVS", "ipsec", "ITLRecovery"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    from tests.fixtures.simulator import sim_options

    opts = sim_options(nodes=2, version="12.5", phones_per_cluster=0, state_dir=tmp_path_factory.mktemp("cli125"))
    with SimulatedFleet(opts) as f:
        yield f


@pytest.fixture
def pub(fleet: SimulatedFleet) -> Iterator[SimShell]:
    with SimShell(fleet, fleet.node(PUB)) as shell:
        shell.wait_prompt()
        shell.run("set cli pagination off")
        yield shell


def _paste(shell: SimShell, command: str, pem: str) -> str:
    shell.channel.send(command + "\n")
    shell.read_until("Paste the Certificate and Hit Enter")
    shell.channel.send(pem.replace("\n", "\r\n") + "\r\n")
    return shell.wait_prompt()


def _csr_gen(shell: SimShell, unit: str) -> str:
    shell.channel.send(f"set csr gen {unit}\n")
    shell.read_until(r"Include OU in CSR \(yes\|no\)\?")
    return shell.run("yes")


def test_trust_list_on_12_5_is_in_blocks_naming_store_file_issuer_and_expiry(pub: SimShell) -> None:
    out = pub.run("show cert list trust")
    blocks = [b for b in out.strip().split("\n\n") if b.strip()]
    assert blocks and all(b.lstrip().startswith("Unit: ") for b in blocks)
    first = dict(line.split(": ", 1) for line in blocks[0].strip().splitlines())
    assert first["Unit"].endswith("-trust") and first["Type"] == "trust-certs"
    assert first["Name"].endswith(".pem") and first["Issuer"] and first["Expires"]
    assert "Trust Certificate" not in out, "the 15 line style is not used on 12.5"


def test_trust_list_on_15_is_one_line_per_file(sim_factory: Callable[..., SimulatedFleet]) -> None:
    fleet = sim_factory(nodes=1, version="15.0", phones_per_cluster=0)
    with SimShell(fleet, fleet.node(PUB)) as shell:
        shell.wait_prompt()
        shell.run("set cli pagination off")
        out = shell.run("show cert list trust")
    assert re.search(r"^tomcat-trust/\S+\.pem: Trust Certificate .+$", out, re.MULTILINE)
    assert "Unit: " not in out


def test_show_cert_trust_prints_the_details_and_the_pem_of_the_listed_file(
    fleet: SimulatedFleet, pub: SimShell
) -> None:
    ca = SimTestCa("Show Trust")
    assert "Successfully imported certificate for tomcat-trust." in _paste(
        pub, "set cert import trust tomcat", ca.root_pem
    )
    listing = pub.run("show cert list trust")
    assert "Unit: tomcat-trust\nType: trust-certs\nName: Show_Trust_Root_CA.pem\nIssuer: Show Trust Root CA" in listing
    shown = pub.run("show cert trust tomcat-trust/Show_Trust_Root_CA.pem")
    assert "Subject Name: CN=Show Trust Root CA" in shown
    pem = shown[shown.index("-----BEGIN CERTIFICATE-----") :]
    assert x509.load_pem_x509_certificate(pem.encode()) == ca.root


@pytest.mark.parametrize("name", ["tomcat-trust/No_Such_CA.pem", "nosuch-trust/x.pem", "tomcat-trust"])
def test_show_cert_trust_of_a_file_that_is_not_there_fails(pub: SimShell, name: str) -> None:
    out = pub.run(f"show cert trust {name}")
    assert f"Invalid certificate name: {name}" in out and FAILED in out
    assert "BEGIN CERTIFICATE" not in out


@pytest.mark.parametrize(("unit", "store"), [("tomcat-ECDSA", "tomcat-trust"), ("CallManager", "CallManager-trust")])
def test_trust_import_names_the_unit_and_lands_in_its_store(
    fleet: SimulatedFleet, pub: SimShell, unit: str, store: str
) -> None:
    ca = SimTestCa(f"Import {unit}")
    out = _paste(pub, f"set cert import trust {unit}", ca.root_pem)
    assert "Successfully imported certificate for" in out and FAILED not in out
    assert f"Import {unit} Root CA" in fleet.node(PUB).trust[store]


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_gets_a_csr_of_its_key_type_shown_by_show_csr_own(
    fleet: SimulatedFleet, pub: SimShell, unit: str
) -> None:
    assert _csr_gen(pub, unit).strip() == f"Successfully Generated CSR for {unit}."
    shown = pub.run(f"show csr own {unit}")
    csr = x509.load_pem_x509_csr(shown[shown.index("-----BEGIN CERTIFICATE REQUEST-----") :].encode())
    key = csr.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey if unit.endswith("-ECDSA") else rsa.RSAPublicKey)
    ou = x509.oid.NameOID.ORGANIZATIONAL_UNIT_NAME
    assert csr.subject.get_attributes_for_oid(ou) == fleet.node(PUB).identity(unit).cert.subject.get_attributes_for_oid(
        ou
    )


def test_show_csr_own_without_a_pending_csr_fails(fleet: SimulatedFleet) -> None:
    node = fleet.node("cucm-sub1.c1.certops.test")
    node.csrs.pop("tomcat", None)
    with SimShell(fleet, node) as shell:
        shell.wait_prompt()
        out = shell.run("show csr own tomcat")
    assert "No CSR found for tomcat" in out and FAILED in out


def test_identity_import_whose_ca_is_not_in_trust_is_refused_and_keeps_the_pending_csr(
    fleet: SimulatedFleet, pub: SimShell
) -> None:
    ca = SimTestCa("Untrusted For Import")
    _csr_gen(pub, "TVS")
    pending = fleet.node(PUB).csrs["TVS"]
    before = fleet.node(PUB).identity("TVS").cert
    out = _paste(pub, "set cert import own TVS", ca.sign(pending.pem))
    assert FAILED in out and "trust" in out.lower()
    assert fleet.node(PUB).csrs["TVS"] is pending, "a refused import keeps the CSR it waited for"
    assert fleet.node(PUB).identity("TVS").cert == before


def test_identity_import_after_its_ca_says_to_restart_the_services(fleet: SimulatedFleet, pub: SimShell) -> None:
    ca = SimTestCa("Trusted For Import")
    _csr_gen(pub, "CAPF")
    leaf = ca.sign(fleet.node(PUB).csrs["CAPF"].pem)
    for pem in (ca.root_pem, ca.intermediate_pem):
        assert FAILED not in _paste(pub, "set cert import trust CAPF", pem)
    out = _paste(pub, "set cert import own CAPF", leaf)
    assert "Successfully imported certificate for CAPF." in out
    assert "Please restart services related to CAPF for the new certificate to become active." in out
    assert "CAPF" not in fleet.node(PUB).csrs
    installed = fleet.node(PUB).identity("CAPF")
    assert installed.cert == x509.load_pem_x509_certificate(leaf.encode())
    # one certificate was pasted; the node completes the chain it presents from CAPF-trust (not the root)
    assert installed.chain == [x509.load_pem_x509_certificate(ca.intermediate_pem.encode())]
