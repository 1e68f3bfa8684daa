"""The [INF] items of ``docs/simulator.md`` (behaviour no source settles), each with a stable id.

An id never changes meaning; a new item gets a new id. ``observed_by`` names the doctor check
that settles it read-only; items whose proof needs a change (an upload, a restart, a CSR) are
``None`` and always end "not reachable from here" — a lab renewal or a support case settles them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InfItem:
    """One inferred behaviour: what the simulator chose, and which doctor check can see it."""

    id: str
    behaviour: str
    simulator: str
    observed_by: str | None = None
    why_not: str = "needs a change on a node (doctor is read-only)"


def _items(*items: InfItem) -> dict[str, InfItem]:
    return {i.id: i for i in items}


INF_ITEMS: dict[str, InfItem] = _items(
    # certmgr REST
    InfItem(
        "certmgr.drf_locked_423",
        "certmgr while a DRF backup/restore runs",
        "HTTP 423 on every certmgr call",
        "rest.snapshot",
    ),
    InfItem(
        "certmgr.get_csr_none_404",
        "GET /csr when no CSR is pending",
        "404 with message 'CSR does not exist for the service <unit>'",
        "rest.csr",
    ),
    InfItem("certmgr.options_shape", "GET /options answer shape", "{units, distributions, keyTypes}", "rest.options"),
    InfItem(
        "certmgr.snapshot_shape",
        "GET /snapshot/server answer shape",
        "identities with PEM per unit, trust per store (certmgr_shapes.parse_snapshot reads it)",
        "rest.snapshot",
    ),
    InfItem(
        "certmgr.trust_list_shape",
        "GET /trust/certificate answer shape",
        "{trackingId, service, certificate_data: [{filename, certificate}]}",
        "rest.trust",
    ),
    InfItem(
        "certmgr.csr_shape", "GET /csr answer shape when a CSR is pending", "{trackingId, service, csr}", "rest.csr"
    ),
    InfItem("certmgr.multi_server", "distribution multi-server", "accepted; SANs = every node + altNames"),
    InfItem(
        "certmgr.multi_server_distribution",
        "how and when an uploaded multi-server identity reaches the other nodes",
        "every node named in its SANs that holds the unit, after a short delay",
    ),
    InfItem("certmgr.ecdsa_key_values", "keyType/keyLength for -ECDSA units", "ec, 256/384"),
    InfItem("certmgr.upload_error_texts", "exact upload error statuses and texts", "see docs/simulator.md"),
    InfItem("certmgr.upload_check_order", "order of the upload checks", "format, CSR, issuer, key, SANs"),
    InfItem("certmgr.several_pems_entry", "several PEMs in one certificates entry", "refused whole (400)"),
    InfItem("certmgr.identity_root", "whether the identity upload wants the root", "leaf + intermediates accepted"),
    InfItem("certmgr.trust_same_cn", "trust certificate with an existing CN", "replaced only by a later start"),
    # served certificates and ports
    InfItem(
        "tls.served_after_restart",
        "which served certificate changes on which restart",
        "Tomcat -> tomcat; CallManager/TVS/CAPF -> their ports",
    ),
    InfItem("tls.port_during_restart", "HTTPS while Tomcat restarts", "connections reset, port kept"),
    InfItem(
        "tls.service_ports_ca_signed",
        "CallManager/TVS/CAPF ports serve their unit's certificate",
        "each TLS port serves its unit",
        "tls.port",
    ),
    # Control Center, RisPort70, AXL
    InfItem(
        "cc.haproxy_not_listed",
        "Cisco HAProxy in Control Center",
        "not listed by soapGetServiceStatus (CLI only, 14+)",
        "cc.status",
    ),
    InfItem("cc.fault_texts", "Control Center fault texts", "'Service not found: <name>' ..."),
    InfItem("cc.status_during_restart", "status during a restart", "Stopped, then Starting, then Started"),
    InfItem("ris.rate_window", "RIS rate limit window", "15 per sliding 60 s"),
    InfItem("ris.stateinfo", "RIS StateInfo", "opaque; empty after the last page", "ris.query"),
    InfItem(
        "axl.versions_accepted", "AXL versions a release accepts", "its own and the two previous majors", "axl.version"
    ),
    InfItem("axl.processnode_rows", "processnode rows", "EnterpriseWideData row first, then each node", "axl.sso"),
    InfItem(
        "axl.phone_interaction_param",
        "Phone Interaction on Certificate Update in processconfig",
        "paramname PhoneInteractionOnCertificateUpdate, 0 automatic / 1 manual, on 14+; no row before",
        "axl.phone_interaction",
    ),
    InfItem("axl.device_sql", "SQL on device", "select <cols> from device lists the phones"),
    InfItem("axl.reset_result", "phone reset result", "<return> holds the device UUID"),
    # CLI
    InfItem("cli.sso_disabled_text", "utils sso status when disabled", "'SSO Status: SAML SSO Disabled'", "cli.sso"),
    InfItem(
        "cli.drf_status_tokens",
        "utils disaster_recovery status backup tokens",
        "idle 'drfCliMsg: No backup status available'; RUNNING with Percentage Complete",
        "cli.drf",
    ),
    InfItem(
        "cli.cert_list_style", "show cert list own layout", "15: one line per file; 12.5/14: blocks", "cli.cert_list"
    ),
    InfItem("cli.service_list", "utils service list layout", "'<name>[STATE]  reason' lines", "cli.service_list"),
    InfItem("cli.version_active", "show version active", "'Active Master Version: <build>'", "cli.version"),
    InfItem(
        "cli.privilege_level",
        "the OS admin's privilege level (certmgr writes need level 1)",
        "'privilege level : 4' (option os_admin_privilege); which level certmgr writes need is a guess",
        "cli.privilege",
    ),
    InfItem("cli.ou_question", "releases asking 'Include OU in CSR (yes|no)?'", "12.5 and 14 before SU1"),
    InfItem(
        "cli.ctl_update_refusals",
        "utils ctl update CTLFile when not mixed / not publisher",
        "'The cluster is not in mixed mode ...'",
    ),
    InfItem("cli.unknown_command", "an unknown CLI command", "'Executed command unsuccessfully'", "cli.privilege"),
    InfItem("cli.restart_output", "utils service restart output", "[STOPPING] ... [STARTED]"),
    InfItem("cli.paste_end", "end of a pasted certificate", "the first empty line"),
    # added: the rest of docs/simulator.md's [INF] rows
    InfItem("certmgr.csr_sans", "CSR SANs with distribution this-server", "the node FQDN + altNames"),
    InfItem(
        "certmgr.issuer_stores",
        "which trust store holds a unit's issuer",
        "-ECDSA in tomcat-trust / CallManager-trust; TVS and ITLRecovery in either of two",
    ),
    InfItem(
        "axl.ris_wrong_node", "AXL on a subscriber or IM&P, RIS on IM&P", "HTTP 404", why_not="doctor does not ask it"
    ),
    InfItem(
        "cc.empty_means_all",
        "soapGetServiceStatus with one empty ServiceStatus",
        "every service of the node",
        "cc.status",
    ),
    InfItem(
        "cc.item_form_refused",
        "the old <ServiceStatus><item> form",
        "refused with Axis's SAXException",
        why_not="doctor does not ask it",
    ),
    InfItem(
        "ris.cmdevice_defaults",
        "CmDevice values the simulator does not model",
        "fixed defaults",
        why_not="doctor does not ask it",
    ),
    InfItem("ris.product_code", "CmDevice Product code", "the model's own code", why_not="doctor does not ask it"),
    InfItem(
        "cc.static_list_fields",
        "ServiceType, Deployable, GroupName of the static list",
        "Service; Deployable except Tomcat; Control Center's group names",
        why_not="doctor does not ask it",
    ),
    InfItem(
        "cc.product_information",
        "getProductInformationList contents",
        "one product, the static list",
        why_not="doctor does not ask it",
    ),
    InfItem(
        "soap.missing_elements", "requests missing required elements", "accepted", why_not="doctor does not ask it"
    ),
    InfItem(
        "soap.wsdl_endpoint",
        "<endpoint>?wsdl credentials and address",
        "the application user; the node's own address",
        why_not="doctor does not ask it",
    ),
    InfItem(
        "axl.599_body",
        "the HTTP 599 page of a refused AXL version",
        "a Tomcat-style page listing versions",
        why_not="seen only when the inventory's version is refused",
    ),
    InfItem(
        "axl.soapaction_without_version",
        "SOAPAction without a version",
        "the oldest accepted schema",
        why_not="doctor does not ask it",
    ),
    InfItem(
        "axl.version_mismatch",
        "SOAPAction and namespace naming different versions",
        "AXL fault 5003",
        why_not="doctor does not ask it",
    ),
    InfItem("axl.error_namespace", "namespace of axlError", "unqualified", why_not="doctor does not ask it"),
    InfItem(
        "axl.wsdl_served",
        "/axl/?wsdl on a real node",
        "served to the application user",
        why_not="doctor does not ask it",
    ),
    InfItem(
        "axl.listphone_tags",
        "listPhone tags the simulator does not model",
        "left out",
        why_not="doctor does not ask it",
    ),
    InfItem("axl.ccmversion_node", "getCCMVersion processNodeName", "ignored", why_not="doctor does not ask it"),
    InfItem("cli.ou_answer_effect", "what the OU answer changes", "no drops the OU from the CSR subject"),
    InfItem("cli.ou_bad_answer", "an answer other than yes/no", "'Invalid input', nothing generated"),
    InfItem("cli.several_certs_paste", "several certificates in one paste", "refused whole"),
    InfItem("tls.port_while_service_down", "a TLS port while its service is down", "reset before any byte"),
)
"""Every [INF] item, by id."""


def not_observed() -> list[tuple[str, str]]:
    """``(id, why)`` for every item no read-only check can settle."""
    return [(i.id, i.why_not) for i in INF_ITEMS.values() if not i.observed_by]
