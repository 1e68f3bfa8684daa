"""The manual CA backend (the default): a person takes the CSR to the CA and brings the chain back.

``submit`` writes the CSR to a file and returns a ticket whose ``instructions`` say exactly what
the CA must do (keep the SANs, the unit's key usages, CA:TRUE for CAPF...) and what to send
back. ``poll`` returns None: the signed chain comes back through the flow's approval pause.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from certops.ca.base import CaTicket, SignedChainPem
from certops.errors import CaRejected, CertificateError
from certops.inventory import ManualCaConfig
from certops.units import CLIENT_AUTH, IPSEC_END_SYSTEM, SERVER_AUTH, UNITS
from certops.x509.checks import DEFAULT_MIN_VALIDITY_DAYS, csr_signature_valid, san_set
from certops.x509.read import read_csr

_EKU_NAMES = {
    SERVER_AUTH: "TLS Web Server Authentication (1.3.6.1.5.5.7.3.1)",
    CLIENT_AUTH: "TLS Web Client Authentication (1.3.6.1.5.5.7.3.2)",
    IPSEC_END_SYSTEM: "IPsec End System (1.3.6.1.5.5.7.3.5)",
}
_KU_NAMES = {
    "digital_signature": "Digital Signature",
    "key_encipherment": "Key Encipherment",
    "key_agreement": "Key Agreement",
    "key_cert_sign": "Certificate Sign",
}
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ManualCa:
    """A person signs the CSR at the CA. Implements ``CaBackend``; ``needs_person`` is True."""

    needs_person = True

    def __init__(self, config: ManualCaConfig | None = None, *, csr_directory: Path, name: str = "manual") -> None:
        self.name = name
        self.config = config or ManualCaConfig()
        self.csr_directory = Path(csr_directory)

    def submit(self, csr_pem: str, *, unit: str, node: str, cluster: str) -> CaTicket:
        """Write the CSR to a file and return what the person must do with it."""
        if unit not in UNITS:
            raise CaRejected(f"unknown unit {unit!r}", backend=self.name, hint=f"use one of: {', '.join(UNITS)}")
        try:
            csr = read_csr(csr_pem.encode())
        except CertificateError as exc:
            raise CaRejected(f"the CSR for {unit} on {node} cannot be read: {exc.message}", backend=self.name) from None
        if not csr_signature_valid(csr):
            raise CaRejected(
                f"the CSR for {unit} on {node} has an invalid signature (altered or corrupt)",
                backend=self.name,
                hint="download the CSR from the node again",
            )
        der = csr.public_bytes(Encoding.DER)
        fp = hashlib.sha256(der).hexdigest()
        self.csr_directory.mkdir(parents=True, exist_ok=True)
        stem = "_".join(_SAFE.sub("-", part) for part in (cluster, node, unit, fp[:12]))
        path = self.csr_directory / f"{stem}.csr"
        path.write_text(csr_pem if csr_pem.endswith("\n") else csr_pem + "\n")
        return CaTicket(
            backend=self.name, reference=fp, instructions=self._instructions(csr, path, fp, unit, node, cluster)
        )

    def _instructions(self, csr: object, path: Path, fp: str, unit: str, node: str, cluster: str) -> str:
        from cryptography import x509

        assert isinstance(csr, x509.CertificateSigningRequest)
        spec = UNITS[unit]
        sans = sorted(san_set(csr))
        lines = [
            f"Have the {unit} CSR of {node} (cluster {cluster}) signed by the CA.",
            f"CSR file: {path}",
            f"CSR SHA-256: {fp}",
            f"Subject (keep unchanged): {csr.subject.rfc4514_string()}",
            "SANs (keep exactly: add none, drop none): " + (", ".join(sans) if sans else "(none)"),
            "Key usage required: " + ", ".join(_KU_NAMES.get(k, k) for k in sorted(spec.key_usage)),
            "Extended key usage required: " + ", ".join(_EKU_NAMES.get(o, o) for o in sorted(spec.extended_key_usage)),
        ]
        if spec.must_be_ca:
            lines.append(
                f"{unit} signs phone certificates: it must be a CA certificate "
                "(basicConstraints CA:TRUE, key usage Certificate Sign) -- use a subordinate-CA template."
            )
        else:
            lines.append("Use an end-entity (web server / client-server) template, not a CA template.")
        lines += [
            f"No wildcard names. Sign with SHA-256 or stronger. Validity at least {DEFAULT_MIN_VALIDITY_DAYS} days.",
            "Do NOT generate a new key or CSR: the key stays on the node; a new CSR would replace this one.",
            "Send back: the signed certificate and its whole chain (intermediates and root); "
            "PEM, DER or PKCS#7 (.p7b/.p7c) are all accepted.",
            f"Check it before approving: certops check --csr {path} --chain <files> --unit {unit} --node {node}",
        ]
        if self.config.instructions:
            lines.append(self.config.instructions)
        return "\n".join(lines)

    def poll(self, ticket: CaTicket) -> SignedChainPem | None:
        """Always None: a person brings the chain back through the approval pause."""
        return None
