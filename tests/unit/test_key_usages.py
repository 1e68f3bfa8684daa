"""Key usages per unit from Cisco's Security Guides: what the CA is asked for, what a chain must keep."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certops.units import IPSEC_END_SYSTEM, UNITS
from certops.x509.checks import check_files
from certops.x509.read import read_csr
from certops.x509.usages import ca_request, presend_warnings
from tests.unit import x509_factory as f


def _csr_asking(k, bits: set[str]) -> bytes:
    """A CSR as CUCM makes it, asking for the key usage ``bits``."""
    flags = {
        n: n in bits
        for n in (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
        )
    }
    b = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(f.name(f.FQDN))
        .add_extension(x509.SubjectAlternativeName(f.general_names(f.SANS)), critical=False)
        .add_extension(x509.KeyUsage(**flags, encipher_only=False, decipher_only=False), critical=True)
    )
    return f.csr_pem(b.sign(k, hashes.SHA256()))


ASKED = {"digital_signature", "key_encipherment", "data_encipherment"}


def test_every_unit_needs_server_auth_and_all_but_capf_client_auth():
    for name, spec in UNITS.items():
        assert "1.3.6.1.5.5.7.3.1" in spec.extended_key_usage, name
        assert ("1.3.6.1.5.5.7.3.2" in spec.extended_key_usage) == (name != "CAPF"), name
    assert IPSEC_END_SYSTEM in UNITS["ipsec"].extended_key_usage
    assert UNITS["CAPF"].must_be_ca and "key_cert_sign" in UNITS["CAPF"].key_usage


def test_a_chain_that_drops_the_data_encipherment_bit_the_csr_asked_for_is_refused():
    k = f.key("rsa", 2048, 20)
    case = f.make_case("tomcat", leaf_key=k)  # the CA signs Digital Signature + Key Encipherment only
    report = check_files(_csr_asking(k, ASKED), [f.pem(*case.chain)], "tomcat", now=f.NOW)
    assert report.codes == ["data_encipherment_dropped"]
    assert "Data Encipherment" in report.problems[0].message


def test_a_chain_that_keeps_the_data_encipherment_bit_passes():
    k = f.key("rsa", 2048, 20)
    case = f.make_case("tomcat", leaf_key=k, ku=set(ASKED))
    report = check_files(_csr_asking(k, ASKED), [f.pem(*case.chain)], "tomcat", now=f.NOW)
    assert report.ok, report.summary()


def test_a_data_encipherment_bit_the_csr_did_not_ask_for_is_a_note_not_a_refusal():
    k = f.key("rsa", 2048, 20)
    case = f.make_case("tomcat", leaf_key=k, ku=set(ASKED))
    csr = _csr_asking(k, {"digital_signature", "key_encipherment"})
    report = check_files(csr, [f.pem(*case.chain)], "tomcat", now=f.NOW)
    assert report.ok
    assert any("adds Data Encipherment" in n for n in report.notes)


def test_ipsec_without_the_ipsec_end_system_eku_is_refused():
    case = f.make_case("ipsec", eku={"1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"})
    report = check_files(case.csr, [f.pem(*case.chain)], "ipsec", now=f.NOW)
    assert "eku_missing" in report.codes


def test_capf_under_a_pathlen_0_issuing_ca_is_warned_that_it_cannot_issue_lscs():
    case = f.make_case("CAPF", inter_pathlen=0)
    report = check_files(case.csr, [f.pem(*case.chain)], "CAPF", now=f.NOW)
    assert report.ok  # the CAPF certificate itself verifies
    assert any("no room for the phone certificates (LSCs)" in n for n in report.notes)
    roomy = f.make_case("CAPF", inter_pathlen=1)
    assert not any("LSC" in n for n in check_files(roomy.csr, [f.pem(*roomy.chain)], "CAPF", now=f.NOW).notes)


def test_what_to_ask_the_ca_names_the_exact_usages_per_unit():
    ipsec = ca_request("ipsec")
    assert "Key Usage: Digital Signature, Key Encipherment" in ipsec
    assert "serverAuth" in ipsec and "clientAuth" in ipsec and "1.3.6.1.5.5.7.3.5" in ipsec
    assert "Basic Constraints: CA:FALSE" in ipsec
    capf = ca_request("CAPF")
    assert "Certificate Sign" in capf and "CA:TRUE" in capf and "clientAuth" not in capf
    k = f.key("rsa", 2048, 20)
    asked = ca_request("CallManager", read_csr(_csr_asking(k, ASKED)))
    assert "Data Encipherment (the CSR asks for it: keep it)" in asked


def test_presend_warnings_for_big_callmanager_keys_big_cas_in_mixed_mode_and_sso():
    big = f.key("rsa", 4096, 21)
    csr = f.csr_pem(f.make_csr(big)).decode()
    warnings = presend_warnings("CallManager", {"pub": csr}, security_mode=0)
    assert any("4096-bit RSA key" in w and "phone models fail to register" in w for w in warnings)
    assert presend_warnings("CallManager", {"pub": f.csr_pem(f.make_csr(f.key())).decode()}, security_mode=0) == []
    ca = f.make_cert(f.name("Big Root"), big.public_key(), f.name("Big Root"), big, ca=True, ku=f.CA_KU)
    mixed = presend_warnings("CAPF", {}, security_mode=1, ca_certificates=[ca])
    assert any("4096-bit key" in w and "mixed mode" in w for w in mixed)
    assert presend_warnings("CAPF", {}, security_mode=0, ca_certificates=[ca]) == []
    assert any("SP metadata" in w for w in presend_warnings("ITLRecovery", {}, sso_enabled=True))
    assert presend_warnings("ITLRecovery", {}, security_mode=0, sso_enabled=False) == []


def test_slack_approval_request_names_the_exact_usages_to_ask_for():
    from certops.notify import format as fmt
    from certops.notify.messages import ApprovalRequest

    k = f.key("rsa", 2048, 20)
    csr = _csr_asking(k, ASKED).decode()
    req = ApprovalRequest(run_id="r", cluster="c1", unit="ipsec", nodes=["pub"], csr_pems={"pub": csr})
    text = str(fmt.approval_needed(req).blocks)
    assert "What to ask the CA for" in text
    assert "1.3.6.1.5.5.7.3.5" in text and "Data Encipherment (the CSR asks for it: keep it)" in text
