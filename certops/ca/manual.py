"""The manual CA backend (the default): a person takes the CSR to the CA and brings the chain back.

``submit`` writes the CSR to a file and returns a ticket whose ``instructions`` say exactly what
the CA must do (keep the SANs, the unit's key usages, CA:TRUE for CAPF...) and what to send
back. ``poll`` returns None: the signed chain comes back through the flow's approval pause.

The renewal flow writes every node's CSR with :meth:`ManualCa.write_csr` before it pauses
(``csr_directory``: ``$CERTOPS_CSR_DIR``, default ``csr/`` in the renewal state directory) and
tells the person in the terminal what to do (:func:`approval_request_text`); ``certops csr RUN``
writes them anywhere else. Every file is ``<cluster>_<node>_<unit>_<fp12>.csr`` (:func:`csr_file_name`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from certops.ca.base import CaTicket, SignedChainPem, csr_for_ca
from certops.errors import CertificateError
from certops.inventory import ManualCaConfig
from certops.units import CLIENT_AUTH, IPSEC_END_SYSTEM, SERVER_AUTH, UNITS
from certops.x509.checks import DEFAULT_MIN_VALIDITY_DAYS, san_set
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
CSR_DIR_ENV = "CERTOPS_CSR_DIR"


def default_csr_directory() -> Path:
    """Where the renewal writes CSR files: ``$CERTOPS_CSR_DIR``, else ``csr/`` in the renewal state directory.

    The state directory is ``$CERTOPS_STATE_DIR`` (default ``~/.certops/state``), on storage every
    worker shares, so the files are found wherever the renewal ran.
    """
    env = os.environ.get(CSR_DIR_ENV)
    if env:
        return Path(env)
    state = os.environ.get("CERTOPS_STATE_DIR")
    return (Path(state) if state else Path.home() / ".certops" / "state") / "csr"


def csr_file_name(cluster: str, node: str, unit: str, fingerprint_sha256: str) -> str:
    """``<cluster>_<node>_<unit>_<first 12 hex of the CSR's SHA-256>.csr`` (unsafe characters become ``-``)."""
    return "_".join(_SAFE.sub("-", part) for part in (cluster, node, unit, fingerprint_sha256[:12])) + ".csr"


def key_usage_names(unit: str) -> list[str]:
    """The key usages ``unit`` needs, as a CA's web form names them (``Digital Signature``, ...)."""
    return [_KU_NAMES.get(k, k) for k in sorted(UNITS[unit].key_usage)]


def extended_key_usage_names(unit: str) -> list[str]:
    """The extended key usages ``unit`` needs, with their OIDs (``TLS Web Server Authentication (1.3...)``)."""
    return [_EKU_NAMES.get(o, o) for o in sorted(UNITS[unit].extended_key_usage)]


def _key_description(csr: object) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    assert isinstance(csr, x509.CertificateSigningRequest)
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    return type(key).__name__


def what_to_ask_the_ca(unit: str, csrs: Mapping[str, str]) -> list[str]:
    """What the CA must issue for ``unit``: key type, per node the subject and SANs, KU, EKU, the template.

    ``csrs`` maps each node to its CSR (PEM). One line per item, for a terminal or a ticket.
    """
    spec = UNITS[unit]
    lines: list[str] = []
    keys: set[str] = set()
    for node, pem in csrs.items():
        try:
            csr = read_csr(pem.encode())
        except CertificateError as exc:
            lines.append(f"{node}: its CSR cannot be read ({exc.message}); get it again with certops csr")
            continue
        keys.add(_key_description(csr))
        sans = ", ".join(sorted(san_set(csr))) or "(none)"
        lines.append(f"{node}: subject {csr.subject.rfc4514_string()}; SANs {sans} (keep both exactly)")
    if spec.must_be_ca:
        kind = "a CA certificate (subordinate-CA template: CA:TRUE, Certificate Sign; it signs phone certificates)"
    else:
        kind = "an end-entity certificate (web server / client-server template, not a CA template)"
    head = (
        f"key type: {' / '.join(sorted(keys)) or spec.key_type.upper()} (the key stays on the node: no new key or CSR)"
    )
    return [
        head,
        *lines,
        "key usage: " + ", ".join(key_usage_names(unit)),
        "extended key usage: " + ", ".join(extended_key_usage_names(unit)),
        f"{kind}; SHA-256 or stronger; no wildcards; valid at least {DEFAULT_MIN_VALIDITY_DAYS} days",
    ]


def approval_request_text(
    *,
    run_id: str,
    cluster: str,
    unit: str,
    nodes: Sequence[str],
    csrs: Mapping[str, str],
    csr_files: Mapping[str, str],
    deadline: dt.datetime | None,
    api_url: str | None = None,
    instructions: str = "",
    problems: Sequence[str] = (),
) -> str:
    """What the terminal (and the run's log) says when a renewal pauses for a person, in full.

    Run id, cluster, unit, nodes, deadline, where the CSR files are, what to ask the CA for, and
    the exact ``certops approve`` / ``certops deny`` / ``certops csr`` commands.
    """
    when = f"{deadline:%Y-%m-%d %H:%M} UTC (the run fails after it)" if deadline else "none"
    lines = [f"APPROVAL NEEDED: run {run_id} waits for a signed {unit} certificate on cluster {cluster}."]
    if problems:
        lines.append("The last chain given was NOT accepted (nothing was uploaded):")
        lines += [f"    - {p}" for p in problems]
    lines += [f"  nodes: {', '.join(nodes)}", f"  deadline: {when}", "  CSR files:"]
    for node in nodes:
        lines.append(f"    {node}: {csr_files.get(node, '(not written here: use certops csr below)')}")
    lines.append(f"  write them anywhere: certops csr {run_id} --dir DIR")
    lines.append("  ask the CA for" + (f" ({instructions})" if instructions else "") + ":")
    lines += [f"    {x}" for x in what_to_ask_the_ca(unit, csrs)]
    if api_url:
        lines.append(
            f"  Prefect API: {api_url} (certops pending/approve/deny need PREFECT_API_URL={api_url}; on this "
            "machine they find the embedded server of a running certops renew without it)"
        )
    lines += [
        "  then give every signed certificate (one per node), the intermediates and the root, any format:",
        f"    certops approve {run_id} --chain SIGNED.pem INTERMEDIATE.pem ROOT.pem --approver YOUR_NAME",
        f'  or end it (nothing is uploaded): certops deny {run_id} --reason "..."',
    ]
    return "\n".join(lines)


class ManualCa:
    """A person signs the CSR at the CA. Implements ``CaBackend``; ``needs_person`` is True."""

    needs_person = True

    def __init__(self, config: ManualCaConfig | None = None, *, csr_directory: Path, name: str = "manual") -> None:
        self.name = name
        self.config = config or ManualCaConfig()
        self.csr_directory = Path(csr_directory)

    def submit(self, csr_pem: str, *, unit: str, node: str, cluster: str) -> CaTicket:
        """Write the CSR to a file and return what the person must do with it."""
        csr, fp, path = self._write(csr_pem, unit=unit, node=node, cluster=cluster)
        return CaTicket(
            backend=self.name, reference=fp, instructions=self._instructions(csr, path, fp, unit, node, cluster)
        )

    def write_csr(self, csr_pem: str, *, unit: str, node: str, cluster: str) -> Path:
        """Check the CSR (readable, valid signature) and write it to ``csr_directory``; returns the file.

        Raises ``CaRejected`` for an unreadable or altered CSR, ``OSError`` when the file cannot be written.
        """
        return self._write(csr_pem, unit=unit, node=node, cluster=cluster)[2]

    def _write(self, csr_pem: str, *, unit: str, node: str, cluster: str) -> tuple[object, str, Path]:
        csr = csr_for_ca(csr_pem, backend=self.name, unit=unit, node=node)
        der = csr.public_bytes(Encoding.DER)
        fp = hashlib.sha256(der).hexdigest()
        self.csr_directory.mkdir(parents=True, exist_ok=True)
        path = self.csr_directory / csr_file_name(cluster, node, unit, fp)
        path.write_text(csr_pem if csr_pem.endswith("\n") else csr_pem + "\n")
        return csr, fp, path

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
