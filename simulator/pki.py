"""Keys and certificates of the simulated fleet: the simulator CA, node certificates, CSRs.

Everything is made with ``cryptography``. Initial node certificates share one RSA and one EC key
per fleet (generating thousands of RSA keys would make a 1,000-node fleet slow to start); CSRs
generated through the API get a fresh key that never leaves the simulated node.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

ORG = "Certops Simulator"
_HASHES: dict[str, hashes.SHA256 | hashes.SHA384 | hashes.SHA512] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def new_key(key_type: str = "rsa", key_length: int = 2048) -> PrivateKey:
    """A fresh private key: RSA of ``key_length`` bits, or EC P-256/P-384 (``key_length`` 256/384)."""
    if key_type == "ec":
        curve: ec.EllipticCurve = ec.SECP384R1() if key_length == 384 else ec.SECP256R1()
        return ec.generate_private_key(curve)
    return rsa.generate_private_key(public_exponent=65537, key_size=key_length)


def key_pem(key: PrivateKey) -> bytes:
    """``key`` as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> str:
    """``cert`` as a PEM string."""
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def public_key_der(key: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    """The SubjectPublicKeyInfo DER of a certificate or CSR, for key comparison."""
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def common_name(name: x509.Name) -> str:
    """The first CN of ``name``, or the RFC 4514 string when there is none."""
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


def dns_sans(obj: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    """DNS and IP subject alternative names of a certificate or CSR, as strings."""
    try:
        ext = obj.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names: list[str] = [str(n) for n in ext.value.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in ext.value.get_values_for_type(x509.IPAddress)]
    return names


def java_date(when: dt.datetime) -> str:
    """A date the way the CUCM CLI prints it (Java ``Date.toString``), e.g. ``Tue Mar 05 12:34:56 UTC 2024``."""
    return when.astimezone(dt.UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


@dataclass
class SimulatorCa:
    """The simulator's root CA: signs every node's initial CA-signed certificates."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, name: str = "Certops Simulator Root CA") -> SimulatorCa:
        """Make a new self-signed root valid for ten years."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name(
            [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG), x509.NameAttribute(NameOID.COMMON_NAME, name)]
        )
        now = utcnow()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key=key, cert=cert)

    @property
    def pem(self) -> str:
        """The root certificate as PEM."""
        return cert_pem(self.cert)

    def sign_csr(self, csr_pem: str, days: int = 365) -> str:
        """Sign a CSR as it asks (subject, key, SANs; server+client auth), as a lab CA would. Returns PEM.

        The simulator CA is in every CA-signed unit's trust store from the start, so a CSR signed
        here uploads without a trust upload first.
        """
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        now = utcnow()
        builder = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
        )
        try:
            san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            builder = builder.add_extension(san, critical=False)
        except x509.ExtensionNotFound:
            pass
        return cert_pem(builder.sign(self.key, hashes.SHA256()))


def node_subject(fqdn: str, unit: str) -> x509.Name:
    """The subject CUCM gives a unit's certificate (CN = FQDN; ITLRecovery has its own CN)."""
    cn = f"ITLRECOVERY_{fqdn.split('.')[0]}" if unit == "ITLRecovery" else fqdn
    if unit.endswith("-ECDSA"):
        cn = f"{fqdn.split('.')[0]}-EC.{fqdn.split('.', 1)[1]}" if "." in fqdn else f"{fqdn}-EC"
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def issue_node_cert(
    *,
    subject: x509.Name,
    sans: list[str],
    key: PrivateKey,
    not_after: dt.datetime,
    ca: SimulatorCa | None,
    unit: str,
) -> x509.Certificate:
    """A node certificate for ``unit``: signed by ``ca``, or self-signed by ``key`` when ``ca`` is None."""
    not_before = min(utcnow() - dt.timedelta(days=1), not_after - dt.timedelta(days=730))
    issuer = ca.cert.subject if ca else subject
    signer: PrivateKey = ca.key if ca else key
    ku_ec = isinstance(key, ec.EllipticCurvePrivateKey)
    is_ca = unit in ("CAPF", "ITLRecovery") and ca is None
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
        .add_extension(x509.BasicConstraints(ca=is_ca or unit == "CAPF", path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=not ku_ec,
                data_encipherment=False,
                key_agreement=ku_ec,
                key_cert_sign=unit == "CAPF" or is_ca,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    )
    return builder.sign(signer, hashes.SHA256())


def make_csr(
    *, key: PrivateKey, subject: x509.Name, sans: list[str], hash_algorithm: str = "sha256"
) -> x509.CertificateSigningRequest:
    """A CSR for ``subject`` carrying ``sans`` (DNS names, or IP addresses when they parse as IPs)."""
    import ipaddress

    general: list[x509.GeneralName] = []
    for s in sans:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(s)))
        except ValueError:
            general.append(x509.DNSName(s))
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if general:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    return builder.sign(key, _HASHES.get(hash_algorithm, hashes.SHA256()))


def load_certificate(text: str) -> x509.Certificate:
    """Parse one certificate given as PEM, or as base64 DER. Raises ``ValueError`` when neither."""
    import base64
    import binascii

    stripped = text.strip()
    if "-----BEGIN CERTIFICATE-----" in stripped:
        return x509.load_pem_x509_certificate(stripped.encode())
    try:
        der = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not PEM or DER") from exc
    return x509.load_der_x509_certificate(der)


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s subject is ``cert``'s issuer and its key verifies ``cert``'s signature."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, Exception):  # noqa: BLE001  (InvalidSignature and unsupported keys)
        return False
    return True
