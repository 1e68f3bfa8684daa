"""The pre-upload checks on a corpus of generated chains: each case asserts the exact verdict.

Where ``openssl`` can judge the same case (chain verification, public-key comparison) the test
asks it too and requires agreement.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certops.errors import CertificateError
from certops.units import UNITS
from certops.x509.checks import check_files
from tests.unit import x509_factory as f

# Codes that ``openssl verify`` also judges (path building, signatures, CA flags, dates).
PATH_CODES = {
    "chain_incomplete",
    "bad_signature",
    "issuer_not_ca",
    "expired",
    "not_yet_valid",
    "ca_expired",
    "self_signed",
    "issuer_no_cert_sign",
    "path_length_exceeded",
}


@dataclass
class Corpus:
    """One case: the CSR, the files the CA returned, the unit, and the exact expected codes."""

    csr: bytes
    blobs: list[bytes]
    unit: str
    expected: set[str]
    case: f.Case | None = None
    openssl: bool = True  # whether openssl can judge this case the same way


def _std(unit: str = "tomcat", expected: set[str] | None = None, **kw: object) -> Corpus:
    case = f.make_case(unit, **kw)  # type: ignore[arg-type]
    return Corpus(case.csr, [f.pem(*case.chain)], unit, expected or set(), case)


def _shuffled(seed: int, intermediates: int = 1) -> Corpus:
    case = f.make_case(intermediates=intermediates)
    certs = case.chain
    random.Random(seed).shuffle(certs)
    return Corpus(case.csr, [f.pem(*certs)], "tomcat", set(), case)


def _der_leaf_pem_chain() -> Corpus:
    case = f.make_case()
    return Corpus(case.csr, [f.der(case.leaf), f.pem(*case.intermediates, case.root)], "tomcat", set(), case)  # type: ignore[arg-type]


def _p7(encoding: str) -> Corpus:
    case = f.make_case()
    return Corpus(case.csr, [f.p7(list(reversed(case.chain)), encoding)], "tomcat", set(), case)


def _separate_files() -> Corpus:
    case = f.make_case(intermediates=2)
    return Corpus(case.csr, [f.der(c) for c in reversed(case.chain)], "tomcat", set(), case)


def _missing_intermediate() -> Corpus:
    case = f.make_case()
    return Corpus(case.csr, [f.pem(case.leaf, case.root)], "tomcat", {"chain_incomplete"}, case)  # type: ignore[arg-type]


def _leaf_only() -> Corpus:
    case = f.make_case()
    return Corpus(case.csr, [f.pem(case.leaf)], "tomcat", {"chain_incomplete"}, case)


def _root_not_self_signed() -> Corpus:
    case = f.make_case()
    assert case.root is not None
    fake = f.make_cert(
        case.root.subject,
        case.root_key.public_key(),
        case.root.subject,
        f.key("rsa", 2048, 8),
        ca=True,
        ku=f.CA_KU,
        aki_from=case.root_key,
    )
    # openssl does not check a trust anchor's own signature, so it cannot judge this case.
    return Corpus(
        case.csr, [f.pem(case.leaf, *case.intermediates, fake)], "tomcat", {"root_not_self_signed"}, case, openssl=False
    )


def _self_signed() -> Corpus:
    k = f.key()
    csr = f.make_csr(k)
    leaf = f.make_cert(
        f.name(f.FQDN),
        k.public_key(),
        f.name(f.FQDN),
        k,
        ca=False,
        sans=f.SANS,
        ku=set(UNITS["tomcat"].key_usage),
        eku=set(UNITS["tomcat"].extended_key_usage),
    )
    return Corpus(f.csr_pem(csr), [f.pem(leaf)], "tomcat", {"self_signed"}, openssl=False)


def _csr_tampered() -> Corpus:
    case = f.make_case()
    csr = x509.load_pem_x509_csr(case.csr)
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    return Corpus(tampered, [f.pem(*case.chain)], "tomcat", {"csr_signature_invalid"}, case)


def _unrelated_extra() -> Corpus:
    case = f.make_case()
    other = f.make_case(
        intermediates=0, leaf_key=f.key("rsa", 2048, 5), csr_cn="other.example", csr_sans=["DNS:other.example"]
    )
    assert other.root is not None
    stray = f.make_cert(
        f.name("Stray CA"),
        f.key("rsa", 2048, 6).public_key(),
        f.name("Stray CA"),
        f.key("rsa", 2048, 6),
        ca=True,
        ku=f.CA_KU,
    )
    return Corpus(case.csr, [f.pem(*case.chain, stray)], "tomcat", set(), case)


W = f.NOW
CASES: dict[str, Callable[[], Corpus]] = {
    # good chains, every format and shape
    "pem_bundle_in_order": lambda: _std(),
    "pem_bundle_root_first": lambda: _shuffled(1),
    "pem_bundle_shuffled_two_intermediates": lambda: _shuffled(7, intermediates=2),
    "der_leaf_plus_pem_chain": _der_leaf_pem_chain,
    "pkcs7_pem": lambda: _p7("pem"),
    "pkcs7_der": lambda: _p7("der"),
    "one_der_file_per_certificate": _separate_files,
    "no_intermediate": lambda: _std(intermediates=0),
    "two_intermediates": lambda: _std(intermediates=2),
    "ec_p256_for_tomcat_ecdsa": lambda: _std("tomcat-ECDSA"),
    "ec_p384_for_callmanager_ecdsa": lambda: _std("CallManager-ECDSA", leaf_key=f.key("ec", 384)),
    "capf_as_ca": lambda: _std("CAPF"),
    "ipsec_with_ipsec_eku": lambda: _std("ipsec"),
    "unrelated_certificate_is_ignored": _unrelated_extra,
    # each failure class
    "key_mismatch_older_csr": lambda: _std(expected={"key_mismatch"}, csr_key=f.key("rsa", 2048, 4)),
    "extra_san": lambda: _std(expected={"san_extra"}, leaf_sans=[*f.SANS, "DNS:extra.lab.example"]),
    "extra_ip_san": lambda: _std(expected={"san_extra"}, leaf_sans=[*f.SANS, "IP:10.0.0.99"]),
    "missing_san": lambda: _std(expected={"san_missing"}, leaf_sans=f.SANS[:2]),
    "extra_and_missing_san": lambda: _std(
        expected={"san_extra", "san_missing"}, leaf_sans=["DNS:cucm-pub.lab.example", "DNS:x.lab.example"]
    ),
    "wrong_cn": lambda: _std(expected={"cn_mismatch"}, leaf_cn="other.lab.example"),
    "chain_missing_intermediate": _missing_intermediate,
    "leaf_only_no_chain": _leaf_only,
    "bad_signature": lambda: _std(expected={"bad_signature"}, leaf_signed_by_other=True),
    "intermediate_not_a_ca": lambda: _std(expected={"issuer_not_ca"}, inter_is_ca=False),
    "root_not_self_signed": _root_not_self_signed,
    "self_signed_leaf": _self_signed,
    "wrong_key_usage": lambda: _std(expected={"key_usage_missing"}, ku={"digital_signature"}),
    "no_key_usage_extension": lambda: _std(expected={"key_usage_missing"}, ku=set()),
    "wrong_eku": lambda: _std(expected={"eku_missing"}, eku={f.EKU_SERVER}),
    "ipsec_without_ipsec_eku": lambda: _std("ipsec", expected={"eku_missing"}, eku={f.EKU_SERVER, f.EKU_CLIENT}),
    "capf_not_a_ca": lambda: _std("CAPF", expected={"leaf_not_ca"}, leaf_ca=False),
    "capf_without_cert_sign": lambda: _std(
        "CAPF", expected={"key_usage_missing"}, ku={"digital_signature", "key_encipherment"}
    ),
    "tomcat_leaf_is_a_ca": lambda: _std(expected={"leaf_is_ca"}, leaf_ca=True),
    "not_yet_valid": lambda: _std(
        expected={"not_yet_valid"}, not_before=W + dt.timedelta(days=2), not_after=W + dt.timedelta(days=400)
    ),
    "expired": lambda: _std(
        expected={"expired"}, not_before=W - dt.timedelta(days=400), not_after=W - dt.timedelta(days=1)
    ),
    "too_short": lambda: _std(expected={"validity_too_short"}, not_after=W + dt.timedelta(days=10)),
    "wildcard_cn": lambda: _std(expected={"wildcard"}, csr_cn="*.lab.example"),
    "wildcard_san": lambda: _std(expected={"wildcard"}, csr_sans=[*f.SANS, "DNS:*.lab.example"]),
    "rsa_1024": lambda: _std(expected={"key_too_small"}, leaf_key=f.key("rsa", 1024)),
    "rsa_8192": lambda: _std(expected={"key_too_large"}, leaf_key=f.key("rsa", 8192)),
    "rsa_key_for_ecdsa_unit": lambda: _std("tomcat-ECDSA", expected={"key_type_wrong"}, leaf_key=f.key("rsa", 2048)),
    "ec_key_for_rsa_unit": lambda: _std(
        "CallManager",
        expected={"key_type_wrong"},
        leaf_key=f.key("ec", 256),
        ku={"digital_signature", "key_encipherment"},
    ),
    "sha1_signature": lambda: _std(expected={"weak_signature"}, hash_name="sha1"),
    "md5_signature": lambda: _std(expected={"weak_signature"}, hash_name="md5"),
    "csr_signature_invalid": _csr_tampered,
    # every certificate of the chain, not only the leaf
    "intermediate_rsa_1024": lambda: _std(expected={"ca_key_too_small"}, inter_key=f.key("rsa", 1024, 3)),
    "root_rsa_1024": lambda: _std(expected={"ca_key_too_small"}, root_key=f.key("rsa", 1024, 1)),
    "root_rsa_8192": lambda: _std(expected={"ca_key_too_large"}, root_key=f.key("rsa", 8192)),
    "intermediate_signed_with_sha1": lambda: _std(expected={"weak_signature"}, inter_hash="sha1"),
    "intermediate_expires_before_the_leaf": lambda: _std(
        expected={"ca_expires_before_leaf"}, inter_not_after=W + dt.timedelta(days=200)
    ),
    "intermediate_without_certificate_sign": lambda: _std(
        expected={"issuer_no_cert_sign"}, inter_ku={"digital_signature", "crl_sign"}
    ),
    "root_pathlen_0_above_an_intermediate": lambda: _std(expected={"path_length_exceeded"}, root_pathlen=0),
    "root_pathlen_0_above_two_intermediates": lambda: _std(
        expected={"path_length_exceeded"}, intermediates=2, root_pathlen=0
    ),
    "root_pathlen_1_above_two_intermediates": lambda: _std(
        expected={"path_length_exceeded"}, intermediates=2, root_pathlen=1
    ),
    "root_pathlen_1_above_one_intermediate": lambda: _std(root_pathlen=1),
    "intermediate_pathlen_0_signing_the_leaf": lambda: _std(inter_pathlen=0),
    "capf_ca_leaf_under_a_pathlen_0_intermediate": lambda: _std("CAPF", inter_pathlen=0),
}
# openssl (security level 2 on Debian) refuses SHA-1/MD5 and small keys on its own terms, and it
# does not check a trust anchor's own signature (root_not_self_signed, self_signed_leaf).
NO_OPENSSL = {
    "sha1_signature",
    "md5_signature",
    "rsa_1024",
    "root_not_self_signed",
    "self_signed_leaf",
    "intermediate_rsa_1024",
    "root_rsa_1024",
    "intermediate_signed_with_sha1",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_case_gets_exact_verdict(name: str) -> None:
    c = CASES[name]()
    report = check_files(c.csr, c.blobs, c.unit, now=f.NOW)
    assert set(report.codes) == c.expected, report.summary()
    assert report.ok is (not c.expected)
    assert len(report.codes) == len(set(report.codes))  # one line per problem
    for p in report.problems:
        assert "\n" not in p.line() and p.hint


def test_corpus_has_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("name", sorted(n for n in CASES if n not in NO_OPENSSL))
def test_corpus_agrees_with_openssl(name: str, tmp_path: Path) -> None:
    c = CASES[name]()
    assert c.case is not None and c.openssl
    report = check_files(c.csr, c.blobs, c.unit, now=f.NOW)
    case = c.case
    (tmp_path / "csr.pem").write_bytes(c.csr)
    (tmp_path / "leaf.pem").write_bytes(f.pem(case.leaf))
    # Key comparison, as Cisco's TAC note does it.
    leaf_key = _run("x509", "-in", str(tmp_path / "leaf.pem"), "-noout", "-pubkey").stdout
    csr_key = _run("req", "-in", str(tmp_path / "csr.pem"), "-noout", "-pubkey").stdout
    assert leaf_key and csr_key
    assert (leaf_key == csr_key) is ("key_mismatch" not in report.codes)
    # Chain verification with the certificates the CA returned (as the chain check read them).
    from certops.x509.read import build_chain, read_certificates

    chain = build_chain(read_certificates(c.blobs))
    roots = [x for x in read_certificates(c.blobs) if x.subject == x.issuer]
    untrusted = [x for x in read_certificates(c.blobs) if x.subject != x.issuer and x is not chain.leaf]
    (tmp_path / "root.pem").write_bytes(f.pem(*roots) if roots else f.pem(case.root) if case.root else b"")
    args = ["verify", "-attime", str(int(f.NOW.timestamp())), "-CAfile", str(tmp_path / "root.pem")]
    if not roots:
        # nothing closes the chain: give openssl an empty trust store equivalent
        (tmp_path / "root.pem").write_bytes(f.pem(f.make_case(intermediates=0).root))  # type: ignore[arg-type]
    if untrusted:
        (tmp_path / "untrusted.pem").write_bytes(f.pem(*untrusted))
        args += ["-untrusted", str(tmp_path / "untrusted.pem")]
    result = _run(*args, str(tmp_path / "leaf.pem"))
    openssl_ok = result.returncode == 0
    ours_ok = not (set(report.codes) & PATH_CODES)
    assert openssl_ok is ours_ok, f"openssl: {result.stdout}{result.stderr}\nours: {report.codes}"


def test_missing_issuer_is_named_with_dn_and_key_id() -> None:
    c = _missing_intermediate()
    report = check_files(c.csr, c.blobs, "tomcat", now=f.NOW)
    (problem,) = report.problems
    assert "CN=Example Issuing CA 1" in problem.message
    assert "key id" in problem.message


def test_san_problems_name_the_entries() -> None:
    c = _std(leaf_sans=["DNS:cucm-pub.lab.example", "DNS:x.lab.example"])
    report = check_files(c.csr, c.blobs, "tomcat", now=f.NOW)
    by_code = {p.code: p for p in report.problems}
    assert "DNS:x.lab.example" in by_code["san_extra"].message
    assert "set web-security" in by_code["san_extra"].hint
    assert "DNS:cucm.lab.example" in by_code["san_missing"].message
    assert "IP:10.0.0.10" in by_code["san_missing"].message


def test_trust_uploads_list_root_first_then_intermediates_downward() -> None:
    c = _shuffled(3, intermediates=2)
    report = check_files(c.csr, c.blobs, "tomcat", now=f.NOW)
    assert report.ok
    assert [t.role for t in report.trust_uploads] == ["root", "intermediate", "intermediate"]
    cns = [t.subject for t in report.trust_uploads]
    assert [
        "CN=Example Root CA" in cns[0],
        "CN=Example Issuing CA 1" in cns[1],
        "CN=Example Issuing CA 2" in cns[2],
    ] == [True] * 3
    assert report.trust_store == "tomcat-trust"
    assert len(report.identity_pems) == 3  # leaf + both intermediates


def test_summary_and_json_show_leaf_and_uploads() -> None:
    c = _std()
    report = check_files(c.csr, c.blobs, "tomcat", node="cucm-pub.lab.example", now=f.NOW)
    text = report.summary()
    assert "ready to upload" in text
    assert report.leaf_fingerprint_sha256 in text
    assert "to tomcat-trust first" in text
    data = json.loads(report.to_json())
    assert data["ok"] is True
    assert data["node"] == "cucm-pub.lab.example"
    assert data["trust_uploads"][0]["role"] == "root"


def test_min_validity_is_configurable() -> None:
    c = _std(not_after=W + dt.timedelta(days=20))
    assert check_files(c.csr, c.blobs, "tomcat", now=f.NOW, min_validity_days=10).ok
    assert check_files(c.csr, c.blobs, "tomcat", now=f.NOW, min_validity_days=30).codes == ["validity_too_short"]


def test_expected_cn_is_compared_with_the_leaf() -> None:
    c = _std()
    report = check_files(c.csr, c.blobs, "tomcat", now=f.NOW, expected_cn="cucm-sub1.lab.example")
    assert report.codes == ["cn_mismatch"]
    assert "not for the node 'cucm-sub1.lab.example'" in report.problems[0].message
    assert "CSR generated on this node" in report.problems[0].hint


def test_empty_input_is_a_clear_error() -> None:
    c = _std()
    with pytest.raises(CertificateError, match="empty"):
        check_files(c.csr, [b""], "tomcat", now=f.NOW)


def test_garbage_input_is_a_clear_error() -> None:
    c = _std()
    with pytest.raises(CertificateError, match="neither PEM, DER nor PKCS#7"):
        check_files(c.csr, [b"\x00\x01garbage\xff" * 10], "tomcat", now=f.NOW)


def test_unknown_unit_is_a_clear_error() -> None:
    c = _std()
    with pytest.raises(CertificateError, match="unknown certificate unit 'Tomcat'"):
        check_files(c.csr, c.blobs, "Tomcat", now=f.NOW)


def test_a_csr_signed_with_sha1_is_not_called_tampered() -> None:
    case = f.make_case()
    csr = f.sha1_csr(f.key())
    assert check_files(csr, [f.pem(*case.chain)], "tomcat", now=f.NOW).ok
    tampered = bytearray(x509.load_pem_x509_csr(csr).public_bytes(serialization.Encoding.DER))
    tampered[-4] ^= 0x01
    report = check_files(bytes(tampered), [f.pem(*case.chain)], "tomcat", now=f.NOW)
    assert report.codes == ["csr_signature_invalid"]


def test_signed_chain_with_another_nodes_leaf_among_the_ca_certificates_is_fine() -> None:
    from certops.x509.checks import check_signed_chain

    case = f.make_case()
    other = f.make_case(
        leaf_key=f.key("rsa", 2048, 5), csr_cn="cucm-sub1.lab.example", csr_sans=["DNS:cucm-sub1.lab.example"]
    )
    pems = [f.pem(x).decode() for x in (other.leaf, *case.intermediates, case.root)]  # type: ignore[arg-type]
    report = check_signed_chain(case.csr.decode(), f.pem(case.leaf).decode(), pems, "tomcat", now=f.NOW)
    assert report.ok, report.summary()
    assert any("cucm-sub1.lab.example" in n for n in report.notes)
    # a PKCS#7 bundle in place of the leaf is sorted out like any input
    bundle = f.p7(case.chain).decode()
    assert check_signed_chain(case.csr.decode(), bundle, [], "tomcat", now=f.NOW).ok
