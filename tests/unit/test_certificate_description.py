"""What ``certops certificates`` and the scan say about each certificate: its names and whether it is self-signed.

The description reads names straight from the DER (``certops.x509.der``) and decides "self-signed" by
key identifiers where they agree; these tests hold it to what ``cryptography`` says of the same
certificate, for the names certificates have and for the odd ones.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier

from certops.cucm.certinfo import certificate_info
from certops.x509.der import name_text, tbs_names

_KEY = ec.generate_private_key(ec.SECP256R1())
_OTHER = ec.generate_private_key(ec.SECP256R1())


def _attr(oid: ObjectIdentifier, value: str, kind: _ASN1Type | None = None) -> x509.NameAttribute[str]:
    return x509.NameAttribute(oid, value, kind) if kind is not None else x509.NameAttribute(oid, value)


NAMES: dict[str, x509.Name] = {
    "cucm": x509.Name(
        [
            _attr(NameOID.COUNTRY_NAME, "US"),
            _attr(NameOID.ORGANIZATION_NAME, "Example Corp"),
            _attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "UC"),
            _attr(NameOID.COMMON_NAME, "cucm-pub.example.com"),
        ]
    ),
    "escapes": x509.Name(
        [
            _attr(NameOID.ORGANIZATION_NAME, 'A, B + "C" <D>; E\\F'),
            _attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "#lead"),
            _attr(NameOID.LOCALITY_NAME, " padded "),
            _attr(NameOID.COMMON_NAME, "x"),
        ]
    ),
    "utf8": x509.Name([_attr(NameOID.LOCALITY_NAME, "Zürich"), _attr(NameOID.COMMON_NAME, "café.example")]),
    "printable": x509.Name([_attr(NameOID.COMMON_NAME, "host.example", _ASN1Type.PrintableString)]),
    "ia5 and dc": x509.Name(
        [
            _attr(NameOID.DOMAIN_COMPONENT, "com"),
            _attr(NameOID.DOMAIN_COMPONENT, "example"),
            _attr(NameOID.USER_ID, "u1"),
        ]
    ),
    "bmp": x509.Name([_attr(NameOID.COMMON_NAME, "bmp.example", _ASN1Type.BMPString)]),
    "email (no short name)": x509.Name(
        [_attr(NameOID.COMMON_NAME, "CA"), _attr(NameOID.EMAIL_ADDRESS, "pki@example.com")]
    ),
    "multi-valued rdn": x509.Name(
        [
            x509.RelativeDistinguishedName(
                [_attr(NameOID.COMMON_NAME, "two"), _attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "values")]
            )
        ]
    ),
    "two cns": x509.Name([_attr(NameOID.COMMON_NAME, "first"), _attr(NameOID.COMMON_NAME, "second")]),
    "no cn": x509.Name([_attr(NameOID.ORGANIZATION_NAME, "Only O")]),
    "empty": x509.Name([]),
    "street and state": x509.Name(
        [_attr(NameOID.STREET_ADDRESS, "1 Main St"), _attr(NameOID.STATE_OR_PROVINCE_NAME, "CA")]
    ),
}


def _cert(
    subject: x509.Name,
    issuer: x509.Name | None = None,
    *,
    signer: ec.EllipticCurvePrivateKey = _KEY,
    ski: bool = False,
    aki_of: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer if issuer is not None else subject)
        .public_key(_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=90))
    )
    if ski:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(_KEY.public_key()), critical=False)
    if aki_of is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_of.public_key()), critical=False
        )
    return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _cn(name: x509.Name) -> str | None:
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else None


@pytest.mark.parametrize("kind", list(NAMES))
def test_subject_and_issuer_are_shown_as_cryptography_writes_them(kind: str) -> None:
    issuer = NAMES["cucm"] if kind != "cucm" else NAMES["utf8"]
    pem = _cert(NAMES[kind], issuer, signer=_OTHER)
    cert = x509.load_pem_x509_certificate(pem)
    info = certificate_info(pem, cluster="c", node="n", unit="tomcat")
    assert info.subject == cert.subject.rfc4514_string()
    assert info.subject_cn == _cn(cert.subject)
    assert info.issuer == cert.issuer.rfc4514_string()
    # the same name as issuer too (the issuer path remembers names by their DER)
    mirrored = certificate_info(_cert(issuer, NAMES[kind], signer=_OTHER), cluster="c", node="n", unit="tomcat")
    assert mirrored.issuer == cert.subject.rfc4514_string()


@pytest.mark.parametrize("kind", list(NAMES))
def test_names_read_from_the_der_agree_with_cryptography_or_step_aside(kind: str) -> None:
    cert = x509.load_pem_x509_certificate(_cert(NAMES[kind]))
    names = tbs_names(cert.public_bytes(serialization.Encoding.DER))
    assert names is not None
    issuer_der, subject_der = names
    assert subject_der == cert.subject.public_bytes() and issuer_der == cert.issuer.public_bytes()
    fast = name_text(subject_der)
    if kind in {"cucm", "escapes", "utf8", "printable", "ia5 and dc", "two cns", "no cn", "empty", "street and state"}:
        assert fast == (cert.subject.rfc4514_string(), _cn(cert.subject))
    else:  # left to cryptography: the kinds the DER reader does not render itself
        assert fast is None


def test_der_reader_refuses_garbage_without_raising() -> None:
    assert tbs_names(b"") is None and tbs_names(b"\x30\x82\xff\xff") is None and tbs_names(b"\x04\x00") is None
    assert name_text(b"") is None and name_text(b"\x30\x05\x31\x03\x30\x01") is None


def test_self_signed_is_detected_without_key_identifiers() -> None:
    info = certificate_info(_cert(NAMES["cucm"]), cluster="c", node="n", unit="tomcat-ECDSA")
    assert info.self_signed


def test_same_name_signed_by_another_key_is_ca_signed_without_key_identifiers() -> None:
    info = certificate_info(_cert(NAMES["cucm"], signer=_OTHER), cluster="c", node="n", unit="tomcat-ECDSA")
    assert not info.self_signed


def test_self_signed_is_detected_when_its_authority_key_identifier_names_another_key() -> None:
    # misleading identifiers: the certificate's own key signed it, its AKI names some other key
    pem = _cert(NAMES["cucm"], ski=True, aki_of=_OTHER)
    assert certificate_info(pem, cluster="c", node="n", unit="tomcat-ECDSA").self_signed


def test_self_signed_is_decided_by_agreeing_key_identifiers() -> None:
    pem = _cert(NAMES["cucm"], ski=True, aki_of=_KEY)
    assert certificate_info(pem, cluster="c", node="n", unit="tomcat-ECDSA").self_signed
    other = _cert(NAMES["cucm"], signer=_OTHER, ski=True, aki_of=_OTHER)
    assert not certificate_info(other, cluster="c", node="n", unit="tomcat-ECDSA").self_signed


def test_names_alike_in_text_but_encoded_differently_are_judged_by_the_signature() -> None:
    # PrintableString subject, UTF8String issuer: different bytes, equal names as cryptography compares them;
    # self-signed only if the certificate verifies as issued by itself (it does not: the issuer bytes differ)
    subject = x509.Name([_attr(NameOID.COMMON_NAME, "host.example", _ASN1Type.PrintableString)])
    issuer = x509.Name([_attr(NameOID.COMMON_NAME, "host.example", _ASN1Type.UTF8String)])
    pem = _cert(subject, issuer)
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.subject.public_bytes() != cert.issuer.public_bytes() and cert.subject == cert.issuer
    try:
        cert.verify_directly_issued_by(cert)
        verifies = True
    except ValueError:
        verifies = False
    info = certificate_info(pem, cluster="c", node="n", unit="tomcat")
    assert info.subject == info.issuer == "CN=host.example"
    assert info.self_signed is verifies


def test_names_sharing_rdns_with_names_read_before_read_as_cryptography_writes_them() -> None:
    """The DER reader remembers each RDN's text: a name made of RDNs seen before (in any order, one of
    them left to cryptography) reads as cryptography writes it, or steps aside."""
    o = _attr(NameOID.ORGANIZATION_NAME, "Example Corp")
    cn = _attr(NameOID.COMMON_NAME, "node.example")
    bmp = _attr(NameOID.COMMON_NAME, "bmp.example", _ASN1Type.BMPString)
    for attrs in ([o, cn], [cn, o], [cn, cn], [o, cn, o], [o, bmp], [o, cn]):
        name = x509.Name(attrs)
        fast = name_text(name.public_bytes())
        if bmp in attrs:
            assert fast is None
        else:
            assert fast == (name.rfc4514_string(), _cn(name))


def test_sans_are_listed_by_kind_in_the_certificates_order() -> None:
    import ipaddress

    names = [
        x509.DNSName("b.example"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.2")),
        x509.RFC822Name("admin@example.com"),
        x509.DNSName("a.example"),
        x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
        x509.UniformResourceIdentifier("https://example.com/"),
    ]
    now = dt.datetime.now(dt.UTC)
    pem = (
        x509.CertificateBuilder()
        .subject_name(NAMES["cucm"])
        .issuer_name(NAMES["utf8"])
        .public_key(_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(_OTHER, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    san = x509.load_pem_x509_certificate(pem).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    info = certificate_info(pem, cluster="c", node="n", unit="tomcat")
    assert info.sans_dns == [str(v) for v in san.get_values_for_type(x509.DNSName)] == ["b.example", "a.example"]
    assert info.sans_ip == [str(v) for v in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.2", "2001:db8::1"]
    no_san = certificate_info(_cert(NAMES["cucm"]), cluster="c", node="n", unit="tomcat")
    assert (no_san.sans_dns, no_san.sans_ip) == ([], [])
