"""The lab CA: signs for every unit so the chain passes the checks, and misbehaves on request."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from certops.ca import make_backend
from certops.ca.local import LabCa, LabCaMisbehaviour
from certops.errors import CaRejected
from certops.inventory import LabCaConfig
from certops.units import UNITS
from certops.x509.checks import check_signed_chain
from tests.unit import x509_factory as f

FQDN = "cucm-pub.lab.example"
SANS = [f"DNS:{FQDN}", "DNS:cucm.lab.example", "IP:10.0.0.10"]


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab-ca") / "ca"


def _csr(unit: str) -> str:
    k = f.key("ec", 256) if UNITS[unit].key_type == "ec" else f.key("rsa", 2048, 30)
    return f.csr_pem(f.make_csr(k, FQDN, SANS)).decode()


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_lab_ca_signs_every_unit_and_the_chain_passes_check(ca_dir: Path, unit: str) -> None:
    ca = LabCa(ca_dir)
    csr = _csr(unit)
    ticket = ca.submit(csr, unit=unit, node=FQDN, cluster="lab")
    signed = ca.poll(ticket)
    assert signed is not None
    report = check_signed_chain(csr, signed.leaf_pem, signed.chain_pems, unit, node=FQDN)
    assert report.ok, report.summary()
    assert [t.role for t in report.trust_uploads] == ["root", "intermediate"]
    assert report.trust_uploads[0].pem == ca.root_pem
    assert report.trust_store == UNITS[unit].trust_store


def test_lab_ca_is_created_once_and_reused_with_private_keys_0600(tmp_path: Path) -> None:
    first = LabCa(tmp_path / "ca")
    second = LabCa(tmp_path / "ca")
    assert first.root_pem == second.root_pem
    for name in ("root.key", "intermediate.key"):
        assert stat.S_IMODE((tmp_path / "ca" / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ca").stat().st_mode) == 0o700


def test_make_backend_builds_the_lab_ca_from_its_config(tmp_path: Path) -> None:
    backend = make_backend("lab", LabCaConfig(directory=tmp_path / "ca", validity_days=90))
    assert isinstance(backend, LabCa) and backend.needs_person is False and backend.name == "lab"
    signed = backend.poll(backend.submit(_csr("tomcat"), unit="tomcat", node=FQDN, cluster="lab"))
    assert signed is not None
    report = check_signed_chain(_csr("tomcat"), signed.leaf_pem, signed.chain_pems, "tomcat")
    assert report.leaf_not_after is not None and report.leaf_not_before is not None
    assert (report.leaf_not_after - report.leaf_not_before).days == 90


MISBEHAVIOURS = {
    LabCaMisbehaviour.ADD_SANS: ("tomcat", {"san_extra"}),
    LabCaMisbehaviour.DROP_SANS: ("tomcat", {"san_missing"}),
    LabCaMisbehaviour.DROP_INTERMEDIATE: ("tomcat", {"chain_incomplete"}),
    LabCaMisbehaviour.OLDER_CSR: ("tomcat", {"key_mismatch"}),
    LabCaMisbehaviour.PKCS7_ONLY: ("tomcat", set()),  # harmless: certops reads PKCS#7
    LabCaMisbehaviour.WRONG_EKU: ("ipsec", {"eku_missing"}),
    LabCaMisbehaviour.NO_KEY_USAGE: ("CallManager", {"key_usage_missing"}),
    LabCaMisbehaviour.SHA1: ("tomcat", {"weak_signature"}),
    LabCaMisbehaviour.SHORT_VALIDITY: ("tomcat", {"validity_too_short"}),
    LabCaMisbehaviour.WILDCARD: ("tomcat", {"wildcard", "san_extra"}),
    LabCaMisbehaviour.CHANGE_CN: ("TVS", {"cn_mismatch"}),
    # an end-entity certificate cannot carry Certificate Sign (RFC 5280), so both are reported
    LabCaMisbehaviour.NOT_CA: ("CAPF", {"leaf_not_ca", "key_usage_missing"}),
}


def test_every_misbehaviour_has_a_case() -> None:
    assert set(MISBEHAVIOURS) == set(LabCaMisbehaviour)


@pytest.mark.parametrize("misbehaviour", list(LabCaMisbehaviour), ids=lambda m: m.value)
def test_each_misbehaviour_is_caught_by_the_checks(ca_dir: Path, misbehaviour: LabCaMisbehaviour) -> None:
    unit, expected = MISBEHAVIOURS[misbehaviour]
    ca = LabCa(ca_dir, misbehave=[misbehaviour])
    csr = _csr(unit)
    signed = ca.sign(csr, unit)
    report = check_signed_chain(csr, signed.leaf_pem, signed.chain_pems, unit, node=FQDN)
    assert set(report.codes) == expected, report.summary()


def test_lab_ca_refuses_a_tampered_csr(ca_dir: Path) -> None:
    csr = _csr("tomcat")
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = bytearray(x509.load_pem_x509_csr(csr.encode()).public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x10
    with pytest.raises(CaRejected, match="invalid signature"):
        LabCa(ca_dir).sign(bytes(der), "tomcat")


def test_lab_ca_refuses_an_unknown_unit_and_ticket(ca_dir: Path) -> None:
    ca = LabCa(ca_dir)
    with pytest.raises(CaRejected, match="unknown unit 'Tomcat'"):
        ca.sign(_csr("tomcat"), "Tomcat")
    from certops.ca.base import CaTicket

    with pytest.raises(CaRejected, match="no request"):
        ca.poll(CaTicket(backend="lab", reference="../../etc/passwd"))


def test_a_lab_ca_made_again_in_the_same_directory_signs_with_its_new_key(tmp_path: Path) -> None:
    first = LabCa(tmp_path / "ca")
    old_root = first.root_pem
    for p in (tmp_path / "ca").iterdir():
        if p.is_file():
            p.unlink()
    again = LabCa(tmp_path / "ca")  # a new CA on disk, in a process that already read the old one
    assert again.root_pem != old_root
    csr = _csr("tomcat")
    signed = again.poll(again.submit(csr, unit="tomcat", node=FQDN, cluster="lab"))
    assert signed is not None
    report = check_signed_chain(csr, signed.leaf_pem, signed.chain_pems, "tomcat", node=FQDN)
    assert report.ok, report.summary()  # the leaf is signed by the intermediate the chain names
    assert report.trust_uploads[0].pem == again.root_pem
