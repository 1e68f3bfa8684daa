"""Turning a certificate a node holds or serves into a ``CertificateInfo`` (with ``cryptography``)."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from certops.errors import CertificateError
from certops.models import CertificateInfo


def load_certificate(data: str | bytes) -> x509.Certificate:
    """A certificate from PEM text or DER bytes; ``CertificateError`` if it is neither."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        if b"-----BEGIN CERTIFICATE-----" in raw:
            return x509.load_pem_x509_certificate(raw)
        return x509.load_der_x509_certificate(raw)
    except ValueError as exc:
        raise CertificateError(f"not a readable X.509 certificate: {exc}") from exc


def _key(cert: x509.Certificate) -> tuple[str, int]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "dsa", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448", 456
    return type(key).__name__.lower(), 0


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, Exception):  # noqa: BLE001  (any failure: not provably self-signed)
        return False
    return True


def certificate_info(data: str | bytes, *, cluster: str, node: str, unit: str) -> CertificateInfo:
    """Describe one certificate (PEM or DER) of ``unit`` on ``node``."""
    cert = load_certificate(data)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        ips = [str(i) for i in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns, ips = [], []
    key_type, key_size = _key(cert)
    return CertificateInfo(
        cluster=cluster,
        node=node,
        unit=unit,
        subject=cert.subject.rfc4514_string(),
        subject_cn=str(cns[0].value) if cns else None,
        issuer=cert.issuer.rfc4514_string(),
        sans_dns=dns,
        sans_ip=ips,
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc.astimezone(dt.UTC),
        not_after=cert.not_valid_after_utc.astimezone(dt.UTC),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        self_signed=_is_self_signed(cert),
        key_type=key_type,
        key_size=key_size,
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )
