"""Turning a certificate a node holds or serves into a ``CertificateInfo`` (with ``cryptography``)."""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from certops.errors import CertificateError
from certops.models import CertificateInfo
from certops.x509 import verdicts
from certops.x509.der import name_text, tbs_names

_PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"
_PEM_END = b"-----END CERTIFICATE-----"


def _der_of(raw: bytes) -> bytes:
    """The DER of the first ``CERTIFICATE`` block of PEM ``raw``, or ``raw`` itself when it is no PEM."""
    begin = raw.find(_PEM_BEGIN)
    if begin < 0:
        return raw
    end = raw.find(_PEM_END, begin)
    if end < 0:
        raise CertificateError("not a readable X.509 certificate: the PEM block has no END line")
    try:
        return binascii.a2b_base64(raw[begin + len(_PEM_BEGIN) : end])
    except binascii.Error as exc:
        raise CertificateError(f"not a readable X.509 certificate: bad base64 in the PEM block ({exc})") from exc


def _pem_of(der: bytes) -> str:
    """PEM text of ``der``, as ``cryptography`` writes it (64 characters a line, newline at the end)."""
    b64 = base64.b64encode(der).decode("ascii")
    body = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def load_certificate(data: str | bytes) -> x509.Certificate:
    """A certificate from PEM text or DER bytes; ``CertificateError`` if it is neither."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        if _PEM_BEGIN in raw:
            return x509.load_pem_x509_certificate(raw)
        return x509.load_der_x509_certificate(raw)
    except ValueError as exc:
        raise CertificateError(f"not a readable X.509 certificate: {exc}") from exc


_KEY_KINDS: dict[type, str] = {}
"""The kind of each key class seen (its ``isinstance`` answers, asked once a class: they are ABC checks)."""


def _key_kind(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec"
    if isinstance(key, dsa.DSAPublicKey):
        return "dsa"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448"
    return ""


def _key(cert: x509.Certificate) -> tuple[str, int]:
    key = cert.public_key()
    kind = _KEY_KINDS.get(type(key))
    if kind is None:
        kind = _KEY_KINDS[type(key)] = _key_kind(key)
    if kind == "rsa" or kind == "dsa":
        return kind, key.key_size  # type: ignore[union-attr]
    if kind == "ec":
        return "ec", key.curve.key_size  # type: ignore[union-attr]
    if kind == "ed25519":
        return "ed25519", 256
    if kind == "ed448":
        return "ed448", 456
    return type(key).__name__.lower(), 0


def _signed_by_itself(cert: x509.Certificate) -> bool:
    """The certificate's signature verifies with its own key (and its issuer names its subject)."""
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, Exception):  # noqa: BLE001  (any failure: not provably self-signed)
        return False
    return True


def _is_self_signed(cert: x509.Certificate, names_equal: bool | None = None, fingerprint: str | None = None) -> bool:
    """Issuer and subject are the same name and the certificate's own key signed it.

    Equal key identifiers decide without a signature check: the certificate's authority key
    identifier names its own subject key identifier (RFC 5280 4.2.1.1), as a self-signed
    certificate's does. Without both identifiers, or when they name different keys (a
    self-signed certificate may carry an authority key identifier copied from elsewhere), the
    signature is verified with the certificate's own key; with the certificate's SHA-256
    ``fingerprint`` that verdict is remembered (``certops.x509.verdicts``) and a remembered one
    is used. ``names_equal`` is passed when the caller compared the names already.
    """
    if names_equal is None:
        names_equal = cert.issuer == cert.subject
    if not names_equal:
        return False
    ski: bytes | None
    aki: bytes | None
    try:
        exts = cert.extensions
        ski = exts.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        aki = exts.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except (x509.ExtensionNotFound, ValueError):
        ski = aki = None
    if ski is not None and ski == aki:
        return True
    if fingerprint is not None:
        known = verdicts.remembered(fingerprint)
        if known is not None:
            return known
    signed_by_itself = _signed_by_itself(cert)
    if fingerprint is not None:
        verdicts.remember(fingerprint, signed_by_itself)
    return signed_by_itself


_ISSUERS: dict[bytes, tuple[str, str | None]] = {}
"""RFC 4514 text and CN of issuer names seen, by their DER: a fleet has few issuers."""


def _text_of(name: x509.Name) -> tuple[str, str | None]:
    """(RFC 4514 text, first CN) of a name, by ``cryptography``."""
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return name.rfc4514_string(), (str(cns[0].value) if cns else None)


def _issuer_text(cert: x509.Certificate, der: bytes | None) -> tuple[str, str | None]:
    """The issuer's (text, CN), remembered by the issuer's DER (``der``, or ``cryptography``'s encoding of it)."""
    key = der if der is not None else cert.issuer.public_bytes()
    known = _ISSUERS.get(key)
    if known is None:
        known = (name_text(key) if der is not None else None) or _text_of(cert.issuer)
        if len(_ISSUERS) < 4096:
            _ISSUERS[key] = known
    return known


def certificate_info(data: str | bytes, *, cluster: str, node: str, unit: str) -> CertificateInfo:
    """Describe one certificate (PEM or DER) of ``unit`` on ``node``."""
    raw = data.encode() if isinstance(data, str) else data
    der = _der_of(raw)
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateError(f"not a readable X.509 certificate: {exc}") from exc
    # The names straight from the DER (certops.x509.der); cryptography's Name objects only for a
    # name outside the common shape, or to compare two names that render alike but differ in bytes.
    names = tbs_names(der)
    issuer_der, subject_der = names if names is not None else (None, None)
    fast = name_text(subject_der) if subject_der is not None else None
    subject, subject_cn = fast if fast is not None else _text_of(cert.subject)
    if issuer_der is not None and issuer_der == subject_der:
        issuer = subject  # self-issued: the same bytes render alike (and are not worth remembering)
    else:
        issuer, _ = _issuer_text(cert, issuer_der)
    if subject != issuer:
        names_equal = False
    elif issuer_der is not None and issuer_der == subject_der:
        names_equal = True
    else:
        names_equal = cert.subject == cert.issuer
    dns: list[str] = []
    ips: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    else:  # get_values_for_type(DNSName) and (IPAddress), in one pass over the names
        for general_name in san:
            if isinstance(general_name, x509.DNSName):
                dns.append(str(general_name.value))
            elif isinstance(general_name, x509.IPAddress):
                ips.append(str(general_name.value))
    key_type, key_size = _key(cert)
    fingerprint = hashlib.sha256(der).hexdigest()
    return CertificateInfo(
        cluster=cluster,
        node=node,
        unit=unit,
        subject=subject,
        subject_cn=subject_cn,
        issuer=issuer,
        sans_dns=dns,
        sans_ip=ips,
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint_sha256=fingerprint,
        # equal names render alike; the byte or full comparison only for those (self-signed candidates)
        self_signed=_is_self_signed(cert, names_equal, fingerprint),
        key_type=key_type,
        key_size=key_size,
        pem=_pem_of(der),
    )
