"""SOAP services: Control Center Services, RisPort70 and AXL (cucm-interfaces.md §2-4).

Handlers take the raw request body (and SOAPAction) and return ``(status, xml_text)``. XML is
parsed with ElementTree by local name, so namespace prefixes do not matter, as with a real
Axis server.
"""

from __future__ import annotations

import base64
import functools
import re
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Collection
from pathlib import Path
from xml.sax.saxutils import escape

from simulator import cisco_schemas, shapes
from simulator.state import CLI_ONLY_SERVICES, SimulatedCluster, SimulatedNode, SimulatedPhone

AST_NS = "http://schemas.cisco.com/ast/soap"
CONTROL_CENTER_PATH = "/controlcenterservice2/services/ControlCenterServices"
RIS_PATH = "/realtimeservice2/services/RISService70"
AXL_PATH = "/axl/"

Reply = tuple[int, str]

RATE_TEXT = (
    "AxisFault: Exceeded allowed rate for Reatime information. "
    "Current allowed rate for realtime information is {n} requests per minute."
)


def envelope(body: str) -> str:
    """Wrap ``body`` in a SOAP 1.1 envelope."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )


def fault(code: str, text: str, detail: str = "", status: int = 500) -> Reply:
    """A SOAP fault answered with HTTP ``status``."""
    detail_xml = f"<detail>{detail}</detail>" if detail else ""
    return status, envelope(
        f"<soapenv:Fault><faultcode>{escape(code)}</faultcode><faultstring>{escape(text)}</faultstring>{detail_xml}</soapenv:Fault>"
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_body(raw: bytes) -> ET.Element | None:
    """The first child of the SOAP Body, or None when the XML is not a SOAP envelope."""
    try:
        root = ET.fromstring(raw)
    except ET.ParseError:
        return None
    for el in root.iter():
        if _local(el.tag) == "Body":
            children = list(el)
            return children[0] if children else None
    return None


def _find(el: ET.Element, name: str) -> ET.Element | None:
    for child in el.iter():
        if _local(child.tag) == name:
            return child
    return None


def _text(el: ET.Element, name: str, default: str = "") -> str:
    found = _find(el, name)
    return (found.text or "").strip() if found is not None and found.text is not None else default


def _items(el: ET.Element | None) -> list[str]:
    if el is None:
        return []
    return [(c.text or "").strip() for c in el if _local(c.tag) == "item" and (c.text or "").strip()]


# ---------------------------------------------------------------------------------------------
# WSDL at <endpoint>?wsdl
# ---------------------------------------------------------------------------------------------

# Endpoint path -> Cisco WSDL file (simulator.cisco_schemas). Another SOAP service adds its line.
WSDL_FILES: dict[str, Callable[[], Path]] = {
    CONTROL_CENTER_PATH: lambda: cisco_schemas.serviceability_wsdl("ControlCenterServices"),
    RIS_PATH: lambda: cisco_schemas.serviceability_wsdl("RISService70"),
}

_ADDRESS = re.compile(r'(<(?:[\w.-]+:)?address\s+location=")[^"]*(")')


def wsdl(node: SimulatedNode, path: str, port: int) -> Reply | None:
    """Cisco's WSDL of the service at ``path``, as a real node serves it at ``<endpoint>?wsdl``.

    The file is Cisco's own (``.cisco-schemas/``), with ``soap:address``/``wsdlsoap:address`` set
    to this node's address ``https://<fqdn>:<port><path>``. None when ``path`` has no WSDL here;
    a missing schema file answers HTTP 500 naming the file and how to fetch it.
    """
    locate = WSDL_FILES.get(path.rstrip("/"))
    if locate is None:
        return None
    try:
        text = locate().read_text(encoding="utf-8")
    except (cisco_schemas.SchemaMissing, OSError) as exc:
        return 500, str(exc)
    address = f"https://{node.fqdn}:{port}{path.rstrip('/')}"
    return 200, _ADDRESS.sub(lambda m: m.group(1) + escape(address) + m.group(2), text)


# ---------------------------------------------------------------------------------------------
# Control Center Services
# ---------------------------------------------------------------------------------------------


# Response children are in the ast/soap namespace (the WSDL's elementFormDefault="qualified"):
# every Control Center and RisPort70 response element carries the ``ns:`` prefix declared on the
# operation element.
_NIL = ' xsi:nil="true"'

# Axis 1.x's answer to child elements inside an element its WSDL types as a plain string.
AXIS_CHILD_ELEMENT = (
    "org.xml.sax.SAXException: SimpleDeserializer encountered a child element, which is NOT expected, "
    "in something it was trying to deserialize."
)


def _service_items(node: SimulatedNode, names: list[str]) -> str:
    now = time.time()
    out = []
    for name in names:
        svc = node.services[name]
        status = svc.current_status(now)
        reason = svc.current_reason()
        start = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(svc.started_at)) if status == "Started" else ""
        uptime = int(now - svc.started_at) if status == "Started" else -1
        code = -1 if not reason else -1068 if reason == "Service Not Activated" else -1019
        out.append(
            f"<ns:item><ns:ServiceName>{escape(name)}</ns:ServiceName><ns:ServiceStatus>{status}</ns:ServiceStatus>"
            f"<ns:ReasonCode>{code}</ns:ReasonCode>"
            f"<ns:ReasonCodeString>{escape(reason) or ' '}</ns:ReasonCodeString>"
            f"<ns:StartTime>{start}</ns:StartTime><ns:UpTime>{uptime}</ns:UpTime></ns:item>"
        )
    return "".join(out)


def _unlisted(node: SimulatedNode) -> frozenset[str]:
    """The services Control Center leaves out: CLI-only ones, or (a twin) those its captured node left out."""
    return shapes.of(node.cluster).cc_hidden.get(node.fqdn, CLI_ONLY_SERVICES)


def _listed_services(node: SimulatedNode) -> list[str]:
    hidden = _unlisted(node)
    return [n for n in node.services if n not in hidden]


def _requested_services(op_el: ET.Element) -> list[str] | None:
    """Names in ``soapGetServiceStatus``: one plain-string ``ServiceStatus`` per service.

    An empty ``ServiceStatus`` (or only empty ones) asks for every service. None when a
    ``ServiceStatus`` holds child elements (the old ``<item>`` form), which the WSDL's
    ``xsd:string`` does not allow: Axis refuses it.
    """
    names = []
    for el in op_el:
        if _local(el.tag) != "ServiceStatus":
            continue
        if len(el):
            return None
        if (el.text or "").strip():
            names.append((el.text or "").strip())
    return names


# Control Center group of each service (Serviceability > Control Center) [INF: names as the GUI
# shows them; the WSDL only says GroupName is a string].
_GROUPS = {
    "Cisco CallManager": "CM Services",
    "Cisco CTIManager": "CM Services",
    "Cisco Tftp": "CM Services",
    "Cisco Extension Mobility": "CM Services",
    "Cisco Dialed Number Analyzer": "CM Services",
    "Cisco Location Bandwidth Manager": "CM Services",
    "Cisco Intercluster Lookup Service": "CM Services",
    "Cisco IP Voice Media Streaming App": "CM Services",
    "Cisco Messaging Interface": "CM Services",
    "Cisco DHCP Monitor Service": "CM Services",
    "Cisco CAR Scheduler": "CDR Services",
    "Cisco SOAP - CDRonDemand Service": "CDR Services",
    "Cisco CDR Agent": "CDR Services",
    "Cisco AXL Web Service": "Database and Admin Services",
    "Cisco Bulk Provisioning Service": "Database and Admin Services",
    "Cisco Database Layer Monitor": "Database and Admin Services",
    "Cisco Serviceability Reporter": "Performance and Monitoring Services",
    "Cisco RIS Data Collector": "Performance and Monitoring Services",
    "Cisco CallManager Serviceability": "Performance and Monitoring Services",
    "Cisco Log Partition Monitoring Tool": "Performance and Monitoring Services",
    "Cisco DirSync": "Directory Services",
    "Cisco DRF Master": "Backup and Restore Services",
    "Cisco DRF Local": "Backup and Restore Services",
    "Cisco Certificate Authority Proxy Function": "Security Services",
    "Cisco Trust Verification Service": "Security Services",
    "Cisco Certificate Change Notification": "Security Services",
    "Cisco Certificate Expiry Monitor": "Security Services",
    "Cisco Audit Event Service": "Security Services",
    "Cisco SIP Proxy": "IM and Presence Services",
    "Cisco Presence Engine": "IM and Presence Services",
    "Cisco XCP Router": "IM and Presence Services",
    "Cisco XCP Connection Manager": "IM and Presence Services",
}


def _group(name: str) -> str:
    return _GROUPS.get(name, "Platform Services")


def _deployable(name: str) -> str:
    # Every listed service can be controlled here but Cisco Tomcat, which hosts this API [INF].
    return "false" if name == "Cisco Tomcat" else "true"


def _product(node: SimulatedNode) -> tuple[str, str, str, str]:
    """(ProductName, ProductDescription, ProductID, ShortName) of the node's product [INF]."""
    if node.role == "imp":
        name = "Cisco Unified Communications Manager IM and Presence Service"
        return name, name, "IMandPresence", "CUP"
    name = "Cisco Unified Communications Manager"
    return name, name, "CallManager", "CM"


def _static_service_items(node: SimulatedNode, *, product_id: bool) -> str:
    pid = f"<ns:ProductID>{_product(node)[2]}</ns:ProductID>" if product_id else ""
    return "".join(
        f"<ns:item><ns:ServiceName>{escape(n)}</ns:ServiceName><ns:ServiceType>Service</ns:ServiceType>"
        f"<ns:Deployable>{_deployable(n)}</ns:Deployable><ns:GroupName>{escape(_group(n))}</ns:GroupName>"
        f"{pid}<ns:DependentServices/></ns:item>"
        for n in _listed_services(node)
    )


def _product_information(node: SimulatedNode) -> str:
    name, description, pid, short = _product(node)
    return (
        f'<ns:getProductInformationListResponse xmlns:ns="{AST_NS}"><ns:getProductInformationListReturn>'
        f"<ns:ActiveServerVersion>{node.cluster.full_version}</ns:ActiveServerVersion>"
        f"<ns:PrimaryNode>{escape(node.cluster.publisher.fqdn)}</ns:PrimaryNode>"
        f"<ns:SecondaryNode{_NIL}/>"
        f"<ns:Products><ns:item><ns:ProductName>{name}</ns:ProductName>"
        f"<ns:ProductVersion>{node.cluster.full_version}</ns:ProductVersion>"
        f"<ns:ProductDescription>{description}</ns:ProductDescription><ns:ProductID>{pid}</ns:ProductID>"
        f"<ns:ShortName>{short}</ns:ShortName></ns:item></ns:Products>"
        f"<ns:Services>{_static_service_items(node, product_id=True)}</ns:Services>"
        "</ns:getProductInformationListReturn></ns:getProductInformationListResponse>"
    )


def control_center(node: SimulatedNode, raw: bytes, action: str) -> Reply:
    """Dispatch a Control Center Services request (SOAPAction = bare operation name)."""
    op_el = parse_body(raw)
    if op_el is None:
        return fault("soapenv:Client", "The request is not a SOAP envelope")
    op = _local(op_el.tag)
    if action and action != op:
        return fault("soapenv:Client", f"SOAPAction {action!r} does not match the operation {op!r}")
    if op == "soapGetServiceStatus":
        requested = _requested_services(op_el)
        if requested is None:
            return fault("soapenv:Server.userException", AXIS_CHILD_ELEMENT)
        wanted = requested or _listed_services(node)
        hidden = _unlisted(node)
        unknown = [w for w in wanted if w not in node.services or w in hidden]
        if unknown:
            return fault("soapenv:Server", f"Service not found: {unknown[0]}")
        with node.runtime.lock:
            items = _service_items(node, wanted)
        return 200, envelope(
            f'<ns:soapGetServiceStatusResponse xmlns:ns="{AST_NS}"><ns:soapGetServiceStatusReturn>'
            "<ns:ReturnCode>0</ns:ReturnCode><ns:ReasonCode>-1</ns:ReasonCode><ns:ReasonString/>"
            f"<ns:ServiceInfoList>{items}</ns:ServiceInfoList>"
            "</ns:soapGetServiceStatusReturn></ns:soapGetServiceStatusResponse>"
        )
    if op == "soapGetStaticServiceList":
        return 200, envelope(
            f'<ns:soapGetStaticServiceListResponse xmlns:ns="{AST_NS}"><ns:soapGetStaticServiceListReturn>'
            f"<ns:Services>{_static_service_items(node, product_id=False)}</ns:Services>"
            "</ns:soapGetStaticServiceListReturn></ns:soapGetStaticServiceListResponse>"
        )
    if op == "soapDoControlServices":
        return _control(node, op_el)
    if op == "getProductInformationList":
        return 200, envelope(_product_information(node))
    return fault("soapenv:Client", f"No such operation '{op}'")


def _control(node: SimulatedNode, op_el: ET.Element) -> Reply:
    node_name = _text(op_el, "NodeName")
    control = _text(op_el, "ControlType")
    services = _items(_find(op_el, "ServiceList"))
    if node_name.lower() != node.fqdn.lower():
        return fault(
            "soapenv:Server",
            f"NodeName {node_name!r} is not this node ({node.fqdn}): Control Center works only on the local node",
        )
    if control not in ("Start", "Stop", "Restart"):
        return fault("soapenv:Client", f"Invalid ControlType {control!r}: use Start, Stop or Restart")
    if not services:
        return fault("soapenv:Client", "ServiceList is empty")
    for name in services:
        if name == "Cisco Tomcat":
            return fault(
                "soapenv:Server",
                "Cisco Tomcat cannot be controlled through Control Center Services (the API runs inside it); "
                "use the CLI: utils service restart Cisco Tomcat",
            )
        if name not in node.services or name in CLI_ONLY_SERVICES:
            return fault("soapenv:Server", f"Service not found: {name}")
        if not node.services[name].activated:
            return fault("soapenv:Server", f"Service Not Activated: {name} cannot be controlled on {node.fqdn}")
    lost = sorted(set(services) & node.faults.restart_lost) if control == "Restart" else []
    if lost:
        with node.runtime.lock:
            node.faults.restart_lost.difference_update(lost)
            node._event("restart_request_lost", detail={"services": lost})
        return 503, "Service Temporarily Unavailable (simulated fault: the restart request was lost)"
    for name in services:
        if control == "Restart":
            seconds, token = node.begin_restart(name, via="soap")
            node.runtime.call_later(seconds, _finisher(node, name, token))
        else:
            node.start_stop(name, control)
    with node.runtime.lock:
        items = _service_items(node, services)
    return 200, envelope(
        f'<ns:soapDoControlServicesResponse xmlns:ns="{AST_NS}"><ns:soapDoControlServicesReturn>'
        "<ns:ReturnCode>0</ns:ReturnCode><ns:ReasonCode>-1</ns:ReasonCode><ns:ReasonString/>"
        f"<ns:ServiceInfoList>{items}</ns:ServiceInfoList>"
        "</ns:soapDoControlServicesReturn></ns:soapDoControlServicesResponse>"
    )


def _finisher(node: SimulatedNode, service: str, token: int) -> Callable[[], None]:
    def finish() -> None:
        node.finish_restart(service, token)

    return finish


# ---------------------------------------------------------------------------------------------
# RisPort70
# ---------------------------------------------------------------------------------------------


def _ris_entries(cluster: SimulatedCluster) -> list[tuple[str, SimulatedPhone, str, int]]:
    """(node, phone, status, timestamp) per RIS record, sorted by device name then node."""
    out = []
    for p in cluster.phones:
        out.append((p.node, p, p.status, p.timestamp))
        for stale_node, ts in p.stale:
            out.append((stale_node, p, "UnRegistered", ts))
    out.sort(key=lambda e: (e[1].name, e[0]))
    return out


def _matches(pattern: str, value: str) -> bool:
    rx = "^" + re.escape(pattern).replace(r"\*", ".*") + "$"
    return re.match(rx, value, re.IGNORECASE) is not None


def ris(node: SimulatedNode, raw: bytes, action: str) -> Reply:
    """``selectCmDevice`` with StateInfo paging and the cluster-wide rate limit."""
    cluster = node.cluster
    op_el = parse_body(raw)
    if op_el is None:
        return fault("soapenv:Client", "The request is not a SOAP envelope")
    op = _local(op_el.tag)
    if op not in ("selectCmDevice", "selectCmDeviceExt"):
        return fault("soapenv:Client", f"No such operation '{op}'")
    if not cluster.ris_allow():
        node._event("ris_rate_limited", detail={"limit": node.runtime.options.ris_rate_limit})
        return fault("soapenv:Server.RateControl", RATE_TEXT.format(n=node.runtime.options.ris_rate_limit))
    node._event("ris_request", detail={"operation": op})
    crit = _find(op_el, "CmSelectionCriteria")
    if crit is None:
        return fault("soapenv:Client", "CmSelectionCriteria is required")
    try:
        max_devices = int(_text(crit, "MaxReturnedDevices", "1000") or "1000")
    except ValueError:
        return fault("soapenv:Client", "MaxReturnedDevices must be a number")
    max_devices = max(1, min(1000, max_devices))
    device_class = _text(crit, "DeviceClass", "Any") or "Any"
    status_want = _text(crit, "Status", "Any") or "Any"
    node_filter = _text(crit, "NodeName", "")
    items_el = _find(crit, "SelectItems")
    patterns = []
    if items_el is not None:
        patterns = [(_text(i, "Item") or "*") for i in items_el if _local(i.tag) == "item"]
    patterns = patterns or ["*"]
    if op == "selectCmDeviceExt" and any("*" in p for p in patterns):
        return fault("soapenv:Client", "selectCmDeviceExt does not accept wildcards")
    state_info = _text(op_el, "StateInfo", "")
    last_state = shapes.of(cluster).ris_last_state  # a twin: the captured node's StateInfo after its last page
    offset = 0
    if state_info and state_info == last_state:
        offset = -1  # past the last page
    elif state_info:
        try:
            offset = int(base64.b64decode(state_info).decode().split(":")[1])
        except (ValueError, IndexError):
            return fault("soapenv:Client", "Invalid StateInfo")
    with node.runtime.lock:
        entries = [
            e
            for e in _ris_entries(cluster)
            if device_class in ("Any", "Phone")
            and (status_want == "Any" or e[2] == status_want)
            and (not node_filter or e[0].lower() == node_filter.lower())
            and any(_matches(p, e[1].name) for p in patterns)
        ]
        if op == "selectCmDeviceExt":
            latest: dict[str, tuple[str, SimulatedPhone, str, int]] = {}
            for e in entries:
                if e[1].name not in latest or e[3] > latest[e[1].name][3]:
                    latest[e[1].name] = e
            entries = sorted(latest.values(), key=lambda e: e[1].name)
        offset = len(entries) if offset < 0 else offset
        page = entries[offset : offset + max_devices]
        rendered = _render_nodes(cluster, page)
    next_offset = offset + len(page)
    next_state = base64.b64encode(f"sim:{next_offset}".encode()).decode() if next_offset < len(entries) else ""
    if not next_state and last_state:
        next_state = last_state
    # selectCmDeviceExt has the same output message as selectCmDevice (Cisco's RISService70 WSDL).
    return 200, envelope(
        f'<ns1:selectCmDeviceResponse xmlns:ns1="{AST_NS}"><ns1:selectCmDeviceReturn>'
        f"<ns1:SelectCmDeviceResult><ns1:TotalDevicesFound>{len(entries)}</ns1:TotalDevicesFound>"
        f"<ns1:CmNodes>{rendered}</ns1:CmNodes></ns1:SelectCmDeviceResult>"
        f"<ns1:StateInfo>{escape(next_state)}</ns1:StateInfo>"
        "</ns1:selectCmDeviceReturn></ns1:selectCmDeviceResponse>"
    )


# A phone is no H.323 trunk: every H323Trunk field is present (the sequence requires it) and nil.
_H323_NIL = "".join(
    f'<ns1:{f} xsi:nil="true"/>'
    for f in (
        "ConfigName",
        "TechPrefix",
        "Zone",
        "RemoteCmServer1",
        "RemoteCmServer2",
        "RemoteCmServer3",
        "AltGkList",
        "ActiveGk",
        "CallSignalAddr",
        "RasAddr",
    )
)


def _cm_device(p: SimulatedPhone, status: str, ts: int) -> str:
    """One ``CmDevice`` in the WSDL's sequence order, every element present (nil where unknown)."""
    line = "Registered" if status == "Registered" else "UnRegistered"
    return (
        "<ns1:item>"
        f"<ns1:Name>{escape(p.name)}</ns1:Name><ns1:DirNumber>{escape(p.dn)}-{status}</ns1:DirNumber>"
        # Model and Product are type codes (xsd:unsignedInt); Product = the model's code [INF].
        f"<ns1:DeviceClass>Phone</ns1:DeviceClass><ns1:Model>{p.model}</ns1:Model><ns1:Product>{p.model}</ns1:Product>"
        "<ns1:BoxProduct>0</ns1:BoxProduct><ns1:Httpd>Yes</ns1:Httpd>"
        "<ns1:RegistrationAttempts>0</ns1:RegistrationAttempts><ns1:IsCtiControllable>true</ns1:IsCtiControllable>"
        '<ns1:LoginUserId xsi:nil="true"/>'
        f"<ns1:Status>{status}</ns1:Status><ns1:StatusReason>0</ns1:StatusReason>"
        "<ns1:PerfMonObject>2</ns1:PerfMonObject><ns1:DChannel>0</ns1:DChannel>"
        f"<ns1:Description>{escape(p.name)} {escape(p.dn)}</ns1:Description>"
        f"<ns1:H323Trunk>{_H323_NIL}</ns1:H323Trunk>"
        f"<ns1:TimeStamp>{ts}</ns1:TimeStamp><ns1:Protocol>SIP</ns1:Protocol>"
        "<ns1:NumOfLines>1</ns1:NumOfLines>"
        f"<ns1:LinesStatus><ns1:item><ns1:DirectoryNumber>{escape(p.dn)}</ns1:DirectoryNumber>"
        f"<ns1:Status>{line}</ns1:Status></ns1:item></ns1:LinesStatus>"
        "<ns1:ActiveLoadID>sip88xx.14-2-1-0101-14</ns1:ActiveLoadID>"
        "<ns1:InactiveLoadID>sip88xx.14-1-1-0001-136</ns1:InactiveLoadID>"
        '<ns1:DownloadStatus>Unknown</ns1:DownloadStatus><ns1:DownloadFailureReason xsi:nil="true"/>'
        '<ns1:DownloadServer xsi:nil="true"/>'
        f"<ns1:IPAddress><ns1:item><ns1:IP>{p.ip}</ns1:IP><ns1:IPAddrType>ipv4</ns1:IPAddrType>"
        "<ns1:Attribute>Unknown</ns1:Attribute></ns1:item></ns1:IPAddress>"
        "</ns1:item>"
    )


def _render_nodes(cluster: SimulatedCluster, page: list[tuple[str, SimulatedPhone, str, int]]) -> str:
    by_node: dict[str, list[str]] = {}
    for node_name, p, status, ts in page:
        by_node.setdefault(node_name, []).append(_cm_device(p, status, ts))
    out = []
    for n in cluster.nodes:
        if n.fqdn in by_node:
            out.append(
                f"<ns1:item><ns1:ReturnCode>Ok</ns1:ReturnCode><ns1:Name>{n.fqdn}</ns1:Name><ns1:NoChange>false</ns1:NoChange>"
                f"<ns1:CmDevices>{''.join(by_node[n.fqdn])}</ns1:CmDevices></ns1:item>"
            )
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# AXL
# ---------------------------------------------------------------------------------------------

_ACTION = re.compile(r'^"?CUCM:DB(?: ver=(?P<ver>\d+\.\d+))?(?: (?P<op>\w+))?"?$')
_AXL_NS = re.compile(r"^\{http://www\.cisco\.com/AXL/API/(?P<ver>[\d.]+)\}")

# The AXL schemas of each CUCM major release (developer.cisco.com, AXL versioning: "New AXL
# schemas will be added in each Unified CM major and minor release"; there is no release 13).
AXL_SCHEMAS_BY_MAJOR: dict[int, tuple[str, ...]] = {
    9: ("9.0", "9.1"),
    10: ("10.0", "10.5"),
    11: ("11.0", "11.5"),
    12: ("12.0", "12.5"),
    14: ("14.0",),
    15: ("15.0",),
}


def _vkey(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


def axl_supported_versions(cluster_version: str) -> list[str]:
    """The AXL schema versions a node of ``cluster_version`` accepts, oldest first.

    Cisco: "AXL schemas will be available for two major Unified CM release cycles" — its own
    release's schemas up to its own, and every schema of the two previous major releases
    (CUCM 11.0: 9.x, 10.x, 11.0; CUCM 15: 12.x, 14.0, 15.0 as a field client saw it).
    """
    own = _vkey(cluster_version)
    majors = sorted(m for m in AXL_SCHEMAS_BY_MAJOR if m < own[0])[-2:]
    out = [v for m in majors for v in AXL_SCHEMAS_BY_MAJOR[m]]
    out += [v for v in AXL_SCHEMAS_BY_MAJOR.get(own[0], ()) if _vkey(v) <= own]
    if cluster_version not in out:
        out.append(cluster_version)
    return sorted(out, key=_vkey)


def axl_supported_text(cluster_version: str) -> str:
    """``"12.x, 14.0 and 15.0"``: a previous major with several schemas as ``N.x``, the rest by name."""
    own_major = _vkey(cluster_version)[0]
    parts: list[str] = []
    for version in axl_supported_versions(cluster_version):
        major = _vkey(version)[0]
        if major != own_major and len(AXL_SCHEMAS_BY_MAJOR.get(major, ())) > 1:
            if f"{major}.x" not in parts:
                parts.append(f"{major}.x")
        else:
            parts.append(version)
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def incorrect_axl_version(cluster_version: str) -> Reply:
    """HTTP 599 with Tomcat's HTML error page: "Incorrect axl version. Supported axl versions are ..."."""
    message = f"Incorrect axl version. Supported axl versions are {axl_supported_text(cluster_version)}"
    return 599, (
        '<!doctype html><html lang="en"><head><title>HTTP Status 599 - '
        f"{escape(message)}</title></head><body><h1>HTTP Status 599 - {escape(message)}</h1>"
        f"<hr/><p><b>Type</b> Status Report</p><p><b>Message</b> {escape(message)}</p>"
        "<hr/><h3>Cisco Systems, Inc.</h3></body></html>"
    )


def axl_fault(text: str, code: int = 5000, status: int = 500, request: str = "?", faultcode: str = "Server") -> Reply:
    """An AXL fault: ``detail/axlError{axlcode, axlmessage, request}`` (``request`` = the operation).

    ``axlError`` is unqualified, as real nodes send it (Cisco's WSDL declares the element in the
    AXL namespace; the schema's ``AXLError`` type is followed either way).
    """
    return fault(
        f"soapenv:{faultcode}",
        text,
        f"<axlError><axlcode>{code}</axlcode><axlmessage>{escape(text)}</axlmessage>"
        f"<request>{escape(request)}</request></axlError>",
        status,
    )


def axl(node: SimulatedNode, raw: bytes, action: str) -> Reply:
    """Dispatch an AXL request on the publisher: version checks, then the operation.

    The schema version comes from SOAPAction (``"CUCM:DB ver=14.0 <op>"``); without one the
    oldest supported schema is used. A version the node does not accept gets HTTP 599; the body
    element's namespace must name the same version.
    """
    cluster = node.cluster
    supported = axl_supported_versions(cluster.version)
    m = _ACTION.match(action.strip()) if action.strip() else _ACTION.match("CUCM:DB")
    if not m:
        return axl_fault(f'SOAPAction must be "CUCM:DB ver=<version> <operation>", got {action!r}', code=5003)
    version = m.group("ver") or supported[0]
    if version not in supported:
        return incorrect_axl_version(cluster.version)
    op_el = parse_body(raw)
    if op_el is None:
        return axl_fault("The request is not a SOAP envelope", faultcode="Client")
    op = _local(op_el.tag)
    ns = _AXL_NS.match(op_el.tag)
    if ns is None or ns.group("ver") != version:
        got = ns.group("ver") if ns is not None else "no AXL namespace"
        return axl_fault(
            f"SOAPAction {action.strip()!r} does not match request {op} ver={got}: "
            f"the body must be in namespace http://www.cisco.com/AXL/API/{version}",
            code=5003,
            request=op,
        )
    if m.group("op") and m.group("op") != op:
        return axl_fault(f"SOAPAction operation {m.group('op')} does not match {op}", code=5003, request=op)
    resp_ns = f"http://www.cisco.com/AXL/API/{version}"
    if op == "executeSQLQuery":
        sql = _text(op_el, "sql")
        try:
            cols, rows = run_sql(cluster, sql)
        except ValueError as exc:
            return axl_fault(str(exc), code=-201, request=op, faultcode="Client")
        body = "".join(
            "<row>" + "".join(f"<{c}>{escape(str(v))}</{c}>" for c, v in zip(cols, r, strict=True)) + "</row>"
            for r in rows
        )
        return 200, envelope(
            f'<ns:executeSQLQueryResponse xmlns:ns="{resp_ns}"><return>{body}</return></ns:executeSQLQueryResponse>'
        )
    if op in ("doDeviceReset", "resetPhone", "restartPhone", "applyPhone"):
        name = _text(op_el, "deviceName") if op == "doDeviceReset" else _text(op_el, "name")
        phone = cluster.phone(name) if name else None
        if phone is None:
            return axl_fault(f"Item not valid: The specified Device {name!r} was not found", code=5007, request=op)
        kind = "Reset"
        if op == "doDeviceReset":
            hard = _text(op_el, "isHardReset", "").lower() in ("true", "t", "1")
            kind = _text(op_el, "deviceResetType") or ("Reset" if hard else "Restart")
        elif op == "restartPhone":
            kind = "Restart"
        elif op == "applyPhone":
            kind = "Apply Configuration"
        cluster.reset_phone(phone, kind)
        return 200, envelope(
            f'<ns:{op}Response xmlns:ns="{resp_ns}"><return>{_axl_uuid(phone.name)}</return></ns:{op}Response>'
        )
    if op in ("resetDevicePool", "restartDevicePool"):
        pool = _text(op_el, "name")
        if pool != "Default":
            return axl_fault(f"Item not valid: The specified Device Pool {pool!r} was not found", code=5007, request=op)
        for phone in list(cluster.phones):
            cluster.reset_phone(phone, "Reset" if op == "resetDevicePool" else "Restart")
        return 200, envelope(f'<ns:{op}Response xmlns:ns="{resp_ns}"><return>true</return></ns:{op}Response>')
    if op == "doEnterpriseParametersReset":
        # "This will set Enterprise Parameters to default value": not a phone reset. Recorded so
        # tests can prove a client never calls it.
        cluster.runtime.events.add(cluster.name, node.fqdn, "enterprise_parameters_set_to_default")
        return 200, envelope(f'<ns:{op}Response xmlns:ns="{resp_ns}"><return>true</return></ns:{op}Response>')
    if op == "listPhone":
        return _list_phone(cluster, op_el, resp_ns)
    if op == "getCCMVersion":
        # GetCCMVersionRes: return/componentVersion/version (String50); processNodeName is ignored,
        # every node of a simulated cluster runs the same version.
        return 200, envelope(
            f'<ns:getCCMVersionResponse xmlns:ns="{resp_ns}"><return><componentVersion>'
            f"<version>{escape(cluster.full_version)}</version>"
            "</componentVersion></return></ns:getCCMVersionResponse>"
        )
    return axl_fault(f"Operation {op} is not supported by the simulator", code=5000, request=op)


def _axl_uuid(name: str) -> str:
    """A stable AXL UUID for a device name: ``{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`` (upper case)."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_DNS, name)).upper() + "}"


# The returned tags the simulator models, in the order of the schema's ``LPhone`` sequence
# (AXLSoap.xsd 12.5, 14.0 and 15.0 agree on it). Other requested tags are left out: every LPhone
# element is optional.
_LPHONE_TAGS: tuple[tuple[str, Callable[[SimulatedPhone], str]], ...] = (
    ("name", lambda p: p.name),
    ("description", lambda p: f"{p.name} {p.dn}"),
    ("product", lambda p: p.product),
    ("model", lambda p: p.product),
    ("class", lambda p: "Phone"),
    ("protocol", lambda p: "SIP"),
    ("protocolSide", lambda p: "User"),
    ("devicePoolName", lambda p: "Default"),
    ("securityProfileName", lambda p: "Universal Device Template - Model-independent Security Profile"),
)


def _list_phone(cluster: SimulatedCluster, op_el: ET.Element, resp_ns: str) -> Reply:
    crit = _find(op_el, "searchCriteria")
    pattern = _text(crit, "name", "%") if crit is not None else "%"
    rx = "^" + re.escape(pattern).replace("%", ".*") + "$"
    tags_el = _find(op_el, "returnedTags")
    wanted = {_local(t.tag) for t in tags_el} if tags_el is not None else {"name", "model", "protocol"}
    if tags_el is not None and not wanted:  # an empty <returnedTags/>: every tag
        wanted = {t for t, _ in _LPHONE_TAGS}
    try:
        skip = int(_text(op_el, "skip", "0") or 0)
        first_text = _text(op_el, "first", "")
        first = int(first_text) if first_text else None
    except ValueError:
        return axl_fault("skip and first must be unsigned numbers", code=5003, request="listPhone", faultcode="Client")
    with cluster.runtime.lock:
        phones = [p for p in cluster.phones if re.match(rx, p.name, re.IGNORECASE)]
    phones = phones[skip:]
    if first is not None:
        phones = phones[:first]
    out = []
    for p in phones:
        fields = "".join(f"<{t}>{escape(value(p))}</{t}>" for t, value in _LPHONE_TAGS if t in wanted)
        out.append(f'<phone uuid="{_axl_uuid(p.name)}">{fields}</phone>')
    return 200, envelope(
        f'<ns:listPhoneResponse xmlns:ns="{resp_ns}"><return>{"".join(out)}</return></ns:listPhoneResponse>'
    )


@functools.lru_cache(maxsize=8)
def _axl_file_text(version: str, name: str) -> str:
    return cisco_schemas.axl_file(version, name).read_text(encoding="utf-8")


AXL_DOCUMENT_PATHS = {f"{AXL_PATH}AXLSoap.xsd": "AXLSoap.xsd", f"{AXL_PATH}AXLEnums.xsd": "AXLEnums.xsd"}


def axl_get(node: SimulatedNode, path: str, query: Collection[str], port: int) -> tuple[int, str, str] | None:
    """A GET on AXL: ``(status, content type, text)``, or None when it asks for no document.

    ``/axl/?wsdl`` is Cisco's ``AXLAPI.wsdl`` of the node's version with this node's own address
    ``https://<fqdn>:<port>/axl/`` in ``soap:address``; ``/axl/AXLSoap.xsd`` (and
    ``AXLEnums.xsd``) the schema it imports by the relative location ``AXLSoap.xsd``, so a WSDL
    reader given the ``?wsdl`` URL finds it. A missing schema file answers HTTP 500 naming it.
    """
    if path.rstrip("/") == AXL_PATH.rstrip("/") and "wsdl" in {q.lower() for q in query}:
        name = "AXLAPI.wsdl"
    elif path in AXL_DOCUMENT_PATHS:
        name = AXL_DOCUMENT_PATHS[path]
    else:
        return None
    try:
        text = _axl_file_text(node.cluster.version, name)
    except (cisco_schemas.SchemaMissing, OSError) as exc:
        return 500, "text/plain", str(exc)
    if name == "AXLAPI.wsdl":
        text = text.replace("https://CCMSERVERNAME:8443/axl/", f"https://{node.fqdn}:{port}{AXL_PATH}")
    return 200, "text/xml", text


# ---------------------------------------------------------------------------------------------
# SQL (AXL executeSQLQuery and CLI run sql)
# ---------------------------------------------------------------------------------------------

_SELECT = re.compile(
    r"^\s*select\s+(?P<cols>.+?)\s+from\s+(?P<table>\w+)(?:\s+(?:as\s+)?\w+)?(?P<rest>.*)$", re.IGNORECASE | re.DOTALL
)


def run_sql(cluster: SimulatedCluster, sql: str) -> tuple[list[str], list[list[str]]]:
    """Answer the queries certops needs: ClusterSecurityMode, SSO mode per node, the device table.

    Raises ``ValueError`` (Informix-style text) for anything else.
    """
    m = _SELECT.match(sql.strip().rstrip(";"))
    if not m:
        raise ValueError("A syntax error has occurred.")
    cols = [c.strip().split(".")[-1].split()[-1].lower() for c in m.group("cols").split(",")]
    table = m.group("table").lower()
    rest = m.group("rest").lower()
    captured = shapes.of(cluster)  # a twin: the rows its captured node answered
    if table == "processconfig":
        if "phoneinteractiononcertificateupdate" in rest:  # CUCM 14+ only; values [INF] (docs/simulator.md)
            if cluster.version_tuple < (14, 0) or not captured.phone_interaction_row:
                return cols, []
            value = {"automatic": "0", "manual": "1"}[cluster.phone_interaction]
            row = {"paramname": "PhoneInteractionOnCertificateUpdate", "paramvalue": value}
            return cols, [[row.get(c, "") for c in cols]]
        if "clustersecuritymode" not in rest:
            raise ValueError("The simulator answers only the ClusterSecurityMode query on processconfig")
        row = {"paramname": "ClusterSecurityMode", "paramvalue": "1" if cluster.mixed_mode else "0"}
        return cols, [[row.get(c, "") for c in cols]]
    if table == "processnode":
        rows = [{"name": "EnterpriseWideData", "tkssomode": "0", "nodeid": "1"}]
        if captured.processnode_rows is not None:
            rows = [dict(r) for r in captured.processnode_rows]
        for i, n in enumerate(cluster.nodes):
            rows.append({"name": n.fqdn, "tkssomode": "2" if cluster.sso_enabled else "0", "nodeid": str(i + 2)})
        return cols, [[r.get(c, "") for c in cols] for r in rows]
    if table == "device":
        rows = []
        for i, p in enumerate(cluster.phones):
            rows.append(
                {
                    "name": p.name,
                    "pkid": str(uuid.uuid5(uuid.NAMESPACE_DNS, p.name)),
                    "description": f"{p.name} {p.dn}",
                    "tkclass": "1",
                    "tkmodel": p.model,
                    "tkdeviceprotocol": "11",
                    "tkdevicesecuritymode": "1" if i % 5 else "3",
                }
            )
        if "tkclass" in rest and not re.search(r"tkclass\s*=\s*1\b", rest):
            rows = []
        if "securityprofile" in rest and "enableoauthauthentication" in rest:
            # The phones whose SIP phone security profile enables OAuth: AXL names the profile field
            # EnableOAuthAuthentication (AXLSoap.xsd XPhoneSecurityProfile); the column name and its
            # 't' value are [INF] (docs/simulator.md)
            oauth = {p.name for p in cluster.phones if p.sip_oauth}
            rows = [r for r in rows if r["name"] in oauth]
        return cols, [[r.get(c, "") for c in cols] for r in rows]
    raise ValueError(f"The simulator does not model table {table!r}")
