"""Cisco's WSDL/XSD as the judge of what a node answered, where Cisco publishes one.

The files are where ``scripts/fetch_cisco_schemas.py`` puts them (``.cisco-schemas/`` at the top
of the checkout, or ``$CERTOPS_CISCO_SCHEMAS``): ``axl/<v>/AXLSoap.xsd`` and
``serviceability/{ControlCenterServices,RISService70}.wsdl``. On a machine without them (or
without lxml) every verdict says "schema not available" and why; nothing fails because of it.
certmgr REST has no published schema: its shapes are judged by ``certops.cucm.certmgr_shapes``.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
_WSDL = "http://schemas.xmlsoap.org/wsdl/"
_XSD = "http://www.w3.org/2001/XMLSchema"
SERVICEABILITY_FILES = {"controlcenter": "ControlCenterServices.wsdl", "risport": "RISService70.wsdl"}


@dataclass(frozen=True)
class SchemaVerdict:
    """``valid``, ``invalid`` (with the first errors) or ``not available`` (with why)."""

    status: str
    schema: str = ""
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.status} ({self.schema})" + (f": {self.detail}" if self.detail else "")


def schema_dir() -> Path:
    """``$CERTOPS_CISCO_SCHEMAS``, else ``.cisco-schemas`` next to the ``certops`` package."""
    env = os.environ.get("CERTOPS_CISCO_SCHEMAS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".cisco-schemas"


def schema_file(interface: str, axl_version: str | None = None) -> Path:
    """The file that judges ``interface`` (``axl`` needs its version)."""
    if interface == "axl":
        return schema_dir() / "axl" / (axl_version or "") / "AXLSoap.xsd"
    return schema_dir() / "serviceability" / SERVICEABILITY_FILES.get(interface, f"{interface}.wsdl")


@lru_cache(maxsize=16)
def _compiled(path: Path) -> Any:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.parse(str(path), parser).getroot()
    if root.tag != f"{{{_WSDL}}}definitions":
        return etree.XMLSchema(etree.ElementTree(root))
    embedded = root.find(f"{{{_WSDL}}}types/{{{_XSD}}}schema")
    if embedded is None:
        raise ValueError(f"{path} embeds no schema")
    nsmap = dict(root.nsmap)
    nsmap.update(embedded.nsmap)
    standalone = etree.Element(embedded.tag, attrib=dict(embedded.attrib), nsmap=nsmap)
    for child in embedded:
        standalone.append(copy.deepcopy(child))
    return etree.XMLSchema(etree.ElementTree(standalone))


def judge_soap(body: str, interface: str, axl_version: str | None = None) -> SchemaVerdict:
    """Validate the one element in a SOAP answer's Body (a fault's ``detail`` is not judged)."""
    path = schema_file(interface, axl_version)
    name = str(path.relative_to(schema_dir())) if path.is_relative_to(schema_dir()) else str(path)
    try:
        from lxml import etree
    except ImportError:
        return SchemaVerdict("not available", name, "lxml is not installed (pip install lxml)")
    if interface not in ("axl", *SERVICEABILITY_FILES):
        return SchemaVerdict("not available", name, f"Cisco publishes no schema for {interface}")
    if not path.is_file():
        return SchemaVerdict(
            "not available",
            name,
            f"{path} is missing: run scripts/fetch_cisco_schemas.py or set $CERTOPS_CISCO_SCHEMAS",
        )
    try:
        schema = _compiled(path)
    except Exception as exc:  # noqa: BLE001  (an unusable schema file is a verdict, not a crash)
        return SchemaVerdict("not available", name, f"cannot read it: {exc}")
    try:
        root = etree.fromstring(body.encode(), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        return SchemaVerdict("invalid", name, f"not XML: {exc}")
    soap_body = root.find(f"{{{SOAPENV}}}Body")
    elements = [c for c in (soap_body if soap_body is not None else []) if isinstance(c.tag, str)]
    if len(elements) != 1:
        return SchemaVerdict("invalid", name, "the SOAP Body does not hold exactly one element")
    element = elements[0]
    if element.tag == f"{{{SOAPENV}}}Fault":
        return SchemaVerdict("not available", name, "a SOAP fault (its envelope is not judged)")
    if schema.validate(element):
        return SchemaVerdict("valid", name)
    errors = "; ".join(f"line {e.line}: {e.message}" for e in list(schema.error_log)[:3])
    return SchemaVerdict("invalid", name, errors)
