"""The checks before every identity upload.

An identity upload replaces a node's certificate and there is no undo, so everything that can
be checked before it is checked here. Each check maps to a reason Cisco gives for a failed or
harmful upload (``procedure.md`` "Why an upload fails", ``cucm-interfaces.md`` §7-8, the CUCM
Security Guide); ``docs/certificates.md`` lists them with their sources.

``check_chain`` never raises on a bad certificate: it returns a ``CheckReport`` whose
``problems`` say, one line each, what is wrong and what to do.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import BaseModel, ConfigDict, Field

from certops.errors import CertificateError
from certops.units import CLIENT_AUTH, IPSEC_END_SYSTEM, SERVER_AUTH, UNITS, UnitSpec
from certops.x509 import usages
from certops.x509.legacy import is_legacy, legacy_verify_csr
from certops.x509.read import (
    Chain,
    build_chain,
    describe,
    fingerprint,
    read_certificates,
    read_csr,
    read_labelled,
    signed_by,
    to_pem,
)

DEFAULT_MIN_VALIDITY_DAYS = 30
"""A signed certificate must stay valid at least this long, or the renewal is wasted."""

RSA_MIN_BITS = 2048
RSA_MAX_BITS = 4096  # Cisco: CUCM accepts keys up to 4096 bits
EC_CURVES = {"secp256r1", "secp384r1", "secp521r1"}
WEAK_HASHES = {"sha1", "md5"}

_EKU_NAMES = {
    SERVER_AUTH: "TLS Web Server Authentication",
    CLIENT_AUTH: "TLS Web Client Authentication",
    IPSEC_END_SYSTEM: "IPsec End System",
    ExtendedKeyUsageOID.CODE_SIGNING.dotted_string: "Code Signing",
    ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string: "E-mail Protection",
}
_KU_NAMES = usages.KU_NAMES


class Problem(BaseModel):
    """One thing wrong with a signed certificate: a stable ``code`` and one line for a person."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    message: str  # what is wrong
    hint: str  # what to do

    def line(self) -> str:
        """``message — hint`` on one line."""
        return f"{self.message} — {self.hint}"


class TrustUpload(BaseModel):
    """A CA certificate that goes to ``<unit>-trust`` before the identity upload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str  # "root" or "intermediate"
    subject: str
    fingerprint_sha256: str
    not_after: dt.datetime
    pem: str


class CheckReport(BaseModel):
    """The verdict on one signed chain for one unit (and node)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit: str
    trust_store: str
    node: str | None = None
    problems: list[Problem] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # worth knowing, not blocking
    leaf_subject: str = ""
    leaf_issuer: str = ""
    leaf_serial: str = ""
    leaf_fingerprint_sha256: str = ""
    leaf_not_before: dt.datetime | None = None
    leaf_not_after: dt.datetime | None = None
    leaf_sans: list[str] = Field(default_factory=list)
    leaf_pem: str = ""
    chain_subjects: list[str] = Field(default_factory=list)  # leaf first
    trust_uploads: list[TrustUpload] = Field(default_factory=list)  # root first
    identity_pems: list[str] = Field(default_factory=list)  # leaf, then intermediates (upward)

    @property
    def ok(self) -> bool:
        """True when nothing blocks the upload."""
        return not self.problems

    @property
    def codes(self) -> list[str]:
        """The problem codes, in the order found."""
        return [p.code for p in self.problems]

    def summary(self) -> str:
        """A few lines for a person: the leaf, its chain, and what goes to the trust store."""
        where = f"{self.node} " if self.node else ""
        lines = [
            f"{where}[{self.unit}] {'ready to upload' if self.ok else f'NOT ready: {len(self.problems)} problem(s)'}",
            f"  subject:     {self.leaf_subject}",
            f"  issuer:      {self.leaf_issuer}",
            f"  serial:      {self.leaf_serial}",
            f"  sha256:      {self.leaf_fingerprint_sha256}",
        ]
        if self.leaf_not_after is not None:
            lines.append(f"  expires:     {self.leaf_not_after.isoformat()}")
        if self.leaf_sans:
            lines.append(f"  SANs:        {', '.join(self.leaf_sans)}")
        lines.append(f"  chain:       {' <- '.join(reversed(self.chain_subjects))}")
        if self.trust_uploads:
            lines.append(f"  to {self.trust_store} first (in this order):")
            lines += [f"    {i + 1}. {t.role}: {t.subject}" for i, t in enumerate(self.trust_uploads)]
        lines += [f"  problem [{p.code}]: {p.line()}" for p in self.problems]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_json(self) -> str:
        """The report as JSON (``ok`` included)."""
        data: dict[str, Any] = self.model_dump(mode="json")
        data["ok"] = self.ok
        return json.dumps(data, indent=2)


# --- helpers --------------------------------------------------------------------------------


def _ext(obj: x509.Certificate | x509.CertificateSigningRequest, cls: type[Any]) -> Any:
    try:
        return obj.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _cn(name: x509.Name) -> str | None:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def san_set(obj: x509.Certificate | x509.CertificateSigningRequest) -> set[str]:
    """The SANs of a certificate or CSR as ``DNS:name`` (lower case) and ``IP:addr`` strings."""
    san = _ext(obj, x509.SubjectAlternativeName)
    if san is None:
        return set()
    out = {f"DNS:{n.lower().rstrip('.')}" for n in san.get_values_for_type(x509.DNSName)}
    out |= {f"IP:{ipaddress.ip_address(ip)}" for ip in san.get_values_for_type(x509.IPAddress)}
    return out


def _spki(key: Any) -> bytes:
    der: bytes = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return der


def _key_usage_names(cert: x509.Certificate) -> set[str]:
    ku = _ext(cert, x509.KeyUsage)
    if ku is None:
        return set()
    names = {"digital_signature", "content_commitment", "key_encipherment", "data_encipherment"}
    names |= {"key_agreement", "key_cert_sign", "crl_sign"}
    return {n for n in names if getattr(ku, n)}


def _hash_name(cert: x509.Certificate) -> str | None:
    try:
        algo = cert.signature_hash_algorithm
    except Exception:  # noqa: BLE001  (UnsupportedAlgorithm for unknown signature OIDs)
        oid = cert.signature_algorithm_oid
        name = (oid._name or oid.dotted_string).lower()
        return "md5" if "md5" in name else "sha1" if "sha1" in name else name
    return algo.name.lower() if algo is not None else None


def csr_signature_valid(csr: x509.CertificateSigningRequest) -> bool:
    """True when the CSR's own signature verifies (SHA-1/MD5 RSA ones included)."""
    try:
        if csr.is_signature_valid:
            return True
    except Exception:  # noqa: BLE001  (UnsupportedAlgorithm for unknown signature algorithms)
        return False
    # cryptography says False for SHA-1/MD5 even when the signature is right; check those by hand.
    return is_legacy(csr.signature_algorithm_oid.dotted_string) and legacy_verify_csr(csr)


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def _days(delta: dt.timedelta) -> str:
    return f"{delta.total_seconds() / 86400:.1f} days"


def _leaf_id(cert: x509.Certificate, source: str | None = None) -> str:
    where = f" in {source}" if source else ""
    return f"'{describe(cert)}'{where} (serial {cert.serial_number:x}, SHA-256 {fingerprint(cert)})"


def key_mismatch_line(cert: x509.Certificate, source: str | None, node: str | None) -> tuple[str, str]:
    """(message, hint) for a certificate signed for another key than the node's pending CSR."""
    csr_of = f"the CSR pending on {node}" if node else "this CSR"
    message = (
        f"the certificate {_leaf_id(cert, source)} was signed for another key: its public key is not "
        f"{csr_of}'s (the CA signed an older or a different CSR)"
    )
    on = f" on {node}" if node else ""
    return message, f"send the CSR pending{on} to the CA again; never regenerate it after sending"


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, code: str, message: str, hint: str) -> None:
        self.problems.append(Problem(code=code, message=message, hint=hint))


# --- the check ------------------------------------------------------------------------------


def check_chain(
    csr_pem: str | bytes,
    chain: Chain,
    unit: str,
    *,
    node: str | None = None,
    now: dt.datetime | None = None,
    min_validity_days: int = DEFAULT_MIN_VALIDITY_DAYS,
    expected_cn: str | None = None,
    leaf_source: str | None = None,
) -> CheckReport:
    """Check a signed ``chain`` against the CSR pending on the node, for ``unit``.

    Every certificate of the chain is checked, not only the leaf: key type and size, signature
    hash, validity now and at the leaf's expiry, CA:TRUE and Certificate Sign on every issuer, and
    the path length constraints. ``leaf_source`` (a file name) is named in the key-mismatch line.
    Returns a ``CheckReport``; ``report.ok`` is True only when the upload can go ahead. Raises
    ``CertificateError`` only when the CSR is unreadable or ``unit`` is unknown.
    """
    if unit not in UNITS:
        raise CertificateError(f"unknown certificate unit {unit!r}", hint=f"use one of: {', '.join(UNITS)}")
    spec = UNITS[unit]
    csr = read_csr(csr_pem.encode() if isinstance(csr_pem, str) else csr_pem)
    now = _aware(now or dt.datetime.now(dt.UTC))
    leaf = chain.leaf
    c = _Collector()
    notes: list[str] = []

    # The CSR itself: a CSR whose signature does not verify was altered or is corrupt.
    if not csr_signature_valid(csr):
        c.add(
            "csr_signature_invalid",
            "the CSR's own signature does not verify (altered or corrupt CSR)",
            f"download the CSR for {unit} from the node again",
        )

    # Cisco: "public key mismatch" -- the CA signed an older or a different CSR.
    if _spki(leaf.public_key()) != _spki(csr.public_key()):
        c.add("key_mismatch", *key_mismatch_line(leaf, leaf_source, node))

    # Cisco: "CSR SAN and Certificate SAN does not match" -- equal sets, order aside.
    want, got = san_set(csr), san_set(leaf)
    extra, missing = sorted(got - want), sorted(want - got)
    if extra:
        hint = "ask the CA to sign without adding SANs, or regenerate the CSR with those names"
        if unit.startswith("tomcat"):
            hint += " (set web-security for tomcat)"
        c.add("san_extra", f"the certificate has SANs the CSR did not ask for: {', '.join(extra)}", hint)
    if missing:
        c.add(
            "san_missing",
            f"the certificate lacks SANs the CSR asked for: {', '.join(missing)}",
            "ask the CA to keep every SAN of the CSR exactly",
        )

    # Subject CN as requested.
    leaf_cn, csr_cn = _cn(leaf.subject), _cn(csr.subject)
    wanted_cns = [cn for cn in (csr_cn, expected_cn) if cn]
    for wanted in dict.fromkeys(wanted_cns):
        if (leaf_cn or "").lower() != wanted.lower():
            if (csr_cn or "").lower() == (leaf_cn or "").lower():
                # the CA kept the CSR's CN; the CSR itself is for another name than this node
                message = f"the certificate (and its CSR) is for {leaf_cn!r}, not for the node {wanted!r}"
                hint = "use the CSR generated on this node, or check the node name"
            else:
                message = f"the certificate's CN is {leaf_cn!r}, the request was for {wanted!r}"
                hint = "ask the CA to keep the CSR's subject (CN) unchanged"
            c.add("cn_mismatch", message, hint)
            break

    # Wildcards: CUCM refuses wildcard certificates.
    wild = sorted(n for n in ([f"CN:{leaf_cn}"] if leaf_cn else []) + sorted(got) if "*" in n)
    if wild:
        c.add(
            "wildcard",
            f"wildcard names are not accepted by CUCM: {', '.join(wild)}",
            "ask the CA for a certificate with the node's own names (no wildcards)",
        )

    _check_key(c, leaf, spec.key_type, unit)
    _check_usage(c, leaf, spec, unit)
    usages.check_chain_usages(csr, leaf, chain.certificates[1:], unit, problem=c.add, note=notes.append)
    _check_validity(c, leaf, now, min_validity_days)
    _check_path(c, chain, now, notes)
    _check_ca_certificates(c, chain, now)

    trust = _trust_uploads(chain)
    identity = [to_pem(leaf), *[to_pem(i) for i in chain.intermediates]]
    return CheckReport(
        unit=unit,
        trust_store=spec.trust_store,
        node=node,
        problems=c.problems,
        notes=notes,
        leaf_subject=describe(leaf),
        leaf_issuer=leaf.issuer.rfc4514_string(),
        leaf_serial=f"{leaf.serial_number:x}",
        leaf_fingerprint_sha256=fingerprint(leaf),
        leaf_not_before=leaf.not_valid_before_utc,
        leaf_not_after=leaf.not_valid_after_utc,
        leaf_sans=sorted(got),
        leaf_pem=to_pem(leaf),
        chain_subjects=[describe(x) for x in chain.certificates],
        trust_uploads=trust,
        identity_pems=identity,
    )


def _check_key(c: _Collector, leaf: x509.Certificate, key_type: str, unit: str) -> None:
    key = leaf.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key_type != "rsa":
            c.add(
                "key_type_wrong",
                f"{unit} needs an EC key; the certificate has RSA",
                f"generate the CSR for {unit} with an EC key",
            )
        if key.key_size < RSA_MIN_BITS:
            c.add(
                "key_too_small",
                f"RSA {key.key_size} bits is too weak (minimum {RSA_MIN_BITS})",
                "regenerate the CSR with a 2048, 3072 or 4096-bit key",
            )
        elif key.key_size > RSA_MAX_BITS:
            c.add(
                "key_too_large",
                f"RSA {key.key_size} bits is more than CUCM accepts (maximum {RSA_MAX_BITS})",
                "regenerate the CSR with a 2048, 3072 or 4096-bit key",
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key_type != "ec":
            c.add(
                "key_type_wrong",
                f"{unit} needs an RSA key; the certificate has EC",
                f"generate the CSR for {unit} with an RSA key",
            )
        elif key.curve.name not in EC_CURVES:
            c.add("key_curve", f"EC curve {key.curve.name} is not supported", "regenerate the CSR with P-256 or P-384")
    else:
        c.add(
            "key_type_wrong",
            f"{unit} needs an {key_type.upper()} key; the certificate has {type(key).__name__}",
            f"regenerate the CSR for {unit}",
        )


def _check_usage(c: _Collector, leaf: x509.Certificate, spec: UnitSpec, unit: str) -> None:
    have_ku = _key_usage_names(leaf)
    lacking_ku = sorted(spec.key_usage - have_ku)
    if lacking_ku:
        names = ", ".join(_KU_NAMES.get(n, n) for n in lacking_ku)
        c.add(
            "key_usage_missing",
            f"key usage lacks {names} (required for {unit})",
            f"ask the CA to use a template with the key usages {unit} needs",
        )
    eku = _ext(leaf, x509.ExtendedKeyUsage)
    have_eku = {o.dotted_string for o in eku} if eku is not None else set()
    lacking_eku = sorted(spec.extended_key_usage - have_eku)
    if lacking_eku:
        names = ", ".join(_EKU_NAMES.get(o, o) for o in lacking_eku)
        c.add(
            "eku_missing",
            f"extended key usage lacks {names} (required for {unit})",
            f"ask the CA to use a template with the extended key usages {unit} needs",
        )
    bc = _ext(leaf, x509.BasicConstraints)
    if spec.must_be_ca and (bc is None or not bc.ca):
        c.add(
            "leaf_not_ca",
            f"{unit} signs phone certificates (LSCs), so its certificate must be a CA (basicConstraints CA:TRUE)",
            "ask the CA for a subordinate-CA template with CA:TRUE and Certificate Sign",
        )
    if not spec.must_be_ca and bc is not None and bc.ca:
        c.add(
            "leaf_is_ca",
            f"the certificate for {unit} is a CA certificate (CA:TRUE)",
            "ask the CA for an end-entity (server) template",
        )


def _check_validity(c: _Collector, leaf: x509.Certificate, now: dt.datetime, min_days: int) -> None:
    nb, na = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if nb > now:
        c.add(
            "not_yet_valid",
            f"the certificate is valid only from {nb.isoformat()} (in {_days(nb - now)})",
            "wait until then, or check the CA's and this machine's clocks",
        )
    if na <= now:
        c.add("expired", f"the certificate expired on {na.isoformat()}", "have the CSR signed again")
    elif na - now < dt.timedelta(days=min_days):
        c.add(
            "validity_too_short",
            f"the certificate expires on {na.isoformat()}, in {_days(na - now)} (minimum {min_days} days)",
            "ask the CA for a longer validity",
        )


def _check_path(c: _Collector, chain: Chain, now: dt.datetime, notes: list[str]) -> None:
    leaf = chain.leaf
    certs = chain.certificates
    if leaf.subject == leaf.issuer and len(certs) == 1 and signed_by(leaf, leaf):
        c.add(
            "self_signed",
            "the certificate is self-signed, not signed by a CA",
            "send the CSR to the CA and upload what it signs",
        )
        return
    if chain.missing_issuer is not None:
        m = chain.missing_issuer
        c.add(
            "chain_incomplete",
            f"the chain does not close: {m.describe()}",
            "add the missing CA certificate (ask the CA for its full chain)",
        )
    # Every signature along the path, and every issuer a CA.
    for child, parent in itertools.pairwise(certs):
        if not signed_by(child, parent):
            c.add(
                "bad_signature",
                f"the signature of '{describe(child)}' does not verify with the key of '{describe(parent)}'",
                "the chain does not belong together; ask the CA for the chain that signed this certificate",
            )
        bc = _ext(parent, x509.BasicConstraints)
        if bc is None or not bc.ca:
            c.add(
                "issuer_not_ca",
                f"'{describe(parent)}' signs certificates but is not a CA (basicConstraints CA:TRUE missing)",
                "ask the CA for its correct CA certificates",
            )
    if chain.root is not None and not signed_by(chain.root, chain.root):
        c.add(
            "root_not_self_signed",
            f"the root '{describe(chain.root)}' is not self-signed (its signature does not verify with its own key)",
            "get the real root certificate from the CA",
        )
    # Weak hashes: on the leaf and every CA signature that is checked (a root's self-signature is not).
    for cert in [leaf, *chain.intermediates]:
        h = _hash_name(cert)
        if h in WEAK_HASHES:
            c.add(
                "weak_signature",
                f"'{describe(cert)}' is signed with {h.upper()}, which is broken",
                "ask the CA to sign with SHA-256 or stronger",
            )
    for ca in [*chain.intermediates, *([chain.root] if chain.root is not None else [])]:
        if ca.not_valid_after_utc <= now:
            c.add(
                "ca_expired",
                f"the CA certificate '{describe(ca)}' expired on {ca.not_valid_after_utc.isoformat()}",
                "get the CA's current chain",
            )
        elif ca.not_valid_before_utc > now:
            c.add(
                "ca_not_yet_valid",
                f"the CA certificate '{describe(ca)}' is valid only from {ca.not_valid_before_utc.isoformat()}",
                "check the clocks, or get the CA's current chain",
            )
    if chain.unrelated:
        notes.append(
            "ignored certificates that are not part of this chain: " + "; ".join(describe(x) for x in chain.unrelated)
        )


def _check_ca_certificates(c: _Collector, chain: Chain, now: dt.datetime) -> None:
    """Every CA certificate of the chain: key, validity at the leaf's expiry, Certificate Sign, path length.

    A node serves its whole chain after the restart; a client that refuses any link (a 1024-bit
    intermediate, an issuer without Certificate Sign, a broken path length) refuses the node.
    """
    leaf = chain.leaf
    cas: list[tuple[str, x509.Certificate]] = [("intermediate", i) for i in chain.intermediates]
    if chain.root is not None:
        cas.append(("root", chain.root))
    for role, ca in cas:
        _check_ca_key(c, ca, role)
        na = ca.not_valid_after_utc
        if now < na < leaf.not_valid_after_utc:  # (already expired: ca_expired says so)
            c.add(
                "ca_expires_before_leaf",
                f"the {role} '{describe(ca)}' expires on {na.isoformat()}, before the certificate "
                f"({leaf.not_valid_after_utc.isoformat()}): the node's chain breaks on that day",
                "ask the CA to sign with an issuing CA that outlives the certificate, or for a shorter validity",
            )
    certs = chain.certificates
    for index, parent in enumerate(certs[1:], start=1):
        ku = _ext(parent, x509.KeyUsage)
        bc = _ext(parent, x509.BasicConstraints)
        if ku is not None and not ku.key_cert_sign and bc is not None and bc.ca:  # (not a CA: issuer_not_ca)
            c.add(
                "issuer_no_cert_sign",
                f"'{describe(parent)}' signs certificates but its key usage lacks Certificate Sign (keyCertSign)",
                "ask the CA for its correct CA certificates (key usage Certificate Sign)",
            )
        if bc is not None and bc.ca and bc.path_length is not None:
            # RFC 5280 4.2.1.9: how many non-self-issued intermediates may follow it (the leaf not counted)
            below = [x for x in certs[1:index] if x.subject != x.issuer]
            if len(below) > bc.path_length:
                c.add(
                    "path_length_exceeded",
                    f"'{describe(parent)}' allows {bc.path_length} CA certificate(s) below it (pathlen:"
                    f"{bc.path_length}), the chain has {len(below)}: " + ", ".join(f"'{describe(x)}'" for x in below),
                    "ask the CA for the chain it really issues from (a CA under a pathlen limit cannot sign CAs)",
                )


def _check_ca_key(c: _Collector, ca: x509.Certificate, role: str) -> None:
    key = ca.public_key()
    what = f"the {role} '{describe(ca)}'"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < RSA_MIN_BITS:
            c.add(
                "ca_key_too_small",
                f"{what} has a {key.key_size}-bit RSA key (minimum {RSA_MIN_BITS}): clients refuse the node's "
                "chain after the restart",
                "ask the CA for a chain whose CA keys are 2048 bits or more; a CA on a weak key must be replaced",
            )
        elif key.key_size > RSA_MAX_BITS:
            c.add(
                "ca_key_too_large",
                f"{what} has a {key.key_size}-bit RSA key, more than CUCM accepts (maximum {RSA_MAX_BITS})",
                "ask the CA for a chain whose CA keys are 2048 to 4096 bits",
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            c.add(
                "ca_key_curve",
                f"{what} has an EC key on {key.curve.name}, which is not supported",
                "ask the CA for a chain on P-256, P-384 or P-521 (or RSA)",
            )
    else:
        c.add(
            "ca_key_type",
            f"{what} has a {type(key).__name__.removeprefix('_')} key; CUCM takes RSA or EC CA certificates only",
            "ask the CA for a chain with RSA or EC CA keys",
        )


def _trust_uploads(chain: Chain) -> list[TrustUpload]:
    cas: list[tuple[str, x509.Certificate]] = []
    if chain.root is not None:
        cas.append(("root", chain.root))
    cas += [("intermediate", i) for i in reversed(chain.intermediates)]
    return [
        TrustUpload(
            role=role,
            subject=describe(x),
            fingerprint_sha256=fingerprint(x),
            not_after=x.not_valid_after_utc,
            pem=to_pem(x),
        )
        for role, x in cas
    ]


def check_files(
    csr: bytes,
    chain_blobs: Sequence[bytes],
    unit: str,
    *,
    names: Sequence[str] | None = None,
    node: str | None = None,
    now: dt.datetime | None = None,
    min_validity_days: int = DEFAULT_MIN_VALIDITY_DAYS,
    expected_cn: str | None = None,
) -> CheckReport:
    """Read ``chain_blobs`` (any format), build the chain and check it. Raises ``CertificateError`` if unreadable."""
    read_csr(csr)  # an unreadable CSR is reported before the chain
    labelled = read_labelled(chain_blobs, names)
    chain = build_chain([cert for cert, _ in labelled])
    source = next((name for cert, name in labelled if cert is chain.leaf), None)
    return check_chain(
        csr,
        chain,
        unit,
        node=node,
        now=now,
        min_validity_days=min_validity_days,
        expected_cn=expected_cn,
        leaf_source=source if names is not None else None,
    )


def check_signed_chain(
    csr_pem: str,
    leaf_pem: str,
    chain_pems: Sequence[str],
    unit: str,
    *,
    node: str | None = None,
    now: dt.datetime | None = None,
    min_validity_days: int = DEFAULT_MIN_VALIDITY_DAYS,
    expected_cn: str | None = None,
) -> CheckReport:
    """Check what a CA backend returned (``SignedChainPem`` fields) against the CSR.

    ``leaf_pem`` is taken as the leaf when it holds one certificate (a PKCS#7 bundle there is
    sorted out like any input); ``chain_pems`` may hold any CA certificates, in any order.
    """
    read_csr(csr_pem.encode())
    given = read_certificates([leaf_pem.encode()], names=["the signed certificate"])
    rest = read_certificates(["".join(chain_pems).encode()], names=["the chain"]) if "".join(chain_pems).strip() else []
    certs = [*given, *[c for c in rest if all(c != g for g in given)]]
    chain = build_chain(certs, leaf=given[0] if len(given) == 1 else None)
    return check_chain(
        csr_pem, chain, unit, node=node, now=now, min_validity_days=min_validity_days, expected_cn=expected_cn
    )


# --- a person's answer for a whole renewal: every node's chain at once -------------------------------

TLS_CLIENT_UNITS = frozenset({"tomcat", "tomcat-ECDSA"})
"""Units whose certificate the node serves on the HTTPS port certops itself talks to (certmgr REST, SOAP)."""


def pinned_bundle(unit: str, *, verify: bool, ca_bundle: Path | None) -> Path | None:
    """The ``tls.ca_bundle`` a new ``unit`` chain must be trusted by, or None when nothing pins it.

    After the restart the node presents the new chain to certops; when the inventory pins the CAs
    certops trusts, the new root must be among them or certops locks itself out of the node.
    """
    if unit not in TLS_CLIENT_UNITS or not verify or ca_bundle is None:
        return None
    return Path(ca_bundle)


def _bundle_certificates(bundle: Path) -> list[x509.Certificate]:
    data = bundle.read_bytes()
    return x509.load_pem_x509_certificates(data) if data.strip() else []


_THEN_AT_APPROVAL = "send the chain again (the run keeps waiting; the CSRs stay pending on the nodes)"


def tls_trust_problem(root: x509.Certificate | str, bundle: Path, *, then: str = _THEN_AT_APPROVAL) -> Problem | None:
    """None when ``bundle`` trusts ``root`` (by fingerprint, or same subject and key); else the exact fix.

    ``then`` is what to do once the root is in the bundle (default: send the chain again).
    """
    cert = root if isinstance(root, x509.Certificate) else x509.load_pem_x509_certificate(root.encode())
    try:
        known = _bundle_certificates(bundle)
    except (OSError, ValueError) as exc:
        return Problem(
            code="tls_bundle_unreadable",
            message=f"tls.ca_bundle {bundle} cannot be read ({type(exc).__name__}), so certops cannot tell whether "
            "it will still trust the node after the restart",
            hint=f"fix {bundle} (a PEM file of CA certificates), then {then}",
        )
    spki = _spki(cert.public_key())
    if any(
        fingerprint(k) == fingerprint(cert) or (k.subject == cert.subject and _spki(k.public_key()) == spki)
        for k in known
    ):
        return None
    return Problem(
        code="tls_root_not_trusted",
        message=f"the chain's root '{describe(cert)}' (SHA-256 {fingerprint(cert)}) is not in tls.ca_bundle "
        f"{bundle}, which does not contain it: after the Tomcat restart certops could not verify the node any more",
        hint=f"append that root (subject '{describe(cert)}', SHA-256 {fingerprint(cert)}) to {bundle} as PEM, "
        f"then {then}",
    )


class PastedVerdict(BaseModel):
    """The verdict on one answer for every node of a renewal: a report per node, and every problem."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reports: dict[str, CheckReport] = Field(default_factory=dict)  # node -> its chain's report
    problems: list[str] = Field(default_factory=list)  # "node: what — what to do", one line each

    @property
    def ok(self) -> bool:
        """True when every node's chain passes."""
        return not self.problems and bool(self.reports)


def check_pasted(
    csrs: dict[str, str],
    blobs: Sequence[bytes],
    unit: str,
    *,
    names: Sequence[str] | None = None,
    tls_bundle: Path | None = None,
    now: dt.datetime | None = None,
    min_validity_days: int = DEFAULT_MIN_VALIDITY_DAYS,
) -> PastedVerdict:
    """Check what a person sends back for a renewal (``certops approve`` files, or text pasted into the form).

    ``csrs`` maps each node to the CSR pending on it. The leaves are matched to the nodes by public
    key; each node's chain gets ``check_chain``; a node with two certificates for it (by key or by
    CN) is ambiguous and refused, naming both; a certificate for the node signed for another key is
    named with its file; with ``tls_bundle`` (``pinned_bundle``) the chain's root must be in it.
    Raises ``CertificateError`` when the input cannot be read at all (garbage, a private key).
    """
    labelled = read_labelled(blobs, names)
    certs = [cert for cert, _ in labelled]
    source = {fingerprint(cert): name for cert, name in labelled}
    issuers = {fingerprint(x) for x in certs if any(o is not x and o.issuer == x.subject for o in certs)}
    end_entities = [x for x in certs if x.subject != x.issuer and fingerprint(x) not in issuers]
    problems: list[str] = []
    reports: dict[str, CheckReport] = {}
    for node, csr_text in csrs.items():
        csr = read_csr(csr_text.encode(), name=f"the CSR pending on {node}")
        spki, cn = _spki(csr.public_key()), (_cn(csr.subject) or "").lower()
        by_key = [x for x in certs if _spki(x.public_key()) == spki]
        by_name = [x for x in end_entities if cn and (_cn(x.subject) or "").lower() == cn and x not in by_key]
        candidates = [*by_key, *by_name]
        if len(candidates) > 1:
            problems.append(
                f"{node}: {len(candidates)} certificates are for this node, so which one to upload is ambiguous: "
                + "; ".join(_leaf_id(x, source[fingerprint(x)]) for x in candidates)
                + " — give exactly one signed certificate per node (the one signed from its pending CSR)"
            )
            continue
        if not by_key:
            if by_name:
                message, hint = key_mismatch_line(by_name[0], source[fingerprint(by_name[0])], node)
                problems.append(
                    f"{node}: none of the certificates given matches this node's CSR (public key): {message} — {hint}"
                )
            else:
                given = ", ".join(dict.fromkeys(name for _, name in labelled))
                problems.append(
                    f"{node}: none of the certificates given matches this node's CSR (public key): no certificate "
                    f"in {given} is for it (by its CSR's key or CN '{cn}') — add the certificate the CA signed from "
                    "the CSR pending on this node"
                )
            continue
        leaf = by_key[0]
        report = check_chain(
            csr_text,
            build_chain(certs, leaf=leaf),
            unit,
            node=node,
            now=now,
            min_validity_days=min_validity_days,
            leaf_source=source[fingerprint(leaf)],
        )
        lines = [f"{node}: {x.line()}" for x in report.problems]
        if tls_bundle is not None and report.trust_uploads and report.trust_uploads[0].role == "root":
            trust = tls_trust_problem(report.trust_uploads[0].pem, tls_bundle)
            if trust is not None:
                lines.append(f"{node}: {trust.line()}")
        problems += lines
        reports[node] = report
    return PastedVerdict(reports=reports, problems=problems)
