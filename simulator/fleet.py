"""A simulated CUCM fleet in one process: :class:`SimulatedFleet`.

``with SimulatedFleet(FleetOptions(...)) as fleet:`` starts every listener (HTTPS on one asyncio
loop, SSH on one acceptor thread), writes the CA bundle and known_hosts into ``state_dir``, and
stops everything on exit. Clusters are ``c1``, ``c2``, ...; in each, node 1 is the publisher
``cucm-pub.cN.certops.test``, then subscribers ``cucm-subK.cN.certops.test``, and with 3 or more
nodes the last one is the IM&P node ``imp1.cN.certops.test``. With ``FleetOptions.imp_nodes = K`` the
last K nodes are the IM&P nodes ``imp1`` .. ``impK`` (``imp1`` the IM&P database publisher).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from pathlib import Path
from typing import Any

import yaml

from simulator import pki
from simulator.faults import apply_fault, clear_all_faults, parse_fault
from simulator.https import HttpFrontend
from simulator.options import FleetOptions
from simulator.ssh import SshServer
from simulator.state import IMP, PUBLISHER, SUBSCRIBER, EventLog, Runtime, SimulatedCluster, SimulatedNode

__all__ = ["FleetOptions", "SimulatedCluster", "SimulatedFleet", "SimulatedNode", "parse_fault"]

DOMAIN = "certops.test"
SERVICE_TLS_UNITS = ("CallManager", "TVS", "CAPF")


class _FleetRuntime(Runtime):
    """Runtime bound to a running fleet: timers on the event loop, listener changes applied at once."""

    def __init__(self, fleet: SimulatedFleet, *args: Any) -> None:
        super().__init__(*args)
        self.fleet = fleet

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        loop = self.fleet._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(loop.call_later, delay, fn)

    def sync_listeners(self, node: SimulatedNode, wait: bool = True) -> None:
        self.fleet._sync_listeners(node, wait)


class SimulatedFleet:
    """M clusters of N simulated CUCM nodes with their HTTPS, SOAP, TLS and SSH listeners."""

    def __init__(self, options: FleetOptions | None = None) -> None:
        self.options = options or FleetOptions()
        if self.options.nodes < 1 or self.options.clusters < 1:
            raise ValueError("a fleet needs at least one cluster of at least one node")
        self._own_state_dir = self.options.state_dir is None
        self.state_dir = Path(self.options.state_dir or tempfile.mkdtemp(prefix="cucm-sim-"))
        self.clusters: list[SimulatedCluster] = []
        self._nodes: dict[str, SimulatedNode] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._http: HttpFrontend | None = None
        self._ssh: SshServer | None = None
        self._events: EventLog | None = None
        self._tls_dir: Path | None = None
        self.runtime: Runtime | None = None
        self.started = False
        self.start_seconds = 0.0

    # ----- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> SimulatedFleet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> SimulatedFleet:
        """Build the fleet and start every listener; returns when all are ready."""
        if self.started:
            return self
        t0 = time.monotonic()
        opts = self.options
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # load_cert_chain needs files: keep them in memory-backed /dev/shm when there is one
        # (creating a file on a disk-backed tmp costs ~1.7 ms here, on tmpfs ~0.02 ms)
        shm = Path("/dev/shm")
        if shm.is_dir() and os.access(shm, os.W_OK):
            tls_dir = Path(tempfile.mkdtemp(prefix="cucm-sim-tls-", dir=shm))
        else:
            tls_dir = self.state_dir / "tls"
            tls_dir.mkdir(exist_ok=True)
        self._tls_dir = tls_dir
        self._events = EventLog(self.state_dir / "events.jsonl")
        ca = pki.SimulatorCa.create()
        self.ca = ca
        self.ca_bundle_path.write_text(ca.pem)
        self.runtime = _FleetRuntime(self, opts, self._events, ca)
        self._http = HttpFrontend(self, tls_dir)
        self._ssh = SshServer(opts)
        known_hosts: list[str] = []
        for ci in range(opts.clusters):
            name = f"c{ci + 1}"
            cluster = SimulatedCluster(self.runtime, name, opts.version_for(ci, name))
            cluster.phone_interaction = opts.phone_interaction
            first_imp = _first_imp(opts)
            for ni in range(opts.nodes):
                k = ni - first_imp + 1  # 1-based IM&P number
                if ni == 0:
                    role, host = PUBLISHER, "cucm-pub"
                elif k >= 1:
                    role, host = IMP, f"imp{k}"
                else:
                    role, host = SUBSCRIBER, f"cucm-sub{ni}"
                node = SimulatedNode(
                    self.runtime,
                    cluster,
                    f"{host}.{name}.{DOMAIN}",
                    role,
                    ni,
                    imp_db_publisher=k == 1,
                    federation=k >= 1 and k in opts.federation,
                )
                cluster.nodes.append(node)
                self._nodes[node.fqdn] = node
                kinds = ["https", "soap"]
                if opts.service_tls and role != IMP:
                    kinds += [u for u in SERVICE_TLS_UNITS if node.services[_service_of(u)].activated]
                self._http.allocate(node, kinds)
                line = self._ssh.allocate(node)
                known_hosts.append(f"[127.0.0.1]:{node.ssh_port} {line}")
                known_hosts.append(f"[{node.fqdn}]:{node.ssh_port} {line}")
            cluster.make_phones(opts.phones_per_cluster)
            self.clusters.append(cluster)
        self.known_hosts_path.write_text("\n".join(known_hosts) + "\n")
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run_loop() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.call_soon(ready.set)
            self._loop.run_forever()

        self._loop_thread = threading.Thread(target=run_loop, name="sim-https-loop", daemon=True)
        self._loop_thread.start()
        ready.wait()
        self._run(self._http.start())
        self._ssh.start()
        self.started = True
        self.start_seconds = time.monotonic() - t0
        self._events.add("*", None, "fleet_started", detail={"clusters": opts.clusters, "nodes": opts.nodes})
        return self

    def stop(self) -> None:
        """Stop every listener and the event loop; close the event log."""
        if not self.started:
            return
        self.started = False
        if self._ssh is not None:
            self._ssh.stop()
        if self._http is not None and self._loop is not None:
            with contextlib.suppress(Exception):  # stop the rest anyway
                self._run(self._http.stop(), timeout=30)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(timeout=10)
            self._loop.close()
            self._loop = None
        if self._events is not None:
            self._events.close()
        if self._tls_dir is not None and self._tls_dir.parent != self.state_dir:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def _run(self, coro: Any, timeout: float = 120) -> Any:
        assert self._loop is not None
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout=timeout)

    def _sync_listeners(self, node: SimulatedNode, wait: bool) -> None:
        if not self.started or self._loop is None or self._http is None:
            return
        if self._ssh is not None:
            self._ssh.reconcile(node, wait=wait)
        if threading.current_thread() is self._loop_thread:
            self._loop.create_task(self._http.reconcile(node))
            return
        loop = self._loop
        try:
            fut = asyncio.run_coroutine_threadsafe(self._http.reconcile(node), loop)
            if wait:
                fut.result(timeout=30)
        except (RuntimeError, TimeoutError, CancelledError):  # the fleet is stopping
            if self.started:
                raise

    # ----- paths --------------------------------------------------------------------------------
    @property
    def ca_bundle_path(self) -> Path:
        """PEM file with the simulator CA (trust it to verify every node's initial certificates)."""
        return self.state_dir / "ca-bundle.pem"

    @property
    def known_hosts_path(self) -> Path:
        """known_hosts with ``[127.0.0.1]:port`` and ``[fqdn]:port`` lines for every node."""
        return self.state_dir / "known_hosts"

    @property
    def events_path(self) -> Path:
        """The event log file (JSON lines)."""
        return self.state_dir / "events.jsonl"

    @property
    def admin_url(self) -> str:
        """Base URL of the admin endpoint, e.g. ``http://127.0.0.1:PORT``."""
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.admin_port}"

    # ----- lookup -------------------------------------------------------------------------------
    def cluster(self, name: str) -> SimulatedCluster:
        """The cluster called ``name`` (``c1``, ...)."""
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(f"no simulated cluster {name!r}; clusters: {', '.join(c.name for c in self.clusters)}")

    def node(self, fqdn: str) -> SimulatedNode:
        """The node called ``fqdn`` (or the FQDN without ``.certops.test``)."""
        key = fqdn.lower()
        if key in self._nodes:
            return self._nodes[key]
        if f"{key}.{DOMAIN}" in self._nodes:
            return self._nodes[f"{key}.{DOMAIN}"]
        raise KeyError(f"no simulated node {fqdn!r}")

    @property
    def nodes(self) -> list[SimulatedNode]:
        """Every node of every cluster."""
        return list(self._nodes.values())

    # ----- events and faults --------------------------------------------------------------------
    def events(self, **match: Any) -> list[dict[str, Any]]:
        """Every event so far (dicts with time, cluster, node, operation, unit, service, detail), in order.

        Keyword arguments filter on equal fields, e.g. ``events(operation="phone_reset", cluster="c1")``.
        """
        assert self._events is not None
        events = self._events.all()
        if match:
            events = [e for e in events if all(e.get(k) == v for k, v in match.items())]
        return events

    def https_connections(self) -> dict[str, int]:
        """TLS connections each node accepted on its HTTPS and SOAP ports so far (by FQDN; GET /admin/state too).

        A client that keeps its connections open between requests makes fewer; a listener that was
        down reset the connections it got instead, and those are not counted.
        """
        counts: dict[str, int] = {}
        if self._http is not None:
            for listener in self._http.listeners.values():
                if listener.kind in ("https", "soap"):
                    counts[listener.node.fqdn] = counts.get(listener.node.fqdn, 0) + listener.accepted
        return counts

    def certmgr_requests(self, fqdn: str | None = None) -> collections.Counter[tuple[str, str]]:
        """Certificate-management REST requests the nodes answered so far, as ``(method, path)`` counts.

        ``path`` is under ``/platformcom/api/v1/certmgr/config`` (``/snapshot/server``, ``/csr``,
        ``/identity/certificates`` …); counted are the requests that passed the login and were not
        refused while a DRF job locks the platform API. ``fqdn``: one node's; else every node's
        together. Each ``GET /snapshot/server`` is one read of all of a node's certificates, which a
        real node answers in its own time.
        """
        counts: collections.Counter[tuple[str, str]] = collections.Counter()
        if self._http is not None:
            for (node, method, path), n in list(self._http.certmgr_requests.items()):
                if fqdn is None or node == fqdn:
                    counts[(method, path)] += n
        return counts

    def open_https_connections(self) -> dict[str, int]:
        """TLS connections open now on each node's HTTPS and SOAP ports (by FQDN; nodes with none left out).

        A client's close reaches the node a moment later: a test that asks right after it waits for it.
        """
        if self._http is None or self._loop is None:
            return {}
        http = self._http

        async def count() -> dict[str, int]:
            counts: dict[str, int] = {}
            for listener in http.listeners.values():
                if listener.kind in ("https", "soap"):
                    n = sum(1 for t in listener.transports if not t.is_closing())
                    if n:
                        counts[listener.node.fqdn] = counts.get(listener.node.fqdn, 0) + n
            return counts

        result: dict[str, int] = self._run(count())
        return result

    def restart_intervals(self, cluster: str | None = None) -> list[tuple[str, str, str, str | None]]:
        """``(node, service, started, finished_or_None)`` per service restart, from the event log.

        Times are the events' ISO strings (they sort in time order), for proving restarts ran
        publisher first, one node at a time, and never overlapped.
        """
        open_: dict[tuple[str, str], int] = {}
        out: list[tuple[str, str, str, str | None]] = []
        for e in self.events():
            if cluster is not None and e["cluster"] != cluster:
                continue
            key = (e["node"], e["service"])
            if e["operation"] == "service_restart_started":
                open_[key] = len(out)
                out.append((e["node"], e["service"], e["time"], None))
            elif e["operation"] == "service_restart_finished" and key in open_:
                i = open_.pop(key)
                out[i] = (*out[i][:3], e["time"])
        return out

    def set_fault(self, kind: str, node: str | None = None, cluster: str | None = None, **params: Any) -> None:
        """Inject a fault (see ``simulator.faults``), e.g. ``set_fault("unreachable", node="cucm-sub1.c1")``."""
        apply_fault(self, kind, node=node, cluster=cluster, **params)

    def set_fault_spec(self, spec: str) -> None:
        """Inject a fault given as the ``--fault`` text, e.g. ``restart-fails:cucm-pub.c1:Cisco Tftp``."""
        self.set_fault(**parse_fault(spec))

    def clear_faults(self) -> None:
        """Remove every fault (SSO and mixed mode back off, DRF jobs ended)."""
        clear_all_faults(self)

    def state_summary(self) -> dict[str, Any]:
        """What ``GET /admin/state`` answers."""
        return {
            "clusters": [c.summary() for c in self.clusters],
            "ca_bundle": str(self.ca_bundle_path),
            "known_hosts": str(self.known_hosts_path),
            "events": len(self.events()),
            "https_connections": self.https_connections(),
        }

    # ----- inventory ----------------------------------------------------------------------------
    def inventory_dict(
        self, password_env: str = "CUCM_SIM_OS_PASSWORD", app_password_env: str = "CUCM_SIM_APP_PASSWORD"
    ) -> dict[str, Any]:
        """The inventory (as ``certops.inventory.Inventory`` reads it) describing this fleet."""
        opts = self.options
        clusters = []
        for c in self.clusters:
            nodes = []
            for n in c.nodes:
                entry: dict[str, Any] = {
                    "fqdn": n.fqdn,
                    "role": n.role,
                    "address": n.address,
                    "https_port": n.https_port,
                    "soap_port": n.soap_port,
                    "ssh_port": n.ssh_port,
                }
                if n.service_tls_ports:
                    entry["service_tls_ports"] = dict(n.service_tls_ports)
                if n.imp_db_publisher and opts.imp_nodes is not None:
                    entry["role"] = "imp-publisher"
                if n.federation:
                    entry["federation"] = True
                nodes.append(entry)
            clusters.append({"name": c.name, "version": c.version, "nodes": nodes})
        return {
            "defaults": {
                "os_admin": {"username": opts.username, "password_env": password_env},
                "app_user": {"username": opts.app_username, "password_env": app_password_env},
                "tls": {"verify": True, "ca_bundle": str(self.ca_bundle_path)},
                "ssh": {"host_key_check": True, "known_hosts": str(self.known_hosts_path)},
            },
            "clusters": clusters,
        }

    def write_inventory(
        self,
        path: Path | str,
        password_env: str = "CUCM_SIM_OS_PASSWORD",
        app_password_env: str = "CUCM_SIM_APP_PASSWORD",
    ) -> Path:
        """Write :meth:`inventory_dict` as YAML to ``path`` and return it.

        Written whole or not at all (a temporary file renamed into place): ``certops sim`` writes it
        once every listener is ready, so a script that waits for the file finds it complete.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(self.inventory_dict(password_env, app_password_env), sort_keys=False)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # as a plain write leaves it (it holds no secret: variable names only)
        os.replace(tmp, target)
        return target


def _first_imp(opts: FleetOptions) -> int:
    """The index of the first IM&P node of a cluster (``opts.nodes`` when there is none)."""
    if opts.imp_nodes is None:
        return opts.nodes - 1 if opts.nodes >= 3 else opts.nodes
    if not 0 <= opts.imp_nodes < opts.nodes:
        raise ValueError(f"imp_nodes={opts.imp_nodes}: a cluster of {opts.nodes} nodes keeps at least its publisher")
    return opts.nodes - opts.imp_nodes


def _service_of(unit: str) -> str:
    from simulator.state import UNIT_SERVICE

    return UNIT_SERVICE[unit]
