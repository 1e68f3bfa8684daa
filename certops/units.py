"""The one table of certificate units.

Everything that differs between units lives here and nowhere else: which nodes hold the unit,
its trust store, which services restart after an upload (on which node role, by SOAP or CLI,
from which version), whether a mixed-mode cluster needs a CTL update, whether phones are reset,
the key type, the key usages the signed certificate must carry, the risk, and the rules
(preconditions, exclusion group). Flows, the dry-run plan, the docs and the tests all read it.

Sources: ``shared/docs/procedure.md`` ("What each unit needs" = the seed, Cisco's renewal guide;
"What Cisco's Security Guides add to the seed" = the CUCM Security Guides 12.5(1)SU2 and 14SU2),
``cucm-interfaces.md`` §7. Every restart cites where it comes from (``Cite``): ``[SEED]``,
``[GUIDE 12.5SU2]``, ``[GUIDE 14SU2]``. Where the seed and a guide differ, both are done when that
is safe (one more restart) and the choice is written down in the unit's ``guide_notes``.

Versions are read from the node (``show version active``) down to the Service Update
(:func:`parse_release`), so a restart that the guides tie to an SU (e.g. 14SU1+) applies exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class NodeRole(StrEnum):
    """The role of a node in its cluster."""

    PUBLISHER = "publisher"
    SUBSCRIBER = "subscriber"
    IMP = "imp"  # an IM and Presence node
    IMP_PUBLISHER = "imp-publisher"  # the IM and Presence database publisher (first IM&P node installed)


IMP_ROLES = frozenset({NodeRole.IMP, NodeRole.IMP_PUBLISHER})
"""The roles of IM and Presence nodes."""


class NodeScope(StrEnum):
    """Which nodes of a cluster hold a unit that certops renews."""

    ALL = "all"  # every node, CUCM and IM&P
    CUCM = "cucm"  # every CUCM node (publisher and subscribers), not IM&P
    PUBLISHER = "publisher"  # the publisher only
    IMP = "imp"  # every IM and Presence node (database publisher included), no CUCM node
    IMP_FEDERATION = "imp-federation"  # the IM and Presence nodes with XMPP federation on (inventory ``federation``)


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
    # every configured phone (AXL listPhone) registered now (RisPort70) — ITLRecovery (GUIDE 12.5SU2/14SU2)
    EVERY_PHONE_REGISTERED = "every_phone_registered"


KEY_USAGES = (
    "digital_signature",
    "key_encipherment",
    "key_agreement",
    "key_cert_sign",
)
"""Key-usage names as ``cryptography.x509.KeyUsage`` attributes."""


class Source(StrEnum):
    """Where a fact of the table comes from (``procedure.md``)."""

    SEED = "SEED"  # Cisco's renewal guide (procedure.md "What each unit needs"), TAC 214231/225476
    GUIDE_12_5_SU2 = "GUIDE 12.5SU2"  # CUCM Security Guide 12.5(1)SU2 (procedure.md, Security Guides)
    GUIDE_14_SU2 = "GUIDE 14SU2"  # CUCM Security Guide 14SU2 (procedure.md, Security Guides)
    # IM&P: procedure.md "What Cisco's Security Guides add" (IM&P units) and Cisco's IM and Presence
    # Configuration and Administration guides (10.0/11.5: cup-xmpp-s2s trusts in cup-xmpp-trust; the
    # XMPP Federation Connection Manager runs only where federation is on)
    GUIDE_IMP = "GUIDE IM&P"


Release = tuple[int, ...]
"""``(major, minor, su)`` when the Service Update is known, ``(major, minor)`` when it is not."""


@dataclass(frozen=True)
class Cite:
    """One source for a restart, and the release from which that source asks for it (None: always)."""

    source: Source
    since: Release | None = None


SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"
IPSEC_END_SYSTEM = "1.3.6.1.5.5.7.3.5"


@dataclass(frozen=True)
class ServiceRestart:
    """One service to restart after an upload, on the node roles listed, with its sources."""

    service: str
    via: RestartVia
    roles: frozenset[NodeRole]
    cites: tuple[Cite, ...] = (Cite(Source.SEED),)
    note: str = ""

    @property
    def min_version(self) -> Release | None:
        """The first release on which any source asks for this restart (both sources are followed)."""
        if any(c.since is None for c in self.cites):
            return None
        return min(c.since for c in self.cites if c.since is not None)

    def applies_to(self, role: NodeRole, version: Release) -> bool:
        """True when this restart is due on a node of ``role`` running ``version``.

        ``version`` is ``(major, minor, su)`` or, when the Service Update is unknown,
        ``(major, minor)``: then a restart tied to an SU of that release is done (one more
        restart is the safe side).
        """
        if role not in self.roles:
            return False
        low = self.min_version
        if low is None:
            return True
        if len(version) < 3:
            return tuple(version[:2]) >= tuple(low[:2])
        return tuple(version) >= tuple(low)

    def sources_text(self) -> str:
        """E.g. ``[SEED 14.0+] [GUIDE 14SU2 14SU1+]``."""
        return " ".join(
            f"[{c.source.value}{' ' + release_label(c.since) + '+' if c.since else ''}]" for c in self.cites
        )


@dataclass(frozen=True)
class PlanOrder:
    """A unit's place when several units of one cluster are due together (one plan, in Cisco's order).

    ``rank``: lower goes first. ``alone``: never in a plan with other units (a plan of its own).
    ``independent``: a refusal by its own rules (SSO enabled, a DRF job running), before anything
    changed, skips it and the plan goes on; any other failure stops the plan. ``why`` says the
    reason, ``sources`` where it comes from (``procedure.md``).
    """

    rank: int
    why: str
    sources: tuple[Source, ...]
    alone: bool = False
    independent: bool = False

    def sources_text(self) -> str:
        """E.g. ``[SEED] [GUIDE 14SU2]``."""
        return " ".join(f"[{s.value}]" for s in self.sources)


@dataclass(frozen=True)
class MultiServer:
    """A unit that may be renewed as one multi-server (Multi-SAN) certificate for the whole cluster.

    One CSR on the publisher (the IM&P database publisher for the cup* units) with distribution
    multi-server, every node of the cluster holding the unit in its SANs; CUCM distributes the
    uploaded certificate to those nodes. ``since``: the first release on which certops does it;
    ``ms_common_name``: the CN is ``<host>-ms.<domain>`` (``<host>-EC-ms.<domain>`` for ECDSA) of
    the publisher, as Cisco says for CallManager; otherwise the publisher's FQDN [INF].
    """

    since: Release
    sources: tuple[Source, ...]
    note: str
    ms_common_name: bool = False

    def sources_text(self) -> str:
        """E.g. ``[GUIDE 14SU2]``."""
        return " ".join(f"[{s.value}]" for s in self.sources)


MULTI_SERVER_NO_CLI_FROM: Release = (14, 0, 2)
"""From 14SU2 Cisco forbids uploading a multi-server certificate through the CLI (procedure.md, 14SU2 guide)."""


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
    guide_notes: tuple[str, ...] = field(default=())  # what the Security Guides add, and the choice made
    # the phones reset themselves when this certificate changes and "Phone Interaction on Certificate
    # Update" is automatic (GUIDE 12.5SU2/14SU2: TVS, CAPF, CallManager/TFTP; CallManager-ECDSA [INF])
    phones_reset_themselves: bool = False
    # phones that use SIP OAuth must be reset after the Cisco Tomcat restart on CUCM 14+ (GUIDE 14SU2)
    resets_sip_oauth_phones: bool = False
    # IM&P: the CA certificates go to the IM&P database publisher only; then Cisco Intercluster Sync
    # Agent is restarted there and certops waits (bounded) until every IM&P node's trust store has them
    trust_via_imp_publisher: bool = False
    plan_order: PlanOrder | None = None  # its place in a cluster plan (certops renew --cluster C --due)
    # may be one multi-server (Multi-SAN) certificate for the cluster (inventory ``multi_server``)
    multi_server: MultiServer | None = None

    def nodes_with(self, role: NodeRole, federation: bool = False) -> bool:
        """True when a node of ``role`` holds this unit (``federation``: the node has XMPP federation on)."""
        if self.scope is NodeScope.ALL:
            return True
        if self.scope is NodeScope.CUCM:
            return role in (NodeRole.PUBLISHER, NodeRole.SUBSCRIBER)
        if self.scope is NodeScope.IMP:
            return role in IMP_ROLES
        if self.scope is NodeScope.IMP_FEDERATION:
            return role in IMP_ROLES and federation
        return role is NodeRole.PUBLISHER

    def restarts_for(self, role: NodeRole, version: Release) -> list[ServiceRestart]:
        """The restarts due on a node of ``role`` at ``version``, in table order."""
        return [r for r in self.restarts if r.applies_to(role, version)]


_ALL = frozenset(NodeRole)
_CUCM = frozenset({NodeRole.PUBLISHER, NodeRole.SUBSCRIBER})
_PUB = frozenset({NodeRole.PUBLISHER})
_NOT_PUB = frozenset({NodeRole.SUBSCRIBER, NodeRole.IMP, NodeRole.IMP_PUBLISHER})
_IMP = IMP_ROLES
_IMP_PUB = frozenset({NodeRole.IMP_PUBLISHER})
V14: Release = (14, 0, 0)
V14SU1: Release = (14, 0, 1)

_SEED = Cite(Source.SEED)
_GIMP = Cite(Source.GUIDE_IMP)
_SEED14 = Cite(Source.SEED, V14)
_G14 = Cite(Source.GUIDE_14_SU2, V14)

_MS_WHY = (
    "one CSR on the publisher, every CUCM and IM&P node holding the unit in its SANs [INF: one certificate for "
    "the CUCM and IM&P nodes of the inventory's cluster; Cisco's IM&P guides may want IM&P's own, made on the "
    "IM&P database publisher]"
)
_MS_COMMON = MultiServer(V14, (Source.GUIDE_12_5_SU2, Source.GUIDE_14_SU2), _MS_WHY)
_MS_CALLMANAGER = MultiServer(
    V14,
    (Source.GUIDE_12_5_SU2, Source.GUIDE_14_SU2),
    "one CSR on the publisher, every CUCM node in its SANs; the ITL group rules hold as per node",
    ms_common_name=True,
)
_MS_TVS = MultiServer(
    V14, (Source.GUIDE_14_SU2,), "from 14 (14SU2 guide): one CSR on the publisher, every CUCM node in its SANs"
)
_MS_IMP = MultiServer(
    V14,
    (Source.GUIDE_14_SU2, Source.GUIDE_IMP),
    "one CSR on the IM&P database publisher, every IM&P node holding the unit in its SANs",
)

_TOMCAT_RESTARTS = (
    ServiceRestart("Cisco Tomcat", RestartVia.CLI, _ALL, (_SEED,), "CLI only: Control Center runs inside Tomcat"),
    ServiceRestart(
        "Cisco Tftp",
        RestartVia.SOAP,
        _CUCM,
        (Cite(Source.GUIDE_12_5_SU2),),
        "else TFTP keeps offering the old cached certificate",
    ),
    ServiceRestart("Cisco UDS Tomcat", RestartVia.CLI, _CUCM, (_SEED14,), "CUCM 14+ upload pop-up"),
    ServiceRestart(
        "Cisco AXL Tomcat", RestartVia.CLI, _CUCM, (_SEED14, _G14), "the guide's 'Cisco AXL Tomcat Web Service' [INF]"
    ),
    ServiceRestart("Cisco DRF Master", RestartVia.SOAP, _PUB, (_SEED14, _G14), "the guide's 'DRS Master'"),
    ServiceRestart("Cisco DRF Local", RestartVia.SOAP, _ALL, (_SEED14, _G14), "the guide's 'DRS Local'"),
    ServiceRestart("Cisco Intercluster Lookup Service", RestartVia.SOAP, _CUCM, (_G14,)),
    ServiceRestart("Cisco Location Bandwidth Manager", RestartVia.SOAP, _CUCM, (_G14,)),
    ServiceRestart("Cisco Extension Mobility", RestartVia.SOAP, _CUCM, (_G14,)),
    ServiceRestart(
        "Cisco Intercluster Sync Agent",
        RestartVia.SOAP,
        _IMP_PUB,
        (_GIMP,),
        "IM&P database publisher: the new CA certificate reaches the other IM&P nodes and peers [INF which nodes]",
    ),
)

_TOMCAT_ECDSA_RESTARTS = (
    ServiceRestart("Cisco Tomcat", RestartVia.CLI, _ALL, (_SEED, _G14), "CLI only: Control Center runs inside Tomcat"),
    ServiceRestart("Cisco UDS Tomcat", RestartVia.CLI, _CUCM, (_SEED14, _G14), "CUCM 14+ upload pop-up"),
    ServiceRestart("Cisco AXL Tomcat", RestartVia.CLI, _CUCM, (_SEED14, _G14), "CUCM 14+ upload pop-up"),
    ServiceRestart("Cisco DRF Master", RestartVia.SOAP, _PUB, (_SEED14, _G14), "the guide's 'DRS Master'"),
    ServiceRestart("Cisco DRF Local", RestartVia.SOAP, _ALL, (_SEED14, _G14), "the guide's 'DRS Local'"),
    ServiceRestart(
        "Cisco Intercluster Sync Agent",
        RestartVia.SOAP,
        _IMP_PUB,
        (_GIMP,),
        "IM&P database publisher: the new CA certificate reaches the other IM&P nodes and peers [INF which nodes]",
    ),
)

_CALLMANAGER_RESTARTS = (
    ServiceRestart("Cisco CallManager", RestartVia.SOAP, _CUCM),
    ServiceRestart("Cisco CTIManager", RestartVia.SOAP, _CUCM),
    ServiceRestart("Cisco Trust Verification Service", RestartVia.SOAP, _CUCM),
    ServiceRestart("Cisco Tftp", RestartVia.SOAP, _CUCM),
    ServiceRestart(
        "Cisco HAProxy", RestartVia.CLI, _CUCM, (_SEED14, Cite(Source.GUIDE_14_SU2, V14SU1)), "CLI only [INF]"
    ),
)

_CALLMANAGER_ECDSA_RESTARTS = (
    ServiceRestart("Cisco CallManager", RestartVia.SOAP, _CUCM, (_SEED, Cite(Source.GUIDE_14_SU2))),
    ServiceRestart("Cisco CTIManager", RestartVia.SOAP, _CUCM),
    ServiceRestart("Cisco Trust Verification Service", RestartVia.SOAP, _CUCM),
    ServiceRestart("Cisco Tftp", RestartVia.SOAP, _CUCM),
    ServiceRestart("Cisco HAProxy", RestartVia.CLI, _CUCM, (_SEED14, _G14), "CLI only [INF]"),
)

_TVS_TFTP_RESTARTS = (
    ServiceRestart("Cisco Trust Verification Service", RestartVia.SOAP, _CUCM),
    ServiceRestart("Cisco Tftp", RestartVia.SOAP, _CUCM),
)

_SELF_RESTART_NOTE = (
    "GUIDE 14SU2: needs no service restart (the service restarts itself); the seed restarts "
    "{services}: the seed's list is kept (one more restart is safe) [SEED over GUIDE 14SU2]"
)
_PHONES_NOTE = (
    "GUIDE 12.5SU2/14SU2: phones may reset themselves when this certificate changes (enterprise parameter "
    "'Phone Interaction on Certificate Update', default automatic)"
)
_DRF_NOTE = "GUIDE 12.5SU2/14SU2: take a DRF backup after the regeneration (a restore without it locks every phone)"

_RSA_SERVER_KU = frozenset({"digital_signature", "key_encipherment"})
_EC_SERVER_KU = frozenset({"digital_signature", "key_agreement"})
_SERVER_CLIENT = frozenset({SERVER_AUTH, CLIENT_AUTH})

_CUP_RESTARTS = (
    ServiceRestart("Cisco SIP Proxy", RestartVia.SOAP, _IMP, (_GIMP,)),
    ServiceRestart("Cisco Presence Engine", RestartVia.SOAP, _IMP, (_GIMP,)),
)
_XMPP_RESTARTS = (
    ServiceRestart(
        "Cisco XCP Router",
        RestartVia.SOAP,
        _IMP,
        (_GIMP,),
        "every IM&P node of the cluster; its restart restarts the active XCP services too",
    ),
)
_S2S_RESTARTS = (
    ServiceRestart(
        "Cisco XCP XMPP Federation Connection Manager",
        RestartVia.SOAP,
        _IMP,
        (_GIMP,),
        "runs only on nodes with XMPP federation on (elsewhere not activated, so not restarted)",
    ),
)
_IMP_USAGE_NOTE = (
    "GUIDE: key usages as procedure.md reads the guides' table for the cup* units: serverAuth, clientAuth and "
    "IPsec End System (to confirm: the 12.5SU2 and 14SU2 tables differ in places)"
)
_IMP_TRUST_NOTE = (
    "GUIDE IM&P: the CA certificates go to the IM&P database publisher only; certops then restarts Cisco "
    "Intercluster Sync Agent there and waits (imp_trust_replication_timeout, Cisco: about 30 minutes) until "
    "every IM&P node's {store} holds them, or names the node, store and certificate that did not replicate"
)


def _imp_unit(
    name: str,
    trust_store: str,
    scope: NodeScope,
    key_type: str,
    restarts: tuple[ServiceRestart, ...],
    risk: Risk,
    impact: str,
    inferred: tuple[str, ...] = (),
    multi_server: MultiServer | None = None,
) -> UnitSpec:
    """An IM and Presence unit (``cup*``): IM&P nodes only, no phones, no CTL, trust via the IM&P publisher."""
    return UnitSpec(
        name=name,
        trust_store=trust_store,
        scope=scope,
        key_type=key_type,
        restarts=restarts,
        ctl_update_in_mixed_mode=False,
        reset_phones=False,
        risk=risk,
        preconditions=frozenset(),
        exclusion_group=None,
        key_usage=_EC_SERVER_KU if key_type == "ec" else _RSA_SERVER_KU,
        extended_key_usage=frozenset({SERVER_AUTH, CLIENT_AUTH, IPSEC_END_SYSTEM}),
        must_be_ca=False,
        impact=impact,
        trust_via_imp_publisher=True,
        multi_server=multi_server,
        plan_order=PlanOrder(
            25,
            "IM&P unit: no phone reset and not in the ITL group: early, after tomcat (whose trust it may share), "
            "whenever its rules allow [INF: the guides give no order across IM&P units]",
            (Source.GUIDE_IMP,),
            independent=True,
        ),
        guide_notes=(_IMP_TRUST_NOTE.format(store=trust_store), _IMP_USAGE_NOTE),
        inferred=(
            *inferred,
            "the IPsec End System EKU on the cup* units, read from procedure.md's summary of the guides [INF]",
            "restarts through Control Center (soapDoControlServices) on IM&P nodes [INF: the guides say "
            "Serviceability > Control Center]",
        ),
    )


UNITS: dict[str, UnitSpec] = {
    "tomcat": UnitSpec(
        name="tomcat",
        multi_server=_MS_COMMON,
        plan_order=PlanOrder(
            20,
            "no phone reset and not in the ITL group: early, whenever its rules allow (SAML SSO disabled)",
            (Source.SEED,),
            independent=True,
        ),
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
        resets_sip_oauth_phones=True,
        guide_notes=(
            "GUIDE 12.5SU2: Cisco Tftp restarts too, else TFTP keeps offering the old cached certificate",
            "GUIDE 14SU2: on 14+ also Cisco Intercluster Lookup Service, Cisco Location Bandwidth Manager, "
            "Cisco DRS Local/Master, Cisco Extension Mobility and Cisco AXL Tomcat Web Service, where activated",
            "GUIDE 14SU2: from 14, phones that use SIP OAuth must be reset by hand after the Tomcat restart "
            "(certops resets them, or lists them with policy sip_oauth_phones: list) [INF: how they are found]",
            "GUIDE 14SU2: SAML SSO with the tomcat certificate needs the SP metadata re-provisioned on the IdP",
            _DRF_NOTE,
        ),
        impact=(
            "SSO logins; phone HTTPS services (corporate directory); web pages between nodes; "
            "Extension Mobility and EMCC; Expressway traversal zones with TLS verify; "
            "UCCX/Finesse logins unless the new root/intermediate is in UCCX's tomcat-trust"
        ),
    ),
    "tomcat-ECDSA": UnitSpec(
        name="tomcat-ECDSA",
        plan_order=PlanOrder(
            21,
            "as tomcat: no phone reset, not in the ITL group; whenever its rules allow",
            (Source.SEED,),
            independent=True,
        ),
        trust_store="tomcat-trust",
        scope=NodeScope.ALL,
        key_type="ec",
        restarts=_TOMCAT_ECDSA_RESTARTS,
        ctl_update_in_mixed_mode=False,
        reset_phones=False,
        risk=Risk.MEDIUM,
        preconditions=frozenset({Precondition.SSO_DISABLED}),
        exclusion_group=None,
        key_usage=_EC_SERVER_KU,
        extended_key_usage=_SERVER_CLIENT,
        must_be_ca=False,
        resets_sip_oauth_phones=True,
        guide_notes=(
            "GUIDE 14SU2: Cisco Tomcat, DRS Local/Master, UDS Tomcat, AXL Tomcat (the seed's 14+ list; no TFTP)",
            _DRF_NOTE,
        ),
        impact="as tomcat, for clients that negotiate ECDSA",
    ),
    "ipsec": UnitSpec(
        name="ipsec",
        plan_order=PlanOrder(
            10,
            "no phone reset and not in the ITL group: first, whenever its rules allow (no DRF backup or restore "
            "running)",
            (Source.SEED,),
            independent=True,
        ),
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
        guide_notes=(_DRF_NOTE,),
        impact="DRS/DRF backups and restores; IPsec tunnels to gateways and other clusters",
    ),
    "CAPF": UnitSpec(
        name="CAPF",
        plan_order=PlanOrder(
            30,
            "resets the phones but is not in the ITL group: before the ITL group, so that the TFTP (CallManager) "
            "certificate stays last",
            (Source.GUIDE_12_5_SU2, Source.GUIDE_14_SU2),
        ),
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
        phones_reset_themselves=True,
        guide_notes=(
            _SELF_RESTART_NOTE.format(services="CAPF, TVS and TFTP"),
            _PHONES_NOTE,
            _DRF_NOTE,
        ),
        impact=(
            "endpoint authentication and encryption (LSC), phone VPN, 802.1x, "
            "CTI/JTAPI/TAPI; phones with an LSC may need it reinstalled"
        ),
    ),
    "CallManager": UnitSpec(
        name="CallManager",
        multi_server=_MS_CALLMANAGER,
        plan_order=PlanOrder(
            60,
            "the TFTP certificate goes last among the ITL group (after TVS, once its phones re-registered)",
            (Source.GUIDE_12_5_SU2, Source.GUIDE_14_SU2),
        ),
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
        phones_reset_themselves=True,
        guide_notes=(
            "GUIDE 14SU2: Cisco HAProxy from 14SU1 (+ CTL update in mixed mode); the seed restarts it from 14.0: "
            "both are followed, so from 14.0",
            "GUIDE 12.5SU2/14SU2: when TVS is due too, renew TVS first, wait for the phones, "
            "then CallManager (TFTP last)",
            "GUIDE: some phone models fail to register with a CallManager RSA key above 2048 bits",
            _PHONES_NOTE,
            _DRF_NOTE,
        ),
        impact=(
            "phone registration (encrypted/authenticated phones), signed TFTP config and ITL, "
            "secure SIP trunks and media resources, AXL requests"
        ),
    ),
    "CallManager-ECDSA": UnitSpec(
        name="CallManager-ECDSA",
        plan_order=PlanOrder(
            50,
            "ITL group, after TVS and before CallManager so that the RSA TFTP certificate goes last [INF: the "
            "guides name the TFTP certificate, not its ECDSA twin]",
            (Source.GUIDE_12_5_SU2, Source.GUIDE_14_SU2),
        ),
        trust_store="CallManager-trust",
        scope=NodeScope.CUCM,
        key_type="ec",
        restarts=_CALLMANAGER_ECDSA_RESTARTS,
        ctl_update_in_mixed_mode=True,
        reset_phones=True,
        risk=Risk.CRITICAL,
        preconditions=frozenset({Precondition.SECURITY_MODE_KNOWN, Precondition.PHONES_REGISTERED}),
        exclusion_group="itl",
        key_usage=_EC_SERVER_KU,
        extended_key_usage=_SERVER_CLIENT,
        must_be_ca=False,
        phones_reset_themselves=True,
        guide_notes=(
            "GUIDE 14SU2: Cisco CallManager and Cisco HAProxy; the seed's CallManager list is kept (a superset)",
            _PHONES_NOTE,
            _DRF_NOTE,
        ),
        impact="as CallManager, for endpoints that negotiate ECDSA",
        inferred=("in the CallManager/TVS exclusion group: the ITL carries it too [INF, fail-safe]",),
    ),
    "TVS": UnitSpec(
        name="TVS",
        multi_server=_MS_TVS,
        plan_order=PlanOrder(
            40,
            "TVS before CallManager: regenerate TVS, wait for the phones to re-register, then the TFTP "
            "(CallManager) certificate",
            (Source.GUIDE_12_5_SU2, Source.GUIDE_14_SU2),
        ),
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
        phones_reset_themselves=True,
        guide_notes=(
            _SELF_RESTART_NOTE.format(services="TVS and TFTP"),
            "GUIDE 12.5SU2/14SU2: TVS goes before CallManager when both are due",
            _PHONES_NOTE,
            _DRF_NOTE,
        ),
        impact=(
            "new phones cannot register; HTTPS applications on phones (EM, directory, MIDlets); "
            "TLS and config-file authentication"
        ),
        inferred=("trust store: CallManager-trust per procedure.md; some references say TVS-trust",),
    ),
    "ITLRecovery": UnitSpec(
        name="ITLRecovery",
        plan_order=PlanOrder(
            90,
            "signs the ITL files from 12.0: renewed rarely, only alone (a plan of its own) and with every phone "
            "registered",
            (Source.GUIDE_12_5_SU2, Source.GUIDE_14_SU2),
            alone=True,
        ),
        trust_store="CallManager-trust",
        scope=NodeScope.PUBLISHER,
        key_type="rsa",
        restarts=_TVS_TFTP_RESTARTS,
        ctl_update_in_mixed_mode=True,
        reset_phones=True,
        risk=Risk.CRITICAL,
        preconditions=frozenset(
            {Precondition.SECURITY_MODE_KNOWN, Precondition.PHONES_REGISTERED, Precondition.EVERY_PHONE_REGISTERED}
        ),
        exclusion_group="itl",
        key_usage=_RSA_SERVER_KU,
        extended_key_usage=_SERVER_CLIENT,
        must_be_ca=False,
        guide_notes=(
            _SELF_RESTART_NOTE.format(services="TVS and TFTP"),
            "GUIDE: ITL files are signed by ITLRecovery from 12.0; renew it rarely and only with "
            "every phone registered",
            "GUIDE 14SU2: SAML SSO with the ITLRecovery certificate needs the SP metadata re-provisioned on the IdP",
            _DRF_NOTE,
        ),
        impact="ITL/CTL recovery key; phones that trust the old one need an ITL reset",
        scanned=False,
        inferred=("trust store and key usages not stated by Cisco's guide [INF]",),
    ),
    "cup": _imp_unit(
        "cup",
        "cup-trust",
        NodeScope.IMP,
        "rsa",
        _CUP_RESTARTS,
        Risk.MEDIUM,
        "SIP on the IM&P node: the TLS SIP trunk to CUCM, presence for SIP clients, SIP federation "
        "(Microsoft Lync/OCS/Skype partitioned intradomain and interdomain federation)",
    ),
    "cup-ECDSA": _imp_unit(
        "cup-ECDSA",
        "cup-trust",
        NodeScope.IMP,
        "ec",
        _CUP_RESTARTS,
        Risk.MEDIUM,
        "as cup, for SIP peers that negotiate ECDSA",
        ("trust store: cup-trust, as for cup (the guides name no cup-ECDSA-trust) [INF]",),
    ),
    "cup-xmpp": _imp_unit(
        "cup-xmpp",
        "cup-xmpp-trust",
        NodeScope.IMP,
        "rsa",
        _XMPP_RESTARTS,
        Risk.HIGH,
        "Jabber (XMPP client-to-server TLS) logins, IM and presence on every IM&P node; MRA through Expressway "
        "(Expressway-C X14.2+ verifies it)",
        multi_server=_MS_IMP,
    ),
    "cup-xmpp-ECDSA": _imp_unit(
        "cup-xmpp-ECDSA",
        "cup-xmpp-trust",
        NodeScope.IMP,
        "ec",
        _XMPP_RESTARTS,
        Risk.HIGH,
        "as cup-xmpp, for XMPP clients that negotiate ECDSA",
        ("trust store: cup-xmpp-trust, as for cup-xmpp [INF]",),
    ),
    "cup-xmpp-s2s": _imp_unit(
        "cup-xmpp-s2s",
        "cup-xmpp-trust",
        NodeScope.IMP_FEDERATION,
        "rsa",
        _S2S_RESTARTS,
        Risk.MEDIUM,
        "XMPP federation with other domains (server-to-server TLS) from the federation nodes",
        multi_server=_MS_IMP,
    ),
    "cup-xmpp-s2s-ECDSA": _imp_unit(
        "cup-xmpp-s2s-ECDSA",
        "cup-xmpp-trust",
        NodeScope.IMP_FEDERATION,
        "ec",
        _S2S_RESTARTS,
        Risk.MEDIUM,
        "as cup-xmpp-s2s, for federated servers that negotiate ECDSA",
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
    """The scanned units a node of ``role`` holds.

    IM&P nodes: tomcat, tomcat-ECDSA, ipsec and every cup* unit — cup-xmpp-s2s and its ECDSA twin too
    on nodes without XMPP federation: every IM&P node has them, and the scan shows them, judged unused
    there by the due rules, as a subscriber's CAPF; CUCM nodes: every scanned unit but the cup* ones.
    """
    if role in IMP_ROLES:
        return [n for n in SCANNED_UNITS if UNITS[n].nodes_with(role, True)]
    return [n for n in SCANNED_UNITS if UNITS[n].scope not in (NodeScope.IMP, NodeScope.IMP_FEDERATION)]


def parse_version(version: str) -> tuple[int, int]:
    """``"15.0.1.11900-40"`` or ``"14.0"`` -> ``(15, 0)``."""
    parts = version.strip().split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise ValueError(f"not a CUCM version: {version!r} (expected e.g. '15.0' or '14.0.1.12900-5')") from None


_BUILD = re.compile(r"^(?P<major>\d+)\.(?P<minor>\d+)\.\d+\.(?P<build>\d{5})-\d+$")

KNOWN_BUILDS: dict[str, str] = {
    "12.5.1.10000-22": "12.5(1)",
    "12.5.1.11900-146": "12.5(1)SU1",
    "12.5.1.12900-115": "12.5(1)SU2",
    "12.5.1.17900-64": "12.5(1)SU7",
    "14.0.1.10000-20": "14",
    "14.0.1.11900-132": "14SU1",
    "14.0.1.12900-161": "14SU2",
    "14.0.1.13900-155": "14SU3",
    "15.0.1.10000-32": "15",
    "15.0.1.11900-40": "15SU1",
}
"""Builds as ``show version active`` prints them and the release Cisco's release notes name
[INF: the build numbers as remembered from Cisco's release notes, not re-read for this table]."""


def parse_release(version: str, service_update: int | None = None) -> Release:
    """The release a node runs, down to the Service Update, from ``show version active``.

    ``"14.0.1.12900-161"`` -> ``(14, 0, 2)`` (14SU2): Cisco numbers builds ``x.y.1.1<k>900-n``
    for SU k and ``x.y.1.10000-n`` for the first release [INF: rule read off the builds in
    ``KNOWN_BUILDS``]; an engineering special between SUs (``x.y.1.1<k>0nn``) counts as the SU
    before it. A short version (``"14.0"``, from the inventory) gives ``(14, 0)``: SU unknown.
    ``service_update`` (the inventory's ``service_update``) overrides what the build says.
    """
    major, minor = parse_version(version)
    if service_update is not None:
        return (major, minor, service_update)
    m = _BUILD.match(version.strip())
    if m is None:
        return (major, minor)
    build = int(m["build"])
    su = build // 1000 - 10 if build % 1000 >= 900 else build // 1000 - 11
    return (major, minor, max(su, 0))


def release_label(release: Release) -> str:
    """``(14, 0, 2)`` -> ``"14SU2"``, ``(12, 5, 0)`` -> ``"12.5"``, ``(14, 0)`` -> ``"14.0"``."""
    base = f"{release[0]}.{release[1]}"
    if len(release) < 3:
        return base
    if release[2] == 0:
        return base
    return f"{release[0] if release[1] == 0 else base}SU{release[2]}"


RELEASES: tuple[Release, ...] = ((12, 5, 0), (14, 0, 0), (14, 0, 1), (14, 0, 2), (15, 0, 0))
"""The releases the docs spell the restarts out for (those the guides distinguish)."""


def _by_release_markdown() -> str:
    """The restarts per release (publisher; subscribers drop the publisher-only ones) and the guides' notes."""
    head = " | ".join(release_label(r) for r in RELEASES)
    lines = [
        "",
        "## Release by release",
        "",
        "Services restarted on the publisher after the upload, by the release the node runs (read from "
        "`show version active`, down to the Service Update; subscribers skip the publisher-only ones, "
        "IM&P nodes the CUCM-only ones; the cup* units: on an IM&P node). Only services activated on the node "
        "are restarted. A service "
        "named with a source is due on that release by that source only (the other asks from a later one).",
        "",
        f"| unit | {head} |",
        "|---|" + "---|" * len(RELEASES),
    ]
    for spec in UNITS.values():
        cells = []
        for rel in RELEASES:
            names = []
            imp = spec.scope in (NodeScope.IMP, NodeScope.IMP_FEDERATION)
            for r in spec.restarts_for(NodeRole.IMP if imp else NodeRole.PUBLISHER, rel):
                asking = [c for c in r.cites if c.since is None or rel >= c.since]
                only = "" if len(asking) == len(r.cites) else " " + " ".join(f"[{c.source.value}]" for c in asking)
                names.append(r.service.removeprefix("Cisco ") + only)
            cells.append(", ".join(names) or "—")
        lines.append(f"| {spec.name} | " + " | ".join(cells) + " |")
    lines += ["", "What the Security Guides add, and the choice certops makes:", ""]
    lines += [f"- {spec.name}: {note}" for spec in UNITS.values() for note in spec.guide_notes]
    lines += [
        "",
        "Builds and their release [INF: build numbers as remembered from Cisco's release notes; the rule "
        "`x.y.1.1<k>900-n` = SU k is read off them; set `service_update` on the cluster in the inventory "
        "to override]:",
        "",
        "| build (`show version active`) | release | read as |",
        "|---|---|---|",
    ]
    lines += [f"| {b} | {name} | {release_label(parse_release(b))} |" for b, name in KNOWN_BUILDS.items()]
    return "\n".join(lines) + "\n"


def units_in_plan_order() -> list[UnitSpec]:
    """Every unit with a place in a cluster plan, first to last (``PlanOrder.rank``)."""
    placed = [s for s in UNITS.values() if s.plan_order is not None]
    return sorted(placed, key=lambda s: s.plan_order.rank if s.plan_order else 0)


def _plan_order_markdown() -> str:
    """The order in which one cluster plan renews its due units, with why and the source."""
    lines = [
        "",
        "## Order in a cluster plan",
        "",
        "`certops renew --cluster C --due` (and the scan) renews every due unit of a cluster in one plan, in "
        "this order. The next unit starts as soon as the previous one's renewal completed (its phones "
        "re-registered). A unit marked 'on its own rules' is skipped, and the plan goes on, when its own rule "
        "refuses it before anything changed; any other failure stops the plan. After the last regeneration "
        "certops takes (or asks for) a DRF backup.",
        "",
        "| position | unit | why | on its own rules | alone | source |",
        "|---|---|---|---|---|---|",
    ]
    for i, spec in enumerate(units_in_plan_order(), 1):
        o = spec.plan_order
        assert o is not None
        lines.append(
            f"| {i} | {spec.name} | {o.why} | {'yes' if o.independent else 'no'} | {'yes' if o.alone else 'no'} "
            f"| {o.sources_text()} |"
        )
    return "\n".join(lines) + "\n"


def multi_server_units() -> list[str]:
    """The units that may be one multi-server (Multi-SAN) certificate for a cluster."""
    return [name for name, spec in UNITS.items() if spec.multi_server is not None]


def _multi_server_markdown() -> str:
    """Which units may be multi-server, from which release, and the source."""
    lines = [
        "",
        "## Multi-server (Multi-SAN) certificates",
        "",
        "A cluster's inventory entry lists the units renewed as one multi-server certificate (`multi_server: "
        "[tomcat, CallManager]`); every other unit stays per node (TAC 118731; the 12.5SU2 and 14SU2 Security "
        "Guides). The certificate covers only the nodes that exist at its upload: a node added later needs a new "
        "one (the scan names the nodes a multi-server certificate does not cover). CUCM distributes the uploaded "
        "certificate to every node in its SANs; certops reads it back on each node before any restart. From "
        f"{release_label(MULTI_SERVER_NO_CLI_FROM)} a multi-server certificate is never uploaded over the CLI "
        "(Cisco forbids it); certops refuses before anything is sent. certops makes the CSR over certmgr REST, so "
        "from 14 [INF: Cisco offers multi-server certificates before 14 in the GUI; the CLI's set csr gen has no "
        "distribution choice in the interface document]. IPsec is always per node, CAPF exists on the publisher "
        "only, ITLRecovery is one per cluster.",
        "",
        "| unit | multi-server from | common name | how | source |",
        "|---|---|---|---|---|",
    ]
    for spec in UNITS.values():
        ms = spec.multi_server
        if ms is None:
            continue
        cn = "<publisher host>-ms.<domain>" if ms.ms_common_name else "the publisher's FQDN [INF]"
        lines.append(f"| {spec.name} | {release_label(ms.since)} | {cn} | {ms.note} | {ms.sources_text()} |")
    return "\n".join(lines) + "\n"


def units_markdown() -> str:
    """The unit table as Markdown: what ``docs/units.md`` holds and ``certops units`` prints."""
    role_names = {NodeRole.PUBLISHER: "pub", NodeRole.SUBSCRIBER: "sub", NodeRole.IMP: "IM&P"}

    def roles_text(roles: frozenset[NodeRole]) -> str:
        names = [role_names[x] for x in NodeRole if x in roles and x in role_names]
        if NodeRole.IMP_PUBLISHER in roles and NodeRole.IMP not in roles:
            names.append("IM&P publisher")
        return "/".join(names)

    lines = [
        "| unit | nodes | trust store | key | restarts after upload (roles, how, from version) "
        "| CTL update in mixed mode | phones reset | risk | preconditions | never together with |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for spec in UNITS.values():
        restarts = "<br>".join(
            f"{r.service} ({roles_text(r.roles)}, {r.via.value}) " + r.sources_text() for r in spec.restarts
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
    out = "\n".join(lines) + "\n" + _by_release_markdown() + _plan_order_markdown() + _multi_server_markdown()
    if notes:
        out += "\nTo confirm on a lab cluster:\n\n" + "\n".join(notes) + "\n"
    return out
