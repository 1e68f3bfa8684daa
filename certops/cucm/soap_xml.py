"""SOAP envelopes and response parsers for Control Center Services, RisPort70 and AXL.

Pure functions over ``xml.etree`` (cucm-interfaces.md §2–§4). Builders return ``bytes``;
parsers find elements by *local* name, so they accept any namespace prefix a server uses.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field

from certops.models import ServiceState, ServiceStatus

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
AST_NS = "http://schemas.cisco.com/ast/soap"


def axl_namespace(version: str) -> str:
    """``http://www.cisco.com/AXL/API/<major.minor>`` for a cluster version like ``15.0`` or ``12.5.1``."""
    return f"http://www.cisco.com/AXL/API/{axl_version(version)}"


def axl_version(version: str) -> str:
    """``"15.0.1.11900-40"`` -> ``"15.0"``."""
    parts = version.split(".")
    return f"{int(parts[0])}.{int(parts[1]) if len(parts) > 1 else 0}"


def axl_soap_action(version: str, operation: str) -> str:
    """The AXL SOAPAction header value: ``"CUCM:DB ver=15.0 executeSQLQuery"`` (with the quotes)."""
    return f'"CUCM:DB ver={axl_version(version)} {operation}"'


# -- building -------------------------------------------------------------------------------------


def _envelope(ns: str, prefix: str) -> tuple[ET.Element, ET.Element]:
    env = ET.Element(f"{{{SOAPENV}}}Envelope")
    ET.SubElement(env, f"{{{SOAPENV}}}Header")
    body = ET.SubElement(env, f"{{{SOAPENV}}}Body")
    ET.register_namespace("soapenv", SOAPENV)
    ET.register_namespace(prefix, ns)
    return env, body


def _sub(parent: ET.Element, ns: str, name: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{ns}}}{name}" if ns else name)
    if text is not None:
        el.text = text
    return el


def _serialise(env: ET.Element) -> bytes:
    data: bytes = ET.tostring(env, encoding="utf-8", xml_declaration=True)
    return data


def service_status_request(names: list[str] | None) -> bytes:
    """``soapGetServiceStatus`` for ``names`` (None or empty: every service).

    Cisco's WSDL declares ``ServiceStatus`` as a repeated plain string: one
    ``<ServiceStatus>name</ServiceStatus>`` per service; every service is one empty
    ``<ServiceStatus/>`` (the element is required at least once).
    """
    env, body = _envelope(AST_NS, "soap")
    op = _sub(body, AST_NS, "soapGetServiceStatus")
    for name in names or [""]:
        _sub(op, AST_NS, "ServiceStatus", name or None)
    return _serialise(env)


def control_services_request(node_name: str, control_type: str, names: list[str]) -> bytes:
    """``soapDoControlServices``: ``control_type`` is Start, Stop or Restart."""
    if control_type not in ("Start", "Stop", "Restart"):
        raise ValueError(f"control type must be Start, Stop or Restart, not {control_type!r}")
    env, body = _envelope(AST_NS, "soap")
    op = _sub(body, AST_NS, "soapDoControlServices")
    req = _sub(op, AST_NS, "ControlServiceRequest")
    _sub(req, AST_NS, "NodeName", node_name)
    _sub(req, AST_NS, "ControlType", control_type)
    lst = _sub(req, AST_NS, "ServiceList")
    for name in names:
        _sub(lst, AST_NS, "item", name)
    return _serialise(env)


def select_cm_device_request(
    state_info: str = "",
    *,
    max_devices: int = 1000,
    device_class: str = "Phone",
    status: str = "Any",
    node_name: str = "",
    select_by: str = "Name",
    items: list[str] | None = None,
) -> bytes:
    """``selectCmDevice`` for one page; ``state_info`` is the cookie from the previous page."""
    env, body = _envelope(AST_NS, "soap")
    op = _sub(body, AST_NS, "selectCmDevice")
    _sub(op, AST_NS, "StateInfo", state_info)
    crit = _sub(op, AST_NS, "CmSelectionCriteria")
    _sub(crit, AST_NS, "MaxReturnedDevices", str(min(max_devices, 1000)))
    _sub(crit, AST_NS, "DeviceClass", device_class)
    _sub(crit, AST_NS, "Model", "255")
    _sub(crit, AST_NS, "Status", status)
    _sub(crit, AST_NS, "NodeName", node_name)
    _sub(crit, AST_NS, "SelectBy", select_by)
    sel = _sub(crit, AST_NS, "SelectItems")
    for it in items or ["*"]:
        item = _sub(sel, AST_NS, "item")
        _sub(item, AST_NS, "Item", it)
    _sub(crit, AST_NS, "Protocol", "Any")
    _sub(crit, AST_NS, "DownloadStatus", "Any")
    return _serialise(env)


def axl_request(version: str, operation: str, fields: dict[str, object]) -> bytes:
    """An AXL request ``<ns:operation>`` whose children are ``fields`` (nested dicts/lists allowed).

    AXL children are unqualified (the schema's elementFormDefault), only the operation element
    carries the version namespace.
    """
    ns = axl_namespace(version)
    env, body = _envelope(ns, "ns")
    op = _sub(body, ns, operation)
    _fill(op, fields)
    return _serialise(env)


def _fill(parent: ET.Element, fields: dict[str, object]) -> None:
    for key, value in fields.items():
        if isinstance(value, dict):
            _fill(_sub(parent, "", key), value)
        elif isinstance(value, list):
            for v in value:
                if isinstance(v, dict):
                    _fill(_sub(parent, "", key), v)
                else:
                    _sub(parent, "", key, _text(v))
        else:
            _sub(parent, "", key, _text(value))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def execute_sql_query_request(version: str, sql: str) -> bytes:
    """AXL ``executeSQLQuery``."""
    return axl_request(version, "executeSQLQuery", {"sql": sql})


def do_device_reset_request(version: str, device_name: str, *, hard: bool = True) -> bytes:
    """AXL ``doDeviceReset`` with ``isHardReset`` (a device reset, never an enterprise-parameter reset)."""
    return axl_request(version, "doDeviceReset", {"deviceName": device_name, "isHardReset": hard})


def get_ccm_version_request(version: str) -> bytes:
    """AXL ``getCCMVersion`` (no ``processNodeName``: the publisher's own version)."""
    return axl_request(version, "getCCMVersion", {})


def list_phone_request(version: str, *, skip: int = 0, first: int = 1000) -> bytes:
    """AXL ``listPhone`` of every phone name (``searchCriteria name '%'``), one page."""
    return axl_request(
        version,
        "listPhone",
        {"searchCriteria": {"name": "%"}, "returnedTags": {"name": ""}, "skip": skip, "first": first},
    )


# -- parsing ----------------------------------------------------------------------------------------


class SoapParseError(ValueError):
    """The response is not the XML we expected."""


def local(tag: str) -> str:
    """The local part of an element tag (``{ns}Name`` or ``prefix:Name`` -> ``Name``)."""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _parse(xml: bytes | str) -> ET.Element:
    try:
        # The stdlib parser resolves no external entities and, with expat >= 2.4.1, limits entity
        # expansion; responses come from nodes we authenticated over verified TLS.
        return ET.fromstring(xml)  # noqa: S314
    except ET.ParseError as exc:
        raise SoapParseError(f"response is not XML: {exc}") from None


def find_all(el: ET.Element, name: str) -> Iterator[ET.Element]:
    """Every descendant (or ``el`` itself) whose local name is ``name``."""
    for node in el.iter():
        if local(node.tag) == name:
            yield node


def find(el: ET.Element, name: str) -> ET.Element | None:
    """The first descendant whose local name is ``name``."""
    return next(find_all(el, name), None)


def children(el: ET.Element, name: str) -> list[ET.Element]:
    """Direct children whose local name is ``name``."""
    return [c for c in el if local(c.tag) == name]


def child_text(el: ET.Element, name: str) -> str:
    """Text of the first direct child called ``name`` ('' when absent)."""
    for c in el:
        if local(c.tag) == name:
            return (c.text or "").strip()
    return ""


@dataclass(frozen=True)
class SoapFault:
    """A SOAP fault: ``faultcode`` (prefix stripped) and ``faultstring``."""

    code: str
    message: str
    detail: str = ""


def parse_fault(xml: bytes | str) -> SoapFault | None:
    """The fault in a response, or None. Tolerates SOAP 1.1 and 1.2 shapes."""
    try:
        root = ET.fromstring(xml)  # noqa: S314  (see _parse)
    except ET.ParseError:
        return None
    fault = find(root, "Fault")
    if fault is None:
        return None
    code = child_text(fault, "faultcode")
    if not code:
        code_el = find(fault, "Value")
        code = (code_el.text or "").strip() if code_el is not None else ""
    message = child_text(fault, "faultstring")
    if not message:
        text_el = find(fault, "Text")
        message = (text_el.text or "").strip() if text_el is not None else ""
    detail_el = find(fault, "detail")
    if detail_el is None:
        detail_el = find(fault, "Detail")
    detail = " ".join(t.strip() for t in detail_el.itertext() if t.strip()) if detail_el is not None else ""
    # "soapenv:Server.RateControl" -> "Server.RateControl"
    code = code.split(":", 1)[-1] if ":" in code else code
    return SoapFault(code=code, message=message, detail=detail)


_STATUS_MAP = {
    "started": ServiceState.STARTED,
    "stopped": ServiceState.STOPPED,
    "starting": ServiceState.STARTING,
    "stopping": ServiceState.STOPPING,
}


def parse_service_info_list(xml: bytes | str) -> list[ServiceStatus]:
    """``ServiceInfoList/item`` of a ``soapGetServiceStatus`` or ``soapDoControlServices`` response."""
    root = _parse(xml)
    lst = find(root, "ServiceInfoList")
    if lst is None:
        raise SoapParseError("no ServiceInfoList in the response")
    out: list[ServiceStatus] = []
    for item in children(lst, "item"):
        name = child_text(item, "ServiceName")
        status = child_text(item, "ServiceStatus")
        reason = child_text(item, "ReasonCodeString")
        state = _STATUS_MAP.get(status.lower(), ServiceState.UNKNOWN)
        if "not activated" in reason.lower():
            state = ServiceState.NOT_ACTIVATED
        up = child_text(item, "UpTime").strip()
        up_seconds = int(up) if up.isdigit() else None  # -1 (or empty) while not Started
        out.append(ServiceStatus(name=name, state=state, reason=reason, up_seconds=up_seconds))
    return out


@dataclass(frozen=True)
class RisDevice:
    """One device entry of a ``selectCmDevice`` response."""

    name: str
    status: str
    node: str
    timestamp: int
    device_class: str = ""
    ip: str = ""


@dataclass(frozen=True)
class RisPage:
    """One page of ``selectCmDevice``: devices, the paging cookie and the reported total."""

    devices: list[RisDevice]
    state_info: str
    total_found: int
    more: bool = field(default=False)


def parse_select_cm_device(xml: bytes | str) -> RisPage:
    """Parse a ``selectCmDeviceResponse``: ``SelectCmDeviceResult/CmNodes/item[]/CmDevices/item[]``."""
    root = _parse(xml)
    result = find(root, "SelectCmDeviceResult")
    if result is None:
        raise SoapParseError("no SelectCmDeviceResult in the response")
    total_text = child_text(result, "TotalDevicesFound")
    total = int(total_text) if total_text.isdigit() else 0
    devices: list[RisDevice] = []
    nodes_el = find(result, "CmNodes")
    for node in children(nodes_el, "item") if nodes_el is not None else []:
        node_name = child_text(node, "Name")
        devs = find(node, "CmDevices")
        for dev in children(devs, "item") if devs is not None else []:
            ts = child_text(dev, "TimeStamp")
            ip_el = find(dev, "IP")
            devices.append(
                RisDevice(
                    name=child_text(dev, "Name"),
                    status=child_text(dev, "Status"),
                    node=node_name,
                    timestamp=int(ts) if ts.lstrip("-").isdigit() else 0,
                    device_class=child_text(dev, "DeviceClass"),
                    ip=(ip_el.text or "").strip() if ip_el is not None else "",
                )
            )
    state_el = find(root, "StateInfo")
    state_info = (state_el.text or "").strip() if state_el is not None else ""
    return RisPage(devices=devices, state_info=state_info, total_found=total)


def parse_sql_rows(xml: bytes | str) -> list[dict[str, str]]:
    """Rows of an AXL ``executeSQLQueryResponse``: ``return/row/<column>`` -> list of dicts."""
    root = _parse(xml)
    ret = find(root, "return")
    if ret is None:
        raise SoapParseError("no <return> in the executeSQLQuery response")
    return [{local(col.tag): (col.text or "").strip() for col in row} for row in children(ret, "row")]


def parse_list_phone_names(xml: bytes | str) -> list[str]:
    """Names in an AXL ``listPhoneResponse``: ``return/phone/name``."""
    root = _parse(xml)
    ret = find(root, "return")
    if ret is None:
        raise SoapParseError("no <return> in the listPhone response")
    return [child_text(p, "name") for p in children(ret, "phone") if child_text(p, "name")]


def parse_ccm_version(xml: bytes | str) -> str:
    """``return/componentVersion/version`` of an AXL ``getCCMVersionResponse``."""
    root = _parse(xml)
    ret = find(root, "return")
    component = find(ret, "componentVersion") if ret is not None else None
    version = child_text(component, "version") if component is not None else ""
    if not version:
        raise SoapParseError("no return/componentVersion/version in the getCCMVersion response")
    return version


def parse_axl_return(xml: bytes | str) -> str:
    """Text of ``<return>`` of a simple AXL response such as ``doDeviceResetResponse``."""
    root = _parse(xml)
    ret = find(root, "return")
    if ret is None:
        raise SoapParseError("no <return> in the response")
    return "".join(ret.itertext()).strip()
