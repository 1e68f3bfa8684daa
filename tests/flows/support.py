"""Test support for the renewal flows: a small signing CA behind the CaBackend interface."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from certops.ca.base import SignedChainPem
from certops.units import UNITS


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test CA")]
    )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class TestCa:
    """A root and an intermediate that sign CSRs with the key usages the unit table asks for."""

    __test__ = False  # not a pytest test class

    def __init__(self, label: str = "Certops Test") -> None:
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        self.root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        root_name = _name(f"{label} Root")
        self.root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(self.root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.root_key.public_key()), critical=False)
            .sign(self.root_key, hashes.SHA256())
        )
        self.int_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.intermediate = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{label} Intermediate"))
            .issuer_name(root_name)
            .public_key(self.int_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1825))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.int_key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root_key.public_key()), critical=False
            )
            .sign(self.root_key, hashes.SHA256())
        )

    @property
    def chain_pems(self) -> list[str]:
        """Intermediate then root."""
        return [_pem(self.intermediate), _pem(self.root)]

    def sign(self, csr_pem: str, unit: str, *, extra_san: str | None = None) -> SignedChainPem:
        """Sign ``csr_pem`` for ``unit`` (``extra_san`` adds a SAN the CSR did not ask for: a bad chain)."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        try:
            sans = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            sans = []
        if extra_san:
            sans.append(x509.DNSName(extra_san))
        builder = unit_leaf_builder(csr, unit, self.intermediate.subject, self.int_key.public_key(), now)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        leaf = builder.sign(self.int_key, hashes.SHA256())
        return SignedChainPem(leaf_pem=_pem(leaf), chain_pems=self.chain_pems, source="test CA")


_KEY_USAGE_BITS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def unit_leaf_builder(
    csr: x509.CertificateSigningRequest, unit: str, issuer: x509.Name, issuer_public: Any, now: dt.datetime
) -> x509.CertificateBuilder:
    """A leaf for ``csr`` as a CA that follows the unit table would sign it: its key usages, EKUs and CA flag.

    One year from ``now``, issued by ``issuer``; the caller adds the SANs it wants and signs.
    """
    spec = UNITS[unit]
    ku = {k: (k in spec.key_usage) for k in _KEY_USAGE_BITS}
    return (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(issuer)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=spec.must_be_ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**ku, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in sorted(spec.extended_key_usage)]),
            critical=False,
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
