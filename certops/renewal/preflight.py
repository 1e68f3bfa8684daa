"""Read-only preflight for the dry run: what the cluster looks like now, without changing anything."""

from __future__ import annotations

import datetime as dt

from certops.errors import CertopsError
from certops.inventory import Inventory
from certops.planning import ClusterState, select_nodes
from certops.renewal import multi_server
from certops.renewal.adapters import open_node
from certops.units import Precondition, RestartVia, parse_release
from certops.units import unit as unit_spec


def read_cluster_state(
    inventory: Inventory, cluster: str, unit: str, nodes: list[str] | None = None
) -> tuple[ClusterState, list[str]]:
    """Read versions, current certificates, activated services and the cluster rules' state.

    Only read operations are used. Returns the state and the problems met (a node that could
    not be read is reported, not fatal: the plan then says "unknown" where it matters).
    """
    spec = unit_spec(unit)
    cl = inventory.cluster(cluster)
    chosen = select_nodes(cl, spec, nodes)
    if nodes and multi_server.is_multi_server(cl, spec):  # one certificate: every node that holds the unit
        chosen = select_nodes(cl, spec, None)
    problems: list[str] = []
    versions: dict[str, str] = {}
    expiries: dict[str, dt.datetime] = {}
    active: dict[str, list[str]] = {}
    for node in chosen:
        try:
            with open_node(inventory, cluster, node.fqdn) as api:
                versions[node.fqdn] = api.active_version()
                expiries[node.fqdn] = api.read_certificate(unit).not_after
                # only the services this node's role and release restart: asking Control Center for one
                # the node does not run is a SOAP fault ("Service not found"), not a problem to report
                due = spec.restarts_for(node.role, parse_release(versions[node.fqdn], cl.service_update))
                names = [r.service for r in due]
                listing = []
                for r in due:
                    if r.via is not RestartVia.SOAP:
                        continue
                    try:
                        listing += api.service_status([r.service])
                    except CertopsError as exc:
                        if "service not found" not in str(exc).lower():
                            raise
                if any(r.via is RestartVia.CLI for r in due):
                    listing += api.cli_service_list()
                active[node.fqdn] = sorted({s.name for s in listing if s.name in names and s.activated})
        except CertopsError as exc:
            problems.append(str(exc))
    security_mode = sso = drf = phones = None
    try:
        with open_node(inventory, cluster, cl.publisher.fqdn) as pub:
            if Precondition.SECURITY_MODE_KNOWN in spec.preconditions or spec.ctl_update_in_mixed_mode:
                security_mode = pub.cluster_security_mode()
            if Precondition.SSO_DISABLED in spec.preconditions:
                sso = pub.sso_status().enabled
            if Precondition.NO_DRF_JOB in spec.preconditions:
                drf = any(pub.drf_status(op).running for op in ("backup", "restore"))
            if spec.reset_phones:
                phones = pub.registered_phones().registered
    except CertopsError as exc:
        problems.append(str(exc))
    interaction = None
    if spec.reset_phones and spec.phones_reset_themselves:
        try:
            with open_node(inventory, cluster, cl.publisher.fqdn) as pub:
                interaction = pub.phone_interaction() or "absent"
        except CertopsError as exc:  # the run reads it again before the phone step; unknown -> reset all
            interaction = f"unknown ({exc.message})"
    state = ClusterState(
        now=dt.datetime.now(dt.UTC),
        security_mode=security_mode,
        sso_enabled=sso,
        drf_running=drf,
        versions=versions,
        activated_services=active,
        expiries=expiries,
        phones_registered=phones,
        phone_interaction=interaction,
    )
    return state, problems
