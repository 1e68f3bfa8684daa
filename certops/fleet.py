"""Reading the identity certificates of many nodes at once.

``read_fleet_certificates`` reads every node of every (selected) cluster concurrently, within
bounds: a thread pool of ``max_workers`` and at most ``per_cluster`` nodes of one cluster at a
time (a cluster's nodes share a publisher and a rate-limited platform). A node that fails does
not stop the others: it becomes a ``NodeFailure`` whose reason a person can act on. A plain
library function: the CLI and the scheduled scan both use it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from certops.cucm.node import CucmNode
from certops.errors import CertopsError, CucmError
from certops.inventory import ClusterConfig, Inventory, NodeConfig
from certops.models import CertificateInfo, CertificateReport, NodeFailure
from certops.units import units_for_role

log = logging.getLogger("certops.fleet")

ProgressCallback = Callable[[str, str, bool], None]
"""Called as ``progress(cluster, node, ok)`` after each node was read (from worker threads)."""

NodeFactory = Callable[[Inventory, str, str], CucmNode]


def read_fleet_certificates(
    inventory: Inventory,
    *,
    clusters: Iterable[str] | None = None,
    units: Iterable[str] | None = None,
    max_workers: int = 32,
    per_cluster: int = 4,
    progress: ProgressCallback | None = None,
    node_factory: NodeFactory = CucmNode.from_inventory,
) -> CertificateReport:
    """Read identity certificates from every node of ``clusters`` (default: all).

    ``units`` limits the units read; by default each node is read for the units its role holds
    (``certops.units.units_for_role``: CUCM nodes seven, IM&P nodes tomcat, tomcat-ECDSA and
    ipsec). Raises ``KeyError`` for an unknown cluster name; every node problem becomes a
    ``NodeFailure`` in the report instead of an exception.
    """
    if max_workers < 1 or per_cluster < 1:
        raise ValueError("max_workers and per_cluster must be at least 1")
    selected = [inventory.cluster(name) for name in clusters] if clusters is not None else list(inventory.clusters)
    wanted = list(units) if units is not None else None
    semaphores = {c.name: threading.Semaphore(per_cluster) for c in selected}
    jobs = [(c, n) for c in selected for n in c.nodes]

    def read(cluster: ClusterConfig, node: NodeConfig) -> list[CertificateInfo] | NodeFailure:
        with semaphores[cluster.name]:
            result = _read_node(inventory, cluster, node, wanted, node_factory)
        if progress is not None:
            progress(cluster.name, node.fqdn, not isinstance(result, NodeFailure))
        return result

    certificates: list[CertificateInfo] = []
    failures: list[NodeFailure] = []
    with ThreadPoolExecutor(max_workers=min(max_workers, max(1, len(jobs))), thread_name_prefix="certops-read") as pool:
        futures = [pool.submit(read, c, n) for c, n in jobs]
        for future in futures:
            result = future.result()
            if isinstance(result, NodeFailure):
                failures.append(result)
            else:
                certificates.extend(result)
    return CertificateReport(generated_at=dt.datetime.now(dt.UTC), certificates=certificates, failures=failures)


def _read_node(
    inventory: Inventory,
    cluster: ClusterConfig,
    node: NodeConfig,
    units: list[str] | None,
    node_factory: NodeFactory,
) -> list[CertificateInfo] | NodeFailure:
    wanted = units if units is not None else units_for_role(node.role, node.federation)
    try:
        with node_factory(inventory, cluster.name, node.fqdn) as cucm:
            found = cucm.read_certificates(wanted)
    except CucmError as exc:
        log.warning("reading %s failed: %s", node.fqdn, exc)
        return NodeFailure(
            cluster=cluster.name, node=node.fqdn, operation=exc.operation, reason=_reason(exc), transient=exc.transient
        )
    except CertopsError as exc:
        log.warning("reading %s failed: %s", node.fqdn, exc)
        return NodeFailure(
            cluster=cluster.name,
            node=node.fqdn,
            operation="read_certificates",
            reason=str(exc),
            transient=exc.transient,
        )
    except Exception as exc:  # one node's bug must not hide the others' certificates
        log.exception("reading %s failed unexpectedly", node.fqdn)
        return NodeFailure(
            cluster=cluster.name,
            node=node.fqdn,
            operation="read_certificates",
            reason=f"unexpected error {type(exc).__name__}: {exc}",
            transient=False,
        )
    missing = sorted(set(wanted) - {c.unit for c in found})
    if missing and units is None:
        log.info("%s holds no certificate for %s", node.fqdn, ", ".join(missing))
    return found


def _reason(exc: CucmError) -> str:
    """The person-facing reason without the node prefix (the report names the node already)."""
    where = exc.node + (f" [{exc.unit}]" if exc.unit else "") + f": {exc.operation}: "
    text = str(exc)
    return text[len(where) :] if text.startswith(where) else text
