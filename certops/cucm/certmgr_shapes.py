"""Every certmgr REST request and response shape certops relies on, in one place, with its source.

Cisco publishes no schema (no OpenAPI file) for the Certificate Management API
(``/platformcom/api/v1/certmgr/config``, CUCM 14+; cucm-interfaces.md §1). The best truth is
what field-proven clients send and read:

- **netSSL**: ``sieteunoseis/netSSL`` ``backend/src/platform-providers/vos-provider.ts`` — its
  renewal helpers (``renewalGenerateCSR`` payload, ``renewalUploadLeafCertificate``,
  ``renewalGetExistingTrustCertificates``, ``renewalUploadCaCertificates``) and its older
  generic methods (``generateCSR``, ``getTrustCertificates``);
- **cisco-uc-get-cert**: ``sieteunoseis/cisco-uc-get-cert`` ``get-cert.py`` — ``generate_csr``,
  ``upload_cert``, ``upload_cert_chain``, ``upload_ca``, ``get_certs``.

Each function names its source; **[INF]** marks what no field client shows. The module is pure
(no network): ``certops.cucm.rest`` builds its bodies and reads its answers only through it.
Parsers are lenient (they accept every shape seen in those clients); builders are strict (they
send one shape, the one both clients agree on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

from certops.models import CsrRequest

BASE_PATH = "/platformcom/api/v1/certmgr/config"
"""[CISCO] developer.cisco.com Certificate Management, Getting Started."""

_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.DOTALL)
_CSR_MARK = "CERTIFICATE REQUEST-----"  # BEGIN CERTIFICATE REQUEST and BEGIN NEW CERTIFICATE REQUEST


# -- request bodies ---------------------------------------------------------------------------


class CsrBody(TypedDict):
    """``POST /csr``. Source: netSSL (``csrPayload`` of the renewal path: service, distribution,
    commonName, keyType ``rsa``, keyLength 2048, hashAlgorithm ``sha256``, altNames only when
    there are some) and cisco-uc-get-cert ``generate_csr`` (the same keys and values)."""

    service: str
    distribution: str
    commonName: str
    keyType: str
    keyLength: int
    hashAlgorithm: str
    altNames: NotRequired[list[str]]


class TrustUploadBody(TypedDict):
    """``POST /trust/certificates``. Source: netSSL ``renewalUploadCaCertificates`` (``service``
    an ARRAY ``["tomcat"]``, ``certificates`` one PEM per entry, ``description`` "Trust
    Certificate") and cisco-uc-get-cert ``upload_ca`` (same keys; it puts its whole CA bundle
    in ONE entry, which certops never does: see :func:`trust_upload_body`)."""

    service: list[str]
    certificates: list[str]
    description: str


class IdentityUploadBody(TypedDict):
    """``POST /identity/certificates``. Source: netSSL ``renewalUploadLeafCertificate`` and
    cisco-uc-get-cert ``upload_cert_chain`` (``service`` a STRING, ``certificates`` the leaf
    then its chain, each certificate its own entry, split from the PEM text)."""

    service: str
    certificates: list[str]


def split_pems(pems: list[str]) -> list[str]:
    """One PEM certificate per item: every block of every given string, in order.

    Both field clients split a chain into single PEMs before sending it (netSSL splits on
    ``-----END CERTIFICATE-----``, cisco-uc-get-cert with a regex). What CUCM does with several
    blocks in one entry is not known [INF]; certops never sends that. A string without a PEM
    block (e.g. base64 DER) is kept as it is.
    """
    out: list[str] = []
    for text in pems:
        blocks = _PEM_BLOCK.findall(text)
        if not blocks:
            out.append(text)
            continue
        out.extend(block.strip() + "\n" for block in blocks)
    return out


def csr_body(request: CsrRequest) -> CsrBody:
    """The ``POST /csr`` body for ``request`` (see :class:`CsrBody` for the sources)."""
    body: CsrBody = {
        "service": request.unit,
        "distribution": request.distribution,
        "commonName": request.common_name,
        "keyType": request.key_type,
        "keyLength": request.key_length,
        "hashAlgorithm": request.hash_algorithm,
    }
    if request.alt_names:
        body["altNames"] = list(request.alt_names)
    return body


def trust_upload_body(unit: str, pems: list[str], description: str) -> TrustUploadBody:
    """The ``POST /trust/certificates`` body: ``service`` ``[unit]``, one entry per certificate."""
    return {"service": [unit], "certificates": split_pems(pems), "description": description}


def identity_upload_body(unit: str, pems: list[str]) -> IdentityUploadBody:
    """The ``POST /identity/certificates`` body: ``service`` ``unit``, leaf first, one entry per certificate."""
    return {"service": unit, "certificates": split_pems(pems)}


# -- responses ----------------------------------------------------------------------------------


class ShapeError(ValueError):
    """A response lacks what certops needs from it (the message says what)."""


@dataclass(frozen=True)
class IdentityEntry:
    """One identity of ``/snapshot/server``: the unit, its certificate PEM and a pending CSR if any."""

    unit: str
    certificate: str
    csr: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """``GET /snapshot/server``: every identity and trust certificate on the node."""

    server: str
    identities: list[IdentityEntry]
    trusts: dict[str, list[str]] = field(default_factory=dict)


def pems_in(value: Any) -> list[str]:
    """Every PEM certificate string anywhere inside a JSON value, in document order [INF tolerance]."""
    out: list[str] = []
    if isinstance(value, str):
        if "-----BEGIN CERTIFICATE-----" in value:
            out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            out.extend(pems_in(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(pems_in(v))
    return out


def parse_snapshot(data: Any) -> Snapshot:
    """``GET /snapshot/server``: ``{server, identities: [{service, certificate, csr?}], trusts:
    [{service, certificate_data: [{filename, certificate}]}]}``.

    Source: cucm-interfaces.md §1.3 "observed shape" [CODE: an unnamed snapshot reporter;
    cisco-uc-get-cert ``get_certs`` fetches it but does not parse it]. Identities without a
    service or certificate are skipped; trust PEMs are taken from anywhere under each trust
    entry [INF tolerance]. ``ShapeError`` when there is no ``identities`` list.
    """
    if not isinstance(data, dict) or not isinstance(data.get("identities"), list):
        raise ShapeError("the snapshot has no 'identities' list")
    identities = []
    for item in data["identities"]:
        if not isinstance(item, dict) or not item.get("service") or not item.get("certificate"):
            continue
        csr = item.get("csr")
        identities.append(
            IdentityEntry(
                unit=str(item["service"]),
                certificate=str(item["certificate"]),
                csr=str(csr) if isinstance(csr, str) and "BEGIN" in csr else None,
            )
        )
    trusts: dict[str, list[str]] = {}
    for item in data.get("trusts") or []:
        if isinstance(item, dict) and item.get("service"):
            trusts.setdefault(str(item["service"]), []).extend(pems_in(item.get("certificate_data")))
    return Snapshot(server=str(data.get("server", "")), identities=identities, trusts=trusts)


def parse_csr(data: Any) -> str | None:
    """The CSR PEM of a ``POST /csr`` or ``GET /csr`` answer, or None.

    Sources: ``{"csr": PEM}`` — netSSL renewal path (``response.csr``) and cisco-uc-get-cert
    ``generate_csr`` (``response.json()["csr"]``); ``certificateSigningRequest`` — netSSL's
    generic ``generateCSR`` (a path its renewal does not use; unverified). Any other key holding
    a CSR PEM, nested or not, and a bare PEM string are accepted too [INF tolerance].
    """
    if isinstance(data, dict):
        for key in ("csr", "certificateSigningRequest", "csrData", "CSR"):
            value = data.get(key)
            if isinstance(value, str) and _CSR_MARK in value:
                return value
        for value in data.values():
            found = parse_csr(value)
            if found:
                return found
    if isinstance(data, list):
        for value in data:
            found = parse_csr(value)
            if found:
                return found
    if isinstance(data, str) and _CSR_MARK in data:
        return data
    return None


def parse_trust_list(data: Any) -> list[str]:
    """The PEMs of a ``GET /trust/certificate?service=<unit>`` answer, in order.

    Accepted shapes:
    - a JSON list of ``{"certificate": PEM}`` — netSSL ``renewalGetExistingTrustCertificates``
      (``Array.isArray(response) ? response : ...``, then ``c.certificate``);
    - ``{"certificates": [{"certificate": PEM} | {"certificateData": PEM}]}`` — the same netSSL
      function and netSSL ``getTrustCertificates`` (``cert.certificateData || cert.certificate``);
    - ``{"certificate_data": [{"filename", "certificate"}]}`` — the snapshot's per-store shape
      (cucm-interfaces.md §1.3), which the simulator answers [INF];
    - plain PEM strings in any of these lists.
    Anything else: every PEM found anywhere in the answer [INF tolerance].
    """
    items: Any = None
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict):
        for key in ("certificates", "certificate_data"):
            if isinstance(data.get(key), list):
                items = data[key]
                break
    if items is None:
        return pems_in(data)
    out: list[str] = []
    for item in items:
        if isinstance(item, str) and "-----BEGIN CERTIFICATE-----" in item:
            out.append(item)
        elif isinstance(item, dict):
            value = item.get("certificate") or item.get("certificateData")
            if isinstance(value, str) and "-----BEGIN CERTIFICATE-----" in value:
                out.append(value)
            else:
                out.extend(pems_in(item))
    return out


def error_message(data: Any) -> str | None:
    """The message of a certmgr error body, or None when it has none.

    Sources: netSSL — ``response.message``, then ``response.error`` (identity upload),
    ``response.message || response.messages?.[0]`` (trust upload). The simulator answers
    ``{trackingId, message, messages: [message]}`` [INF]. ``errorMessage`` and ``detail`` are
    read too [INF tolerance]; a list's first item and a nested ``{"message"}`` are unwrapped.
    """
    if not isinstance(data, dict):
        return None
    for key in ("message", "messages", "error", "errorMessage", "detail"):
        value = data.get(key)
        if isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, dict):
            value = value.get("message") or value.get("error")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
