"""SOAP clients of one node: Control Center Services, RisPort70 and AXL (cucm-interfaces.md §2–§4).

All three authenticate with the **application user** (not the OS admin) over HTTPS on the
node's ``soap_port`` (8443), verified against the node's FQDN. Envelopes and parsing live in
``certops.cucm.soap_xml``; this module sends them and maps faults: RisPort70's
``Server.RateControl`` -> ``CucmRateLimited`` (transient), anything else -> ``CucmApiError``.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from certops.cucm import soap_xml
from certops.cucm._http import NodeClient
from certops.errors import CucmApiError, CucmRateLimited
from certops.models import PhoneCount, ServiceStatus

CONTROL_CENTER_PATH = "/controlcenterservice2/services/ControlCenterServices"
RISPORT_PATH = "/realtimeservice2/services/RISService70"
AXL_PATH = "/axl/"

log = logging.getLogger("certops.cucm.soap")

_CLUSTER_SECURITY_MODE_SQL = "select paramname, paramvalue from processconfig where paramname = 'ClusterSecurityMode'"
_SSO_MODES_SQL = "select name, tkssomode from processnode"
# [INF] the parameter's processconfig name and values (Security Parameters > "Phone Interaction on
# Certificate Update", CUCM 14+, default: reset automatically) are not in Cisco's public documents.
PHONE_INTERACTION_PARAM = "PhoneInteractionOnCertificateUpdate"
_PHONE_INTERACTION_SQL = (
    "select paramname, paramvalue from processconfig where paramname = 'PhoneInteractionOnCertificateUpdate'"
)
PHONE_INTERACTION_VALUES = {"0": "automatic", "1": "manual"}  # [INF]
# The phones whose SIP phone security profile enables OAuth (AXL XPhoneSecurityProfile
# EnableOAuthAuthentication); the column name and its 't' value are [INF] (docs/renewal.md)
_SIP_OAUTH_PHONES_SQL = (
    "select d.name from device d, securityprofile s where d.fksecurityprofile = s.pkid "
    "and s.enableoauthauthentication = 't' and d.tkclass = 1"
)


class _SoapClient(NodeClient):
    """Shared plumbing: one NodeHttp with the application user, POST an envelope, map faults."""

    path = "/"
    credential_kind = "application user"
    default_port = 8443
    default_timeout = 60.0

    def _post(self, body: bytes, *, soap_action: str, operation: str) -> bytes:
        return self._check(self._send(body, soap_action=soap_action, operation=operation), operation)

    def _send(self, body: bytes, *, soap_action: str, operation: str) -> httpx.Response:
        return self._http.request(
            "POST",
            self.path,
            operation=operation,
            content=body,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": soap_action},
        )

    def _check(self, response: httpx.Response, operation: str) -> bytes:
        """The response body, or the fault / HTTP error as a certops error."""
        fault = soap_xml.parse_fault(response.content)
        if fault is not None:
            if "RateControl" in fault.code or "exceeded allowed rate" in fault.message.lower():
                raise CucmRateLimited(
                    f"RisPort70 rate limit: {fault.message}",
                    node=self.fqdn,
                    operation=operation,
                    hint="RIS allows about 15 requests per minute cluster-wide for all clients; wait and retry",
                )
            raise CucmApiError(
                f"SOAP fault {fault.code}: {fault.message}",
                node=self.fqdn,
                operation=operation,
                status=fault.code,
            )
        if response.status_code >= 400:
            raise CucmApiError(
                f"HTTP {response.status_code}: {response.text.strip()[:300]}",
                node=self.fqdn,
                operation=operation,
                status=response.status_code,
            )
        return response.content

    def _parse_error(self, exc: soap_xml.SoapParseError, operation: str) -> CucmApiError:
        return CucmApiError(f"unexpected SOAP response: {exc}", node=self.fqdn, operation=operation)


class ControlCenterClient(_SoapClient):
    """Control Center Services: service status and Start/Stop/Restart on this node only."""

    path = CONTROL_CENTER_PATH

    def service_status(self, names: list[str] | None = None) -> list[ServiceStatus]:
        """``soapGetServiceStatus`` for ``names`` (None: every service)."""
        op = "service_status"
        xml = self._post(soap_xml.service_status_request(names), soap_action="soapGetServiceStatus", operation=op)
        try:
            return soap_xml.parse_service_info_list(xml)
        except soap_xml.SoapParseError as exc:
            raise self._parse_error(exc, op) from exc

    def control_services(self, node_name: str, control_type: str, names: list[str]) -> list[ServiceStatus]:
        """``soapDoControlServices``: Start/Stop/Restart ``names`` on ``node_name`` (this node's own name).

        Cisco Tomcat cannot be restarted here (the API runs inside it): use the CLI.
        """
        op = f"control_services {control_type}"
        if any(n.strip().lower() in ("cisco tomcat", "cisco haproxy") for n in names):
            raise CucmApiError(
                f"{', '.join(names)} cannot be restarted through Control Center (it runs inside Tomcat)",
                node=self.fqdn,
                operation=op,
                hint="use the CLI: utils service restart <name>",
            )
        body = soap_xml.control_services_request(node_name, control_type, names)
        xml = self._post(body, soap_action="soapDoControlServices", operation=op)
        try:
            return soap_xml.parse_service_info_list(xml)
        except soap_xml.SoapParseError as exc:
            raise self._parse_error(exc, op) from exc


class RisPortClient(_SoapClient):
    """RisPort70 (any node answers for the whole cluster). Rate-limited: ~15 requests/minute."""

    path = RISPORT_PATH

    def select_cm_device(
        self, state_info: str = "", *, max_devices: int = 1000, status: str = "Any"
    ) -> soap_xml.RisPage:
        """One page of ``selectCmDevice`` (phones, any model); ``state_info`` continues from a previous page."""
        op = "selectCmDevice"
        body = soap_xml.select_cm_device_request(state_info, max_devices=max_devices, status=status)
        xml = self._post(body, soap_action="selectCmDevice", operation=op)
        try:
            return soap_xml.parse_select_cm_device(xml)
        except soap_xml.SoapParseError as exc:
            raise self._parse_error(exc, op) from exc

    def registered_phone_count(
        self,
        *,
        max_devices: int = 1000,
        max_pages: int = 500,
        rate_limit_backoff: Sequence[float] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> PhoneCount:
        """Registered phones cluster-wide: every page (StateInfo), deduplicated by device name.

        A device seen under several CM nodes counts once, by its entry with the latest
        TimeStamp. On ``Server.RateControl`` the page is retried after each delay in
        ``rate_limit_backoff`` (seconds); when they are used up, ``CucmRateLimited`` is raised.
        """
        latest: dict[str, soap_xml.RisDevice] = {}
        state_info = ""
        requests = 0
        for _ in range(max_pages):
            delays = list(rate_limit_backoff)
            while True:
                try:
                    requests += 1
                    page = self.select_cm_device(state_info, max_devices=max_devices)
                    break
                except CucmRateLimited:
                    if not delays:
                        raise
                    sleep(delays.pop(0))
            for dev in page.devices:
                seen = latest.get(dev.name)
                if seen is None or dev.timestamp >= seen.timestamp:
                    latest[dev.name] = dev
            done = len(page.devices) < max_devices or not page.state_info or page.state_info == state_info
            state_info = page.state_info
            if done:
                break
        stamps = {d.name: d.timestamp for d in latest.values() if d.status.lower() == "registered"}
        return PhoneCount(registered=len(stamps), total_seen=len(latest), requests_used=requests, stamps=stamps)


# The AXL schema versions whose Cisco AXLSoap.xsd every request below is checked against
# (tests/contract/test_cisco_axl.py); a fallback after HTTP 599 picks one of these.
AXL_CHECKED_VERSIONS = ("12.5", "14.0", "15.0")

# node FQDN (lower case) -> the AXL version that node accepted after a fallback, for the rest of
# the process: later clients of that node start with it and never see the 599 again.
_accepted_axl_versions: dict[str, str] = {}
_accepted_lock = threading.Lock()

_SUPPORTED = re.compile(r"Supported\s+axl\s+versions\s+are\s+([^<\r\n]+)", re.IGNORECASE)
_VERSION_TOKEN = re.compile(r"\d+(?:\.(?:\d+|x))?", re.IGNORECASE)


def remembered_axl_version(fqdn: str) -> str | None:
    """The AXL version ``fqdn`` accepted after a fallback in this process, or None."""
    with _accepted_lock:
        return _accepted_axl_versions.get(fqdn.lower())


def forget_axl_versions() -> None:
    """Forget every remembered AXL fallback (a new process starts this way)."""
    with _accepted_lock:
        _accepted_axl_versions.clear()


def supported_axl_versions(text: str) -> list[str]:
    """The versions an "Incorrect axl version" answer lists: ``"12.x, 14.0 and 15.0"`` -> ``[12.x, 14.0, 15.0]``."""
    m = _SUPPORTED.search(text)
    return _VERSION_TOKEN.findall(m.group(1)) if m else []


def axl_fallback_version(listed: list[str]) -> str | None:
    """The highest version in ``listed`` that certops's requests are checked against (``12.x`` matches 12.5)."""
    usable: list[str] = []
    for token in listed:
        major, _, minor = token.lower().partition(".")
        for known in AXL_CHECKED_VERSIONS:
            k_major, _, k_minor = known.partition(".")
            if k_major == major and (minor in ("x", k_minor) or (not minor and k_minor == "0")):
                usable.append(known)
    return max(usable, key=lambda v: tuple(int(p) for p in v.split("."))) if usable else None


class AxlClient(_SoapClient):
    """AXL on the publisher, versioned by the cluster's major.minor. Never resets enterprise parameters.

    The request's schema version is the cluster's (SOAPAction and namespace). A node that does
    not accept it answers HTTP 599 "Incorrect axl version. Supported axl versions are ..."; the
    client then falls back once to the highest listed version its requests are checked against,
    says so in one WARNING line naming the node and both versions, and uses that version for the
    node for the rest of the process.
    """

    path = AXL_PATH

    def __init__(self, *, version: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requested_version = soap_xml.axl_version(version)
        self.version = remembered_axl_version(self.fqdn) or self.requested_version

    def _axl(self, operation: str, build: Callable[[str], bytes]) -> bytes:
        """Send ``build(version)``; on HTTP 599 fall back to a version the node lists, once."""
        response = self._send_axl(operation, build)
        if response.status_code == 599:
            refused = self.version
            listed = supported_axl_versions(response.text)
            fallback = axl_fallback_version(listed)
            if fallback is None or fallback == refused:
                raise CucmApiError(
                    f"the node refused AXL version {refused} (HTTP 599 Incorrect axl version) and lists "
                    f"{', '.join(listed) or 'no versions'}; certops's AXL requests are checked against "
                    f"{', '.join(AXL_CHECKED_VERSIONS)}",
                    node=self.fqdn,
                    operation=operation,
                    status=599,
                    hint="check the cluster's version in the inventory against the publisher's `show version active`",
                )
            self.version = fallback
            response = self._send_axl(operation, build)
            if response.status_code == 599:
                raise CucmApiError(
                    f"the node refused AXL version {refused} and then {fallback}, a version it listed as "
                    f"supported ({', '.join(listed)})",
                    node=self.fqdn,
                    operation=operation,
                    status=599,
                    hint="check the AXL service on the publisher (Cisco AXL Web Service) and the cluster's version",
                )
            with _accepted_lock:
                first = _accepted_axl_versions.get(self.fqdn.lower()) != fallback
                _accepted_axl_versions[self.fqdn.lower()] = fallback
            if first:
                log.warning(
                    "AXL on %s: the node refused AXL version %s (HTTP 599, it accepts %s); "
                    "using AXL %s for this node from now on. Check the cluster version in the inventory.",
                    self.fqdn,
                    refused,
                    ", ".join(listed),
                    fallback,
                )
        return self._check(response, operation)

    def _send_axl(self, operation: str, build: Callable[[str], bytes]) -> httpx.Response:
        return self._send(
            build(self.version), soap_action=soap_xml.axl_soap_action(self.version, operation), operation=operation
        )

    def execute_sql_query(self, sql: str) -> list[dict[str, str]]:
        """``executeSQLQuery``: rows as dicts of column -> text."""
        xml = self._axl("executeSQLQuery", lambda v: soap_xml.execute_sql_query_request(v, sql))
        try:
            return soap_xml.parse_sql_rows(xml)
        except soap_xml.SoapParseError as exc:
            raise self._parse_error(exc, "executeSQLQuery") from exc

    def phone_interaction_on_certificate_update(self) -> str | None:
        """Enterprise parameter "Phone Interaction on Certificate Update": ``automatic``, ``manual`` or None.

        None: the cluster has no such parameter (before CUCM 14). A value certops does not know is
        returned as ``unknown (<value>)``.
        """
        for row in self.execute_sql_query(_PHONE_INTERACTION_SQL):
            value = row.get("paramvalue", "").strip()
            return PHONE_INTERACTION_VALUES.get(value, f"unknown ({value})")
        return None

    def sip_oauth_phones(self) -> list[str]:
        """The phones whose security profile enables SIP OAuth (``executeSQLQuery``), sorted."""
        return sorted(row["name"] for row in self.execute_sql_query(_SIP_OAUTH_PHONES_SQL) if row.get("name"))

    def cluster_security_mode(self) -> int:
        """ClusterSecurityMode from ``processconfig``: 0 non-secure, 1 mixed mode."""
        rows = self.execute_sql_query(_CLUSTER_SECURITY_MODE_SQL)
        for row in rows:
            value = row.get("paramvalue", "").strip()
            if value in ("0", "1"):
                return int(value)
        raise CucmApiError(
            f"ClusterSecurityMode not found or not 0/1 in {rows!r}",
            node=self.fqdn,
            operation="cluster_security_mode",
            hint="check System > Enterprise Parameters > Security Parameters on the publisher",
        )

    def sso_modes(self) -> dict[str, int]:
        """``processnode.tkssomode`` per node name (0 disabled, 1 agent flow, 2 SAML)."""
        out: dict[str, int] = {}
        for row in self.execute_sql_query(_SSO_MODES_SQL):
            value = row.get("tkssomode", "").strip()
            if value.lstrip("-").isdigit():
                out[row.get("name", "")] = int(value)
        return out

    def list_phones(self, *, page_size: int = 1000, max_pages: int = 1000) -> list[str]:
        """Names of every phone (``listPhone`` paged with skip/first)."""
        names: list[str] = []
        for page in range(max_pages):
            xml = self._axl(
                "listPhone", functools.partial(soap_xml.list_phone_request, skip=page * page_size, first=page_size)
            )
            try:
                batch = soap_xml.parse_list_phone_names(xml)
            except soap_xml.SoapParseError as exc:
                raise self._parse_error(exc, "listPhone") from exc
            names.extend(batch)
            if len(batch) < page_size:
                break
        return names

    def ccm_version(self) -> str:
        """``getCCMVersion``: the publisher's full version, e.g. ``15.0.1.11900-40``."""
        xml = self._axl("getCCMVersion", soap_xml.get_ccm_version_request)
        try:
            return soap_xml.parse_ccm_version(xml)
        except soap_xml.SoapParseError as exc:
            raise self._parse_error(exc, "getCCMVersion") from exc

    def reset_device(self, name: str) -> None:
        """``doDeviceReset`` with ``isHardReset`` true for one device (never ``doEnterpriseParametersReset``)."""
        self._axl("doDeviceReset", lambda v: soap_xml.do_device_reset_request(v, name, hard=True))
