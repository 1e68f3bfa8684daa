"""RSA signatures with SHA-1 and MD5, which ``cryptography`` no longer makes or verifies.

Some CAs still sign with SHA-1. certops must *recognise* such a chain (to refuse it with a
clear message rather than call it a broken signature), and the lab CA must be able to *make*
one to exercise that check. Both are plain PKCS#1 v1.5 arithmetic (RFC 8017 §8.2), done here
for these two legacy hashes only.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

# DER of the AlgorithmIdentifier OIDs; all three have the same length, so they swap in place.
_SHA256_WITH_RSA = bytes.fromhex("06092a864886f70d01010b")
_OIDS = {"sha1": bytes.fromhex("06092a864886f70d010105"), "md5": bytes.fromhex("06092a864886f70d010104")}
# DigestInfo prefixes (RFC 8017 §9.2, note 1).
_DIGEST_INFO = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "md5": bytes.fromhex("3020300c06082a864886f70d020505000410"),
}
LEGACY_HASHES = frozenset(_OIDS)


def _encoded(hash_name: str, data: bytes, size: int) -> bytes:
    t = _DIGEST_INFO[hash_name] + hashlib.new(hash_name, data, usedforsecurity=False).digest()
    return b"\x00\x01" + b"\xff" * (size - len(t) - 3) + b"\x00" + t


def legacy_sign(cert: x509.Certificate, issuer_key: rsa.RSAPrivateKey, hash_name: str) -> x509.Certificate:
    """Re-sign ``cert`` (made with SHA-256/RSA) with ``hash_name`` ('sha1' or 'md5').

    For tests and the lab CA's misbehaviour only: certops never issues such certificates.
    """
    if hash_name not in _OIDS:
        raise ValueError(f"legacy_sign supports {sorted(_OIDS)}, not {hash_name!r}")
    der = cert.public_bytes(Encoding.DER)
    if der.count(_SHA256_WITH_RSA) != 2:
        raise ValueError("legacy_sign needs a certificate signed with sha256WithRSAEncryption")
    der = der.replace(_SHA256_WITH_RSA, _OIDS[hash_name])
    tbs = x509.load_der_x509_certificate(der).tbs_certificate_bytes
    numbers = issuer_key.private_numbers()
    n = numbers.public_numbers.n
    size = (n.bit_length() + 7) // 8
    signature = pow(int.from_bytes(_encoded(hash_name, tbs, size), "big"), numbers.d, n).to_bytes(size, "big")
    old = cert.signature
    if len(old) != size or not der.endswith(old):
        raise ValueError("legacy_sign: the certificate was not signed by an RSA key of the issuer's size")
    return x509.load_der_x509_certificate(der[: -len(old)] + signature)


def legacy_verify(cert: x509.Certificate, issuer_key: object) -> bool:
    """True when ``cert`` carries a valid RSA SHA-1/MD5 signature by ``issuer_key``."""
    return _verify(cert.tbs_certificate_bytes, cert.signature, cert.signature_algorithm_oid.dotted_string, issuer_key)


def legacy_verify_csr(csr: x509.CertificateSigningRequest) -> bool:
    """True when ``csr`` carries a valid RSA SHA-1/MD5 self-signature."""
    oid = csr.signature_algorithm_oid.dotted_string
    return _verify(csr.tbs_certrequest_bytes, csr.signature, oid, csr.public_key())


def is_legacy(oid: str) -> bool:
    """True for the RSA SHA-1/MD5 signature algorithm OIDs."""
    return oid in _LEGACY_OIDS


_LEGACY_OIDS = {"1.2.840.113549.1.1.5": "sha1", "1.2.840.113549.1.1.4": "md5"}


def _verify(tbs: bytes, sig: bytes, oid: str, key: object) -> bool:
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    hash_name = _LEGACY_OIDS.get(oid)
    if hash_name is None:
        return False
    pub = key.public_numbers()
    size = (pub.n.bit_length() + 7) // 8
    if len(sig) != size:
        return False
    recovered = pow(int.from_bytes(sig, "big"), pub.e, pub.n).to_bytes(size, "big")
    return hmac.compare_digest(recovered, _encoded(hash_name, tbs, size))
