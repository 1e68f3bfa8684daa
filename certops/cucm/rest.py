"""The Certificate Management REST API ("certmgr", CUCM 14+) of one node (cucm-interfaces.md §1).

Base ``https://<node>/platformcom/api/v1/certmgr/config``, HTTP Basic with the **OS admin**.
Per node: there is no cluster fan-out. Upload failures are mapped from the error body's text to
the failure classes of §8 (CSR missing, key mismatch, SAN mismatch, CA not in trust store); a
locked platform API (DRF backup running) becomes ``PlatformLocked``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from certops.cucm import certmgr_shapes as shapes
from certops.cucm._http import FleetHttp, HttpAnswer, NodeClient, error_text
from certops.cucm.certmgr_shapes import BASE_PATH, IdentityEntry, Snapshot
from certops.errors import (
    CsrNotFound,
    CucmApiError,
    KeyMismatch,
    PlatformLocked,
    SanMismatch,
    TrustChainMissing,
)
from certops.models import CsrRequest

if TYPE_CHECKING:
    import httpx

__all__ = [
    "BASE_PATH",
    "CertMgrClient",
    "IdentityEntry",
    "Snapshot",
    "classify_error",
    "read_snapshot",
    "snapshot_from",
]


# (pattern on the lower-cased error text, error class, hint). Order matters: most specific first.
_UPLOAD_FAILURES: list[tuple[re.Pattern[str], type[CucmApiError], str]] = [
    (
        re.compile(r"(backup|restore|drs|drf).*(lock|progress|running)|(lock|locked).*(platform|backup|drs|drf)"),
        PlatformLocked,
        "a DRF backup or restore holds the platform API; wait until it finishes (utils disaster_recovery status)",
    ),
    (
        re.compile(r"san.*(does not|doesn't|do not|not) match|san mismatch"),
        SanMismatch,
        "the CA changed the SANs: have it sign exactly the CSR's SANs, or regenerate the CSR with the extra names",
    ),
    (
        re.compile(r"public key.*(does not|doesn't|not) match|key mismatch|modulus"),
        KeyMismatch,
        "the certificate was signed from another CSR; sign the CSR pending on this node (never regenerate it "
        "after it went to the CA)",
    ),
    (
        re.compile(r"csr (does not|doesn't) exist|no csr|csr not found|csr.*not present"),
        CsrNotFound,
        "no CSR is pending for this unit on this node; generate one here and have it signed",
    ),
    (
        re.compile(
            r"(ca|root|issuer).*(certificate)?.*not.*(available|found|present).*trust|not in .*trust|trust.*missing"
        ),
        TrustChainMissing,
        "upload the root and intermediate certificates to <unit>-trust before the identity certificate",
    ),
]


def classify_error(response: HttpAnswer, *, node: str, operation: str, unit: str | None) -> CucmApiError:
    """Turn an error response into the most specific ``CucmApiError`` its text allows."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    text = shapes.error_message(body) or error_text(response)
    low = text.lower()
    status = response.status_code
    if status == 423:  # whatever the text says: the platform API is locked, a DRF job runs (§1, §8)
        return PlatformLocked(
            f"HTTP 423: {text}",
            node=node,
            operation=operation,
            unit=unit,
            status=status,
            hint="a DRF backup or restore holds the platform API; wait until it finishes "
            "(utils disaster_recovery status backup), nothing was changed by this request",
        )
    for pattern, cls, class_hint in _UPLOAD_FAILURES:
        if pattern.search(low):
            return cls(
                f"HTTP {status}: {text}", node=node, operation=operation, unit=unit, status=status, hint=class_hint
            )
    hint: str | None = None
    if "pem format" in low or "not in pem" in low:
        hint = "CUCM accepts PEM or DER certificates only (no PKCS#7, no wildcard); convert it and upload again"
    elif operation == "upload_identity" and status == 400:
        hint = "HTTP 400 on an identity upload usually means the CA chain is not in <unit>-trust (upload it first)"
    elif operation == "upload_identity" and status >= 500:
        hint = "HTTP 500 on an identity upload usually means a stale CSR: generate a fresh CSR and sign that"
    return CucmApiError(f"HTTP {status}: {text}", node=node, operation=operation, unit=unit, status=status, hint=hint)


def _json(response: HttpAnswer, *, node: str, operation: str, unit: str | None = None) -> Any:
    try:
        return response.json()
    except ValueError:
        raise CucmApiError(
            f"the response is not JSON (HTTP {response.status_code}, {len(response.content)} bytes)",
            node=node,
            operation=operation,
            unit=unit,
            status=response.status_code,
            hint="is this node CUCM 14 or later? certmgr REST does not exist on 12.5",
        ) from None


def snapshot_from(response: HttpAnswer, *, node: str) -> Snapshot:
    """The ``Snapshot`` in a ``GET /snapshot/server`` answer; ``CucmApiError`` for an error or a bad shape."""
    op = "snapshot"
    if response.status_code >= 400:
        raise classify_error(response, node=node, operation=op, unit=None)
    data = _json(response, node=node, operation=op)
    try:
        return shapes.parse_snapshot(data)
    except shapes.ShapeError as exc:
        raise CucmApiError(str(exc), node=node, operation=op, hint="report this node's version") from exc


async def read_snapshot(
    http: FleetHttp,
    *,
    fqdn: str,
    address: str,
    port: int,
    username: str,
    password: SecretStr,
    verify: bool = True,
    ca_bundle: Path | None = None,
) -> Snapshot:
    """``GET /snapshot/server`` of one node over the scan's shared ``FleetHttp`` (same errors as ``snapshot``)."""
    response = await http.request(
        "GET",
        BASE_PATH + "/snapshot/server",
        fqdn=fqdn,
        address=address,
        port=port,
        username=username,
        password=password,
        verify=verify,
        ca_bundle=ca_bundle,
        operation="snapshot",
        credential_kind=CertMgrClient.credential_kind,
    )
    return snapshot_from(response, node=fqdn)


class CertMgrClient(NodeClient):
    """certmgr REST on one node. A context manager; domain verbs only.

    ``transport`` replaces the network (``httpx.MockTransport`` in unit tests).
    """

    credential_kind = "OS admin"
    default_port = 443
    default_timeout = 30.0

    # -- plumbing ---------------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, operation: str, unit: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        response = self._http.request(method, BASE_PATH + path, operation=operation, unit=unit, **kwargs)
        if response.status_code >= 400:
            raise classify_error(response, node=self.fqdn, operation=operation, unit=unit)
        return response

    def _json(self, response: httpx.Response, *, operation: str, unit: str | None = None) -> Any:
        return _json(response, node=self.fqdn, operation=operation, unit=unit)

    # -- verbs ----------------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """``GET /snapshot/server``: every identity (with its PEM and any pending CSR) and trust on the node."""
        response = self._http.request("GET", BASE_PATH + "/snapshot/server", operation="snapshot")
        return snapshot_from(response, node=self.fqdn)

    def get_csr(self, unit: str) -> str | None:
        """``GET /csr?service=<unit>``: the pending CSR's PEM, or None when the node has none."""
        op = "get_csr"
        response = self._http.request("GET", BASE_PATH + "/csr", operation=op, unit=unit, params={"service": unit})
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            error = classify_error(response, node=self.fqdn, operation=op, unit=unit)
            if isinstance(error, CsrNotFound):
                return None
            raise error
        data = self._json(response, operation=op, unit=unit)
        return shapes.parse_csr(data)

    def generate_csr(self, request: CsrRequest) -> str:
        """``POST /csr``: generate a CSR for ``request.unit`` (replacing any pending one); return its PEM."""
        op = "generate_csr"
        body = shapes.csr_body(request)
        data = self._json(self._call("POST", "/csr", operation=op, unit=request.unit, json=body), operation=op)
        pem = shapes.parse_csr(data)
        if pem is None:
            raise CucmApiError(
                "the node answered without a CSR", node=self.fqdn, operation=op, unit=request.unit, status=200
            )
        return pem

    def upload_trust(self, unit: str, pems: list[str], description: str) -> None:
        """``POST /trust/certificates``: CA certificates into ``<unit>-trust`` (root first), one entry each."""
        body = shapes.trust_upload_body(unit, pems, description)
        self._call("POST", "/trust/certificates", operation="upload_trust", unit=unit, json=body)

    def list_trust(self, unit: str) -> list[str]:
        """``GET /trust/certificate?service=<unit>``: PEMs in ``<unit>-trust``."""
        op = "list_trust"
        response = self._call("GET", "/trust/certificate", operation=op, unit=unit, params={"service": unit})
        return shapes.parse_trust_list(self._json(response, operation=op, unit=unit))

    def upload_identity(self, unit: str, pems: list[str]) -> None:
        """``POST /identity/certificates``: the leaf then its chain, one entry each; restarts no service."""
        body = shapes.identity_upload_body(unit, pems)
        self._call("POST", "/identity/certificates", operation="upload_identity", unit=unit, json=body)
