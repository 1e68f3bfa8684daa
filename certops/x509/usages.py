"""Key usages per unit, from the unit table, and the warnings Cisco's Security Guides give.

The unit table (``certops.units``) holds what each unit's certificate must carry: serverAuth
everywhere, clientAuth where listed, the IPsec End System EKU (1.3.6.1.5.5.7.3.5) for ipsec and the cup* units,
keyCertSign and CA:TRUE for CAPF. This module adds what the guides say beyond "carry these":

- "Ensure that the Data Encipherment bit is not changed or removed as part of the CA-signing
  process" (CUCM Security Guide, "Certificate Signing Request Key Usage Extensions"): the signed
  certificate keeps the Data Encipherment bit exactly as the CSR asked for it (a dropped bit
  refuses the chain, an added one is a note);
- a CAPF certificate signs phone certificates (LSCs), so its issuer's path length must leave it
  room (pathlen 0 on the issuing CA makes every LSC invalid for clients that enforce it): a warning;
- warnings before anything goes to a CA (:func:`presend_warnings`): a CallManager RSA key above
  2048 bits (some phone models fail to register), a CA certificate of 4096 bits or more in mixed
  mode (some endpoints reject it), SAML SSO that uses the tomcat or ITLRecovery certificate (the
  SP metadata must be re-provisioned on the IdP).

``ca_request`` says in one line what to ask the CA for; the approval form, Slack and
``certops pending`` use it. Pure: no I/O, no Prefect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from certops.units import CLIENT_AUTH, IPSEC_END_SYSTEM, SERVER_AUTH, UNITS, UnitSpec

KU_NAMES = {
    "digital_signature": "Digital Signature",
    "content_commitment": "Non Repudiation",
    "key_encipherment": "Key Encipherment",
    "data_encipherment": "Data Encipherment",
    "key_agreement": "Key Agreement",
    "key_cert_sign": "Certificate Sign",
    "crl_sign": "CRL Sign",
}
"""Key-usage names as a CA's form and ``openssl x509 -text`` show them."""

EKU_NAMES = {
    SERVER_AUTH: "serverAuth (TLS Web Server Authentication, 1.3.6.1.5.5.7.3.1)",
    CLIENT_AUTH: "clientAuth (TLS Web Client Authentication, 1.3.6.1.5.5.7.3.2)",
    IPSEC_END_SYSTEM: "ipsecEndSystem (IPSec End System, 1.3.6.1.5.5.7.3.5)",
}
"""Extended key usages by OID, with the short name a CA template uses."""

KEPT_FROM_CSR = ("data_encipherment",)
"""Key-usage bits the signed certificate keeps exactly as the CSR asked (GUIDE 12.5SU2/14SU2)."""

CALLMANAGER_RSA_PHONE_MAX_BITS = 2048
"""Above this, some phone models fail to register with a CallManager certificate (GUIDE)."""

MIXED_MODE_CA_MAX_BITS = 4096
"""In mixed mode, some endpoints reject CA certificates of this size or more (GUIDE)."""

ProblemSink = Callable[[str, str, str], None]
"""``(code, message, hint)``: how a refusal is reported (``checks._Collector.add``)."""
NoteSink = Callable[[str], None]


def _ext(obj: x509.Certificate | x509.CertificateSigningRequest, cls: type[x509.ExtensionType]) -> object | None:
    try:
        return obj.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def key_usage_bits(obj: x509.Certificate | x509.CertificateSigningRequest) -> set[str] | None:
    """The key-usage bits set on a certificate or asked for by a CSR; None when it has no KeyUsage."""
    ku = _ext(obj, x509.KeyUsage)
    if not isinstance(ku, x509.KeyUsage):
        return None
    names = {"digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement"}
    names |= {"key_cert_sign", "crl_sign"}
    return {n for n in names if getattr(ku, n)}


def ca_request(unit: str, csr: x509.CertificateSigningRequest | None = None) -> str:
    """One line: the exact key usage, extended key usage and basic constraints to ask the CA for.

    With the ``csr``, a Data Encipherment bit it asks for is named as to be kept.
    """
    spec = UNITS[unit]
    ku = [KU_NAMES[k] for k in sorted(spec.key_usage)]
    asked = key_usage_bits(csr) if csr is not None else None
    kept = [k for k in KEPT_FROM_CSR if asked is not None and k in asked and k not in spec.key_usage]
    ku += [f"{KU_NAMES[k]} (the CSR asks for it: keep it)" for k in kept]
    if csr is None:
        ku.append("Data Encipherment exactly as the CSR asks (do not add or remove it)")
    eku = [EKU_NAMES.get(o, o) for o in _eku_order(spec.extended_key_usage)]
    bc = "CA:TRUE, pathlen:0 (it signs phone LSCs)" if spec.must_be_ca else "CA:FALSE (end entity)"
    return f"Key Usage: {', '.join(ku)}; Extended Key Usage: {', '.join(eku)}; Basic Constraints: {bc}"


def _eku_order(ekus: Iterable[str]) -> list[str]:
    order = {SERVER_AUTH: 0, CLIENT_AUTH: 1, IPSEC_END_SYSTEM: 2}
    return sorted(ekus, key=lambda o: (order.get(o, 9), o))


def check_chain_usages(
    csr: x509.CertificateSigningRequest,
    leaf: x509.Certificate,
    issuers: list[x509.Certificate],
    unit: str,
    *,
    problem: ProblemSink,
    note: NoteSink,
) -> None:
    """What the guides add to the table's usages: the Data Encipherment bit, CAPF's room for LSCs.

    ``issuers`` is the chain above the leaf, nearest first (intermediates, then the root).
    """
    spec = UNITS[unit]
    _check_kept_bits(csr, leaf, unit, problem, note)
    if spec.must_be_ca:
        _check_room_for_lscs(leaf, issuers, spec, note)


def _check_kept_bits(
    csr: x509.CertificateSigningRequest, leaf: x509.Certificate, unit: str, problem: ProblemSink, note: NoteSink
) -> None:
    asked = key_usage_bits(csr)
    if asked is None:  # the CSR asks for no key usage: nothing to keep
        return
    have = key_usage_bits(leaf) or set()
    for bit in KEPT_FROM_CSR:
        name = KU_NAMES[bit]
        if bit in asked and bit not in have:
            problem(
                "data_encipherment_dropped",
                f"the CSR for {unit} asks for {name}, the certificate lacks it: Cisco's Security Guide says the bit "
                "must not be changed or removed by the CA",
                f"ask the CA to keep the CSR's key usage (including {name}), e.g. a template that copies the "
                "request's key usage",
            )
        elif bit in have and bit not in asked:
            note(f"the certificate adds {name}, which the CSR for {unit} did not ask for (Cisco: keep it as asked)")


def _check_room_for_lscs(
    leaf: x509.Certificate, issuers: list[x509.Certificate], spec: UnitSpec, note: NoteSink
) -> None:
    # RFC 5280 4.2.1.9: a CA's pathlen counts the non-self-issued CA certificates that may follow it.
    # The CAPF certificate itself verifies (a path's last certificate is not counted), but once it
    # signs an LSC it is one of them: every issuer needs pathlen > the CAs below it, CAPF included.
    below = 0
    for issuer in issuers:
        bc = _ext(issuer, x509.BasicConstraints)
        limited = isinstance(bc, x509.BasicConstraints) and bc.ca and bc.path_length is not None
        if limited and isinstance(bc, x509.BasicConstraints) and bc.path_length is not None and bc.path_length <= below:
            note(
                f"WARNING: the issuing CA '{issuer.subject.rfc4514_string()}' has pathlen:{bc.path_length}, so the "
                f"{spec.name} certificate (a CA below it) leaves no room for the phone certificates (LSCs) it "
                "signs: clients that enforce the path length refuse them. Ask the CA to sign CAPF from an issuing "
                "CA with pathlen 1 or more (or none)"
            )
            return
        if issuer.subject != issuer.issuer:
            below += 1


def presend_warnings(
    unit: str,
    csr_pems: Mapping[str, str],
    *,
    security_mode: int | None = None,
    sso_enabled: bool | None = None,
    ca_certificates: Iterable[x509.Certificate] = (),
) -> list[str]:
    """Warnings to read before the CSRs go to a CA (they refuse nothing; each says what to do).

    ``csr_pems`` maps node -> CSR; ``ca_certificates`` are the CA certificates known to sign it
    (an automatic backend's chain; empty when a person takes the CSR to a CA).
    """
    out: list[str] = []
    if unit == "CallManager":
        for node, pem in csr_pems.items():
            key = x509.load_pem_x509_csr(pem.encode()).public_key()
            if isinstance(key, rsa.RSAPublicKey) and key.key_size > CALLMANAGER_RSA_PHONE_MAX_BITS:
                out.append(
                    f"{node} [CallManager]: the CSR has a {key.key_size}-bit RSA key; some phone models fail to "
                    f"register with a CallManager key above {CALLMANAGER_RSA_PHONE_MAX_BITS} bits (Cisco Security "
                    "Guide). Check the phone models, or regenerate the CSR with 2048 bits before sending it"
                )
    if security_mode == 1:
        for ca in ca_certificates:
            key = ca.public_key()
            if isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIXED_MODE_CA_MAX_BITS:
                out.append(
                    f"[{unit}] the CA certificate '{ca.subject.rfc4514_string()}' has a {key.key_size}-bit key and "
                    f"the cluster is in mixed mode: some endpoints reject CA certificates of "
                    f"{MIXED_MODE_CA_MAX_BITS} bits or more (Cisco Security Guide). Check the endpoints first"
                )
    elif security_mode is None and UNITS[unit].ctl_update_in_mixed_mode:
        out.append(
            f"[{unit}] in mixed mode some endpoints reject CA certificates of {MIXED_MODE_CA_MAX_BITS} bits or "
            "more (Cisco Security Guide): check the CA's key size (Cluster Security Mode is read in preflight)"
        )
    if unit in ("tomcat", "tomcat-ECDSA", "ITLRecovery") and sso_enabled is not False:
        state = "is enabled" if sso_enabled else "may be in use (read in preflight)"
        out.append(
            f"[{unit}] SAML SSO {state}: an SSO setup that uses the {unit} certificate needs the SP metadata "
            "exported and re-provisioned on the IdP after the renewal, or SSO logins fail (Cisco Security Guide)"
        )
    return out


def chain_warnings(unit: str, leaf_pem: str, ca_pems: Iterable[str], *, security_mode: int | None) -> list[str]:
    """Warnings on a signed chain before it is uploaded: CA key sizes in mixed mode, CAPF's room for LSCs.

    ``ca_pems`` are the chain's CA certificates in any order (the trust uploads).
    """
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    cas = [x509.load_pem_x509_certificate(p.encode()) for p in ca_pems]
    out = presend_warnings(unit, {}, security_mode=security_mode, sso_enabled=False, ca_certificates=cas)
    if security_mode is None:  # the generic mixed-mode reminder is for the dry run only
        out = []
    if UNITS[unit].must_be_ca:
        by_subject = {c.subject: c for c in cas}
        issuers: list[x509.Certificate] = []
        current = leaf
        while current.issuer in by_subject and len(issuers) < len(cas):
            current = by_subject[current.issuer]
            issuers.append(current)
            if current.subject == current.issuer:
                break
        _check_room_for_lscs(leaf, issuers, UNITS[unit], out.append)
    return out
