"""Fault injection: one vocabulary for the ``--fault`` flag, ``POST /admin/faults`` and Python.

| kind | scope | parameters | effect |
|---|---|---|---|
| ``unreachable`` | node | | every listener of the node refuses connections |
| ``latency`` | node or fleet | ``seconds`` | added to each HTTP request and CLI command |
| ``restart-fails`` | node | ``service``, ``reason`` | the service stays Stopped after a restart |
| ``restart-lost`` | node | ``service`` | the next Control Center restart request of the service is lost |
| | | | on its way: HTTP 503, nothing restarted (a request that never reached the service manager) |
| ``upload-error`` | node | ``times`` (1) | the next uploads fail with HTTP 500 "Certificate Upload failed" |
| ``ssh-drop`` | node | ``times`` (1) | the next CLI commands drop the connection mid-output |
| ``sso`` | cluster (all) | | SAML SSO enabled |
| ``mixed-mode`` | cluster (all) | | Cluster Security Mode 1 |
| ``drf-backup`` / ``drf-restore`` | cluster (all) | ``seconds`` | a DRF job runs; the platform API is locked |
| ``phones-never-reregister`` | cluster (all) | | reset phones stay UnRegistered |
| ``phones-not-back`` | cluster (all) | ``count`` | after the next automatic reset, the first ``count`` |
| | | | phones (by name) stay UnRegistered until a requested reset |
| ``trust-never-replicates`` | node (IM&P) | | trust replicated from the IM&P database publisher never |
| | | | arrives on this node (the publisher's Intercluster Sync Agent restart notwithstanding) |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.fleet import SimulatedFleet
    from simulator.state import SimulatedCluster

NODE_KINDS = ("unreachable", "restart-fails", "restart-lost", "upload-error", "ssh-drop", "trust-never-replicates")
CLUSTER_KINDS = ("sso", "mixed-mode", "drf-backup", "drf-restore", "phones-never-reregister", "phones-not-back")
KINDS = (*NODE_KINDS, "latency", *CLUSTER_KINDS)


def parse_fault(spec: str) -> dict[str, Any]:
    """Parse ``--fault`` text into keyword arguments for ``SimulatedFleet.set_fault``.

    Forms: ``unreachable:NODE``, ``latency:SECONDS[:NODE]``, ``restart-fails:NODE:SERVICE``,
    ``restart-lost:NODE:SERVICE``,     ``upload-error:NODE[:TIMES]``, ``ssh-drop:NODE[:TIMES]``, ``sso[:CLUSTER]``,
    ``mixed-mode[:CLUSTER]``, ``drf-backup:SECONDS[:CLUSTER]``, ``drf-restore:SECONDS[:CLUSTER]``,
    ``phones-never-reregister[:CLUSTER]``, ``phones-not-back:COUNT[:CLUSTER]``, ``trust-never-replicates:NODE``.
    """
    kind, _, rest = spec.partition(":")
    parts = rest.split(":") if rest else []
    if kind not in KINDS:
        raise ValueError(f"unknown fault {kind!r}; known: {', '.join(KINDS)}")
    out: dict[str, Any] = {"kind": kind}
    if kind in NODE_KINDS:
        if not parts:
            raise ValueError(f"fault {kind!r} needs a node: {kind}:NODE")
        out["node"] = parts[0]
        if kind in ("restart-fails", "restart-lost"):
            if len(parts) < 2:
                raise ValueError(f"{kind} needs a service: {kind}:NODE:SERVICE")
            out["service"] = ":".join(parts[1:])
        elif len(parts) > 1:
            out["times"] = int(parts[1])
    elif kind in ("latency", "drf-backup", "drf-restore"):
        if not parts:
            raise ValueError(f"fault {kind!r} needs seconds: {kind}:SECONDS")
        out["seconds"] = float(parts[0])
        if len(parts) > 1:
            out["node" if kind == "latency" else "cluster"] = parts[1]
    elif kind == "phones-not-back":
        if not parts:
            raise ValueError("fault 'phones-not-back' needs a count: phones-not-back:COUNT[:CLUSTER]")
        out["count"] = int(parts[0])
        if len(parts) > 1:
            out["cluster"] = parts[1]
    elif parts:
        out["cluster"] = parts[0]
    return out


def _clusters(fleet: SimulatedFleet, name: str | None) -> list[SimulatedCluster]:
    return [fleet.cluster(name)] if name else list(fleet.clusters)


def apply_fault(
    fleet: SimulatedFleet, kind: str, node: str | None = None, cluster: str | None = None, **params: Any
) -> None:
    """Apply one fault to the fleet (listeners follow at once)."""
    if kind not in KINDS:
        raise ValueError(f"unknown fault {kind!r}; known: {', '.join(KINDS)}")
    assert fleet.runtime is not None
    lock = fleet.runtime.lock
    if kind in NODE_KINDS or (kind == "latency" and node):
        if not node:
            raise ValueError(f"fault {kind!r} needs a node")
        target = fleet.node(node)
        with lock:
            f = target.faults
            if kind == "unreachable":
                f.unreachable = bool(params.get("on", True))
            elif kind == "latency":
                f.latency = float(params.get("seconds", 0.0))
            elif kind == "restart-fails":
                service = params.get("service")
                if not service or service not in target.services:
                    raise ValueError(f"restart-fails needs a service of {target.fqdn}; got {service!r}")
                f.restart_fails[service] = str(params.get("reason", "Service failed to start (simulated fault)"))
            elif kind == "restart-lost":
                service = params.get("service")
                if not service or service not in target.services:
                    raise ValueError(f"restart-lost needs a service of {target.fqdn}; got {service!r}")
                f.restart_lost.add(service)
            elif kind == "upload-error":
                f.upload_errors = int(params.get("times", 1))
            elif kind == "ssh-drop":
                f.ssh_drops = int(params.get("times", 1))
            elif kind == "trust-never-replicates":
                f.trust_never_replicates = bool(params.get("on", True))
        fleet.runtime.events.add(target.cluster.name, target.fqdn, "fault_set", detail={"kind": kind, **params})
        if kind == "unreachable":
            fleet.runtime.sync_listeners(target)
        return
    if kind == "latency":
        fleet.options.latency = float(params.get("seconds", 0.0))
        fleet.runtime.events.add("*", None, "fault_set", detail={"kind": kind, **params})
        return
    for c in _clusters(fleet, cluster):
        if kind == "sso":
            c.set_sso(bool(params.get("on", True)))
        elif kind == "mixed-mode":
            c.set_mixed_mode(bool(params.get("on", True)))
        elif kind in ("drf-backup", "drf-restore"):
            c.start_drf(kind.removeprefix("drf-"), float(params.get("seconds", fleet.options.drf_backup_seconds)))
        elif kind == "phones-never-reregister":
            with lock:
                c.faults.phones_never_reregister = bool(params.get("on", True))
        elif kind == "phones-not-back":
            with lock:
                c.faults.phones_not_back = int(params.get("count", 1))
        fleet.runtime.events.add(c.name, None, "fault_set", detail={"kind": kind, **params})


def clear_all_faults(fleet: SimulatedFleet) -> None:
    """Remove every fault: nodes reachable, no latency, restarts work, SSO off, non-secure, no DRF job."""
    from simulator.state import ClusterFaults, NodeFaults

    assert fleet.runtime is not None
    unreachable = []
    with fleet.runtime.lock:
        for n in fleet.nodes:
            if n.faults.unreachable:
                unreachable.append(n)
            n.faults = NodeFaults()
        for c in fleet.clusters:
            c.faults = ClusterFaults()
    for c in fleet.clusters:
        if c.sso_enabled:
            c.set_sso(False)
        if c.mixed_mode:
            c.set_mixed_mode(False)
        c.stop_drf()
    fleet.runtime.events.add("*", None, "faults_cleared")
    for n in unreachable:
        fleet.runtime.sync_listeners(n)
