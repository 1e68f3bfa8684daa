"""Reading certificates in every format a CA uses, building the chain, and never crashing on bytes."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certops.errors import CertificateError
from certops.x509.checks import check_files
from certops.x509.read import (
    MAX_INPUT_BYTES,
    MAX_INPUTS,
    build_chain,
    fingerprint,
    read_certificates,
    read_csr,
)
from tests.unit import x509_factory as f


@pytest.fixture(scope="module")
def case() -> f.Case:
    return f.make_case(intermediates=2)


def _fps(certs: list) -> list[str]:
    return [fingerprint(c) for c in certs]


def test_pem_bundle_in_any_order_gives_the_same_chain(case: f.Case) -> None:
    expected = _fps(case.chain)
    for seed in range(5):
        certs = case.chain
        random.Random(seed).shuffle(certs)
        chain = build_chain(read_certificates([f.pem(*certs)]))
        assert _fps(chain.certificates) == expected
        assert chain.closed and chain.missing_issuer is None


def test_pkcs7_pem_and_der_are_read(case: f.Case) -> None:
    for enc in ("pem", "der"):
        certs = read_certificates([f.p7(case.chain, enc)], names=[f"chain.p7b ({enc})"])
        assert sorted(_fps(certs)) == sorted(_fps(case.chain))


def test_der_leaf_and_pem_chain_from_two_files(case: f.Case) -> None:
    certs = read_certificates([f.der(case.leaf), f.pem(*case.intermediates, case.root)])  # type: ignore[arg-type]
    assert build_chain(certs).leaf == case.leaf


def test_duplicates_across_files_are_dropped(case: f.Case) -> None:
    certs = read_certificates([f.pem(*case.chain), f.pem(*case.chain)])
    assert len(certs) == len(case.chain)


def test_pem_with_text_around_blocks_is_read(case: f.Case) -> None:
    blob = b"Subject: something\r\nissuer=foo\r\n" + f.pem(case.leaf).replace(b"\n", b"\r\n") + b"\ntrailing words\n"
    assert read_certificates([blob]) == [case.leaf]


def test_missing_issuer_names_dn_and_aki(case: f.Case) -> None:
    chain = build_chain([case.leaf, case.root])  # type: ignore[list-item]
    assert chain.missing_issuer is not None
    assert "CN=Example Issuing CA 2" in chain.missing_issuer.issuer
    assert chain.missing_issuer.authority_key_id  # hex AKI of the missing issuer
    assert chain.root is None
    assert chain.unrelated == [case.root]


def test_private_key_in_input_is_refused_without_echoing_it() -> None:
    from cryptography.hazmat.primitives import serialization

    key_pem = f.key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(CertificateError, match="contains a private key") as info:
        read_certificates([key_pem])
    assert "MII" not in str(info.value)


def test_csr_given_as_certificate_is_explained(case: f.Case) -> None:
    with pytest.raises(CertificateError, match="is a certificate signing request"):
        read_certificates([case.csr], names=["signed.pem"])


def test_oversized_input_is_refused_with_the_limit() -> None:
    with pytest.raises(CertificateError, match=f"limit {MAX_INPUT_BYTES} bytes"):
        read_certificates([b"A" * (MAX_INPUT_BYTES + 1)], names=["big.pem"])


def test_too_many_inputs_are_refused(case: f.Case) -> None:
    with pytest.raises(CertificateError, match=f"limit {MAX_INPUTS}"):
        read_certificates([f.pem(case.leaf)] * (MAX_INPUTS + 1))


def test_empty_and_whitespace_inputs_are_refused() -> None:
    for blob in (b"", b"   \n\t"):
        with pytest.raises(CertificateError, match="empty"):
            read_certificates([blob], names=["x.pem"])
    with pytest.raises(CertificateError, match="no certificate was given"):
        read_certificates([])


def test_broken_base64_in_pem_is_refused() -> None:
    with pytest.raises(CertificateError, match="broken base64"):
        read_certificates([b"-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n"])


def test_a_megabyte_of_begin_lines_is_refused(case: f.Case) -> None:
    # a back-referencing regular expression would take minutes on this (quadratic)
    blob = (b"-----BEGIN CERTIFICATE-----\n" * 40_000)[: MAX_INPUT_BYTES - 1]
    with pytest.raises(CertificateError, match="'CERTIFICATE' has no matching END line"):
        read_certificates([blob], names=["many.pem"])
    with pytest.raises(CertificateError, match="CSR: a PEM block labelled 'NEW' has no matching END line"):
        read_csr(b"-----BEGIN NEW-----\n" * 50_000)


def test_truncated_der_is_refused(case: f.Case) -> None:
    with pytest.raises(CertificateError, match=r"cert\.der: neither PEM"):
        read_certificates([f.der(case.leaf)[:200]], names=["cert.der"])


def test_two_unrelated_leaves_are_refused_as_ambiguous() -> None:
    a = f.make_case(intermediates=0)
    b = f.make_case(intermediates=0, leaf_key=f.key("rsa", 2048, 5), csr_cn="b.example", csr_sans=["DNS:b.example"])
    other_root = f.make_cert(
        f.name("Other Root"),
        f.key("rsa", 2048, 7).public_key(),
        f.name("Other Root"),
        f.key("rsa", 2048, 7),
        ca=True,
        ku=f.CA_KU,
    )
    b_leaf = f.make_cert(
        b.leaf.subject, b.leaf.public_key(), other_root.subject, f.key("rsa", 2048, 7), ca=False, sans=["DNS:b.example"]
    )
    with pytest.raises(CertificateError, match="cannot tell which certificate is the signed one"):
        build_chain([a.leaf, b_leaf])


def test_read_csr_accepts_pem_and_der(case: f.Case) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_csr(case.csr).public_bytes(serialization.Encoding.DER)
    assert read_csr(case.csr).public_bytes(serialization.Encoding.DER) == der
    assert read_csr(der).public_bytes(serialization.Encoding.DER) == der


def test_read_csr_refuses_a_certificate(case: f.Case) -> None:
    with pytest.raises(CertificateError, match="no 'CERTIFICATE REQUEST' PEM block"):
        read_csr(f.pem(case.leaf))


_PEMISH = st.one_of(
    st.binary(max_size=3000),
    st.builds(
        lambda b: b"-----BEGIN CERTIFICATE-----\n" + b + b"\n-----END CERTIFICATE-----\n", st.binary(max_size=2000)
    ),
    st.builds(lambda b: b"-----BEGIN PKCS7-----\n" + b + b"\n-----END PKCS7-----\n", st.binary(max_size=2000)),
    st.builds(lambda b: b"0\x82" + b, st.binary(max_size=2000)),  # looks like a DER SEQUENCE
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blobs=st.lists(_PEMISH, min_size=1, max_size=3))
def test_reader_never_crashes_on_arbitrary_bytes(blobs: list[bytes]) -> None:
    try:
        certs = read_certificates(blobs)
    except CertificateError as exc:
        assert str(exc).strip()
        return
    build_chain(certs)  # pragma: no cover - only reached if the random bytes were a certificate


@settings(max_examples=200, deadline=None)
@given(data=_PEMISH)
def test_csr_reader_never_crashes_on_arbitrary_bytes(data: bytes) -> None:
    with pytest.raises(CertificateError):
        read_csr(data)


_GOOD = f.make_case(intermediates=0)


@settings(max_examples=300, deadline=None)
@given(
    flips=st.lists(st.tuples(st.integers(min_value=0, max_value=10_000), st.integers(1, 255)), min_size=1, max_size=4)
)
def test_reader_and_checks_never_crash_on_corrupted_certificates(flips: list[tuple[int, int]]) -> None:
    der = bytearray(f.der(_GOOD.leaf))
    for pos, mask in flips:
        der[pos % len(der)] ^= mask
    assert _GOOD.root is not None
    try:
        report = check_files(_GOOD.csr, [bytes(der), f.pem(_GOOD.root)], "tomcat", now=f.NOW)
    except CertificateError as exc:
        assert str(exc).strip()
        return
    # A change that still parses is a different certificate: the checks must say what is wrong.
    assert report.ok is (bytes(der) == f.der(_GOOD.leaf))
