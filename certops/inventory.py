"""The inventory: which clusters and nodes certops manages, and how to reach them.

An operator writes it in YAML; pydantic validates it. Secrets are never in the file: the file
names an environment variable (or a Prefect Secret block where Prefect runs) and certops reads
the value at the moment it connects, as a ``SecretStr``.

Keys kept stable for users: ``clusters[].name``, ``version``, ``nodes[].fqdn``, ``role``,
``address``, ``https_port``, ``soap_port``, ``ssh_port``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from certops.units import IMP_ROLES, SCANNED_UNITS, UNITS, NodeRole, parse_version

_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
_FQDN = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class CredentialRef(_Model):
    """A username and where to find its password: an environment variable or a Prefect Secret block.

    The password itself never appears in the inventory.
    """

    username: str = Field(min_length=1)
    password_env: str | None = Field(default=None, description="environment variable holding the password")
    password_secret_block: str | None = Field(default=None, description="Prefect Secret block name")

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.match(v):
            raise ValueError(f"{v!r} is not an environment variable name")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> CredentialRef:
        if (self.password_env is None) == (self.password_secret_block is None):
            raise ValueError("give exactly one of password_env or password_secret_block")
        return self


class TlsConfig(_Model):
    """TLS verification for HTTPS (certmgr REST, SOAP). On by default."""

    verify: bool = True
    ca_bundle: Path | None = Field(default=None, description="PEM file of CAs to trust instead of the system store")


class SshConfig(_Model):
    """SSH host-key checking for the CLI. On by default, against a known_hosts file."""

    host_key_check: bool = True
    known_hosts: Path | None = Field(default=None, description="known_hosts file; default ~/.ssh/known_hosts")
    login_timeout: float = Field(default=120.0, gt=0, description="seconds to wait for the first admin: prompt")
    command_timeout: float = Field(default=600.0, gt=0, description="seconds one CLI command may take")


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class MaintenanceWindow(_Model):
    """A recurring window for restarts and phone resets, e.g. 22:00-05:00 Mon-Fri Europe/Berlin.

    A window whose end is before its start runs past midnight.
    """

    days: list[Weekday] = Field(default_factory=lambda: list(_DAYS))
    start: dt.time
    end: dt.time
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as 'Europe/Berlin')") from None
        return v


class LabCaConfig(_Model):
    """The lab CA: a local root and intermediate on disk (demo and tests)."""

    type: Literal["lab"] = "lab"
    directory: Path = Field(description="where the lab CA keeps its keys and certificates")
    validity_days: int = Field(default=365, gt=0)


class ManualCaConfig(_Model):
    """A person takes the CSR to the CA and pastes the signed chain back (default)."""

    type: Literal["manual"] = "manual"
    instructions: str = Field(default="", description="shown to the approver: where to submit the CSR")
    approval_timeout_days: float = Field(default=7.0, gt=0)


class AcmeCaConfig(_Model):
    """An ACME (RFC 8555) server with External Account Binding."""

    type: Literal["acme"] = "acme"
    directory_url: str
    eab_kid: str | None = None
    eab_hmac_key_env: str | None = Field(default=None, description="environment variable holding the EAB HMAC key")
    eab_hmac_key_secret_block: str | None = None
    contact_email: str | None = None
    ca_bundle: Path | None = Field(default=None, description="CA bundle to verify the ACME server's TLS")
    account_key_path: Path | None = Field(default=None, description="where the ACME account key is kept")
    poll_timeout: float = Field(default=600.0, gt=0)
    trigger_validation: bool = Field(
        default=False,
        description="ask the server to validate pending authorizations without provisioning any challenge "
        "response (servers that validate names out of band; pebble with PEBBLE_VA_ALWAYS_VALID)",
    )


CaConfig = Annotated[LabCaConfig | ManualCaConfig | AcmeCaConfig, Field(discriminator="type")]


DEFAULT_SERVICE_TLS_PORTS: dict[str, int] = {"CallManager": 5061, "CallManager-ECDSA": 5061, "TVS": 2445, "CAPF": 3804}
"""Well-known CUCM ports where units other than tomcat are served over TLS [INF: not in the interface doc]."""


class NodeConfig(_Model):
    """One node of a cluster."""

    fqdn: str
    role: NodeRole
    address: str | None = Field(default=None, description="where to connect; default the fqdn")
    https_port: int = Field(default=443, ge=1, le=65535)
    soap_port: int = Field(default=8443, ge=1, le=65535)
    ssh_port: int = Field(default=22, ge=1, le=65535)
    service_tls_ports: dict[str, int] = Field(
        default_factory=dict,
        description="TLS ports where a unit's certificate is served, for verification after renewal; "
        "default CallManager 5061 (SIP TLS), TVS 2445, CAPF 3804; tomcat is served on https_port",
    )
    os_admin: CredentialRef | None = Field(default=None, description="overrides the cluster's OS admin")
    federation: bool = Field(
        default=False,
        description="IM&P only: XMPP federation is on here (Cisco XCP XMPP Federation Connection Manager "
        "runs): the node holds the cup-xmpp-s2s units certops renews",
    )

    @field_validator("fqdn")
    @classmethod
    def _fqdn(cls, v: str) -> str:
        if not _FQDN.match(v):
            raise ValueError(f"{v!r} is not a valid host name")
        return v.lower()

    @field_validator("address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            ipaddress.ip_address(v)
        except ValueError:
            if not _FQDN.match(v):
                raise ValueError(f"{v!r} is neither an IP address nor a host name") from None
        return v

    def tls_port_for(self, unit: str) -> int | None:
        """Where ``unit``'s certificate is served over TLS, or None (ipsec: not served over TLS)."""
        if unit in self.service_tls_ports:
            return self.service_tls_ports[unit]
        twin = unit.removesuffix("-ECDSA")
        if twin != unit and twin in self.service_tls_ports:
            return self.service_tls_ports[twin]  # CUCM serves both key types on one port
        if unit.startswith("tomcat"):
            return self.https_port
        return DEFAULT_SERVICE_TLS_PORTS.get(unit)

    @property
    def connect_address(self) -> str:
        """The address to open connections to."""
        return self.address or self.fqdn

    @property
    def is_imp(self) -> bool:
        """True for an IM and Presence node (``imp`` or ``imp-publisher``)."""
        return self.role in IMP_ROLES

    @model_validator(mode="after")
    def _federation_on_imp(self) -> NodeConfig:
        if self.federation and not self.is_imp:
            raise ValueError(
                f"node {self.fqdn!r} is a {self.role.value}: federation applies to IM&P nodes only "
                "(role imp or imp-publisher)"
            )
        return self


class RenewalPolicy(_Model):
    """When a certificate is due, and what the scan starts."""

    threshold_days: int = Field(default=30, ge=1)
    per_unit_threshold_days: dict[str, int] = Field(default_factory=dict)
    units: list[str] = Field(default_factory=lambda: list(SCANNED_UNITS))
    include_self_signed: bool = False
    urgent_days: int = Field(default=7, ge=0, description="inside this, restarts may run outside the window")
    sso_policy: Literal["refuse", "wait_for_person"] = "refuse"
    sip_oauth_phones: Literal["reset", "list"] = Field(
        default="reset",
        description="tomcat on CUCM 14+: reset the phones that use SIP OAuth after the Tomcat restart (Cisco "
        "Security Guide 14SU2), or only list them in the report and on Slack for a person to reset",
    )

    @field_validator("units")
    @classmethod
    def _units(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in UNITS:
                raise ValueError(f"unknown unit {name!r}; known (case matters): {', '.join(UNITS)}")
        return v

    @field_validator("per_unit_threshold_days")
    @classmethod
    def _per_unit(cls, v: dict[str, int]) -> dict[str, int]:
        for name in v:
            if name not in UNITS:
                raise ValueError(f"unknown unit {name!r}; known (case matters): {', '.join(UNITS)}")
        return v

    def threshold_for(self, unit: str) -> int:
        """The renewal threshold in days for ``unit``."""
        return self.per_unit_threshold_days.get(unit, self.threshold_days)


class DrfBackupConfig(_Model):
    """Where certops takes the DRF backup that Cisco's Security Guides ask for after every regeneration.

    ``device`` is a backup device already configured in the cluster's Disaster Recovery System
    (Disaster Recovery System > Backup > Backup Device; ``utils disaster_recovery device list``):
    certops starts ``utils disaster_recovery backup network <features> <device>`` on the publisher
    and waits (at most ``timeout_minutes``) for ``utils disaster_recovery status backup`` to end.
    Without this block certops only says, in the report, on Slack and on the terminal, that a DRF
    backup is due now.
    """

    device: str = Field(
        min_length=1, pattern=r"^\S+$", description="name of a DRS backup device of the cluster (no spaces)"
    )
    features: list[str] = Field(
        default_factory=lambda: ["UCM"],
        min_length=1,
        description="DRS features to back up, e.g. UCM, CDR_CAR (utils disaster_recovery show_registration) [INF]",
    )
    timeout_minutes: float = Field(default=240.0, gt=0, description="how long certops waits for the backup at most")
    poll_seconds: float = Field(default=30.0, gt=0, description="how often certops asks the backup's status")

    @field_validator("features")
    @classmethod
    def _features(cls, v: list[str]) -> list[str]:
        bad = [f for f in v if not re.fullmatch(r"[A-Za-z0-9_]+", f)]
        if bad:
            raise ValueError(f"DRF feature names are letters, digits and '_' (e.g. UCM, CDR_CAR), not {bad}")
        return v


class ClusterConfig(_Model):
    """One CUCM cluster: its version, nodes, credentials and policies."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    version: str
    service_update: int | None = Field(
        default=None,
        ge=0,
        description="the Service Update the nodes run (e.g. 2 for 14SU2); overrides what the build number says",
    )
    nodes: list[NodeConfig] = Field(min_length=1)
    os_admin: CredentialRef | None = Field(default=None, description="OS/platform admin: certmgr REST and CLI")
    app_user: CredentialRef | None = Field(
        default=None, description="application user: SOAP (Control Center, RIS, AXL)"
    )
    tls: TlsConfig | None = None
    ssh: SshConfig | None = None
    ca: str | None = Field(default=None, description="name of a CA backend in ca_backends; default: defaults.ca")
    maintenance_windows: list[MaintenanceWindow] = Field(default_factory=list)
    policy: RenewalPolicy | None = None
    drf_backup: DrfBackupConfig | None = Field(
        default=None,
        description="the DRS backup device certops backs the cluster up to after a renewal; none: it says one is due",
    )
    multi_server: list[str] = Field(
        default_factory=list,
        description="units renewed as one multi-server (Multi-SAN) certificate for the cluster, e.g. "
        "[tomcat, CallManager]; every other unit is per node (certops units lists which units may be)",
    )

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        parse_version(v)
        return v

    @field_validator("multi_server")
    @classmethod
    def _multi_server_units(cls, v: list[str]) -> list[str]:
        allowed = [name for name, spec in UNITS.items() if spec.multi_server is not None]
        bad = [u for u in v if u not in allowed]
        if bad:
            unknown = [u for u in bad if u not in UNITS]
            why = f"unknown unit(s) {', '.join(unknown)} (case matters)" if unknown else ""
            per_node = [u for u in bad if u in UNITS]
            if per_node:
                why += ("; " if why else "") + f"{', '.join(per_node)} cannot be multi-server (per node only)"
            raise ValueError(f"multi_server: {why}; units that may be multi-server: {', '.join(allowed)}")
        return list(dict.fromkeys(v))

    def is_multi_server(self, unit: str) -> bool:
        """True when the inventory renews ``unit`` as one multi-server certificate on this cluster."""
        return unit in self.multi_server

    @model_validator(mode="after")
    def _one_publisher(self) -> ClusterConfig:
        pubs = [n.fqdn for n in self.nodes if n.role is NodeRole.PUBLISHER]
        if len(pubs) != 1:
            raise ValueError(f"cluster {self.name!r} needs exactly one publisher, found {len(pubs)}")
        imp_pubs = [n.fqdn for n in self.nodes if n.role is NodeRole.IMP_PUBLISHER]
        if len(imp_pubs) > 1:
            raise ValueError(
                f"cluster {self.name!r} has {len(imp_pubs)} IM&P database publishers ({', '.join(imp_pubs)}); "
                "give role imp-publisher to one IM&P node only"
            )
        seen: set[str] = set()
        for n in self.nodes:
            if n.fqdn in seen:
                raise ValueError(f"node {n.fqdn!r} is listed twice in cluster {self.name!r}")
            seen.add(n.fqdn)
        return self

    @property
    def version_tuple(self) -> tuple[int, int]:
        """``(major, minor)`` of the cluster's CUCM version."""
        return parse_version(self.version)

    @property
    def publisher(self) -> NodeConfig:
        """The publisher node."""
        return next(n for n in self.nodes if n.role is NodeRole.PUBLISHER)

    @property
    def imp_nodes(self) -> list[NodeConfig]:
        """The IM and Presence nodes, in inventory order."""
        return [n for n in self.nodes if n.is_imp]

    @property
    def imp_publisher(self) -> NodeConfig | None:
        """The IM&P database publisher: the node with role ``imp-publisher``, else the first IM&P node listed.

        [INF] An inventory that marks no ``imp-publisher`` is read as listing the database publisher
        first (the node installed first); None when the cluster has no IM&P node.
        """
        imps = self.imp_nodes
        return next((n for n in imps if n.role is NodeRole.IMP_PUBLISHER), imps[0] if imps else None)

    def node(self, fqdn: str) -> NodeConfig:
        """The node called ``fqdn`` (case-insensitive) or ``KeyError``."""
        for n in self.nodes:
            if n.fqdn == fqdn.lower():
                return n
        raise KeyError(f"cluster {self.name!r} has no node {fqdn!r}; nodes: {', '.join(n.fqdn for n in self.nodes)}")


class SlackConfig(_Model):
    """Where Slack messages go. The token or webhook URL is named, never written here.

    Give exactly one of a bot token (``token_env`` / ``token_secret_block``: chat.postMessage,
    threads, the CSR as a file) or an incoming webhook URL (``webhook_url_env`` /
    ``webhook_url_secret_block``: messages only).
    """

    token_env: str | None = Field(default=None, description="environment variable holding the bot token (xoxb-...)")
    token_secret_block: str | None = Field(default=None, description="Prefect Secret block holding the bot token")
    webhook_url_env: str | None = Field(default=None, description="environment variable holding a webhook URL")
    webhook_url_secret_block: str | None = Field(default=None, description="Prefect Secret block holding a webhook URL")
    channel: str | None = Field(default=None, description="channel ID or name for bot-token messages")
    base_url: str | None = Field(default=None, description="Slack Web API base URL (tests, self-hosted proxies)")
    mention: str | None = Field(default=None, description="who to mention on approvals and failures, e.g. <!here>")
    ui_url: str | None = Field(default=None, description="Prefect UI base URL for links, e.g. http://prefect:4200")

    @field_validator("token_env", "webhook_url_env")
    @classmethod
    def _env_names(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.match(v):
            raise ValueError(f"{v!r} is not an environment variable name")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> SlackConfig:
        sources = [self.token_env, self.token_secret_block, self.webhook_url_env, self.webhook_url_secret_block]
        if sum(s is not None for s in sources) != 1:
            raise ValueError(
                "slack: give exactly one of token_env, token_secret_block, webhook_url_env, webhook_url_secret_block"
            )
        if (self.token_env or self.token_secret_block) and not self.channel:
            raise ValueError("slack: a bot token needs a channel")
        return self


class NotificationsConfig(_Model):
    """Where certops reports scans, approvals and renewals."""

    slack: SlackConfig | None = None


class Defaults(_Model):
    """Settings every cluster inherits unless it says otherwise."""

    os_admin: CredentialRef | None = None
    app_user: CredentialRef | None = None
    tls: TlsConfig = TlsConfig()
    ssh: SshConfig = SshConfig()
    ca: str = "manual"
    policy: RenewalPolicy = RenewalPolicy()


def _default_ca_backends() -> dict[str, CaConfig]:
    return {"manual": ManualCaConfig()}


class Inventory(_Model):
    """The whole inventory file."""

    defaults: Defaults = Defaults()
    ca_backends: dict[str, CaConfig] = Field(default_factory=_default_ca_backends)
    clusters: list[ClusterConfig] = Field(min_length=1)
    notifications: NotificationsConfig = NotificationsConfig()

    @model_validator(mode="after")
    def _references(self) -> Inventory:
        names: set[str] = set()
        for c in self.clusters:
            if c.name in names:
                raise ValueError(f"cluster name {c.name!r} is used twice")
            names.add(c.name)
            ca = c.ca or self.defaults.ca
            if ca not in self.ca_backends:
                raise ValueError(f"cluster {c.name!r} uses CA backend {ca!r}, which ca_backends does not define")
            if (c.os_admin or self.defaults.os_admin) is None:
                raise ValueError(f"cluster {c.name!r} has no os_admin credentials (set it or defaults.os_admin)")
            if (c.app_user or self.defaults.app_user) is None:
                raise ValueError(f"cluster {c.name!r} has no app_user credentials (set it or defaults.app_user)")
        return self

    def cluster(self, name: str) -> ClusterConfig:
        """The cluster called ``name`` or ``KeyError`` naming the known ones."""
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(f"no cluster {name!r} in the inventory; clusters: {', '.join(c.name for c in self.clusters)}")

    # Effective settings: cluster value, else defaults.
    def tls_for(self, cluster: ClusterConfig) -> TlsConfig:
        """Effective TLS settings for ``cluster``."""
        return cluster.tls or self.defaults.tls

    def ssh_for(self, cluster: ClusterConfig) -> SshConfig:
        """Effective SSH settings for ``cluster``."""
        return cluster.ssh or self.defaults.ssh

    def os_admin_for(self, cluster: ClusterConfig, node: NodeConfig | None = None) -> CredentialRef:
        """Effective OS admin credentials for ``node`` of ``cluster``."""
        ref = (node.os_admin if node else None) or cluster.os_admin or self.defaults.os_admin
        assert ref is not None  # checked by _references
        return ref

    def app_user_for(self, cluster: ClusterConfig) -> CredentialRef:
        """Effective application-user credentials for ``cluster``."""
        ref = cluster.app_user or self.defaults.app_user
        assert ref is not None
        return ref

    def ca_for(self, cluster: ClusterConfig) -> tuple[str, CaConfig]:
        """The name and settings of the CA backend ``cluster`` uses."""
        name = cluster.ca or self.defaults.ca
        return name, self.ca_backends[name]

    def policy_for(self, cluster: ClusterConfig) -> RenewalPolicy:
        """Effective renewal policy for ``cluster``."""
        return cluster.policy or self.defaults.policy


def resolve_secret(ref: CredentialRef) -> SecretStr:
    """Read the password ``ref`` points to, now. Raises ``ConfigError`` naming the variable if unset.

    Prefect Secret blocks are resolved by the orchestration layer (``tasks/``), which passes a
    resolver; the library itself never imports Prefect.
    """
    import os

    from certops.errors import ConfigError

    if ref.password_env is not None:
        value = os.environ.get(ref.password_env)
        if value is None:
            raise ConfigError(
                f"the password for user {ref.username!r} is read from ${ref.password_env}, which is not set",
                hint=f"export {ref.password_env}=... in the environment that runs certops",
            )
        return SecretStr(value)
    from certops import secrets

    return secrets.resolve_block(ref)
