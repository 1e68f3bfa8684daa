"""The one table of certificate units.

Everything that differs between units lives here and nowhere else: which nodes hold the unit,
its trust store, which services restart after an upload (on which node role, by SOAP or CLI,
from which version), whether a mixed-mode cluster needs a CTL update, whether phones are reset,
the key type, the key usages the signed certificate must carry, the risk, and the rules
(preconditions, exclusion group). Flows, the dry-run plan, the docs and the tests all read it.

Sources: ``shared/docs/procedure.md`` ("What each unit needs"), ``cucm-interfaces.md`` §7, and
Cisco's Security Guide table of CSR key usages (see ``REQUIRED_KEY_USAGE`` notes below).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class NodeRole(StrEnum):
    """The role of a node in its cluster."""

    PUBLISHER = "publisher"
    SUBSCRIBER = "subscriber"
    IMP = "imp"


class NodeScope(StrEnum):
    """Which nodes of a cluster hold a unit that certops renews."""

    ALL = "all"  # every node, CUCM and IM&P
    CUCM = "cucm"  # every CUCM node (publisher and subscribers), not IM&P
    PUBLISHER = "publisher"  # the publisher only


class RestartVia(StrEnum):
    """How a service is restarted."""

    SOAP = "soap"  # Control Center Services soapDoControlServices
    CLI = "cli"  # utils service restart <name> (Cisco Tomcat, Cisco HAProxy: not restartable by SOAP)


class Risk(StrEnum):
    """Cisco's impact rating, used to order work and to decide on maintenance windows."""

    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Precondition(StrEnum):
    """Checks that must hold before (and, for some, during) a renewal."""

    SSO_DISABLED = "sso_disabled"  # tomcat: SAML SSO must be disabled first
    NO_DRF_JOB = "no_drf_job"  # ipsec: no DRF backup or restore may run
    SECURITY_MODE_KNOWN = "security_mode_known"  # read Cluster Security Mode (CTL update if mixed)
    PHONES_REGISTERED = "phones_registered"  # baseline phone count taken before touching anything


KEY_USAGES = (
    "digital_signature",
    "key_encipherment",
    "key_agreement",
    "key_cert_sign",
)
"""Key-usage names as ``cryptography.x509.KeyUsage`` attributes."""

SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"
IPSEC_END_SYSTEM = "1.3.6.1.5.5.7.3.5"


@dataclass(frozen=True)
class ServiceRestart:
    """One service to restart after an upload, on the node roles listed."""

    service: str
    via: RestartVia
    roles: frozenset[NodeRole]
    min_version: tuple[int, int] | None = None  # e.g. (14, 0): only on CUCM 14 and later
    note: str = ""

    def applies_to(self, role: NodeRole, version: tuple[int, int]) -> bool:
        """True when this restart is due on a node of ``role`` running ``version``."""
        if role not in self.roles:
            return False
        return self.min_version is None or version >= self.min_version


@dataclass(frozen=True)
class UnitSpec:
    """Everything certops knows about one certificate unit."""

    name: str
    trust_store: str
    scope: NodeScope
    key_type: str  # "rsa" or "ec"
    restarts: tuple[ServiceRestart, ...]
    ctl_update_in_mixed_mode: bool
    reset_phones: bool
    risk: Risk
    preconditions: frozenset[Precondition]
    exclusion_group: str | None  # units in one group never run at the same time on a cluster
    key_usage: frozenset[str]  # required KeyUsage bits (cryptography attribute names)
    extended_key_usage: frozenset[str]  # required EKU OIDs (dotted strings)
    must_be_ca: bool  # CAPF signs phone certificates (LSCs), so its certificate is a CA
    impact: str  # what breaks when a renewal goes wrong (Cisco's impact table)
    scanned: bool = True  # reported by the expiry scan
    inferred: tuple[str, ...] = field(default=())  # facts that are [INF] and must be confirmed

    def nodes_with(self, role: NodeRole) -> bool:
        """True when a node of ``role`` holds this unit."""
        if self.scope is NodeScope.ALL:
            return True
        if self.scope is NodeScope.CUCM:
            return role in (NodeRole.PUBLISHER, NodeRole.SUBSCRIBER)
        return role is NodeRole.PUBLISHER

    def restarts_for(self, role: NodeRole, version: tuple[int, int]) -> list[ServiceRestart]:
        """The restarts due on a node of ``role`` at ``version``, in table order."""
        return [r for r in self.restarts if r.applies_to(role, version)]


_ALL = frozenset(NodeRole)
_CUCM = frozenset({NodeRole.PUBLISHER, NodeRole.SUBSCRIBER})
_PUB = frozenset({NodeRole.PUBLISHER})
_NOT_PUB = frozenset({NodeRole.SUBSCRIBER, NodeRole.IMP})
V14 = (14, 0)

_TOMCAT_RESTARTS = (
    ServiceRestart("Cisco Tomcat", RestartVia.CLI, _ALL, note="CLI only: Control Center runs inside Tomcat"),
    ServiceRestart("Cisco UDS Tomcat", RestartVia.CLI, _CUCM, V14, note="CUCM 14+ upload pop-up"),
    ServiceRestart("Cisco AXL Tomcat", RestartVia.CLI, _CUCM, V14, note="CUCM 14+ upload pop-up"),
    ServiceRestart("Cisco DRF Master", RestartVia.SOAP, _PUB, V14, note="CUCM 14+ upload pop-up"),
    ServiceRestart("Cisco DRF Local", RestartVia.SOAP, _ALL, V14, note="CUCM 14+ upload pop-up"),
)

_CALLMANAGER_RESTARTS = (
    ServiceRestart("Cisco CallManager", RestartVia.SOAP, _CUCM),
    ServiceRestart("Cisco CTIManager", RestartVia.SOAP, _CUCM),
    ServiceRestart("Cisco Trust Verification Service", RestartVia.SOAP, _CUCM),
    ServiceRestart("Cisco Tftp", RestartVia.SOAP, _CUCM),
    ServiceRestart("Cisco HAProxy", RestartVia.CLI, _CUCM, V14, note="CLI only [INF]"),
)

_TVS_TFTP_RESTARTS = (
    ServiceRestart("Cisco Trust Verification Service", RestartVia.SOAP, _CUCM),
    ServiceRestart("Cisco Tftp", RestartVia.SOAP, _CUCM),
)

_RSA_SERVER_KU = frozenset({"digital_signature", "key_encipherment"})
_EC_SERVER_KU = frozenset({"digital_signature", "key_agreement"})
_SERVER_CLIENT = frozenset({SERVER_AUTH, CLIENT_AUTH})

UNITS: dict[str, UnitSpec] = {
    "tomcat": UnitSpec(
        name="tomcat",
        trust_store="tomcat-trust",
        scope=NodeScope.ALL,
        key_type="rsa",
        restarts=_TOMCAT_RESTARTS,
        ctl_update_in_mixed_mode=False,
        reset_phones=False,
        risk=Risk.MEDIUM,
        preconditions=frozenset({Precondition.SSO_DISABLED}),
        exclusion_group=None,
        key_usage=_RSA_SERVER_KU,
        extended_key_usage=_SERVER_CLIENT,
        must_be_ca=False,
        impact=(
            "SSO logins; phone HTTPS services (corporate directory); web pages between nodes; "
            "Extension Mobility and EMCC; Expressway traversal zones with TLS verify; "
            "UCCX/Finesse logins unless the new root/intermediate is in UCCX's tomcat-trust"
        ),
    ),
    "tomcat-ECDSA": UnitSpec(
        name="tomcat-ECDSA",
        trust_store="tomcat-trust",
        scope=NodeScope.ALL,
        key_type="ec",
        restarts=_TOMCAT_RESTARTS,
        ctl_update_in_mixed_mode=False,
        reset_phones=False,
        risk=Risk.MEDIUM,
        preconditions=frozenset({Precondition.SSO_DISABLED}),
        exclusion_group=None,
        key_usage=_EC_SERVER_KU,
        extended_key_usage=_SERVER_CLIENT,
        must_be_ca=False,
        impact="as tomcat, for clients that negotiate ECDSA",
    ),
    "ipsec": UnitSpec(
        name="ipsec",
        trust_store="ipsec-trust",
        scope=NodeScope.ALL,
        key_type="rsa",
        restarts=(
            ServiceRestart("Cisco DRF Master", RestartVia.SOAP, _PUB),
            ServiceRestart("Cisco DRF Local", RestartVia.SOAP, _ALL),
        ),
        ctl_update_in_mixed_mode=False,
        reset_phones=False,
        risk=Risk.MEDIUM,
        preconditions=frozenset({Precondition.NO_DRF_JOB}),
        exclusion_group=None,
        key_usage=_RSA_SERVER_KU,
        extended_key_usage=frozenset({SERVER_AUTH, CLIENT_AUTH, IPSEC_END_SYSTEM}),
        must_be_ca=False,
        impact="DRS/DRF backups and restores; IPsec tunnels to gateways and other clusters",
    ),
    "CAPF": UnitSpec(
        name="CAPF",
        trust_store="CAPF-trust",
        scope=NodeScope.PUBLISHER,
        key_type="rsa",
        restarts=(
            ServiceRestart("Cisco Certificate Authority Proxy Function", RestartVia.SOAP, _PUB),
            ServiceRestart("Cisco Trust Verification Service", RestartVia.SOAP, _CUCM),
            ServiceRestart("Cisco Tftp", RestartVia.SOAP, _CUCM),
        ),
        ctl_update_in_mixed_mode=True,
        reset_phones=True,
        risk=Risk.HIGH,
        preconditions=frozenset({Precondition.SECURITY_MODE_KNOWN, Precondition.PHONES_REGISTERED}),
        exclusion_group=None,
        # CUCM 15 Security Guide: "For any CAPF certificates, it should include ... Basic
        # Constraints: CA:TRUE, pathlen:0; Key Usage: Digital Signature, Certificate Sign. In the
        # CAPF certificates if these extensions are missing, there will be TLS connection failure."
        key_usage=frozenset({"digital_signature", "key_cert_sign"}),
        extended_key_usage=frozenset({SERVER_AUTH}),
        must_be_ca=True,
        impact=(
            "endpoint authentication and encryption (LSC), phone VPN, 802.1x, "
            "CTI/JTAPI/TAPI; phones with an LSC may need it reinstalled"
        ),
    ),
    "CallManager": UnitSpec(
        name="CallManager",
        trust_store="CallManager-trust",
        scope=NodeScope.CUCM,
        key_type="rsa",
        restarts=_CALLMANAGER_RESTARTS,
        ctl_update_in_mixed_mode=True,
        reset_phones=True,
        risk=Risk.CRITICAL,
        preconditions=frozenset({Precondition.SECURITY_MODE_KNOWN, Precondition.PHONES_REGISTERED}),
        exclusion_group="itl",
        key_usage=_RSA_SERVER_KU,
        extended_key_usage=_SERVER_CLIENT,
        must_be_ca=False,
        impact=(
            "phone registration (encrypted/authenticated phones), signed TFTP config and ITL, "
            "secure SIP trunks and media resources, AXL requests"
        ),
    ),
    "CallManager-ECDSA": UnitSpec(
        name="CallManager-ECDSA",
        trust_store="CallManager-trust",
        scope=NodeScope.CUCM,
        key_type="ec",
        restarts=_CALLMANAGER_RESTARTS,
        ctl_update_in_mixed_mode=True,
        reset_phones=True,
        risk=Risk.CRITICAL,
        preconditions=frozenset({Precondition.SECURITY_MODE_KNOWN, Precondition.PHONES_REGISTERED}),
        exclusion_group="itl",
        key_usage=_EC_SERVER_KU,
        extended_key_usage=_SERVER_CLIENT,
        must_be_ca=False,
        impact="as CallManager, for endpoints that negotiate ECDSA",
        inferred=("in the CallManager/TVS exclusion group: the ITL carries it too [INF, fail-safe]",),
    ),
    "TVS": UnitSpec(
        name="TVS",
        trust_store="CallManager-trust",
        scope=NodeScope.CUCM,
        key_type="rsa",
        restarts=_TVS_TFTP_RESTARTS,
        ctl_update_in_mixed_mode=False,
        reset_phones=True,
        risk=Risk.CRITICAL,
        preconditions=frozenset({Precondition.SECURITY_MODE_KNOWN, Precondition.PHONES_REGISTERED}),
        exclusion_group="itl",
        key_usage=_RSA_SERVER_KU,
        extended_key_usage=_SERVER_CLIENT,
        must_be_ca=False,
        impact=(
            "new phones cannot register; HTTPS applications on phones (EM, directory, MIDlets); "
            "TLS and config-file authentication"
        ),
        inferred=("trust store: CallManager-trust per procedure.md; some references say TVS-trust",),
    ),
    "ITLRecovery": UnitSpec(
        name="ITLRecovery",
        trust_store="CallManager-trust",
        scope=NodeScope.PUBLISHER,
        key_type="rsa",
        restarts=_TVS_TFTP_RESTARTS,
        ctl_update_in_mixed_mode=True,
        reset_phones=True,
        risk=Risk.CRITICAL,
        preconditions=frozenset({Precondition.SECURITY_MODE_KNOWN, Precondition.PHONES_REGISTERED}),
        exclusion_group="itl",
        key_usage=_RSA_SERVER_KU,
        extended_key_usage=_SERVER_CLIENT,
        must_be_ca=False,
        impact="ITL/CTL recovery key; phones that trust the old one need an ITL reset",
        scanned=False,
        inferred=("trust store and key usages not stated by Cisco's guide [INF]",),
    ),
}
"""Every unit certops knows, by its exact (case-sensitive) CUCM name."""

SCANNED_UNITS: tuple[str, ...] = tuple(name for name, spec in UNITS.items() if spec.scanned)


def unit(name: str) -> UnitSpec:
    """Return the spec for ``name`` or raise ``KeyError`` naming the known units."""
    try:
        return UNITS[name]
    except KeyError:
        known = ", ".join(UNITS)
        raise KeyError(f"unknown certificate unit {name!r}; known units (case matters): {known}") from None


def units_for_role(role: NodeRole) -> list[str]:
    """The scanned units a node of ``role`` holds (IM&P: tomcat, tomcat-ECDSA, ipsec)."""
    if role is NodeRole.IMP:
        return [n for n in SCANNED_UNITS if UNITS[n].scope is NodeScope.ALL]
    return list(SCANNED_UNITS)


def parse_version(version: str) -> tuple[int, int]:
    """``"15.0.1.11900-40"`` or ``"14.0"`` -> ``(15, 0)``."""
    parts = version.strip().split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise ValueError(f"not a CUCM version: {version!r} (expected e.g. '15.0' or '14.0.1.12900-5')") from None


def units_markdown() -> str:
    """The unit table as Markdown: what ``docs/units.md`` holds and ``certops units`` prints."""
    role_names = {NodeRole.PUBLISHER: "pub", NodeRole.SUBSCRIBER: "sub", NodeRole.IMP: "IM&P"}
    lines = [
        "| unit | nodes | trust store | key | restarts after upload (roles, how, from version) "
        "| CTL update in mixed mode | phones reset | risk | preconditions | never together with |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for spec in UNITS.values():
        restarts = "<br>".join(
            f"{r.service} ({'/'.join(role_names[x] for x in NodeRole if x in r.roles)}, {r.via.value}"
            + (f", {r.min_version[0]}.{r.min_version[1]}+" if r.min_version else "")
            + ")"
            for r in spec.restarts
        )
        group = [u for u, s in UNITS.items() if s.exclusion_group and s.exclusion_group == spec.exclusion_group]
        others = ", ".join(u for u in group if u != spec.name) or "—"
        pre = ", ".join(sorted(p.value for p in spec.preconditions)) or "—"
        lines.append(
            f"| {spec.name} | {spec.scope.value} | {spec.trust_store} | {spec.key_type} | {restarts} "
            f"| {'yes' if spec.ctl_update_in_mixed_mode else 'no'} | {'yes' if spec.reset_phones else 'no'} "
            f"| {spec.risk.value} | {pre} | {others} |"
        )
    notes = [f"- {spec.name}: {note}" for spec in UNITS.values() for note in spec.inferred]
    out = "\n".join(lines) + "\n"
    if notes:
        out += "\nTo confirm on a lab cluster:\n\n" + "\n".join(notes) + "\n"
    return out
