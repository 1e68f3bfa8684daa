"""Reading what a CA returns: certificates in any common format, and the chain they form.

CAs hand back a signed certificate in many shapes: a PEM bundle (leaf, intermediates and root
in any order), a DER leaf plus a PEM chain, a PKCS#7 file (``.p7b``/``.p7c``, PEM or DER).
CUCM itself accepts PEM or DER only (Cisco Security Guide; ``cucm-interfaces.md`` §7), so
certops reads everything, orders it leaf -> intermediates -> root, and uploads PEM.

Every failure is a ``CertificateError`` whose message says which input could not be read and
what to do; arbitrary bytes never raise anything else.
"""

from __future__ import annotations

import base64
import binascii
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.utils import CryptographyDeprecationWarning

from certops.errors import CertificateError
from certops.x509.legacy import legacy_verify

MAX_INPUT_BYTES = 1024 * 1024
"""The largest single file or blob certops reads (a real chain is a few kilobytes)."""

MAX_INPUTS = 10
"""The most files or blobs one call reads."""

MAX_CERTIFICATES = 20
"""The most certificates one set of inputs may hold."""

_LABEL = re.compile(rb"[A-Z0-9 #]{1,40}")
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_PKCS7_LABELS = {b"PKCS7", b"PKCS #7 SIGNED DATA", b"CMS"}
_CSR_LABELS = {b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"}
_FORMATS_HINT = "give the certificate as PEM, DER or PKCS#7 (.p7b/.p7c), as the CA sent it"


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint of ``cert``'s DER, lower-case hex without colons."""
    return cert.fingerprint(hashes.SHA256()).hex()


def to_pem(cert: x509.Certificate) -> str:
    """``cert`` as a PEM string."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def describe(cert: x509.Certificate) -> str:
    """A short human name for ``cert``: its subject (RFC 4514), or its serial when the subject is empty."""
    try:
        subject = cert.subject.rfc4514_string()
    except ValueError:
        subject = ""
    return subject or f"(empty subject, serial {cert.serial_number:x})"


def _check_size(data: bytes, name: str) -> None:
    if len(data) > MAX_INPUT_BYTES:
        raise CertificateError(
            f"{name}: {len(data)} bytes is too large for a certificate file (limit {MAX_INPUT_BYTES} bytes)",
            hint="give only the signed certificate and its chain, not an archive or a key store",
        )
    if not data.strip():
        raise CertificateError(f"{name}: the input is empty", hint=_FORMATS_HINT)


def _pem_blocks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(label, DER) for every PEM block in ``data``.

    A linear scan (a regular expression with back-references is quadratic on inputs full of
    BEGIN lines). Raises on a block without its END line or with broken base64.
    """
    blocks: list[tuple[bytes, bytes]] = []
    pos = 0
    while True:
        start = data.find(b"-----BEGIN ", pos)
        if start < 0:
            return blocks
        label_start = start + len(b"-----BEGIN ")
        label_end = data.find(b"-----", label_start, label_start + 64)
        label = data[label_start:label_end] if label_end >= 0 else b""
        if not label or not _LABEL.fullmatch(label):
            raise CertificateError("a PEM header is malformed ('-----BEGIN' without a label)", hint=_FORMATS_HINT)
        end_marker = b"-----END " + label + b"-----"
        end = data.find(end_marker, label_end + 5)
        if end < 0:
            raise CertificateError(
                f"a PEM block labelled {label.decode('ascii')!r} has no matching END line", hint=_FORMATS_HINT
            )
        body = data[label_end + 5 : end]
        # Headers such as "Proc-Type:" belong to encrypted keys, never to certificates.
        lines = [ln for ln in body.splitlines() if ln.strip() and b":" not in ln]
        try:
            der = base64.b64decode(b"".join(ln.strip() for ln in lines), validate=True)
        except (binascii.Error, ValueError):
            raise CertificateError(
                f"a PEM block labelled {label.decode('ascii')!r} has broken base64",
                hint="copy the file again as the CA sent it, or ask for DER",
            ) from None
        blocks.append((label, der))
        pos = end + len(end_marker)


def _load_der_cert(der: bytes, name: str) -> x509.Certificate:
    try:
        # What cryptography only warns about today (e.g. a serial number that is not positive,
        # RFC 5280 §4.1.2.2) is refused here, so it is reported once, clearly, and never printed.
        with warnings.catch_warnings():
            warnings.simplefilter("error", CryptographyDeprecationWarning)
            cert = x509.load_der_x509_certificate(der)
            # Parse the parts the checks use now, so a malformed certificate fails here, cleanly.
            cert.subject.rfc4514_string()
            cert.issuer.rfc4514_string()
            _ = cert.extensions
            cert.public_key()
            _ = cert.serial_number
    except Exception as exc:  # noqa: BLE001  (cryptography raises several types on garbage)
        raise CertificateError(f"{name}: not a valid X.509 certificate ({_reason(exc)})", hint=_FORMATS_HINT) from None
    return cert


def _load_pkcs7(der: bytes, name: str) -> list[x509.Certificate]:
    try:
        certs = pkcs7.load_der_pkcs7_certificates(der)
    except Exception as exc:  # noqa: BLE001
        raise CertificateError(f"{name}: not a valid PKCS#7 file ({_reason(exc)})", hint=_FORMATS_HINT) from None
    if not certs:
        raise CertificateError(f"{name}: the PKCS#7 file holds no certificates", hint=_FORMATS_HINT)
    return [_load_der_cert(c.public_bytes(serialization.Encoding.DER), name) for c in certs]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


_PRIVATE_KEY_HEADER = re.compile(rb"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----")
PRIVATE_KEY_REFUSAL = "never paste a private key"
"""The words every refusal of key material carries (the key stays on the node; certops never wants it)."""


def _private_key_refused(name: str) -> CertificateError:
    # The message names the input, never its content: not one byte of the key is repeated.
    return CertificateError(
        f"{name}: contains a private key: {PRIVATE_KEY_REFUSAL}; it was discarded, not stored",
        hint="CUCM keeps the key on the node and never needs it; give only the certificates the CA returned",
    )


def holds_private_key(data: bytes | str) -> bool:
    """True when ``data`` holds private-key material: a PEM ``... PRIVATE KEY`` block or a DER key.

    For callers that must forget such input wherever it was kept (e.g. a flow run's input).
    """
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)
    if _PRIVATE_KEY_HEADER.search(raw):
        return True
    return b"-----BEGIN" not in raw and _is_der_private_key(raw)


def _is_der_private_key(data: bytes) -> bool:
    if not data.startswith(b"\x30") or len(data) > MAX_INPUT_BYTES:
        return False
    try:
        serialization.load_der_private_key(data, password=None)
    except TypeError:  # "password was not given": an encrypted PKCS#8 key is still a key
        return True
    except Exception:  # noqa: BLE001  (anything else: not a key)
        return False
    return True


def _read_one(data: bytes, name: str) -> list[x509.Certificate]:
    _check_size(data, name)
    if _PRIVATE_KEY_HEADER.search(data):  # before any parsing: a broken key block is refused as a key too
        raise _private_key_refused(name)
    if b"-----BEGIN" in data:
        try:
            blocks = _pem_blocks(data)
        except CertificateError as exc:
            raise CertificateError(f"{name}: {exc.message}", hint=exc.hint) from None
        if not blocks:
            raise CertificateError(f"{name}: '-----BEGIN' appears, but no PEM block", hint=_FORMATS_HINT)
        certs: list[x509.Certificate] = []
        for label, der in blocks:
            if label in _CERT_LABELS:
                certs.append(_load_der_cert(der, name))
            elif label in _PKCS7_LABELS:
                certs.extend(_load_pkcs7(der, name))
            elif b"PRIVATE KEY" in label:
                raise _private_key_refused(name)
            elif label in _CSR_LABELS:
                raise CertificateError(
                    f"{name}: is a certificate signing request, not a signed certificate",
                    hint="give the certificate the CA signed from it",
                )
            # other blocks (e.g. parameters) are ignored
        if not certs:
            raise CertificateError(f"{name}: no certificate in the PEM data", hint=_FORMATS_HINT)
        return certs
    # DER: a single certificate, or a PKCS#7 structure.
    try:
        return [_load_der_cert(data, name)]
    except CertificateError:
        pass
    try:
        return _load_pkcs7(data, name)
    except CertificateError:
        pass
    if _is_der_private_key(data):
        raise _private_key_refused(name)
    raise CertificateError(f"{name}: neither PEM, DER nor PKCS#7 certificate data", hint=_FORMATS_HINT)


def read_certificates(blobs: Sequence[bytes], names: Sequence[str] | None = None) -> list[x509.Certificate]:
    """Read every certificate in ``blobs`` (files or pasted text), each PEM, DER or PKCS#7.

    ``names`` label the inputs in messages (file names); default ``input 1``, ``input 2``...
    Duplicates (the same certificate twice) are dropped; order is kept. Raises
    ``CertificateError`` for empty, oversized, or unreadable input, and for private keys.
    """
    return [cert for cert, _ in read_labelled(blobs, names)]


def read_labelled(blobs: Sequence[bytes], names: Sequence[str] | None = None) -> list[tuple[x509.Certificate, str]]:
    """Like ``read_certificates``, with the name of the input each certificate came from."""
    if not blobs:
        raise CertificateError("no certificate was given", hint="give the signed certificate and its chain")
    if len(blobs) > MAX_INPUTS:
        raise CertificateError(
            f"{len(blobs)} inputs is too many (limit {MAX_INPUTS})",
            hint="give only the signed certificate and its chain",
        )
    labels = list(names) if names is not None else []
    labels += [f"input {i + 1}" for i in range(len(labels), len(blobs))]
    seen: set[str] = set()
    certs: list[tuple[x509.Certificate, str]] = []
    for data, name in zip(blobs, labels, strict=False):
        if not isinstance(data, bytes | bytearray):
            raise CertificateError(f"{name}: expected bytes, got {type(data).__name__}")
        for cert in _read_one(bytes(data), name):
            fp = fingerprint(cert)
            if fp not in seen:
                seen.add(fp)
                certs.append((cert, name))
    if len(certs) > MAX_CERTIFICATES:
        raise CertificateError(
            f"{len(certs)} certificates is too many for one chain (limit {MAX_CERTIFICATES})",
            hint="give only the signed certificate and its own chain, not a whole trust store",
        )
    return certs


def read_csr(data: bytes, name: str = "CSR") -> x509.CertificateSigningRequest:
    """Read a certificate signing request, PEM or DER. Raises ``CertificateError`` if unreadable."""
    if not isinstance(data, bytes | bytearray):
        raise CertificateError(f"{name}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    _check_size(data, name)
    hint = "give the CSR exactly as the node generated it (PEM or DER)"
    der = data
    if b"-----BEGIN" in data:
        try:
            blocks = [(label, d) for label, d in _pem_blocks(data) if label in _CSR_LABELS]
        except CertificateError as exc:
            raise CertificateError(f"{name}: {exc.message}", hint=hint) from None
        if not blocks:
            raise CertificateError(f"{name}: no 'CERTIFICATE REQUEST' PEM block", hint=hint)
        if len(blocks) > 1:
            raise CertificateError(f"{name}: holds {len(blocks)} CSRs, expected one", hint=hint)
        der = blocks[0][1]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", CryptographyDeprecationWarning)
            csr = x509.load_der_x509_csr(der)
            csr.subject.rfc4514_string()
            _ = csr.extensions
            csr.public_key()
    except Exception as exc:  # noqa: BLE001
        raise CertificateError(f"{name}: not a valid certificate signing request ({_reason(exc)})", hint=hint) from None
    return csr


# --- the chain -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MissingIssuer:
    """The certificate whose issuer is not among the inputs, and how to recognise that issuer."""

    certificate: str  # subject of the certificate whose issuer is missing
    issuer: str  # the missing issuer's DN (RFC 4514)
    authority_key_id: str | None  # hex, from the Authority Key Identifier, if present

    def describe(self) -> str:
        """One line naming the missing issuer."""
        aki = f" (key id {self.authority_key_id})" if self.authority_key_id else ""
        return f"the issuer of '{self.certificate}' is missing: '{self.issuer}'{aki}"


@dataclass(frozen=True)
class Chain:
    """A certificate chain, leaf first.

    ``intermediates`` are ordered from the leaf's issuer upwards; ``root`` is the self-issued
    top, or None when the inputs stop below it (then ``missing_issuer`` names what is missing).
    ``unrelated`` holds inputs that are not part of this chain.
    """

    leaf: x509.Certificate
    intermediates: list[x509.Certificate] = field(default_factory=list)
    root: x509.Certificate | None = None
    missing_issuer: MissingIssuer | None = None
    unrelated: list[x509.Certificate] = field(default_factory=list)

    @property
    def certificates(self) -> list[x509.Certificate]:
        """Leaf, intermediates, then root (if present)."""
        return [self.leaf, *self.intermediates, *([self.root] if self.root is not None else [])]

    @property
    def closed(self) -> bool:
        """True when the chain reaches a self-issued root."""
        return self.root is not None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return bool(bc.ca)


def _aki(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        return None


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _self_issued(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key verifies ``cert``'s signature (and the names match)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except ValueError:
        # cryptography no longer verifies SHA-1/MD5 signatures; recognise them so the checks
        # can say "weak hash" rather than "broken signature".
        if issuer.subject != cert.issuer:
            return False
        try:
            return legacy_verify(cert, issuer.public_key())
        except Exception:  # noqa: BLE001
            return False
    except Exception:  # noqa: BLE001  (InvalidSignature, UnsupportedAlgorithm, TypeError)
        return False
    return True


def may_have_issued(issuer: x509.Certificate, cert: x509.Certificate) -> bool:
    """True when ``issuer``'s subject is ``cert``'s issuer and the key identifiers (if both present) agree."""
    if issuer.subject != cert.issuer:
        return False
    aki, ski = _aki(cert), _ski(issuer)
    return aki is None or ski is None or aki == ski


def _find_issuer(cert: x509.Certificate, pool: list[x509.Certificate]) -> x509.Certificate | None:
    candidates = [c for c in pool if c is not cert and may_have_issued(c, cert)]
    if not candidates:
        return None
    for c in candidates:  # prefer the one whose key verifies the signature
        if signed_by(cert, c):
            return c
    return candidates[0]


def build_chain(certs: Sequence[x509.Certificate], *, leaf: x509.Certificate | None = None) -> Chain:
    """Order ``certs`` as leaf -> intermediates -> root.

    The leaf is ``leaf`` when given (e.g. the CA said which one it signed), else the certificate
    that issues none of the others (among several, the one that is not a CA). The chain is
    followed upwards by issuer name and key identifier until a self-issued certificate (the
    root) or until an issuer is missing, which ``missing_issuer`` then names (DN and AKI).
    Raises ``CertificateError`` when there is no certificate or no single leaf.
    """
    certs = list(certs)
    if leaf is not None:
        certs = [leaf, *[c for c in certs if c != leaf]]
        return _walk(leaf, certs)
    if not certs:
        raise CertificateError("no certificate was given", hint="give the signed certificate and its chain")

    def issues_another(c: x509.Certificate) -> bool:
        return any(o is not c and not _self_issued(o) and may_have_issued(c, o) for o in certs)

    leaves = [c for c in certs if not issues_another(c)]
    if len(certs) > 1:
        # A lone self-signed root issues nothing but is not a leaf when others are given.
        non_root = [c for c in leaves if not _self_issued(c)]
        leaves = non_root or leaves
    if len(leaves) > 1:
        non_ca = [c for c in leaves if not _is_ca(c)]
        leaves = non_ca if non_ca else leaves
    if len(leaves) != 1:
        names = "; ".join(describe(c) for c in (leaves or certs))
        raise CertificateError(
            f"cannot tell which certificate is the signed one: {len(leaves) or len(certs)} candidates ({names})",
            hint="give one signed certificate with its own chain; remove unrelated certificates",
        )
    return _walk(leaves[0], certs)


def _walk(leaf: x509.Certificate, certs: list[x509.Certificate]) -> Chain:
    path: list[x509.Certificate] = [leaf]
    current = leaf
    root: x509.Certificate | None = None
    missing: MissingIssuer | None = None
    while not _self_issued(current):
        issuer = _find_issuer(current, [c for c in certs if all(c is not p for p in path)])
        if issuer is None:
            aki = _aki(current)
            missing = MissingIssuer(
                certificate=describe(current),
                issuer=current.issuer.rfc4514_string() or "(empty name)",
                authority_key_id=aki.hex() if aki else None,
            )
            break
        path.append(issuer)
        current = issuer
    if missing is None and len(path) > 1:
        root = path[-1]
        intermediates = path[1:-1]
    else:
        intermediates = path[1:]
    unrelated = [c for c in certs if all(c is not p for p in path)]
    return Chain(leaf=leaf, intermediates=intermediates, root=root, missing_issuer=missing, unrelated=unrelated)
