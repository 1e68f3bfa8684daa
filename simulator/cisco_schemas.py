"""Where Cisco's published WSDL/XSD files are on this machine.

``scripts/fetch_cisco_schemas.py`` (run by ``scripts/setup``) takes them from the package
registries, pinned and hash-checked, into ``.cisco-schemas/`` at the top of the checkout;
``$CERTOPS_CISCO_SCHEMAS`` points elsewhere. The simulator serves them at ``?wsdl`` and the
tests validate against them. A missing file is an error that says how to fetch it.
"""

from __future__ import annotations

import os
from pathlib import Path

AXL_VERSIONS = ("12.5", "14.0", "15.0")
SERVICEABILITY = {
    "RISService70": "RISService70.wsdl",
    "ControlCenterServices": "ControlCenterServices.wsdl",
    "PerfmonService": "PerfmonService.wsdl",
}


class SchemaMissing(FileNotFoundError):
    """A Cisco schema file is not on this machine."""


def schema_dir() -> Path:
    """The folder holding ``axl/<version>/`` and ``serviceability/``."""
    env = os.environ.get("CERTOPS_CISCO_SCHEMAS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / ".cisco-schemas"


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise SchemaMissing(
            f"Cisco schema {path} is missing: run `python3 scripts/fetch_cisco_schemas.py` "
            "(scripts/setup does) or point $CERTOPS_CISCO_SCHEMAS at the folder"
        )
    return path


def axl_file(version: str, name: str = "AXLAPI.wsdl") -> Path:
    """``AXLAPI.wsdl``, ``AXLSoap.xsd`` or ``AXLEnums.xsd`` of AXL ``version`` (``12.5``, ``14.0``, ``15.0``)."""
    if version not in AXL_VERSIONS:
        raise SchemaMissing(f"no Cisco AXL schema for version {version!r}; known: {', '.join(AXL_VERSIONS)}")
    return _existing(schema_dir() / "axl" / version / name)


def serviceability_wsdl(service: str) -> Path:
    """The WSDL of ``RISService70``, ``ControlCenterServices`` or ``PerfmonService``."""
    try:
        name = SERVICEABILITY[service]
    except KeyError:
        raise SchemaMissing(f"no Cisco WSDL known for {service!r}") from None
    return _existing(schema_dir() / "serviceability" / name)
