"""The lab CA: a local root and intermediate on disk that sign CSRs made on (simulated) nodes.

For demos and tests only. It signs the way a well-run enterprise CA should for CUCM: subject
and SANs copied exactly from the CSR, the unit's key usages and extended key usages from the
unit table, ``CA:TRUE`` + Certificate Sign for CAPF (it signs phone LSCs), AKI/SKI, SHA-256,
and it returns leaf + intermediate + root. It can be told to misbehave the ways real CAs do
(``LabCaMisbehaviour``), so the pre-upload checks are exercised end to end.

The CA is created on first use in its directory (0700, key files 0600) and reused afterwards;
creation is serialised with a file lock, so parallel processes share one CA.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import ipaddress
import json
import os
import threading
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certops.ca.base import CaTicket, SignedChainPem, csr_for_ca
from certops.errors import CaRejected, CertificateError
from certops.units import UNITS
from certops.x509.legacy import legacy_sign


class LabCaMisbehaviour(StrEnum):
    """Ways a real CA gets it wrong; each one must be caught by ``certops check``."""

    ADD_SANS = "add_sans"  # adds a www. name and an IP the CSR did not ask for (Cisco's example)
    DROP_SANS = "drop_sans"  # drops the CSR's last SAN
    DROP_INTERMEDIATE = "drop_intermediate"  # returns leaf + root only
    OLDER_CSR = "older_csr"  # signs a different key (as if an older CSR)
    PKCS7_ONLY = "pkcs7_only"  # returns one PKCS#7 bundle instead of PEM certificates (harmless)
    WRONG_EKU = "wrong_eku"  # code signing instead of the unit's EKUs
    NO_KEY_USAGE = "no_key_usage"  # leaves out the key usage extension
    SHA1 = "sha1"  # signs with SHA-1
    SHORT_VALIDITY = "short_validity"  # valid for 7 days
    WILDCARD = "wildcard"  # adds a wildcard SAN
    CHANGE_CN = "change_cn"  # replaces the CN
    NOT_CA = "not_ca"  # no CA:TRUE, even for CAPF


_KEY_USAGE_FLAGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def _key_usage(names: Iterable[str]) -> x509.KeyUsage:
    wanted = set(names)
    flags = {n: n in wanted for n in _KEY_USAGE_FLAGS}
    return x509.KeyUsage(**flags, encipher_only=False, decipher_only=False)


_Material = tuple[x509.Certificate, x509.Certificate, rsa.RSAPrivateKey]
_LOADED: dict[bytes, _Material] = {}
_LOADED_LOCK = threading.Lock()


def _load_material(directory: Path) -> _Material:
    """Root, intermediate and the intermediate's key of the CA in ``directory``, parsed once per process.

    Keyed by the files' content, so a CA made again in the same place is parsed again. Loading an
    RSA key checks it (tens of ms), and every renewal task that signs or collects asks for the CA.
    """
    root_pem, inter_pem, key_pem = (
        (directory / name).read_bytes() for name in ("root.pem", "intermediate.pem", "intermediate.key")
    )
    ident = hashlib.sha256(b"\0".join((root_pem, inter_pem, key_pem))).digest()
    with _LOADED_LOCK:
        got = _LOADED.get(ident)
    if got is not None:
        return got
    key = serialization.load_pem_private_key(key_pem, None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateError(f"lab CA {directory}: intermediate.key is not an RSA key")
    loaded = (x509.load_pem_x509_certificate(root_pem), x509.load_pem_x509_certificate(inter_pem), key)
    with _LOADED_LOCK:
        _LOADED[ident] = loaded
    return loaded


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


class LabCa:
    """A two-level lab CA kept in ``directory``. Implements ``CaBackend`` (signs at once)."""

    needs_person = False

    def __init__(
        self,
        directory: Path,
        *,
        validity_days: int = 365,
        misbehave: Iterable[LabCaMisbehaviour] = (),
        name: str = "lab",
    ) -> None:
        self.name = name
        self.directory = Path(directory)
        self.validity_days = validity_days
        self.misbehave = frozenset(misbehave)
        self._ensure()
        self._root, self._inter, self._inter_key = _load_material(self.directory)

    # --- the CA on disk -----------------------------------------------------------------

    def _ensure(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.directory / "issued").mkdir(exist_ok=True, mode=0o700)
        with open(self.directory / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (self.directory / "intermediate.pem").exists():
                self._create()

    def _create(self) -> None:
        now = dt.datetime.now(dt.UTC)
        root_key = rsa.generate_private_key(65537, 3072)
        inter_key = rsa.generate_private_key(65537, 2048)
        root_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certops lab"),
                x509.NameAttribute(NameOID.COMMON_NAME, "certops Lab Root CA"),
            ]
        )
        inter_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certops lab"),
                x509.NameAttribute(NameOID.COMMON_NAME, "certops Lab Issuing CA"),
            ]
        )
        ca_usage = _key_usage({"digital_signature", "key_cert_sign", "crl_sign"})
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(ca_usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256())
        )
        inter = (
            x509.CertificateBuilder()
            .subject_name(inter_name)
            .issuer_name(root_name)
            .public_key(inter_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1825))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(ca_usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(inter_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256())
        )
        pkcs8 = serialization.PrivateFormat.PKCS8
        none = serialization.NoEncryption()
        _write_private(self.directory / "root.key", root_key.private_bytes(serialization.Encoding.PEM, pkcs8, none))
        _write_private(
            self.directory / "intermediate.key", inter_key.private_bytes(serialization.Encoding.PEM, pkcs8, none)
        )
        (self.directory / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
        # intermediate.pem last: its presence marks a complete CA.
        (self.directory / "intermediate.pem").write_bytes(inter.public_bytes(serialization.Encoding.PEM))

    @property
    def root_pem(self) -> str:
        """The lab root certificate (PEM), for trust bundles."""
        return self._root.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def intermediate_pem(self) -> str:
        """The lab issuing CA certificate (PEM)."""
        return self._inter.public_bytes(serialization.Encoding.PEM).decode("ascii")

    # --- signing ------------------------------------------------------------------------

    def sign(self, csr_pem: str | bytes, unit: str) -> SignedChainPem:
        """Sign ``csr_pem`` for ``unit`` and return leaf + chain. Raises ``CaRejected`` on a bad CSR."""
        csr = csr_for_ca(csr_pem, backend=self.name, unit=unit)
        spec = UNITS[unit]
        m = self.misbehave
        now = dt.datetime.now(dt.UTC)
        subject = csr.subject
        if LabCaMisbehaviour.CHANGE_CN in m:
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "renamed-by-ca.example")])
        public_key = csr.public_key()
        if LabCaMisbehaviour.OLDER_CSR in m:
            public_key = rsa.generate_private_key(65537, 2048).public_key()
        days = 7 if LabCaMisbehaviour.SHORT_VALIDITY in m else self.validity_days
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._inter.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._inter_key.public_key()), critical=False
            )
        )
        is_ca = spec.must_be_ca and LabCaMisbehaviour.NOT_CA not in m
        builder = builder.add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), critical=True
        )
        if LabCaMisbehaviour.NO_KEY_USAGE not in m:
            usages = set(spec.key_usage) if is_ca or not spec.must_be_ca else set(spec.key_usage) - {"key_cert_sign"}
            builder = builder.add_extension(_key_usage(usages), critical=True)
        ekus = (
            [ExtendedKeyUsageOID.CODE_SIGNING]
            if LabCaMisbehaviour.WRONG_EKU in m
            else [x509.ObjectIdentifier(o) for o in sorted(spec.extended_key_usage)]
        )
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        sans = self._sans(csr, subject)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        leaf = builder.sign(self._inter_key, hashes.SHA256())
        if LabCaMisbehaviour.SHA1 in m:
            leaf = legacy_sign(leaf, self._inter_key, "sha1")
        pem = serialization.Encoding.PEM
        chain = [self._root] if LabCaMisbehaviour.DROP_INTERMEDIATE in m else [self._inter, self._root]
        if LabCaMisbehaviour.PKCS7_ONLY in m:
            bundle = pkcs7.serialize_certificates([leaf, *chain], pem).decode("ascii")
            return SignedChainPem(leaf_pem=bundle, chain_pems=[], source=f"lab CA {self.directory} (PKCS#7)")
        return SignedChainPem(
            leaf_pem=leaf.public_bytes(pem).decode("ascii"),
            chain_pems=[c.public_bytes(pem).decode("ascii") for c in chain],
            source=f"lab CA {self.directory}",
        )

    def _sans(self, csr: x509.CertificateSigningRequest, subject: x509.Name) -> list[x509.GeneralName]:
        try:
            sans: list[x509.GeneralName] = list(
                csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            )
        except x509.ExtensionNotFound:
            sans = []
        m = self.misbehave
        cn_attrs = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = str(cn_attrs[0].value) if cn_attrs else "node.example"
        if LabCaMisbehaviour.DROP_SANS in m and sans:
            sans = sans[:-1]
        if LabCaMisbehaviour.ADD_SANS in m:
            sans += [x509.DNSName(f"www.{cn}"), x509.IPAddress(ipaddress.ip_address("192.0.2.10"))]
        if LabCaMisbehaviour.WILDCARD in m:
            domain = cn.split(".", 1)[1] if "." in cn else cn
            sans.append(x509.DNSName(f"*.{domain}"))
        return sans

    # --- CaBackend ----------------------------------------------------------------------

    def submit(self, csr_pem: str, *, unit: str, node: str, cluster: str) -> CaTicket:
        """Sign at once; the chain is kept on disk under the ticket's reference (the serial)."""
        signed = self.sign(csr_pem, unit)
        serial = os.urandom(8).hex()
        path = self.directory / "issued" / f"{serial}.json"
        path.write_text(json.dumps({"cluster": cluster, "node": node, "unit": unit, **signed.model_dump()}))
        return CaTicket(backend=self.name, reference=serial)

    def poll(self, ticket: CaTicket) -> SignedChainPem | None:
        """The chain signed for ``ticket`` (the lab CA never keeps anyone waiting)."""
        path = self.directory / "issued" / f"{ticket.reference}.json"
        if not ticket.reference.isalnum() or not path.is_file():
            raise CaRejected(f"no request {ticket.reference!r} in {self.directory}", backend=self.name)
        data = json.loads(path.read_text())
        return SignedChainPem(leaf_pem=data["leaf_pem"], chain_pems=data["chain_pems"], source=data["source"])
