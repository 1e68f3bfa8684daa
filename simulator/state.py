"""The state of simulated CUCM clusters and nodes, and the changes the interfaces make to it.

One lock (``Runtime.lock``) guards all of it: HTTPS handlers run on the asyncio loop thread and
SSH sessions on their own threads; every change is short and never sleeps while holding it.
Every state-changing call writes an event to the :class:`EventLog`.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from simulator import pki
from simulator.options import CUCM_UNITS, IMP_UNITS, FleetOptions, service_update, split_version

PUBLISHER = "publisher"
SUBSCRIBER = "subscriber"
IMP = "imp"

SERVICE_SERVES: dict[str, tuple[str, ...]] = {
    "Cisco Tomcat": ("tomcat", "tomcat-ECDSA"),
    "Cisco CallManager": ("CallManager", "CallManager-ECDSA"),
    "Cisco Trust Verification Service": ("TVS",),
    "Cisco Certificate Authority Proxy Function": ("CAPF",),
    "Cisco SIP Proxy": ("cup", "cup-ECDSA"),
    "Cisco XCP Router": ("cup-xmpp", "cup-xmpp-ECDSA"),
    "Cisco XCP XMPP Federation Connection Manager": ("cup-xmpp-s2s", "cup-xmpp-s2s-ECDSA"),
}
"""Which served certificates change when a service restarts [INF for all but Cisco Tomcat]."""

UNIT_SERVICE: dict[str, str] = {
    "CallManager": "Cisco CallManager",
    "TVS": "Cisco Trust Verification Service",
    "CAPF": "Cisco Certificate Authority Proxy Function",
}
"""The service whose TLS listener serves a unit other than tomcat."""

CLI_ONLY_SERVICES = frozenset({"Cisco HAProxy"})
"""Platform services missing from the Control Center list [INF]: restartable by CLI only."""

TRUST_STORES: dict[str, tuple[str, ...]] = {
    "tomcat": ("tomcat-trust",),
    "tomcat-ECDSA": ("tomcat-trust",),
    "ipsec": ("ipsec-trust",),
    "CAPF": ("CAPF-trust",),
    "CallManager": ("CallManager-trust",),
    "CallManager-ECDSA": ("CallManager-trust",),
    "TVS": ("TVS-trust", "CallManager-trust"),
    "ITLRecovery": ("CallManager-trust", "TVS-trust"),
    "cup": ("cup-trust",),
    "cup-ECDSA": ("cup-trust",),
    "cup-xmpp": ("cup-xmpp-trust",),
    "cup-xmpp-ECDSA": ("cup-xmpp-trust",),
    "cup-xmpp-s2s": ("cup-xmpp-trust",),  # IM&P guide: s2s trusts live in cup-xmpp-trust
    "cup-xmpp-s2s-ECDSA": ("cup-xmpp-trust",),
}
"""Where the issuer of a unit's certificate must be found (any of the stores) [INF for TVS, ITLRecovery]."""

ALL_TRUST_STORES = (
    "tomcat-trust",
    "ipsec-trust",
    "CAPF-trust",
    "CallManager-trust",
    "TVS-trust",
    "cup-trust",
    "cup-xmpp-trust",
)

IMP_REPLICATED_STORES = ("tomcat-trust", "cup-trust", "cup-xmpp-trust")
"""IM&P trust stores the IM&P database publisher replicates to the other IM&P nodes [INF which stores]."""

SYNC_AGENT = "Cisco Intercluster Sync Agent"
FEDERATION_CM = "Cisco XCP XMPP Federation Connection Manager"


def iso_now() -> str:
    """Current UTC time as ISO 8601 with milliseconds and ``Z``."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventLog:
    """Every state change, in order: kept in memory and appended to ``events.jsonl``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w", encoding="utf-8")  # one log per fleet start

    def add(
        self,
        cluster: str,
        node: str | None,
        operation: str,
        *,
        unit: str | None = None,
        service: str | None = None,
        detail: Any = None,
    ) -> dict[str, Any]:
        """Record one event and return it."""
        event = {
            "time": iso_now(),
            "cluster": cluster,
            "node": node,
            "operation": operation,
            "unit": unit,
            "service": service,
            "detail": detail,
        }
        with self._lock:
            self._events.append(event)
            self._file.write(json.dumps(event) + "\n")
            self._file.flush()
        return event

    def all(self) -> list[dict[str, Any]]:
        """A copy of every event so far."""
        with self._lock:
            return list(self._events)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()


class Runtime:
    """What state objects need from the running fleet: the lock, the event log, timers, listeners."""

    def __init__(self, options: FleetOptions, events: EventLog, ca: pki.SimulatorCa) -> None:
        self.options = options
        self.events = events
        self.ca = ca
        self.lock = threading.RLock()
        self._rsa_key: pki.PrivateKey | None = None
        self._ec_key: pki.PrivateKey | None = None

    def shared_key(self, key_type: str) -> pki.PrivateKey:
        """The fleet-wide key used by initial certificates (made once)."""
        if key_type == "ec":
            if self._ec_key is None:
                self._ec_key = pki.new_key("ec", 256)
            return self._ec_key
        if self._rsa_key is None:
            self._rsa_key = pki.new_key("rsa", 2048)
        return self._rsa_key

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` after ``delay`` seconds (the fleet runs it on its event loop)."""
        timer = threading.Timer(delay, fn)
        timer.daemon = True
        timer.start()

    def sync_listeners(self, node: SimulatedNode, wait: bool = True) -> None:
        """Open or close ``node``'s listeners to match its state (the fleet overrides this)."""


@dataclass
class Identity:
    """An installed identity certificate and (for initial ones) its key."""

    cert: x509.Certificate
    key: pki.PrivateKey | None
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def pem(self) -> str:
        """PEM text."""
        return pki.cert_pem(self.cert)


@dataclass
class PendingCsr:
    """A CSR waiting for its signed certificate. The key never leaves the node."""

    csr: x509.CertificateSigningRequest
    key: pki.PrivateKey
    request: dict[str, Any]
    created: str
    keygen_seconds: float = 0.0  # how long the node took to make the key and CSR (a client waits for it)

    @property
    def pem(self) -> str:
        """PEM text of the CSR."""
        from cryptography.hazmat.primitives import serialization

        return self.csr.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class ServiceState:
    """One service on one node, as Control Center and ``utils service list`` see it."""

    name: str
    activated: bool = True
    status: str = "Started"  # Started | Stopped | Starting
    reason: str = ""
    started_at: float = field(default_factory=time.time)
    restart_started: float | None = None
    restart_ends: float | None = None
    restart_token: int = 0

    def current_status(self, now: float | None = None) -> str:
        """Started/Stopped/Starting, taking a restart in progress into account."""
        if not self.activated:
            return "Stopped"
        if self.restart_started is not None and self.restart_ends is not None:
            now = time.time() if now is None else now
            mid = self.restart_started + (self.restart_ends - self.restart_started) / 2
            return "Stopped" if now < mid else "Starting"
        return self.status

    def current_reason(self) -> str:
        """Reason string: ``Service Not Activated``, ``Commanded Out of Service``, a failure, or empty."""
        if not self.activated:
            return "Service Not Activated"
        if self.restart_started is not None:
            return "Commanded Out of Service"
        return self.reason

    @property
    def restarting(self) -> bool:
        """True while a restart is in progress."""
        return self.restart_started is not None


@dataclass
class NodeFaults:
    """Faults injected on one node."""

    unreachable: bool = False
    latency: float = 0.0
    restart_fails: dict[str, str] = field(default_factory=dict)  # service -> reason
    restart_lost: set[str] = field(default_factory=set)  # the next Control Center restart of these is lost
    upload_errors: int = 0  # the next N identity/trust uploads fail with HTTP 500
    ssh_drops: int = 0  # the next N CLI commands drop the SSH connection mid-output
    trust_never_replicates: bool = False  # IM&P: trust replicated from the IM&P publisher never arrives here

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return {
            "trust_never_replicates": self.trust_never_replicates,
            "unreachable": self.unreachable,
            "latency": self.latency,
            "restart_fails": dict(self.restart_fails),
            "restart_lost": sorted(self.restart_lost),
            "upload_errors": self.upload_errors,
            "ssh_drops": self.ssh_drops,
        }


@dataclass
class ClusterFaults:
    """Faults injected on a cluster."""

    phones_never_reregister: bool = False
    phones_not_back: int = 0  # the next automatic reset leaves this many phones down (until a requested reset)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return {"phones_never_reregister": self.phones_never_reregister, "phones_not_back": self.phones_not_back}


@dataclass
class DrfJob:
    """A DRF backup or restore run by the publisher's DRF Master."""

    operation: str  # backup | restore
    started: float
    seconds: float
    tar: str
    finished: bool = False
    device: str | None = None  # the backup device (a backup started with utils disaster_recovery backup network)
    features: tuple[str, ...] = ()
    result: str = "SUCCESS"  # the Status the job ends with (SUCCESS, or ERROR as a test sets drf_backup_result)

    def percent(self, now: float | None = None) -> int:
        """Percentage complete."""
        now = time.time() if now is None else now
        if self.seconds <= 0:
            return 100
        return max(0, min(100, int((now - self.started) / self.seconds * 100)))

    @property
    def running(self) -> bool:
        """True until the job's time has passed."""
        return not self.finished and time.time() < self.started + self.seconds


# Units whose certificate the phones' ITL carries: a change makes the phones reset themselves when
# "Phone Interaction on Certificate Update" is automatic. Cisco's Security Guides name TVS, CAPF and
# CallManager/TFTP; CallManager-ECDSA is taken as CallManager, ITLRecovery is not named [INF].
AUTO_RESET_UNITS = frozenset({"CallManager", "CallManager-ECDSA", "TVS", "CAPF"})


@dataclass
class SimulatedPhone:
    """A phone of a cluster and its registration as RisPort70 reports it."""

    name: str
    dn: str
    model: str
    product: str
    ip: str
    node: str
    status: str = "Registered"
    timestamp: int = field(default_factory=lambda: int(time.time()))
    stale: list[tuple[str, int]] = field(default_factory=list)  # (node, timestamp) of an old failover record
    resets: int = 0  # every unregistration, requested or automatic (a newer one cancels an older re-registration)
    sip_oauth: bool = False  # its SIP phone security profile enables OAuth (14+) [INF: which phones]
    stuck: bool = False  # did not come back after an automatic reset; only a requested reset brings it back


def _next_stamp(phone: SimulatedPhone) -> int:
    """The RIS TimeStamp of the phone's next status change: now, and later than its previous one.

    A real phone takes tens of seconds to reset and register again, so its TimeStamp (whole
    seconds) always moves; the simulator's phones come back within a second, so it is made to move.
    """
    return max(int(time.time()), phone.timestamp + 1)


def _services_for(role: str, version: tuple[int, int], sub_index: int, federation: bool = False) -> list[ServiceState]:
    """A realistic service list for a node of ``role`` (IM&P: no CallManager/TFTP/TVS...).

    IM&P: Cisco XCP XMPP Federation Connection Manager is activated only where federation is on
    (Cisco: it cannot start unless XMPP federation is on for the node).
    """
    v14 = version >= (14, 0)
    names: list[tuple[str, bool]]
    if role == IMP:
        names = [
            ("Cisco Tomcat", True),
            ("Cisco SSOSP Tomcat", True),
            ("Cisco DRF Local", True),
            ("Cisco SIP Proxy", True),
            ("Cisco Presence Engine", True),
            ("Cisco XCP Router", True),
            ("Cisco XCP Connection Manager", True),
            ("Cisco AXL Web Service", True),
            ("Platform Administrative Web Service", True),
            ("Cisco RIS Data Collector", True),
            (SYNC_AGENT, True),
            (FEDERATION_CM, federation),
        ]
        if v14:
            names.append(("Cisco HAProxy", True))
        return [ServiceState(n, activated=a, status="Started" if a else "Stopped") for n, a in names]
    pub = role == PUBLISHER
    names = [
        ("Cisco CallManager", True),
        ("Cisco CTIManager", pub or sub_index % 2 == 1),
        ("Cisco Tftp", True),
        ("Cisco Tomcat", True),
        ("Cisco SSOSP Tomcat", True),
        ("Cisco Trust Verification Service", True),
        ("Cisco Certificate Authority Proxy Function", pub),
        ("Cisco DRF Local", True),
        ("Cisco RIS Data Collector", True),
        ("Platform Administrative Web Service", True),
        ("Cisco AXL Web Service", pub),
        ("Cisco Extension Mobility", pub),
        ("Cisco DirSync", False),
        ("Cisco Dialed Number Analyzer", False),
        ("Cisco Bulk Provisioning Service", pub),
        ("Cisco Serviceability Reporter", pub),
        ("Cisco CAR Scheduler", False),
        ("Cisco SOAP - CDRonDemand Service", False),
        ("Cisco Location Bandwidth Manager", True),
        ("Cisco Intercluster Lookup Service", pub),
        ("Cisco IP Voice Media Streaming App", True),
        ("Cisco Messaging Interface", False),
        ("Cisco DHCP Monitor Service", False),
        ("Cisco Certificate Change Notification", True),
        ("Cisco Certificate Expiry Monitor", True),
        ("Cisco Audit Event Service", True),
        ("Cisco Database Layer Monitor", True),
        ("Cisco CDR Agent", True),
        ("Cisco CallManager Serviceability", True),
        ("Cisco Log Partition Monitoring Tool", True),
    ]
    if pub:
        names.insert(8, ("Cisco DRF Master", True))
    if v14:
        names += [("Cisco UDS Tomcat", True), ("Cisco AXL Tomcat", True), ("Cisco HAProxy", True)]
    return [ServiceState(n, activated=a, status="Started" if a else "Stopped") for n, a in names]


class SimulatedNode:
    """One CUCM or IM&P node: certificates, pending CSRs, trust stores, services, faults."""

    def __init__(
        self,
        runtime: Runtime,
        cluster: SimulatedCluster,
        fqdn: str,
        role: str,
        sub_index: int,
        *,
        imp_db_publisher: bool = False,
        federation: bool = False,
    ) -> None:
        self.runtime = runtime
        self.imp_db_publisher = imp_db_publisher  # IM&P: the IM&P database publisher
        self.federation = federation  # IM&P: XMPP federation on
        self.cluster = cluster
        self.fqdn = fqdn
        self.role = role
        self.address = "127.0.0.1"
        self.https_port = 0
        self.soap_port = 0
        self.ssh_port = 0
        self.service_tls_ports: dict[str, int] = {}
        self.units: tuple[str, ...] = IMP_UNITS if role == IMP else CUCM_UNITS
        self._identities: dict[str, Identity] = {}
        self._served: dict[str, Identity] = {}
        self.csrs: dict[str, PendingCsr] = {}
        self.trust: dict[str, dict[str, x509.Certificate]] = {s: {} for s in ALL_TRUST_STORES}
        self.services: dict[str, ServiceState] = {
            s.name: s for s in _services_for(role, cluster.version_tuple, sub_index, federation)
        }
        for unit in self.units:
            if unit not in runtime.options.self_signed_units:
                store = TRUST_STORES[unit][0]
                self.trust[store][pki.common_name(runtime.ca.cert.subject)] = runtime.ca.cert
        self.faults = NodeFaults()
        self.host_key_line = ""  # set by the SSH server
        self.tls_generation = 0  # bumped when a served certificate changes

    # ----- naming -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The node name as in System > Server (the FQDN)."""
        return self.fqdn

    @property
    def hostname(self) -> str:
        """The short host name."""
        return self.fqdn.split(".")[0]

    @property
    def is_publisher(self) -> bool:
        """True on the publisher."""
        return self.role == PUBLISHER

    @property
    def version(self) -> str:
        """The cluster's version, e.g. ``15.0``."""
        return self.cluster.version

    def _event(
        self, operation: str, *, unit: str | None = None, service: str | None = None, detail: Any = None
    ) -> None:
        self.runtime.events.add(self.cluster.name, self.fqdn, operation, unit=unit, service=service, detail=detail)

    # ----- certificates -------------------------------------------------------------------------
    def _ensure_certs(self) -> None:
        if self._identities:
            return
        opts = self.runtime.options
        for unit in self.units:
            key_type = "ec" if unit.endswith("-ECDSA") else "rsa"
            key = self.runtime.shared_key(key_type)
            not_after = pki.utcnow() + dt.timedelta(days=opts.expiry_for(unit, self.fqdn))
            cert = pki.issue_node_cert(
                subject=pki.node_subject(self.fqdn, unit),
                sans=[self.fqdn],
                key=key,
                not_after=not_after,
                ca=None if unit in opts.self_signed_units else self.runtime.ca,
                unit=unit,
            )
            ident = Identity(cert=cert, key=key)
            self._identities[unit] = ident
            self._served[unit] = ident

    def identity(self, unit: str) -> Identity:
        """The installed identity certificate of ``unit`` (``KeyError`` when the node has no such unit)."""
        with self.runtime.lock:
            if unit not in self.units:
                raise KeyError(unit)
            self._ensure_certs()
            return self._identities[unit]

    def served(self, unit: str) -> Identity:
        """The certificate the node serves for ``unit`` now (changes when its service restarts)."""
        with self.runtime.lock:
            self._ensure_certs()
            return self._served[unit]

    def identities(self) -> dict[str, Identity]:
        """All installed identities, by unit."""
        with self.runtime.lock:
            self._ensure_certs()
            return dict(self._identities)

    def set_identity(self, unit: str, cert: x509.Certificate, key: pki.PrivateKey | None = None) -> None:
        """Install ``cert`` as ``unit``'s identity (test helper; served after the service restart)."""
        with self.runtime.lock:
            self._ensure_certs()
            self._identities[unit] = Identity(cert=cert, key=key)

    def install_identity(self, unit: str, cert: x509.Certificate, chain: list[x509.Certificate]) -> None:
        """Install an uploaded certificate for ``unit`` and consume its pending CSR."""
        with self.runtime.lock:
            pending = self.csrs.pop(unit)
            self._ensure_certs()
            self._identities[unit] = Identity(cert=cert, key=pending.key, chain=list(chain))
            self._event(
                "identity_uploaded",
                unit=unit,
                detail={
                    "serial": format(cert.serial_number, "x"),
                    "not_after": cert.not_valid_after_utc.isoformat(),
                    "issuer": cert.issuer.rfc4514_string(),
                    "chain": len(chain),
                },
            )
            self.cluster.certificate_changed(unit, self)

    def distribute_identity(self, unit: str, cert: x509.Certificate, chain: list[x509.Certificate]) -> None:
        """A multi-server identity uploaded on this node reaches every other node of the cluster named in its SANs.

        [INF] Cisco says CUCM distributes a multi-server certificate to the nodes it names, not how or when:
        each such node that holds ``unit`` installs it (with the uploaded node's key, as one certificate)
        ``multi_server_distribution_seconds`` after the upload, on the fleet's clock (a timer, never a sleep),
        event ``identity_distributed``; a pending CSR of the unit there is left alone; a node that is down
        when it lands gets it anyway (the database replicates once it is back). Served after its restart.
        The phones' automatic reset follows the upload only (one certificate, one change of their ITL), not
        each node's copy [INF].
        """
        with self.runtime.lock:
            key = self._identities[unit].key
            sans = {s.lower() for s in pki.dns_sans(cert)}
            targets = [n for n in self.cluster.nodes if n is not self and unit in n.units and n.fqdn in sans]
            delay = self.runtime.options.multi_server_distribution_seconds
            self._event(
                "multi_server_distribution_started",
                unit=unit,
                detail={"to": [n.fqdn for n in targets], "seconds": delay, "serial": format(cert.serial_number, "x")},
            )
        for target in targets:

            def land(target: SimulatedNode = target) -> None:
                with self.runtime.lock:
                    target._ensure_certs()
                    target._identities[unit] = Identity(cert=cert, key=key, chain=list(chain))
                    target._event(
                        "identity_distributed",
                        unit=unit,
                        detail={"from": self.fqdn, "serial": format(cert.serial_number, "x"), "chain": len(chain)},
                    )

            self.runtime.call_later(delay, land)

    def add_csr(self, unit: str, pending: PendingCsr) -> None:
        """Store a new pending CSR for ``unit`` (replacing any older one)."""
        with self.runtime.lock:
            replaced = unit in self.csrs
            self.csrs[unit] = pending
            self._event(
                "csr_generated",
                unit=unit,
                detail={
                    "common_name": pending.request.get("commonName"),
                    "sans": pki.dns_sans(pending.csr),
                    "replaced": replaced,
                    "seconds": round(pending.keygen_seconds, 4),
                },
            )

    def add_trust(self, store: str, cert: x509.Certificate, description: str = "") -> str:
        """Add ``cert`` to ``store``: one per CN; an existing one is replaced only by a later start date.

        Returns ``added``, ``replaced`` or ``kept`` (the older certificate stays in effect).
        """
        with self.runtime.lock:
            cn = pki.common_name(cert.subject)
            current = self.trust.setdefault(store, {}).get(cn)
            if current is None:
                outcome = "added"
            elif cert.not_valid_before_utc > current.not_valid_before_utc:
                outcome = "replaced"
            else:
                outcome = "kept"
            if outcome != "kept":
                self.trust[store][cn] = cert
            self._event(
                "trust_uploaded",
                unit=store,
                detail={
                    "common_name": cn,
                    "outcome": outcome,
                    "serial": format(cert.serial_number, "x"),
                    "description": description,
                },
            )
            return outcome

    def chain_trusted(self, unit: str, leaf: x509.Certificate) -> bool:
        """True when ``leaf``'s issuer chain up to a self-signed root is in the unit's trust store(s)."""
        with self.runtime.lock:
            for store in TRUST_STORES.get(unit, (f"{unit}-trust",)):
                certs = list(self.trust.get(store, {}).values())
                current = leaf
                for _ in range(8):
                    issuer = next((c for c in certs if pki.signed_by(current, c)), None)
                    if issuer is None:
                        break
                    if issuer.issuer == issuer.subject:
                        return True
                    current = issuer
            return False

    # ----- services -----------------------------------------------------------------------------
    def service(self, name: str) -> ServiceState | None:
        """The service called ``name`` (exact, case-sensitive) or None."""
        return self.services.get(name)

    def restart_seconds(self, service: str) -> float:
        """How long a restart of ``service`` takes."""
        opts = self.runtime.options
        return opts.tomcat_restart_seconds if service == "Cisco Tomcat" else opts.restart_seconds

    def begin_restart(self, service: str, via: str) -> tuple[float, int]:
        """Start restarting ``service``; returns its duration and a token for :meth:`finish_restart`."""
        with self.runtime.lock:
            svc = self.services[service]
            seconds = self.restart_seconds(service)
            now = time.time()
            svc.restart_started = now
            svc.restart_ends = now + seconds
            svc.restart_token += 1
            token = svc.restart_token
            self._event("service_restart_started", service=service, detail={"via": via, "seconds": seconds})
        self.runtime.sync_listeners(self)
        return seconds, token

    def finish_restart(self, service: str, token: int | None = None) -> bool:
        """End a restart: Started (served certificates updated) or, with the fault, Stopped. True on success.

        A ``token`` from an older :meth:`begin_restart` (superseded by a newer restart) does nothing.
        """
        with self.runtime.lock:
            svc = self.services[service]
            if svc.restart_started is None or (token is not None and token != svc.restart_token):
                return svc.status == "Started"
            svc.restart_started = None
            svc.restart_ends = None
            failure = self.faults.restart_fails.get(service)
            if failure is not None:
                svc.status = "Stopped"
                svc.reason = failure
                ok = False
            else:
                svc.status = "Started"
                svc.reason = ""
                svc.started_at = time.time()
                ok = True
                self._ensure_certs()
                changed = []
                for unit in SERVICE_SERVES.get(service, ()):
                    if unit in self._identities and self._served.get(unit) is not self._identities[unit]:
                        self._served[unit] = self._identities[unit]
                        changed.append(unit)
                if changed:
                    self.tls_generation += 1
            self._event(
                "service_restart_finished",
                service=service,
                detail={"result": "started" if ok else "failed", "reason": failure},
            )
            if ok and service == SYNC_AGENT and self.imp_db_publisher:
                self.cluster.replicate_imp_trust(self)
        self.runtime.sync_listeners(self)
        return ok

    def start_stop(self, service: str, action: str) -> None:
        """Start or stop ``service`` at once (Control Center Start/Stop)."""
        with self.runtime.lock:
            svc = self.services[service]
            if action == "Stop":
                svc.status = "Stopped"
                svc.reason = "Commanded Out of Service"
            else:
                failure = self.faults.restart_fails.get(service)
                svc.status = "Stopped" if failure else "Started"
                svc.reason = failure or ""
                if not failure:
                    svc.started_at = time.time()
                    for unit in SERVICE_SERVES.get(service, ()):
                        if unit in self.units:
                            self._ensure_certs()
                            self._served[unit] = self._identities[unit]
                    self.tls_generation += 1
            self._event(f"service_{action.lower()}", service=service, detail={"status": svc.status})
        self.runtime.sync_listeners(self)

    # ----- listeners ----------------------------------------------------------------------------
    def https_up(self) -> bool:
        """True when HTTPS (certmgr, SOAP) should accept connections: reachable and Tomcat running."""
        tomcat = self.services.get("Cisco Tomcat")
        running = tomcat is not None and tomcat.current_status() == "Started" and not tomcat.restarting
        return not self.faults.unreachable and running

    def service_tls_up(self, unit: str) -> bool:
        """True when the TLS listener serving ``unit`` should accept connections."""
        svc = self.services.get(UNIT_SERVICE.get(unit, ""))
        return (
            not self.faults.unreachable
            and svc is not None
            and svc.activated
            and not svc.restarting
            and svc.status == "Started"
        )

    def ssh_up(self) -> bool:
        """True when SSH should accept connections."""
        return not self.faults.unreachable

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly summary for ``GET /admin/state``."""
        with self.runtime.lock:
            self._ensure_certs()
            return {
                "fqdn": self.fqdn,
                "role": self.role,
                "ports": {
                    "https": self.https_port,
                    "soap": self.soap_port,
                    "ssh": self.ssh_port,
                    **self.service_tls_ports,
                },
                "identities": {
                    u: {
                        "serial": format(i.cert.serial_number, "x"),
                        "not_after": i.cert.not_valid_after_utc.isoformat(),
                        "issuer": pki.common_name(i.cert.issuer),
                        "served_serial": format(self._served[u].cert.serial_number, "x"),
                    }
                    for u, i in self._identities.items()
                },
                "pending_csrs": sorted(self.csrs),
                "trust": {s: sorted(c) for s, c in self.trust.items() if c},
                "services": {
                    n: {"status": s.current_status(), "reason": s.current_reason()} for n, s in self.services.items()
                },
                "faults": self.faults.as_dict(),
            }


class SimulatedCluster:
    """A cluster: its nodes, phones, security mode, SSO, DRF jobs and the RIS rate limit."""

    def __init__(self, runtime: Runtime, name: str, version: str) -> None:
        self.runtime = runtime
        self.name = name
        self.version, self._full_version = split_version(version)  # "14.0", "14.0.1.11900-132"
        self.nodes: list[SimulatedNode] = []
        self.phones: list[SimulatedPhone] = []
        self.mixed_mode = False
        self.sso_enabled = False
        self.phone_interaction = "automatic"  # "Phone Interaction on Certificate Update" (14+; Cisco's default)
        self._auto_reset_generation = 0  # a newer certificate change before the reset fires postpones it
        self.drf: DrfJob | None = None
        self.drf_devices: list[str] = list(runtime.options.drf_devices)  # DRS backup devices configured
        self.drf_backup_result = "SUCCESS"  # how the next backup ends (a test may set "ERROR")
        self.drf_backups: list[DrfJob] = []  # backups started over the CLI, oldest first
        self.ctl_updates = 0
        self.faults = ClusterFaults()
        self._ris_calls: deque[float] = deque()

    @property
    def version_tuple(self) -> tuple[int, int]:
        """``(major, minor)``."""
        major, _, minor = self.version.partition(".")
        return int(major), int(minor.split(".")[0] or 0)

    @property
    def full_version(self) -> str:
        """E.g. ``15.0.1.11900-40``."""
        return self._full_version

    @property
    def service_update(self) -> int:
        """The Service Update of the build (0 for the first release of a version)."""
        return service_update(self._full_version)

    @property
    def publisher(self) -> SimulatedNode:
        """The publisher node."""
        return next(n for n in self.nodes if n.role == PUBLISHER)

    def node(self, fqdn: str) -> SimulatedNode:
        """The node called ``fqdn``."""
        for n in self.nodes:
            if n.fqdn == fqdn.lower():
                return n
        raise KeyError(fqdn)

    @property
    def cm_nodes(self) -> list[SimulatedNode]:
        """Nodes where Cisco CallManager is activated."""
        return [n for n in self.nodes if (s := n.services.get("Cisco CallManager")) is not None and s.activated]

    def _event(self, node: str | None, operation: str, **kw: Any) -> None:
        self.runtime.events.add(self.name, node, operation, **kw)

    def make_phones(self, count: int) -> None:
        """Create ``count`` phones spread over the CallManager nodes (some with a stale failover record)."""
        cms = self.cm_nodes
        if not cms:
            return
        homes = [n for n in cms if n.role == SUBSCRIBER] or cms
        now = int(time.time())
        base = abs(hash(self.name)) % 200
        for i in range(count):
            home = homes[i % len(homes)]
            phone = SimulatedPhone(
                name=f"SEP{(base * 100000 + i):012X}",
                dn=f"{1000 + i}",
                model="36670" if i % 2 else "36224",
                product="Cisco 8845" if i % 2 else "Cisco 8865",
                ip=f"10.{base % 250}.{i // 250}.{i % 250 + 1}",
                node=home.fqdn,
                timestamp=now - 3600,
            )
            others = [n for n in cms if n is not home]
            if others and i % 10 == 3:
                phone.stale.append((others[0].fqdn, now - 86400))
            phone.sip_oauth = i < self.runtime.options.sip_oauth_phones
            self.phones.append(phone)

    # ----- phones -------------------------------------------------------------------------------
    def phone(self, name: str) -> SimulatedPhone | None:
        """The phone called ``name`` (case-insensitive)."""
        for p in self.phones:
            if p.name.lower() == name.lower():
                return p
        return None

    def reset_phone(self, phone: SimulatedPhone, kind: str = "Reset") -> None:
        """Reset ``phone`` as asked (AXL): it unregisters at once and re-registers after ``reregister_seconds``.

        A requested reset also brings back a phone that did not come back from an automatic reset.
        """
        with self.runtime.lock:
            phone.stuck = False
            self._unregister(phone, "phone_reset", {"phone": phone.name, "type": kind})

    def _unregister(self, phone: SimulatedPhone, operation: str, detail: dict[str, Any]) -> None:
        """Unregister ``phone`` now (event ``operation``); re-register later unless faulted or stuck."""
        with self.runtime.lock:
            phone.status = "UnRegistered"
            phone.timestamp = _next_stamp(phone)
            phone.resets += 1
            generation = phone.resets
            self._event(phone.node, operation, detail=detail)
        if self.faults.phones_never_reregister or phone.stuck:
            return

        def reregister() -> None:
            with self.runtime.lock:
                if phone.resets != generation or self.faults.phones_never_reregister or phone.stuck:
                    return
                phone.status = "Registered"
                phone.timestamp = _next_stamp(phone)
                self._event(phone.node, "phone_registered", detail={"phone": phone.name})

        self.runtime.call_later(self.runtime.options.reregister_seconds, reregister)

    def certificate_changed(self, unit: str, node: SimulatedNode) -> None:
        """A new ``unit`` identity was uploaded on ``node``: the phones may reset themselves.

        With "Phone Interaction on Certificate Update" automatic (14+), a change of a certificate
        the phones' ITL carries (:data:`AUTO_RESET_UNITS`) makes every registered phone reset
        itself ``auto_reset_delay_seconds`` after the upload [INF: when, and which phones]. Several
        uploads within that delay (one per node) make one automatic reset.
        """
        if unit not in AUTO_RESET_UNITS or self.version_tuple < (14, 0) or self.phone_interaction != "automatic":
            return
        with self.runtime.lock:
            self._auto_reset_generation += 1
            generation = self._auto_reset_generation

        def fire() -> None:
            with self.runtime.lock:
                if generation != self._auto_reset_generation:
                    return
                self.auto_reset(unit, node.fqdn)

        self.runtime.call_later(self.runtime.options.auto_reset_delay_seconds, fire)

    def auto_reset(self, unit: str, changed_on: str) -> int:
        """The phones reset themselves (event ``phone_auto_reset`` each); returns how many.

        With the ``phones-not-back`` fault, the first phones (by name) of that count stay
        UnRegistered until certops (or a person) resets them.
        """
        with self.runtime.lock:
            targets = [p for p in self.phones if p.status == "Registered"]
            stuck = {p.name for p in sorted(targets, key=lambda p: p.name)[: self.faults.phones_not_back]}
            self.faults.phones_not_back = 0
            for phone in targets:
                phone.stuck = phone.name in stuck
                self._unregister(
                    phone, "phone_auto_reset", {"phone": phone.name, "unit": unit, "changed_on": changed_on}
                )
            return len(targets)

    # ----- IM&P trust replication ---------------------------------------------------------------
    @property
    def imp_publisher(self) -> SimulatedNode | None:
        """The IM&P database publisher, or None when the cluster has no IM&P node."""
        return next((n for n in self.nodes if n.imp_db_publisher), None)

    def replicate_imp_trust(self, source: SimulatedNode) -> None:
        """Cisco Intercluster Sync Agent restarted on the IM&P publisher: its IM&P trust stores replicate.

        Every other IM&P node gets the certificates the publisher holds now (one per CN, the later
        start date wins, as an upload) ``trust_replication_seconds`` later, on the fleet's clock
        (a timer, never a sleep) [INF: Cisco says "about 30 minutes", not how]. A node with the
        ``trust-never-replicates`` fault gets nothing. Events: ``trust_replication_started`` now,
        ``trust_replicated`` per node and store when it lands.
        """
        with self.runtime.lock:
            stores = {s: dict(source.trust.get(s, {})) for s in IMP_REPLICATED_STORES}
            targets = [n for n in self.nodes if n.role == IMP and n is not source]
            delay = self.runtime.options.trust_replication_seconds
            self._event(
                source.fqdn,
                "trust_replication_started",
                detail={"to": [n.fqdn for n in targets], "seconds": delay},
            )

        for target in targets:

            def land(target: SimulatedNode = target) -> None:
                with self.runtime.lock:
                    if target.faults.trust_never_replicates:
                        return
                    for store, certs in stores.items():
                        added = []
                        for cn, cert in certs.items():
                            current = target.trust.setdefault(store, {}).get(cn)
                            if current is None or cert.not_valid_before_utc > current.not_valid_before_utc:
                                target.trust[store][cn] = cert
                                added.append(cn)
                        if added:
                            self._event(
                                target.fqdn, "trust_replicated", unit=store, detail={"from": source.fqdn, "cns": added}
                            )

            self.runtime.call_later(delay, land)

    def registered_count(self) -> int:
        """How many phones are registered now."""
        with self.runtime.lock:
            return sum(1 for p in self.phones if p.status == "Registered")

    # ----- RIS rate limit -----------------------------------------------------------------------
    def ris_allow(self) -> bool:
        """Count one RisPort70 request against the cluster-wide limit; False when over it."""
        opts = self.runtime.options
        now = time.monotonic()
        with self.runtime.lock:
            while self._ris_calls and now - self._ris_calls[0] >= opts.ris_rate_window:
                self._ris_calls.popleft()
            if len(self._ris_calls) >= opts.ris_rate_limit:
                return False
            self._ris_calls.append(now)
            return True

    # ----- DRF ----------------------------------------------------------------------------------
    def start_drf(self, operation: str, seconds: float) -> DrfJob:
        """Start a DRF backup or restore that runs for ``seconds``; it locks the platform API meanwhile."""
        with self.runtime.lock:
            job = DrfJob(
                operation=operation,
                started=time.time(),
                seconds=seconds,
                tar=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d-%H-%M-%S") + ".tar",
            )
            self.drf = job
            self._event(self.publisher.fqdn, f"drf_{operation}_started", detail={"seconds": seconds, "tar": job.tar})

        def finish() -> None:
            with self.runtime.lock:
                if self.drf is job and not job.finished:
                    job.finished = True
                    self._event(self.publisher.fqdn, f"drf_{operation}_finished", detail={"tar": job.tar})

        self.runtime.call_later(seconds, finish)
        return job

    def start_backup(self, features: list[str], device: str) -> DrfJob | str:
        """``utils disaster_recovery backup network <features> <device>``: the job, or the CLI's refusal.

        Refused [INF: message texts]: a device DRS does not know, a feature not registered, a job
        already running. The backup runs ``drf_backup_seconds`` and locks the platform API meanwhile.
        """
        with self.runtime.lock:
            if device not in self.drf_devices:
                return f"drfCliMsg: Backup device {device} does not exist. Configured devices: " + (
                    ", ".join(self.drf_devices) or "none"
                )
            registered = {"UCM", "CDR_CAR", "PLM"} | ({"CUP"} if any(n.role == "imp" for n in self.nodes) else set())
            unknown = [f for f in features if f.upper() not in registered]
            if unknown:
                return f"drfCliMsg: Feature(s) {', '.join(unknown)} not registered. Registered: " + ", ".join(
                    sorted(registered)
                )
            if self.drf is not None and self.drf.running:
                return f"drfCliMsg: A {self.drf.operation} job is already in progress; try again later"
        job = self.start_drf("backup", self.runtime.options.drf_backup_seconds)
        with self.runtime.lock:
            job.device, job.features, job.result = device, tuple(f.upper() for f in features), self.drf_backup_result
            self.drf_backups.append(job)
            self._event(self.publisher.fqdn, "drf_backup_requested", detail={"device": device, "features": features})
        return job

    def stop_drf(self) -> None:
        """End any DRF job now (fault cleared)."""
        with self.runtime.lock:
            if self.drf is not None and not self.drf.finished:
                self.drf.finished = True
                self.drf.seconds = max(0.0, time.time() - self.drf.started)
                self._event(
                    self.publisher.fqdn,
                    f"drf_{self.drf.operation}_finished",
                    detail={"tar": self.drf.tar, "cancelled": True},
                )

    @property
    def platform_locked(self) -> bool:
        """True while a DRF backup or restore runs (DRS locks the platform API)."""
        return self.drf is not None and self.drf.running

    def set_mixed_mode(self, on: bool) -> None:
        """Set Cluster Security Mode (1 = mixed)."""
        with self.runtime.lock:
            self.mixed_mode = on
            self._event(None, "security_mode_set", detail={"mixed_mode": on})

    def set_sso(self, on: bool) -> None:
        """Enable or disable SAML SSO."""
        with self.runtime.lock:
            self.sso_enabled = on
            self._event(None, "sso_set", detail={"enabled": on})

    def update_ctl(self, node: SimulatedNode) -> None:
        """Record a CTL file update (publisher, mixed mode)."""
        with self.runtime.lock:
            self.ctl_updates += 1
            self._event(node.fqdn, "ctl_updated", detail={"count": self.ctl_updates})

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly summary for ``GET /admin/state``."""
        with self.runtime.lock:
            return {
                "name": self.name,
                "version": self.version,
                "mixed_mode": self.mixed_mode,
                "sso_enabled": self.sso_enabled,
                "drf": None
                if self.drf is None
                else {"operation": self.drf.operation, "running": self.drf.running, "percent": self.drf.percent()},
                "phones": {
                    "total": len(self.phones),
                    "registered": sum(1 for p in self.phones if p.status == "Registered"),
                },
                "ctl_updates": self.ctl_updates,
                "faults": self.faults.as_dict(),
                "nodes": [n.summary() for n in self.nodes],
            }
