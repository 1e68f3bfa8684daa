"""The certmgr REST API (``/platformcom/api/v1/certmgr/config``), cucm-interfaces.md §1.

Handlers are plain functions from a request to ``(status, json)``; ``simulator.https`` does the
HTTP. The identity upload applies CUCM's checks in the order Cisco's failure classes suggest:
format (PEM/DER, wildcard, RSA > 4096), a pending CSR, the issuer in ``<unit>-trust``, the public
key, the SAN set. Exact error strings are partly inferred; see docs/simulator.md.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from simulator import pki, shapes
from simulator.state import TRUST_STORES, PendingCsr, SimulatedNode, iso_now

BASE = "/platformcom/api/v1/certmgr/config"

Reply = tuple[int, dict[str, Any]]

MSG_NOT_PEM = "Certificate is not in PEM format"
MSG_WILDCARD = "Wildcard certificates are not supported"
MSG_KEY_TOO_LONG = "Certificate key length exceeds the maximum of 4096 bits"
MSG_NO_CSR = "CSR does not exist for the service"
MSG_NOT_TRUSTED = "CA certificate is not available in the trust-store"
MSG_KEY_MISMATCH = "CSR public key and Certificate public key doesn't match"
MSG_SAN_MISMATCH = "CSR SAN and Certificate SAN does not match"
MSG_UPLOAD_FAILED = "Certificate Upload failed"
MSG_SEVERAL_PEMS = (
    "Each entry of certificates must hold exactly one certificate, but entry {index} holds {count}; "
    "nothing was imported: send one entry per certificate"
)
"""[INF] The sources leave a bundle in one entry open (cisco-uc-get-cert sends one); the simulator refuses it whole."""
PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
MSG_LOCKED = "Platform API is locked by the Disaster Recovery System: a backup or restore is in progress"


def _error(status: int, message: str, **extra: Any) -> Reply:
    return status, {"trackingId": _tracking(), "message": message, "messages": [message], **extra}


def _tracking() -> str:
    return "CMAPI-" + uuid.uuid4().hex[:12].upper()


def _take_upload_error(node: SimulatedNode) -> bool:
    """Consume one injected upload error, if any."""
    with node.runtime.lock:
        if node.faults.upload_errors > 0:
            node.faults.upload_errors -= 1
            return True
        return False


def _unit_error(node: SimulatedNode, service: Any) -> Reply | None:
    if not isinstance(service, str) or not service:
        return _error(400, "service is required (a certificate unit such as tomcat)")
    if service not in node.units:
        return _error(400, f"Invalid service name {service!r} for this server; valid: {', '.join(node.units)}")
    return None


def several_pems(certs: list[str]) -> tuple[int, int] | None:
    """``(1-based index, count)`` of the first entry holding more than one PEM certificate, or None."""
    for index, text in enumerate(certs, start=1):
        count = text.count(PEM_BEGIN)
        if count > 1:
            return index, count
    return None


def snapshot(node: SimulatedNode) -> Reply:
    """``GET /snapshot/server``: every identity (with its pending CSR) and trust store.

    A twin's node answers in its capture's shape (:mod:`simulator.shapes`), with this state.
    """
    captured = shapes.snapshot_shape(node.cluster, node.fqdn)
    if captured is not None:
        pending_csrs = {u: p.pem for u, p in node.csrs.items()}
        stores = [
            (
                store.removesuffix("-trust"),
                [(f["filename"], f["certificate"]) for f in trust_list(node, store)["certificate_data"]],
            )
            for store, certs in node.trust.items()
            if certs
        ]
        return 200, captured.render(
            server=node.fqdn,
            tracking=_tracking(),
            identities=[(u, i.pem, pending_csrs.get(u)) for u, i in node.identities().items()],
            trusts=stores,
        )
    identities = []
    for unit, ident in node.identities().items():
        item: dict[str, Any] = {"service": unit, "certificate": ident.pem}
        pending = node.csrs.get(unit)
        if pending is not None:
            item["csr"] = pending.pem
        identities.append(item)
    trusts = [trust_list(node, store) for store, certs in node.trust.items() if certs]
    return 200, {
        "trackingId": _tracking(),
        "server": node.fqdn,
        "identities": identities,
        "trusts": trusts,
        "revokedCertificates": [],
    }


def trust_list(node: SimulatedNode, store: str) -> dict[str, Any]:
    """One trust store in the snapshot shape."""
    certs = node.trust.get(store, {})
    return {
        "service": store.removesuffix("-trust"),
        "certificate_data": [
            {"filename": f"{cn.replace(' ', '_')}.pem", "certificate": pki.cert_pem(c)}
            for cn, c in sorted(certs.items())
        ],
    }


def options(node: SimulatedNode) -> Reply:
    """``GET /options``: the node's units, the distributions and key types [INF: the shape]."""
    return 200, {"units": list(node.units), "distributions": ["this-server", "multi-server"], "keyTypes": ["rsa", "ec"]}


def get_csr(node: SimulatedNode, service: str | None) -> Reply:
    """``GET /csr?service=``: the pending CSR, 404 when there is none."""
    err = _unit_error(node, service)
    if err:
        return err
    assert service is not None
    pending = node.csrs.get(service)
    if pending is None:
        return _error(404, f"{MSG_NO_CSR} {service}")
    return 200, {"trackingId": _tracking(), "service": service, "csr": pending.pem}


def validate_csr_request(node: SimulatedNode, body: Any) -> tuple[Reply | None, dict[str, Any]]:
    """Check a ``POST /csr`` body; returns an error reply or the normalised request."""
    if not isinstance(body, dict):
        return _error(400, "request body must be a JSON object"), {}
    service = body.get("service")
    err = _unit_error(node, service)
    if err:
        return err, {}
    assert isinstance(service, str)
    distribution = body.get("distribution", "this-server")
    if distribution not in ("this-server", "multi-server"):
        return _error(400, f"Invalid distribution {distribution!r}: use this-server or multi-server"), {}
    ecdsa = service.endswith("-ECDSA")
    key_type = str(body.get("keyType", "ec" if ecdsa else "rsa")).lower()
    if key_type == "ecdsa":
        key_type = "ec"
    if key_type != ("ec" if ecdsa else "rsa"):
        return _error(400, f"Invalid keyType {key_type!r} for {service}: use {'ec' if ecdsa else 'rsa'}"), {}
    key_length = body.get("keyLength", 256 if ecdsa else 2048)
    allowed = (256, 384) if ecdsa else (2048, 3072, 4096)
    if not isinstance(key_length, int) or key_length not in allowed:
        return _error(400, f"Invalid keyLength {key_length!r} for {service}: allowed {allowed}"), {}
    hash_algorithm = str(body.get("hashAlgorithm", "sha256")).lower()
    if hash_algorithm not in ("sha256", "sha384", "sha512"):
        return _error(400, f"Invalid hashAlgorithm {hash_algorithm!r}"), {}
    alt = body.get("altNames", [])
    if not isinstance(alt, list) or not all(isinstance(a, str) for a in alt):
        return _error(400, "altNames must be a list of strings"), {}
    if any(a.startswith("*") for a in alt):
        return _error(400, MSG_WILDCARD), {}
    common = body.get("commonName") or node.fqdn
    if not isinstance(common, str):
        return _error(400, "commonName must be a string"), {}
    multi = distribution == "multi-server"
    base = [n.fqdn for n in node.cluster.nodes if service in n.units] if multi else [node.fqdn]
    sans: list[str] = []
    for name in [*base, *alt]:
        if name.lower() not in (s.lower() for s in sans):
            sans.append(name)
    return None, {
        "service": service,
        "distribution": distribution,
        "commonName": common,
        "keyType": key_type,
        "keyLength": key_length,
        "hashAlgorithm": hash_algorithm,
        "altNames": sans,
    }


def make_pending_csr(node: SimulatedNode, request: dict[str, Any]) -> PendingCsr:
    """Generate the key and CSR for a validated request (slow for RSA: run it off the event loop).

    The subject is the node's (country, organisation, OU, CN = ``commonName``); the OU is left
    out when ``request["include_ou"]`` is False (the CLI's OU question answered no).
    """
    t0 = time.monotonic()
    key = pki.new_key(request["keyType"], request["keyLength"])
    subject = pki.node_subject(node.fqdn, request["service"])
    attrs = [a for a in subject if a.oid != x509.NameOID.COMMON_NAME]
    if request.get("include_ou") is False:  # the CLI's "Include OU in CSR (yes|no)?" answered no
        attrs = [a for a in attrs if a.oid != x509.NameOID.ORGANIZATIONAL_UNIT_NAME]
    subject = x509.Name([*attrs, x509.NameAttribute(x509.NameOID.COMMON_NAME, request["commonName"])])
    csr = pki.make_csr(key=key, subject=subject, sans=request["altNames"], hash_algorithm=request["hashAlgorithm"])
    return PendingCsr(csr=csr, key=key, request=request, created=iso_now(), keygen_seconds=time.monotonic() - t0)


def csr_created(node: SimulatedNode, pending: PendingCsr) -> Reply:
    """Store the CSR (replacing any pending one) and answer with its PEM."""
    node.add_csr(pending.request["service"], pending)
    return 200, {"trackingId": _tracking(), "service": pending.request["service"], "csr": pending.pem}


def upload_trust(node: SimulatedNode, body: Any) -> Reply:
    """``POST /trust/certificates``: ``service`` is an ARRAY of units; each certificate goes to ``<unit>-trust``."""
    if not isinstance(body, dict):
        return _error(400, "request body must be a JSON object")
    services = body.get("service")
    if not isinstance(services, list) or not services or not all(isinstance(s, str) for s in services):
        return _error(400, 'service must be a non-empty array of certificate units, e.g. ["tomcat"]')
    valid = {store for u in node.units for store in TRUST_STORES.get(u, ())}
    stores: list[str] = []
    for s in services:
        store = s.removesuffix("-trust").removesuffix("-ECDSA") + "-trust"
        if store not in valid:
            return _error(400, f"Invalid service name {s!r} for this server")
        if store not in stores:
            stores.append(store)
    certs = body.get("certificates")
    if not isinstance(certs, list) or not certs or not all(isinstance(c, str) for c in certs):
        return _error(400, "certificates must be a non-empty array of PEM strings")
    bundled = several_pems(certs)
    if bundled is not None:  # refused whole: never a silent import of the first block only
        message = MSG_SEVERAL_PEMS.format(index=bundled[0], count=bundled[1])
        node._event("upload_refused", unit=stores[0], detail={"reason": "several_pems", "message": message})
        return _error(400, message)
    parsed = []
    for text in certs:
        try:
            parsed.append(pki.load_certificate(text))
        except ValueError:
            return _error(400, MSG_NOT_PEM)
    if _take_upload_error(node):
        node._event("upload_refused", unit=stores[0], detail={"reason": "fault", "message": MSG_UPLOAD_FAILED})
        return _error(500, MSG_UPLOAD_FAILED)
    results = []
    for store in stores:
        for cert in parsed:
            outcome = node.add_trust(store, cert, str(body.get("description", "")))
            results.append({"service": store, "commonName": pki.common_name(cert.subject), "result": outcome})
    return 200, {"trackingId": _tracking(), "message": "Trust certificate(s) uploaded", "results": results}


def get_trust(node: SimulatedNode, service: str | None) -> Reply:
    """``GET /trust/certificate?service=``: the certificates of ``<service>-trust``."""
    if not service:
        return _error(400, "service is required")
    store = service if service.endswith("-trust") else f"{service}-trust"
    if store not in node.trust:
        return _error(400, f"Invalid service name {service!r} for this server")
    return 200, {"trackingId": _tracking(), **trust_list(node, store)}


def get_identity(node: SimulatedNode, service: str | None) -> Reply:
    """``GET /identity/certificate?service=``: the installed identity certificate."""
    err = _unit_error(node, service)
    if err:
        return err
    assert service is not None
    return 200, {"trackingId": _tracking(), "service": service, "certificate": node.identity(service).pem}


def _refuse(node: SimulatedNode, unit: str, status: int, failure: str, message: str) -> Reply:
    node._event("upload_refused", unit=unit, detail={"reason": failure, "message": message, "status": status})
    return _error(status, message)


def upload_identity(node: SimulatedNode, body: Any) -> Reply:
    """``POST /identity/certificates``: ``service`` is a STRING; checks in CUCM's order, then installs.

    The served certificate does not change here: only when the unit's service restarts.
    """
    if not isinstance(body, dict):
        return _error(400, "request body must be a JSON object")
    service = body.get("service")
    if isinstance(service, list):
        return _error(400, "service must be a string (one certificate unit), not an array")
    err = _unit_error(node, service)
    if err:
        return err
    assert isinstance(service, str)
    certs = body.get("certificates")
    if not isinstance(certs, list) or not certs or not all(isinstance(c, str) for c in certs):
        return _refuse(node, service, 400, "format", MSG_NOT_PEM)
    # 1. format class: one certificate per entry, PEM/DER, no wildcard, RSA <= 4096
    bundled = several_pems(certs)
    if bundled is not None:
        return _refuse(node, service, 400, "several_pems", MSG_SEVERAL_PEMS.format(index=bundled[0], count=bundled[1]))
    try:
        chain = [pki.load_certificate(c) for c in certs]
    except ValueError:
        return _refuse(node, service, 400, "format", MSG_NOT_PEM)
    leaf = chain[0]
    names = [pki.common_name(leaf.subject), *pki.dns_sans(leaf)]
    if any(n.startswith("*") for n in names):
        return _refuse(node, service, 400, "wildcard", MSG_WILDCARD)
    pub = leaf.public_key()
    if isinstance(pub, rsa.RSAPublicKey) and pub.key_size > 4096:
        return _refuse(node, service, 400, "key_size", MSG_KEY_TOO_LONG)
    # 2. a pending CSR for the unit
    pending = node.csrs.get(service)
    if pending is None:
        return _refuse(node, service, 500, "no_csr", f"{MSG_NO_CSR} {service}")
    # 3. the issuer chain in <unit>-trust
    if not node.chain_trusted(service, leaf):
        return _refuse(node, service, 400, "issuer_not_trusted", MSG_NOT_TRUSTED)
    # 4. the public key of the pending CSR
    if pki.public_key_der(leaf) != pki.public_key_der(pending.csr):
        return _refuse(node, service, 500, "key_mismatch", MSG_KEY_MISMATCH)
    # 5. the SAN set (order aside)
    if {s.lower() for s in pki.dns_sans(leaf)} != {s.lower() for s in pki.dns_sans(pending.csr)}:
        return _refuse(node, service, 400, "san_mismatch", MSG_SAN_MISMATCH)
    if _take_upload_error(node):
        return _refuse(node, service, 500, "fault", MSG_UPLOAD_FAILED)
    node.install_identity(service, leaf, chain[1:])
    if pending.request.get("distribution") == "multi-server":  # CUCM distributes it to the nodes it names
        node.distribute_identity(service, leaf, chain[1:])
    return 200, {
        "trackingId": _tracking(),
        "message": "Success: Certificate Uploaded. "
        "Restart the services that use it for the new certificate to become active.",
        "service": service,
    }
