"""Reading the identity certificates of many nodes at once.

``read_fleet_certificates`` reads every node of every (selected) cluster concurrently, within
bounds: at most ``max_workers`` nodes at once and at most ``per_cluster`` nodes of one cluster at
a time (a cluster's nodes share a publisher and a rate-limited platform). CUCM 14+ nodes are read
on one event loop (one certmgr snapshot each, over TLS contexts shared per CA bundle); 12.5 nodes,
read through the SSH CLI, in threads under the same limits. A node that fails does not stop the
others: it becomes a ``NodeFailure`` whose reason a person can act on. A plain library function:
the CLI and the scheduled scan both use it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import SecretStr

from certops.cucm._http import FleetHttp
from certops.cucm.certinfo import certificate_info
from certops.cucm.paths import Via, certificate_path
from certops.cucm.rest import CertMgrClient, Snapshot, read_snapshot
from certops.errors import CertificateError, CertopsError, CucmApiError, CucmError
from certops.inventory import ClusterConfig, Inventory, NodeConfig, resolve_secret
from certops.models import CertificateInfo, CertificateReport, NodeFailure
from certops.units import units_for_role
from certops.x509 import verdicts

if TYPE_CHECKING:
    from certops.cucm.node import CucmNode

log = logging.getLogger("certops.fleet")

ProgressCallback = Callable[[str, str, bool], None]
"""Called as ``progress(cluster, node, ok)`` after each node was read (from worker threads)."""

NodeFactory = Callable[[Inventory, str, str], "CucmNode"]

_T = TypeVar("_T")


def read_fleet_certificates(
    inventory: Inventory,
    *,
    clusters: Iterable[str] | None = None,
    units: Iterable[str] | None = None,
    max_workers: int = 32,
    per_cluster: int = 4,
    progress: ProgressCallback | None = None,
    node_factory: NodeFactory | None = None,
) -> CertificateReport:
    """Read identity certificates from every node of ``clusters`` (default: all).

    ``units`` limits the units read; by default each node is read for the units its role holds
    (``certops.units.units_for_role``: CUCM nodes seven, IM&P nodes tomcat, tomcat-ECDSA, ipsec
    and the cup* units). Raises ``KeyError`` for an unknown cluster name; every node problem becomes a
    ``NodeFailure`` in the report instead of an exception.

    At most ``max_workers`` nodes are read at once, and at most ``per_cluster`` of one cluster; a
    node waits for its cluster's turn before it takes one of the ``max_workers`` places, so a busy
    cluster never holds places others could use. Nodes with the certmgr REST API (CUCM 14+) are
    read on one event loop over TLS contexts shared per CA bundle (``FleetHttp``); CLI nodes (12.5), and every
    node of a custom ``node_factory`` (default: ``CucmNode.from_inventory``), are read in a thread pool under
    the same limits. The SSH stack (``certops.cucm.node``) is imported only when a node needs it.
    The self-signed verdicts that took a signature check are kept for the next read
    (``certops.x509.verdicts``).
    """
    if max_workers < 1 or per_cluster < 1:
        raise ValueError("max_workers and per_cluster must be at least 1")
    selected = [inventory.cluster(name) for name in clusters] if clusters is not None else list(inventory.clusters)
    wanted = list(units) if units is not None else None
    jobs = [(c, n) for c in selected for n in c.nodes]
    results = _run(_read_all(inventory, selected, jobs, wanted, max_workers, per_cluster, progress, node_factory))
    verdicts.save()
    certificates: list[CertificateInfo] = []
    failures: list[NodeFailure] = []
    for result in results:
        if isinstance(result, NodeFailure):
            failures.append(result)
        else:
            certificates.extend(result)
    return CertificateReport(generated_at=dt.datetime.now(dt.UTC), certificates=certificates, failures=failures)


def _run(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion: here, or in a helper thread when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="certops-fleet") as helper:
        return helper.submit(asyncio.run, coro).result()


async def _read_all(
    inventory: Inventory,
    selected: list[ClusterConfig],
    jobs: list[tuple[ClusterConfig, NodeConfig]],
    units: list[str] | None,
    max_workers: int,
    per_cluster: int,
    progress: ProgressCallback | None,
    node_factory: NodeFactory | None,
) -> list[list[CertificateInfo] | NodeFailure]:
    slots = asyncio.Semaphore(max_workers)
    cluster_turns = {c.name: asyncio.Semaphore(per_cluster) for c in selected}
    if node_factory is not None:
        from certops.cucm.node import CucmNode

        own_nodes = node_factory == CucmNode.from_inventory  # bound class methods are equal, never identical
    else:
        own_nodes = True
    rest_clusters = {c.name for c in selected if own_nodes and _uses_rest(c)}
    threaded = sum(1 for c, _ in jobs if c.name not in rest_clusters)
    if threaded and node_factory is None:
        from certops.cucm.node import CucmNode

        node_factory = CucmNode.from_inventory
    pool = (
        ThreadPoolExecutor(max_workers=min(max_workers, threaded), thread_name_prefix="certops-read")
        if threaded
        else None
    )
    http = FleetHttp(timeout=CertMgrClient.default_timeout)
    secrets: dict[tuple[str, str | None, str | None], SecretStr] = {}
    loop = asyncio.get_running_loop()

    async def read(cluster: ClusterConfig, node: NodeConfig) -> list[CertificateInfo] | NodeFailure:
        fetched: Snapshot | list[CertificateInfo] | NodeFailure
        async with cluster_turns[cluster.name], slots:  # the cluster's turn first, then a place
            if cluster.name in rest_clusters:
                fetched = await _read_rest_snapshot(http, inventory, cluster, node, secrets)
            else:
                assert pool is not None and node_factory is not None
                fetched = await loop.run_in_executor(pool, _read_node, inventory, cluster, node, units, node_factory)
        result: list[CertificateInfo] | NodeFailure
        if isinstance(fetched, Snapshot):
            # Described with the places given back, once the loop has run twice more: the nodes
            # waiting for them start connecting, and answers already in are taken in, before the
            # description holds the loop (about half a millisecond a node). Described at once, a
            # fleet's reading waits for it: 1,000 simulated nodes 2.9 s -> 2.2 s, the same CPU.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            result = _describe_rest_node(fetched, cluster, node, units)
        else:
            result = fetched
        if progress is not None:
            progress(cluster.name, node.fqdn, not isinstance(result, NodeFailure))
        return result

    try:
        return await asyncio.gather(*(read(c, n) for c, n in jobs))
    finally:
        if pool is not None:
            pool.shutdown(wait=True)


def _uses_rest(cluster: ClusterConfig) -> bool:
    """Whether this cluster's certificates are read over certmgr REST (``CucmNode``'s rule: ``certificate_path``)."""
    return certificate_path(cluster.version_tuple).via is Via.REST


def _units_wanted(node: NodeConfig, units: list[str] | None) -> list[str]:
    """The units to read on ``node``: ``units`` when given, else those its role holds."""
    return units if units is not None else units_for_role(node.role)


async def _read_rest_snapshot(
    http: FleetHttp,
    inventory: Inventory,
    cluster: ClusterConfig,
    node: NodeConfig,
    secrets: dict[tuple[str, str | None, str | None], SecretStr],
) -> Snapshot | NodeFailure:
    """One CUCM 14+ node's certmgr snapshot (as ``CucmNode`` reads it), or why it could not be read."""
    try:
        ref = inventory.os_admin_for(cluster, node)
        key = (ref.username, ref.password_env, ref.password_secret_block)
        if key not in secrets:  # one look-up per credential and scan, not per node
            secrets[key] = resolve_secret(ref)
        tls = inventory.tls_for(cluster)
        return await read_snapshot(
            http,
            fqdn=node.fqdn,
            address=node.connect_address,
            port=node.https_port,
            username=ref.username,
            password=secrets[key],
            verify=tls.verify,
            ca_bundle=tls.ca_bundle,
        )
    except Exception as exc:  # noqa: BLE001  (sorted by _failure, as the threaded path does)
        return _failure(cluster, node, exc)


def _describe_rest_node(
    snapshot: Snapshot, cluster: ClusterConfig, node: NodeConfig, units: list[str] | None
) -> list[CertificateInfo] | NodeFailure:
    """Each wanted identity of a CUCM 14+ node's snapshot described (as ``CucmNode`` does)."""
    wanted = _units_wanted(node, units)
    try:
        found: list[CertificateInfo] = []
        for identity in snapshot.identities:
            if identity.unit not in wanted:
                continue
            try:
                found.append(
                    certificate_info(identity.certificate, cluster=cluster.name, node=node.fqdn, unit=identity.unit)
                )
            except CertificateError as exc:
                raise CucmApiError(
                    f"the node returned an unreadable certificate: {exc.message}",
                    node=node.fqdn,
                    operation="snapshot",
                    unit=identity.unit,
                ) from exc
    except Exception as exc:  # noqa: BLE001  (sorted by _failure, as the threaded path does)
        return _failure(cluster, node, exc)
    _log_missing(node, wanted, found, units)
    return found


def _read_node(
    inventory: Inventory,
    cluster: ClusterConfig,
    node: NodeConfig,
    units: list[str] | None,
    node_factory: NodeFactory,
) -> list[CertificateInfo] | NodeFailure:
    wanted = _units_wanted(node, units)
    try:
        with node_factory(inventory, cluster.name, node.fqdn) as cucm:
            found = cucm.read_certificates(wanted)
    except Exception as exc:  # noqa: BLE001  (one node's failure must not hide the others' certificates)
        return _failure(cluster, node, exc)
    _log_missing(node, wanted, found, units)
    return found


def _log_missing(node: NodeConfig, wanted: list[str], found: list[CertificateInfo], units: list[str] | None) -> None:
    missing = sorted(set(wanted) - {c.unit for c in found})
    if missing and units is None:
        log.info("%s holds no certificate for %s", node.fqdn, ", ".join(missing))


def _failure(cluster: ClusterConfig, node: NodeConfig, exc: Exception) -> NodeFailure:
    """The ``NodeFailure`` for a node whose read raised ``exc``: the reason a person can act on."""
    if isinstance(exc, CucmError):
        log.warning("reading %s failed: %s", node.fqdn, exc)
        return NodeFailure(
            cluster=cluster.name, node=node.fqdn, operation=exc.operation, reason=_reason(exc), transient=exc.transient
        )
    if isinstance(exc, CertopsError):
        log.warning("reading %s failed: %s", node.fqdn, exc)
        return NodeFailure(
            cluster=cluster.name,
            node=node.fqdn,
            operation="read_certificates",
            reason=str(exc),
            transient=exc.transient,
        )
    log.error("reading %s failed unexpectedly", node.fqdn, exc_info=exc)  # one node's bug must not hide the rest
    return NodeFailure(
        cluster=cluster.name,
        node=node.fqdn,
        operation="read_certificates",
        reason=f"unexpected error {type(exc).__name__}: {exc}",
        transient=False,
    )


def _reason(exc: CucmError) -> str:
    """The person-facing reason without the node prefix (the report names the node already)."""
    where = exc.node + (f" [{exc.unit}]" if exc.unit else "") + f": {exc.operation}: "
    text = str(exc)
    return text[len(where) :] if text.startswith(where) else text
