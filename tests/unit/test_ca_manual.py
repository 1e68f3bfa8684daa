"""The manual CA backend: writes the CSR and tells the person exactly what the CA must do."""

from __future__ import annotations

from pathlib import Path

import pytest

from certops.ca import make_backend
from certops.ca.manual import ManualCa
from certops.errors import CaRejected
from certops.inventory import ManualCaConfig
from tests.unit import x509_factory as f

FQDN = "cucm-pub.lab.example"


def _csr() -> str:
    return f.csr_pem(f.make_csr(f.key(), FQDN, [f"DNS:{FQDN}", "IP:10.0.0.10"])).decode()


def test_submit_writes_the_csr_and_explains_what_to_send_back(tmp_path: Path) -> None:
    backend = make_backend(
        "manual", ManualCaConfig(instructions="Submit at https://pki.example/req"), csr_directory=tmp_path
    )
    assert isinstance(backend, ManualCa) and backend.needs_person
    csr = _csr()
    ticket = backend.submit(csr, unit="tomcat", node=FQDN, cluster="lab")
    (written,) = list(tmp_path.iterdir())
    assert written.read_text() == csr
    text = ticket.instructions
    assert str(written) in text
    assert ticket.reference in text  # the CSR fingerprint
    assert "DNS:cucm-pub.lab.example, IP:10.0.0.10" in text and "add none, drop none" in text
    assert "Digital Signature, Key Encipherment" in text
    assert "TLS Web Server Authentication" in text and "TLS Web Client Authentication" in text
    assert "PEM, DER or PKCS#7" in text
    assert "Submit at https://pki.example/req" in text
    assert f"certops check --csr {written}" in text
    assert backend.poll(ticket) is None


def test_capf_instructions_ask_for_a_ca_certificate(tmp_path: Path) -> None:
    ticket = ManualCa(csr_directory=tmp_path).submit(_csr(), unit="CAPF", node=FQDN, cluster="lab")
    assert "CA:TRUE" in ticket.instructions and "Certificate Sign" in ticket.instructions


def test_ipsec_instructions_name_the_ipsec_eku(tmp_path: Path) -> None:
    ticket = ManualCa(csr_directory=tmp_path).submit(_csr(), unit="ipsec", node=FQDN, cluster="lab")
    assert "IPsec End System" in ticket.instructions


def test_unreadable_csr_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(CaRejected, match="cannot be read"):
        ManualCa(csr_directory=tmp_path).submit("not a csr", unit="tomcat", node=FQDN, cluster="lab")


def test_csr_with_a_broken_signature_is_rejected(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = bytearray(x509.load_pem_x509_csr(_csr().encode()).public_bytes(serialization.Encoding.DER))
    der[-6] ^= 0x01
    broken = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(CaRejected, match="invalid signature"):
        ManualCa(csr_directory=tmp_path).submit(broken, unit="tomcat", node=FQDN, cluster="lab")
    assert list(tmp_path.iterdir()) == []


def test_a_refused_csr_names_unit_and_node_and_says_where_to_get_it_again(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = bytearray(x509.load_pem_x509_csr(_csr().encode()).public_bytes(serialization.Encoding.DER))
    der[-6] ^= 0x01
    broken = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(CaRejected) as info:
        ManualCa(csr_directory=tmp_path).submit(broken, unit="ipsec", node=FQDN, cluster="lab")
    assert f"the CSR for ipsec on {FQDN} has an invalid signature" in str(info.value)
    assert "not sent" in str(info.value)
    assert info.value.hint == f"download the CSR for ipsec from {FQDN} again"
    with pytest.raises(CaRejected) as info:
        ManualCa(csr_directory=tmp_path).submit("not a csr", unit="ipsec", node=FQDN, cluster="lab")
    assert f"the CSR for ipsec on {FQDN} cannot be read" in str(info.value)
    assert list(tmp_path.iterdir()) == []
