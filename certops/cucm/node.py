"""``CucmNode``: the domain verbs of ``CucmNodeApi`` for one node, over REST, SOAP and the SSH CLI.

Connections open lazily (the first verb that needs one) and close on ``__exit__``. Reading is
version-aware: CUCM 14+ reads certificates from the certmgr REST snapshot; 12.5, which has no
certmgr API, reads them through the CLI (``show cert list own`` then ``show cert own <unit>``).
``served_certificate_der`` opens a TLS handshake that deliberately does **not** verify: it reads
what the node serves, to compare fingerprints with what was uploaded.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from certops.cucm import parsers
from certops.cucm.certinfo import certificate_info
from certops.cucm.certmgr_shapes import split_pems
from certops.cucm.paths import CertPath, Via, certificate_path
from certops.cucm.rest import CertMgrClient
from certops.cucm.shell import SESSIONS, CliResult, CucmCli
from certops.cucm.soap import AxlClient, ControlCenterClient, RisPortClient
from certops.errors import CertificateError, CliCommandError, CucmApiError, CucmConnectionError
from certops.inventory import ClusterConfig, Inventory, NodeConfig, SshConfig, TlsConfig, resolve_secret
from certops.models import CertificateInfo, CsrRequest, DrfStatus, PhoneCount, ServiceState, ServiceStatus, SsoStatus

log = logging.getLogger("certops.cucm.node")

_CSR_PEM = "-----BEGIN CERTIFICATE REQUEST-----"


class CucmNode:
    """One CUCM node (implements ``certops.cucm.api.CucmNodeApi``). A context manager."""

    def __init__(
        self,
        *,
        cluster: ClusterConfig,
        node: NodeConfig,
        os_username: str,
        os_password: SecretStr,
        app_username: str | None = None,
        app_password: SecretStr | Callable[[], SecretStr] | None = None,
        tls: TlsConfig | None = None,
        ssh: SshConfig | None = None,
        http_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.cluster = cluster
        self.node = node
        self.fqdn = node.fqdn
        self.version = cluster.version_tuple
        self._os_username = os_username
        self._os_password = os_password
        self._app_username = app_username
        self._app_password = app_password
        self.tls = tls or TlsConfig()
        self.ssh = ssh or SshConfig()
        self._transport = http_transport
        self._rest: CertMgrClient | None = None
        self._cli: CucmCli | None = None
        self._control: ControlCenterClient | None = None
        self._ris: RisPortClient | None = None
        self._axl: AxlClient | None = None

    @classmethod
    def from_inventory(cls, inventory: Inventory, cluster_name: str, fqdn: str) -> CucmNode:
        """Build the node ``fqdn`` of cluster ``cluster_name``; reads the OS admin password now.

        The application user's password is read when a SOAP verb first needs it.
        Raises ``ConfigError`` when a password variable is unset, ``KeyError`` for unknown names.
        """
        cluster = inventory.cluster(cluster_name)
        node = cluster.node(fqdn)
        os_ref = inventory.os_admin_for(cluster, node)
        app_ref = inventory.app_user_for(cluster)
        return cls(
            cluster=cluster,
            node=node,
            os_username=os_ref.username,
            os_password=resolve_secret(os_ref),
            app_username=app_ref.username,
            app_password=lambda: resolve_secret(app_ref),
            tls=inventory.tls_for(cluster),
            ssh=inventory.ssh_for(cluster),
        )

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> CucmNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection that was opened."""
        for client in (self._rest, self._control, self._ris, self._axl):
            if client is not None:
                client.close()
        if self._cli is not None:
            self._cli.close()
        self._rest = self._control = self._ris = self._axl = None
        self._cli = None

    # -- lazily opened clients ---------------------------------------------------------------------------

    @property
    def uses_rest(self) -> bool:
        """True on CUCM 14 and later, where the certmgr REST API exists (``certops.cucm.paths``)."""
        return self.path.via is Via.REST

    @property
    def path(self) -> CertPath:
        """The path this node's certificate work takes (REST from 14, the CLI on 12.5) and why."""
        return certificate_path(self.version)

    def rest(self) -> CertMgrClient:
        """The certmgr REST client (CUCM 14+)."""
        if self._rest is None:
            self._rest = CertMgrClient(
                fqdn=self.fqdn,
                address=self.node.connect_address,
                port=self.node.https_port,
                username=self._os_username,
                password=self._os_password,
                verify=self.tls.verify,
                ca_bundle=self.tls.ca_bundle,
                transport=self._transport,
            )
        return self._rest

    def cli(self) -> CucmCli:
        """The SSH CLI session (opened on first use)."""
        if self._cli is None:
            self._cli = self._new_cli()
        if not self._cli.is_open:
            self._cli.open()
        return self._cli

    def log_in_ahead(self) -> bool:
        """Start this node's CLI login in the background, for the steps after (``SessionPool.log_in_ahead``).

        Only inside ``reuse_sessions``; False when nothing was started (no scope, or one under way).
        """
        return SESSIONS.log_in_ahead(self._new_cli()) is not None

    def _new_cli(self) -> CucmCli:
        return CucmCli(
            fqdn=self.fqdn,
            address=self.node.connect_address,
            port=self.node.ssh_port,
            username=self._os_username,
            password=self._os_password,
            known_hosts=self.ssh.known_hosts,
            host_key_check=self.ssh.host_key_check,
            login_timeout=self.ssh.login_timeout,
            command_timeout=self.ssh.command_timeout,
        )

    def _app_credentials(self) -> tuple[str, SecretStr]:
        if self._app_username is None or self._app_password is None:
            from certops.errors import ConfigError

            raise ConfigError(f"no application user for {self.fqdn}", hint="set app_user in the inventory")
        password = self._app_password() if callable(self._app_password) else self._app_password
        return self._app_username, password

    def _soap_kwargs(self) -> dict[str, Any]:
        username, password = self._app_credentials()
        return {
            "fqdn": self.fqdn,
            "address": self.node.connect_address,
            "port": self.node.soap_port,
            "username": username,
            "password": password,
            "verify": self.tls.verify,
            "ca_bundle": self.tls.ca_bundle,
            "transport": self._transport,
        }

    def control_center(self) -> ControlCenterClient:
        """Control Center Services on this node."""
        if self._control is None:
            self._control = ControlCenterClient(**self._soap_kwargs())
        return self._control

    def risport(self) -> RisPortClient:
        """RisPort70 through this node."""
        if self._ris is None:
            self._ris = RisPortClient(**self._soap_kwargs())
        return self._ris

    def axl(self) -> AxlClient:
        """AXL through this node (call it on the publisher)."""
        if self._axl is None:
            self._axl = AxlClient(version=self.cluster.version, **self._soap_kwargs())
        return self._axl

    def _run(self, command: str, **kwargs: Any) -> CliResult:
        return self.cli().run(command, **kwargs).raise_for_status()

    # -- reading -----------------------------------------------------------------------------------------

    def active_version(self) -> str:
        """``show version active`` -> e.g. ``"15.0.1.11900-40"``."""
        result = self._run("show version active")
        try:
            return parsers.parse_version_active(result.output)
        except ValueError as exc:
            raise CliCommandError(str(exc), node=self.fqdn, command=result.command, output=result.output) from exc

    def read_certificates(self, units: list[str] | None = None) -> list[CertificateInfo]:
        """Every identity certificate (or those of ``units``): REST snapshot on 14+, CLI on 12.5."""
        wanted = set(units) if units is not None else None
        out: list[CertificateInfo] = []
        if self.uses_rest:
            for identity in self.rest().snapshot().identities:
                if wanted is None or identity.unit in wanted:
                    out.append(self._info(identity.certificate, identity.unit, "snapshot"))
            return out
        listing = self._run("show cert list own")
        seen: set[str] = set()
        for entry in parsers.parse_cert_list(listing.output):
            if entry.unit in seen or (wanted is not None and entry.unit not in wanted):
                continue
            seen.add(entry.unit)
            shown = self._run(f"show cert own {entry.unit}")
            try:
                pem = parsers.extract_pem(shown.output)
            except ValueError as exc:
                raise CliCommandError(
                    "the output holds no PEM certificate",
                    node=self.fqdn,
                    command=shown.command,
                    output=shown.output,
                    unit=entry.unit,
                ) from exc
            out.append(self._info(pem, entry.unit, f"cli '{shown.command}'"))
        return out

    def _info(self, pem: str | bytes, unit: str, operation: str) -> CertificateInfo:
        try:
            return certificate_info(pem, cluster=self.cluster.name, node=self.fqdn, unit=unit)
        except CertificateError as exc:
            raise CucmApiError(
                f"the node returned an unreadable certificate: {exc.message}",
                node=self.fqdn,
                operation=operation,
                unit=unit,
            ) from exc

    def read_certificate(self, unit: str) -> CertificateInfo:
        """One unit's identity certificate; ``CucmApiError`` when the node has no such unit."""
        found = self.read_certificates([unit])
        if not found:
            raise CucmApiError(
                "the node has no identity certificate for this unit",
                node=self.fqdn,
                operation="read_certificate",
                unit=unit,
                hint="unit names are case-sensitive (tomcat, tomcat-ECDSA, ipsec, CAPF, CallManager, ...)",
            )
        return found[0]

    def pending_csr(self, unit: str) -> str | None:
        """The PEM of the CSR pending for ``unit``, or None."""
        if self.uses_rest:
            return self.rest().get_csr(unit)
        result = self.cli().run(f"show csr own {unit}")
        if result.failed or _CSR_PEM not in result.output:
            return None
        start = result.output.index(_CSR_PEM)
        end_marker = "-----END CERTIFICATE REQUEST-----"
        end = result.output.find(end_marker, start)
        return result.output[start : end + len(end_marker)] + "\n" if end > 0 else None

    def read_trust(self, unit: str) -> list[str]:
        """PEMs in ``<unit>-trust``."""
        if self.uses_rest:
            return self.rest().list_trust(unit)
        store = f"{unit}-trust"
        pems: list[str] = []
        for entry in parsers.parse_cert_list(self._run("show cert list trust").output):
            if entry.unit == store:
                pems.extend(parsers.extract_pems(self._run(f"show cert trust {store}/{entry.filename}").output))
        return pems

    def served_certificate_der(self, unit: str = "tomcat") -> bytes:
        """DER of the certificate served for ``unit`` now (TLS handshake to its port, no trust check).

        Not verifying is deliberate: this reads what is served, to compare its fingerprint.
        """
        port = self.node.tls_port_for(unit)
        op = "served_certificate"
        if port is None:
            raise CucmApiError(
                "this unit is not served over TLS, so its served certificate cannot be read",
                node=self.fqdn,
                operation=op,
                unit=unit,
            )
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # reading, not trusting: see the docstring
        if unit.endswith("-ECDSA"):
            # tomcat-ECDSA / CallManager-ECDSA share the port with their RSA twin: ask for an ECDSA
            # certificate by offering only ECDSA cipher suites (TLS 1.2 lets the client choose).
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers("ECDSA")
        elif self.node.tls_port_for(f"{unit}-ECDSA") == port:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers("aRSA")
        try:
            with (
                socket.create_connection((self.node.connect_address, port), timeout=30) as sock,
                ctx.wrap_socket(sock, server_hostname=self.fqdn) as tls,
            ):
                der = tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError) as exc:
            raise CucmConnectionError(
                f"TLS handshake with {self.node.connect_address}:{port} failed: {exc}",
                node=self.fqdn,
                operation=op,
                unit=unit,
            ) from exc
        if not der:
            raise CucmConnectionError("the node presented no certificate", node=self.fqdn, operation=op, unit=unit)
        return der

    # -- changing ------------------------------------------------------------------------------------------

    def generate_csr(self, request: CsrRequest) -> str:
        """Generate a CSR on the node (replacing any pending one for the unit); return its PEM."""
        if self.uses_rest:
            return self.rest().generate_csr(request)
        self.cli().generate_csr(request.unit).raise_for_status()  # answers the OU question from the current subject
        pem = self.pending_csr(request.unit)
        if pem is None:
            raise CliCommandError(
                "no CSR is shown after generating one",
                node=self.fqdn,
                command=f"show csr own {request.unit}",
                unit=request.unit,
            )
        return pem

    def upload_trust(self, unit: str, pems: list[str], description: str) -> None:
        """Upload CA certificates to ``<unit>-trust`` (root first, then intermediates)."""
        if self.uses_rest:
            self.rest().upload_trust(unit, pems, description)
            return
        for pem in split_pems(pems):  # one certificate per paste; the CLI names the unit, not its store
            self._run(f"set cert import trust {unit}", input_text=pem, confirm="yes")

    def upload_identity(self, unit: str, pems: list[str]) -> None:
        """Upload the signed leaf (then its chain) for ``unit``."""
        if self.uses_rest:
            self.rest().upload_identity(unit, pems)
            return
        self._run(f"set cert import own {unit}", input_text=split_pems(pems)[0], confirm="yes")

    # -- services --------------------------------------------------------------------------------------------

    def service_status(self, names: list[str] | None = None) -> list[ServiceStatus]:
        """Control Center ``soapGetServiceStatus``."""
        return self.control_center().service_status(names)

    def restart_service_soap(self, name: str) -> None:
        """Control Center ``soapDoControlServices`` Restart of ``name`` on this node."""
        self.control_center().control_services(self.fqdn, "Restart", [name])

    def restart_service_cli(self, name: str) -> None:
        """``utils service restart <name>``; returns when the CLI reports it started."""
        result = self._run(f"utils service restart {name}")
        state = parsers.service_state_after_restart(result.output, name)
        if state is not ServiceState.STARTED:
            raise CliCommandError(
                f"the CLI did not report {name} as started (last state: {state.value})",
                node=self.fqdn,
                command=result.command,
                output=result.output,
                hint="check with 'utils service list' on the node",
            )

    def cli_service_list(self) -> list[ServiceStatus]:
        """``utils service list``."""
        return parsers.parse_service_list(self._run("utils service list").output)

    # -- cluster state ------------------------------------------------------------------------------------------

    def cluster_security_mode(self) -> int:
        """AXL ClusterSecurityMode: 0 non-secure, 1 mixed."""
        return self.axl().cluster_security_mode()

    def phone_interaction(self) -> str | None:
        """AXL: enterprise parameter "Phone Interaction on Certificate Update" (automatic, manual; None before 14)."""
        return self.axl().phone_interaction_on_certificate_update()

    def sso_status(self) -> SsoStatus:
        """``utils sso status``."""
        result = self._run("utils sso status")
        try:
            return parsers.parse_sso_status(result.output)
        except ValueError as exc:
            raise CliCommandError(str(exc), node=self.fqdn, command=result.command, output=result.output) from exc

    def drf_status(self, operation: str) -> DrfStatus:
        """``utils disaster_recovery status backup|restore`` (unknown output counts as running)."""
        if operation not in ("backup", "restore"):
            raise ValueError(f"operation must be 'backup' or 'restore', not {operation!r}")
        result = self.cli().run(f"utils disaster_recovery status {operation}")
        return parsers.parse_drf_status(result.output, operation)

    def start_drf_backup(self, features: list[str], device: str) -> str:
        """``utils disaster_recovery backup network <features> <device>`` (publisher); returns the CLI output."""
        return self.cli().start_drf_backup(features, device).raise_for_status().output

    def ctl_update(self) -> str:
        """``utils ctl update CTLFile`` (confirming the prompt); returns the CLI output."""
        result = self._run("utils ctl update CTLFile", confirm="y")
        if not parsers.ctl_update_succeeded(result.output):
            raise CliCommandError(
                "the CLI did not confirm 'CTL file Updated'",
                node=self.fqdn,
                command=result.command,
                output=result.output,
                hint="check 'show ctl' on the publisher",
            )
        return result.output

    # -- phones -----------------------------------------------------------------------------------------------

    def registered_phones(self) -> PhoneCount:
        """RisPort70 registered phones, every page, deduplicated by name."""
        return self.risport().registered_phone_count()

    def list_phones(self) -> list[str]:
        """AXL: every phone's name."""
        return self.axl().list_phones()

    def reset_phone(self, name: str) -> None:
        """AXL ``doDeviceReset`` (hard reset) of one phone."""
        self.axl().reset_device(name)

    def sip_oauth_phones(self) -> list[str]:
        """AXL: the phones whose security profile enables SIP OAuth."""
        return self.axl().sip_oauth_phones()
