"""The domain verbs certops needs from one CUCM node: the contract between flows and adapters.

``certops.cucm.node.CucmNode`` implements it over certmgr REST, the SOAP services and the SSH
CLI; tests may implement it in memory. Every method raises only ``certops.errors`` errors that
name the node, the operation and (where there is one) the unit.
"""

from __future__ import annotations

from typing import Protocol

from certops.models import (
    CertificateInfo,
    CsrRequest,
    DrfStatus,
    PhoneCount,
    ServiceStatus,
    SsoStatus,
)


class CucmNodeApi(Protocol):
    """One node of a cluster. A context manager: connections open lazily and close on exit."""

    fqdn: str

    def __enter__(self) -> CucmNodeApi: ...

    def __exit__(self, *exc: object) -> None: ...

    # -- reading ---------------------------------------------------------------------------
    def active_version(self) -> str:
        """``show version active`` -> e.g. ``"15.0.1.11900-40"`` (CLI)."""
        ...

    def read_certificates(self, units: list[str] | None = None) -> list[CertificateInfo]:
        """Every identity certificate (or those of ``units``): REST snapshot on 14+, CLI on 12.5."""
        ...

    def read_certificate(self, unit: str) -> CertificateInfo:
        """One unit's identity certificate."""
        ...

    def pending_csr(self, unit: str) -> str | None:
        """The PEM of the CSR pending for ``unit``, or None when there is none."""
        ...

    def read_trust(self, unit: str) -> list[str]:
        """PEMs of the certificates in ``<unit>-trust``."""
        ...

    def served_certificate_der(self) -> bytes:
        """DER of the certificate the node's HTTPS serves right now (TLS handshake)."""
        ...

    # -- changing ------------------------------------------------------------------------------
    def generate_csr(self, request: CsrRequest) -> str:
        """Generate a CSR on the node (replaces any pending one for the unit); return its PEM."""
        ...

    def upload_trust(self, unit: str, pems: list[str], description: str) -> None:
        """Upload CA certificates to ``<unit>-trust`` (root first, then intermediates)."""
        ...

    def upload_identity(self, unit: str, pems: list[str]) -> None:
        """Upload the signed leaf (then its chain) for ``unit``; CUCM consumes the pending CSR."""
        ...

    # -- services --------------------------------------------------------------------------------
    def service_status(self, names: list[str] | None = None) -> list[ServiceStatus]:
        """Control Center ``soapGetServiceStatus`` for ``names`` (None: all)."""
        ...

    def restart_service_soap(self, name: str) -> None:
        """Control Center ``soapDoControlServices`` Restart; returns once the request is accepted."""
        ...

    def restart_service_cli(self, name: str) -> None:
        """``utils service restart <name>`` over SSH; returns when the CLI reports it started."""
        ...

    def cli_service_list(self) -> list[ServiceStatus]:
        """``utils service list`` over SSH (covers platform services Control Center does not list)."""
        ...

    # -- cluster state (publisher) ------------------------------------------------------------------
    def cluster_security_mode(self) -> int:
        """AXL ``executeSQLQuery`` ClusterSecurityMode: 0 non-secure, 1 mixed mode."""
        ...

    def phone_interaction(self) -> str | None:
        """Enterprise parameter "Phone Interaction on Certificate Update" (14+): automatic, manual or None."""
        ...

    def sso_status(self) -> SsoStatus:
        """``utils sso status`` (the CLI is authoritative for the operational state)."""
        ...

    def drf_status(self, operation: str) -> DrfStatus:
        """``utils disaster_recovery status backup|restore`` on the publisher."""
        ...

    def start_drf_backup(self, features: list[str], device: str) -> str:
        """``utils disaster_recovery backup network <features> <device>`` on the publisher (starts the job)."""
        ...

    def ctl_update(self) -> str:
        """``utils ctl update CTLFile`` on the publisher (mixed mode), confirming the prompt."""
        ...

    # -- phones ---------------------------------------------------------------------------------------
    def registered_phones(self) -> PhoneCount:
        """RisPort70 ``selectCmDevice`` over every page, deduplicated by device name."""
        ...

    def list_phones(self) -> list[str]:
        """AXL: names of every phone in the cluster."""
        ...

    def reset_phone(self, name: str) -> None:
        """AXL ``doDeviceReset`` (hard reset) for one phone."""
        ...

    def sip_oauth_phones(self) -> list[str]:
        """AXL: the phones whose security profile enables SIP OAuth (14+)."""
        ...
