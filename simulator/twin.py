"""A simulated cluster shaped like a captured one: :class:`TwinFleet` (``certops sim --from-capture DIR``).

The capture is what ``certops doctor --capture DIR`` wrote (format ``certops-doctor-capture``,
version 1, ``docs/doctor.md``); this module reads its ``capture.json`` as documented there and
imports nothing from certops. The twin has the captured cluster's name, nodes (FQDNs, roles),
version (the build ``show version active`` printed), units with their certificates' subjects,
SANs, expiry dates, key types and self-signed/CA-signed (re-issued by the simulator's CA — a CA
issuer other than the simulator's root becomes an intermediate of that name under it, so the
issuer names match too), services and their states, security mode, SSO, Phone Interaction and
phone count. Everything else is the simulator's default behaviour.

IM&P nodes: as many as captured (``FleetOptions.imp_nodes``), the IM&P database publisher first,
XMPP federation where the capture says so; a cluster without IM&P has none. (One captured node
of role ``imp``, last in a cluster of 3 or more, keeps the simulator's classic layout, so its
inventory role stays ``imp``.)

Captured answers (:mod:`simulator.replay`): where a node's captured answer to a read-only
question differs from the simulator's, the twin gives the captured one verbatim while its state
is as captured — ``show myself``, ``show version active``, ``utils sso status`` (SSO as captured),
``utils disaster_recovery status backup`` (no DRF job in the twin yet), ``GET /options`` and
``GET /csr?service=U`` (no CSR pending for U). ``GET /trust/certificate`` and ``show cert list``
answer in the captured shape and style. Answers carrying state the twin re-issues (certificates,
services, AXL rows, RisPort70) stay the simulator's.

Not built (each raises :class:`TwinError` or is documented in docs/doctor.md): IP-address
SANs (DNS SANs only); the captured key sizes (the fleet's shared 2048-bit RSA / P-256 keys).
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from simulator import certmgr, cli, pki, shapes, soap
from simulator.fleet import SimulatedFleet
from simulator.options import FleetOptions
from simulator.replay import Replay, ReplayBook, always
from simulator.state import (
    CLI_ONLY_SERVICES,
    IMP,
    PUBLISHER,
    SUBSCRIBER,
    TRUST_STORES,
    Identity,
    ServiceState,
    SimulatedCluster,
    SimulatedNode,
)

IMP_PUBLISHER_ROLE = "imp-publisher"  # the inventory's role of the IM&P database publisher

FORMAT = "certops-doctor-capture"
VERSION = 1
_STATES = {"Started": "Started", "Stopped": "Stopped", "Starting": "Starting", "Stopping": "Stopped"}


TRUST_LIST_SHAPES = ("certificate_data", "list", "certificates")
"""The ``GET /trust/certificate`` shapes a twin can answer in (``capture.cluster.shapes["certmgr.trust_list"]``)."""


def _install_shape_dispatch() -> None:
    """Make ``certmgr.get_trust`` answer in a twin cluster's captured shape (other clusters: unchanged).

    The plumbing for captured response shapes, built for this one answer: a cluster carrying
    ``twin_shapes`` gets the shape its capture recorded; every other cluster keeps the simulator's.
    """
    if getattr(certmgr.get_trust, "twin_dispatch", False):
        return
    original = certmgr.get_trust

    def get_trust(node: SimulatedNode, service: str | None) -> certmgr.Reply:
        status, body = original(node, service)
        shape = getattr(node.cluster, "twin_shapes", {}).get("certmgr.trust_list", "certificate_data")
        if status != 200 or shape == "certificate_data":
            return status, body
        entries = [{"certificate": e["certificate"]} for e in body.get("certificate_data", [])]
        if shape == "list":
            return status, entries  # type: ignore[return-value]
        return status, {"trackingId": body.get("trackingId"), "certificates": entries}

    get_trust.twin_dispatch = True  # type: ignore[attr-defined]
    certmgr.get_trust = get_trust


class TwinError(ValueError):
    """The capture cannot be read, or asks for a shape the twin does not build (the message says which)."""


def load_capture(directory: Path) -> dict[str, Any]:
    """``directory/capture.json`` as a dict, checked for format and version."""
    path = Path(directory) / "capture.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TwinError(
            f"{directory} holds no capture.json: make one with certops doctor --capture {directory}"
        ) from None
    except (OSError, ValueError) as exc:
        raise TwinError(f"{path} cannot be read as JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TwinError(f"{path} is not a certops doctor capture (no format {FORMAT!r})")
    if data.get("version") != VERSION:
        raise TwinError(f"{path} is capture version {data.get('version')!r}; the twin reads version {VERSION}")
    return data


def _ordered_nodes(data: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = list(data.get("nodes") or [])
    pubs = [n for n in nodes if n.get("role") == PUBLISHER]
    subs = [n for n in nodes if n.get("role") == SUBSCRIBER]
    imps = _imp_nodes(nodes)
    if len(pubs) != 1:
        raise TwinError(f"the capture has {len(pubs)} publishers; a twin needs exactly one")
    other = [str(n.get("role")) for n in nodes if n not in pubs and n not in subs and n not in imps]
    if other:
        raise TwinError(f"the capture has nodes of unknown role ({', '.join(sorted(set(other)))})")
    return [*pubs, *subs, *imps]


def _imp_nodes(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The captured IM&P nodes, the IM&P database publisher (inventory role ``imp-publisher``) first."""
    first = [n for n in nodes if n.get("role") == IMP_PUBLISHER_ROLE]
    return [*first, *(n for n in nodes if n.get("role") == IMP)]


def _classic_layout(nodes: list[dict[str, Any]]) -> bool:
    """One IM&P node of role ``imp``, last of 3 or more: the simulator's default layout fits as it is."""
    roles = [n.get("role") for n in nodes]
    return len(nodes) >= 3 and roles.count(IMP) == 1 and IMP_PUBLISHER_ROLE not in roles and roles[-1] == IMP


def twin_options(data: dict[str, Any], base: FleetOptions) -> FleetOptions:
    """``base`` with the captured cluster's shape: one cluster, its node count, version and phones."""
    cluster = data.get("cluster") or {}
    nodes = _ordered_nodes(data)
    version = cluster.get("full_version") or nodes[0].get("version_active") or cluster.get("version") or "15.0"
    phones = cluster.get("phones_seen")
    base.clusters = 1
    base.nodes = len(nodes)
    imps = _imp_nodes(nodes)
    base.imp_nodes = None if _classic_layout(nodes) else len(imps)
    if any("federation" in n for n in imps):  # captures before the field: the simulator's default
        base.federation = tuple(k for k, n in enumerate(imps, 1) if n.get("federation"))
    base.version = str(version)
    if isinstance(phones, int):
        base.phones_per_cluster = phones
    return base


class TwinFleet(SimulatedFleet):
    """A :class:`SimulatedFleet` of one cluster shaped like the capture in ``capture_dir``."""

    def __init__(self, capture_dir: Path, options: FleetOptions | None = None) -> None:
        self.capture_dir = Path(capture_dir)
        self.capture = load_capture(self.capture_dir)
        self._captured_nodes = _ordered_nodes(self.capture)
        super().__init__(twin_options(self.capture, options or FleetOptions()))
        self.notes: list[str] = []
        self._issuers: dict[str, pki.SimulatorCa] = {}

    def __enter__(self) -> TwinFleet:
        return self.start()

    def start(self) -> TwinFleet:
        """Start the fleet, then give it the captured names, certificates, services and cluster state."""
        if self.started:
            return self
        super().start()
        try:
            self._shape()
        except Exception:
            self.stop()
            raise
        return self

    # ----- shaping -------------------------------------------------------------------------------------
    def _shape(self) -> None:
        assert self.runtime is not None
        cluster = self.clusters[0]
        captured = self.capture.get("cluster") or {}
        with self.runtime.lock:
            cluster.name = str(captured.get("name") or cluster.name)
            renames = {}
            for node, spec in zip(cluster.nodes, self._captured_nodes, strict=True):
                renames[node.fqdn] = str(spec["fqdn"]).lower()
                self._rename(node, renames[node.fqdn])
            for phone in cluster.phones:
                phone.node = renames.get(phone.node, phone.node)
                phone.stale = [(renames.get(n, n), t) for n, t in phone.stale]
            for node, spec in zip(cluster.nodes, self._captured_nodes, strict=True):
                self._certificates(node, spec.get("certificates") or [])
                self._services(node, spec.get("services") or [])
            cluster.mixed_mode = captured.get("security_mode") == 1
            cluster.sso_enabled = bool(captured.get("sso_enabled"))
            if captured.get("phone_interaction") in ("automatic", "manual"):
                cluster.phone_interaction = captured["phone_interaction"]
            shapes = dict(captured.get("shapes") or {})
            twin_shapes: dict[str, str] = {}
            style = shapes.get("cli.cert_list")
            usual = "lines" if cluster.version_tuple >= (15, 0) else "blocks"
            if style in ("lines", "blocks") and style != usual:
                twin_shapes["cli.cert_list"] = style
                self.notes.append(f"show cert list own|trust answers in the captured style ({style})")
            trust_shape = shapes.get("certmgr.trust_list", "certificate_data")
            if trust_shape not in TRUST_LIST_SHAPES:
                self.notes.append(f"GET /trust/certificate shape {trust_shape!r} is not built; the simulator's is used")
            elif trust_shape != "certificate_data":
                _install_shape_dispatch()
                twin_shapes["certmgr.trust_list"] = trust_shape
                self.notes.append(f"GET /trust/certificate answers in the captured shape {trust_shape!r}")
            cluster.twin_shapes = twin_shapes  # type: ignore[attr-defined]
        self._replay(cluster)
        self._conventions(cluster)
        lines = []
        for node in cluster.nodes:
            lines.append(f"[127.0.0.1]:{node.ssh_port} {node.host_key_line}")
            lines.append(f"[{node.fqdn}]:{node.ssh_port} {node.host_key_line}")
        self.known_hosts_path.write_text("\n".join(lines) + "\n")
        if captured.get("drf_running"):
            self.notes.append("a DRF backup was running when the capture was taken; the twin starts without one")
        self.runtime.events.add(cluster.name, None, "twin_shaped", detail={"nodes": len(cluster.nodes)})

    # ----- captured answers -----------------------------------------------------------------------------
    @functools.cached_property
    def _answers(self) -> list[tuple[dict[str, Any], int | None, str]]:
        """Each captured answer whose file reads, in capture order: (index entry, status, body); read once."""
        out: list[tuple[dict[str, Any], int | None, str]] = []
        for entry in self.capture.get("responses") or []:
            try:
                body = (self.capture_dir / str(entry["file"])).read_text(encoding="utf-8")
            except (KeyError, OSError):
                continue
            status = entry.get("status")
            out.append((entry, status if isinstance(status, int) else None, body))
        return out

    def _captured(self) -> dict[tuple[str, str, str], tuple[int | None, str, str]]:
        """The captured answers by ``ReplayBook.key`` (the last of repeated ones): (status, body, content type)."""
        out: dict[tuple[str, str, str], tuple[int | None, str, str]] = {}
        for entry, status, body in self._answers:
            try:
                key = ReplayBook.key(str(entry["node"]), str(entry["interface"]), str(entry["request"]))
            except (KeyError, ValueError):
                continue
            out[key] = (status, body, str(entry.get("content_type") or ""))
        return out

    def _replay(self, cluster: SimulatedCluster) -> None:
        """Fill the cluster's :class:`ReplayBook` with each captured answer that differs from the simulator's."""
        captured = self._captured()
        book = ReplayBook()
        sso = bool(cluster.sso_enabled)
        drf_captured_running = bool((self.capture.get("cluster") or {}).get("drf_running"))
        commands: dict[str, tuple[Callable[[SimulatedNode], bool], str]] = {
            "show myself": (always, ""),
            "show version active": (always, ""),
            "utils sso status": (
                lambda n: bool(n.cluster.sso_enabled) == sso,
                f" while SSO is {'on' if sso else 'off'} as captured",
            ),
            "utils disaster_recovery status backup": (
                lambda n: n.cluster.drf is None,
                " until a DRF job runs in the twin",
            ),
        }
        for node in cluster.nodes:
            for command, (holds, when) in commands.items():
                got = captured.get(ReplayBook.key(node.fqdn, "cli", command))
                if got is None or (command.startswith("utils disaster") and drf_captured_running):
                    continue
                if _same_text(got[1], cli.answer(node, command)):
                    continue
                book.add(node.fqdn, "cli", command, Replay(None, got[1], holds=holds))
                self.notes.append(f"{node.fqdn}: `{command}` answers as captured{when}")
            if cluster.version_tuple < (14, 0):
                continue  # no certmgr REST before 14
            options = captured.get(ReplayBook.key(node.fqdn, "certmgr", f"GET {certmgr.BASE}/options"))
            if options is not None and _replayable(options[0]) and not _same_reply(options, certmgr.options(node)):
                book.add(node.fqdn, "certmgr", f"GET {certmgr.BASE}/options", Replay(*options))
                self.notes.append(f"{node.fqdn}: `GET /options` answers as captured (HTTP {options[0]})")
            self._replay_csr(node, cluster, captured, book)
        if len(book):
            cluster.twin_replay = book  # type: ignore[attr-defined]

    # ----- captured shapes, filled with the twin's state -------------------------------------------------
    def _exchanges(self, fqdn: str, interface: str, operation: str) -> list[tuple[int | None, str]]:
        """The captured answers of ``fqdn`` on ``interface`` whose request names ``operation``, in order."""
        return [
            (status, body)
            for entry, status, body in self._answers
            if str(entry.get("node", "")).lower() == fqdn
            and entry.get("interface") == interface
            and operation in str(entry.get("request", ""))
        ]

    def _conventions(self, cluster: SimulatedCluster) -> None:
        """Adopt the captured shapes of the snapshot, the AXL rows, RisPort70's StateInfo and Control Center's list."""
        conventions = shapes.TwinShapes()
        snapshots: dict[str, shapes.SnapshotShape] = {}
        adopted: list[str] = []
        differences: list[str] = []
        for node in cluster.nodes:
            if cluster.version_tuple >= (14, 0):
                shape = self._snapshot_shape(node)
                if shape is not None:
                    own = shapes.SnapshotShape.read(certmgr.snapshot(node)[1])
                    if own is None or not shape.same_as(own):
                        snapshots[node.fqdn] = shape
                        adopted.append(node.fqdn)
                        differences = differences or (shape.differences(own) if own is not None else [])
            self._control_center(node, conventions)
        if adopted:
            self.notes.append(
                f"`GET /snapshot/server` answers in the captured shape ({'; '.join(differences)}) on "
                f"{', '.join(adopted)}, with the twin's certificates, CSRs and trust stores"
            )
        cluster.twin_snapshot = snapshots  # type: ignore[attr-defined]
        self._axl(cluster, conventions)
        self._risport(cluster, conventions)
        cluster.twin_conventions = conventions  # type: ignore[attr-defined]

    def _snapshot_shape(self, node: SimulatedNode) -> shapes.SnapshotShape | None:
        answers = [
            b for st, b in self._exchanges(node.fqdn, "certmgr", f"GET {certmgr.BASE}/snapshot/server") if st == 200
        ]
        if not answers:
            return None
        try:
            data = json.loads(answers[-1])
        except ValueError:
            return None
        shape = shapes.SnapshotShape.read(data)
        if shape is None:
            self.notes.append(
                f"{node.fqdn}: the captured snapshot has no identities list; the simulator's shape is used"
            )
        return shape

    def _axl(self, cluster: SimulatedCluster, conventions: shapes.TwinShapes) -> None:
        """processnode's non-node rows and the Phone Interaction row, as the captured publisher answered."""
        answers: list[tuple[int | None, list[dict[str, str]]]] = []
        for status, body in self._exchanges(cluster.publisher.fqdn, "axl", "executeSQLQuery"):
            parsed = _sql_rows(body)
            if status == 200 and parsed is not None:
                answers.append((status, parsed))
        names = {n.fqdn.lower() for n in cluster.nodes} | {n.hostname.lower() for n in cluster.nodes}
        processnode = next((rows for _, rows in answers if any("tkssomode" in r for r in rows)), None)
        if processnode is not None:
            others = [r for r in processnode if r.get("name", "").lower() not in names]
            columns = list(processnode[0])
            cols, values = soap.run_sql(cluster, f"select {', '.join(columns)} from processnode")
            own = [dict(zip(cols, r, strict=True)) for r in values]
            if others != [r for r in own if r.get("name", "").lower() not in names]:
                conventions.processnode_rows = others
                listed = ", ".join(r.get("name", "?") for r in others) or "none"
                self.notes.append(f"AXL processnode answers the captured non-node rows ({listed}) and the twin's nodes")
        interaction = any(
            r.get("paramname") == "PhoneInteractionOnCertificateUpdate" for _, rows in answers for r in rows
        )
        if cluster.version_tuple >= (14, 0) and answers and not interaction and not answers[-1][1]:
            conventions.phone_interaction_row = False
            self.notes.append("AXL processconfig answers no row for PhoneInteractionOnCertificateUpdate, as captured")

    def _risport(self, cluster: SimulatedCluster, conventions: shapes.TwinShapes) -> None:
        """The StateInfo the captured publisher gave after its last selectCmDevice page."""
        answers = [b for st, b in self._exchanges(cluster.publisher.fqdn, "risport", "selectCmDevice") if st == 200]
        if not answers:
            return
        m = re.search(r"<(?:\w+:)?StateInfo>(.*?)</(?:\w+:)?StateInfo>", answers[-1], re.S)
        state = html.unescape(m.group(1)).strip() if m else ""
        if state:
            conventions.ris_last_state = state
            self.notes.append(
                f"RisPort70 selectCmDevice gives the captured StateInfo after the last page ({state[:60]})"
            )

    def _control_center(self, node: SimulatedNode, conventions: shapes.TwinShapes) -> None:
        """The services Control Center leaves out, as the captured node's soapGetServiceStatus (all) did."""
        listed: set[str] = set()
        for status, body in self._exchanges(node.fqdn, "controlcenter", "soapGetServiceStatus"):
            names = set(re.findall(r"<(?:\w+:)?ServiceName>([^<]*)</(?:\w+:)?ServiceName>", body))
            if status == 200 and len(names) > len(listed):
                listed = {html.unescape(n) for n in names}
        if not listed:
            return
        hidden = frozenset(n for n in node.services if n not in listed)
        if hidden == frozenset(n for n in node.services if n in CLI_ONLY_SERVICES):
            return
        conventions.cc_hidden[node.fqdn] = hidden
        shown = sorted(n for n in CLI_ONLY_SERVICES if n in node.services and n not in hidden)
        left = sorted(hidden - CLI_ONLY_SERVICES)
        said = [f"lists {', '.join(shown)}" for _ in shown[:1]] + [f"leaves out {', '.join(left)}" for _ in left[:1]]
        self.notes.append(f"{node.fqdn}: Control Center {' and '.join(said)}, as captured")

    def _replay_csr(
        self,
        node: SimulatedNode,
        cluster: SimulatedCluster,
        captured: dict[tuple[str, str, str], tuple[int | None, str, str]],
        book: ReplayBook,
    ) -> None:
        """``GET /csr?service=U`` with no CSR pending: U's captured answer, else another unit's with U's name."""
        nones: dict[str, dict[str, tuple[int | None, str, str]]] = {}  # node -> unit -> its "no CSR" answer
        pending: list[str] = []
        for (fqdn, interface, request), got in captured.items():
            m = re.fullmatch(r"GET " + re.escape(certmgr.BASE) + r"/csr\?service=(\S+)", request)
            if interface != "certmgr" or m is None or not _replayable(got[0]):
                continue
            if got[0] == 200:
                if fqdn == node.fqdn:
                    pending.append(m.group(1))
                continue
            nones.setdefault(fqdn, {})[m.group(1)] = got
        donors = [*nones.get(node.fqdn, {}).items(), *(i for n in cluster.nodes for i in nones.get(n.fqdn, {}).items())]
        if not donors:
            return
        own: list[str] = []
        substituted: list[str] = []
        for unit in node.units:
            mine = nones.get(node.fqdn, {}).get(unit)
            if mine is None:
                donor, (status, body, ctype) = donors[0]
                mine = (status, re.sub(rf"(?<![\w-]){re.escape(donor)}(?![\w-])", unit, body), ctype)
            if _same_reply(mine, certmgr.get_csr(node, unit)):
                continue
            request = f"GET {certmgr.BASE}/csr?service={unit}"
            book.add(node.fqdn, "certmgr", request, Replay(*mine, holds=_no_csr_pending(unit)))
            (own if unit in nones.get(node.fqdn, {}) else substituted).append(unit)
        if own or substituted:
            also = f"; for {', '.join(substituted)} with the unit name substituted" if substituted else ""
            self.notes.append(
                f"{node.fqdn}: `GET /csr` answers as captured while the unit has no CSR pending "
                f"({', '.join(own) or 'no unit of its own'}{also})"
            )
        if pending:
            self.notes.append(f"{node.fqdn}: a CSR was pending for {', '.join(pending)}; the twin starts without one")

    def _rename(self, node: SimulatedNode, fqdn: str) -> None:
        """Give ``node`` the captured FQDN everywhere the fleet and its SSH server look it up."""
        old = node.fqdn
        if old == fqdn:
            return
        node.fqdn = fqdn
        self._nodes = {fqdn if k == old else k: v for k, v in self._nodes.items()}
        ssh = self._ssh
        if ssh is not None:  # the SSH server keeps its host keys, sockets and nodes by FQDN
            for table in (ssh._nodes, ssh._keys, ssh._socks):
                if old in table:
                    table[fqdn] = table.pop(old)  # type: ignore[assignment]

    def _issuer(self, name: str) -> pki.SimulatorCa | None:
        """The CA that signs a re-issued certificate whose captured issuer is ``name`` (RFC 4514)."""
        root = self.runtime.ca if self.runtime is not None else None
        assert root is not None
        if name == root.cert.subject.rfc4514_string():
            return root
        if name not in self._issuers:
            key = pki.new_key("rsa", 2048)
            subject = x509.Name.from_rfc4514_string(name)
            now = pki.utcnow()
            cert = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(root.cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(
                    x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
                )
                .sign(root.key, hashes.SHA256())
            )
            assert isinstance(key, rsa.RSAPrivateKey)
            self._issuers[name] = pki.SimulatorCa(key=key, cert=cert)
        return self._issuers[name]

    def _certificates(self, node: SimulatedNode, certs: list[dict[str, Any]]) -> None:
        if not certs:
            self.notes.append(f"{node.fqdn}: the capture has no certificates; the simulator's defaults are used")
            return
        units = [c["unit"] for c in certs if c.get("unit") in node.units]
        missing = [c["unit"] for c in certs if c.get("unit") not in node.units]
        if missing:
            self.notes.append(f"{node.fqdn}: not modelled by the simulator, left out: {', '.join(missing)}")
        identities: dict[str, Identity] = {}
        for cert in certs:
            unit = str(cert.get("unit"))
            if unit not in units:
                continue
            key = self.runtime.shared_key("ec" if cert.get("key_type") == "ec" else "rsa")  # type: ignore[union-attr]
            ca = None if cert.get("self_signed") else self._issuer(str(cert["issuer"]))
            subject = x509.Name.from_rfc4514_string(str(cert["subject"]))
            if not subject.get_attributes_for_oid(NameOID.COMMON_NAME):
                raise TwinError(f"{node.fqdn} {unit}: the captured subject {cert['subject']!r} has no CN")
            issued = pki.issue_node_cert(
                subject=subject,
                sans=list(cert.get("sans_dns") or []),
                key=key,
                not_after=dt.datetime.fromisoformat(str(cert["not_after"])),
                ca=ca,
                unit=unit,
            )
            chain = [ca.cert] if ca is not None and ca is not self.runtime.ca else []  # type: ignore[union-attr]
            identities[unit] = Identity(cert=issued, key=key, chain=chain)
            if ca is not None:
                store = TRUST_STORES.get(unit, (f"{unit}-trust",))[0]
                node.trust.setdefault(store, {})[pki.common_name(ca.cert.subject)] = ca.cert
            if cert.get("sans_ip"):
                self.notes.append(f"{node.fqdn} {unit}: IP-address SANs are not re-issued (not built)")
        node.units = tuple(u for u in node.units if u in identities)
        # the node makes its initial certificates lazily; giving it these first means it never does
        node._identities = identities
        node._served = dict(identities)

    def _services(self, node: SimulatedNode, services: list[dict[str, Any]]) -> None:
        if not services:
            return
        shaped: dict[str, ServiceState] = {}
        for svc in services:
            name = str(svc.get("name", ""))
            if name == cli.SYSTEM_SSH:
                continue  # the simulator's `utils service list` prints it on its own: no service of the node
            state = str(svc.get("state", "Started"))
            current = node.services.get(name) or ServiceState(name)
            if state == "NotActivated":
                current.activated, current.status, current.reason = False, "Stopped", ""
            else:
                current.activated = True
                current.status = _STATES.get(state, "Started")
                current.reason = str(svc.get("reason") or "")
            shaped[name] = current
        node.services = shaped


def _sql_rows(body: str) -> list[dict[str, str]] | None:
    """The rows of an ``executeSQLQuery`` answer (column -> text); None for a fault or no SOAP answer."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    if any(el.tag.rsplit("}", 1)[-1] == "Fault" for el in root.iter()):
        return None
    if not any(el.tag.rsplit("}", 1)[-1] == "executeSQLQueryResponse" for el in root.iter()):
        return None
    return [
        {col.tag.rsplit("}", 1)[-1]: (col.text or "") for col in row}
        for row in root.iter()
        if row.tag.rsplit("}", 1)[-1] == "row"
    ]


def _no_csr_pending(unit: str) -> Callable[[SimulatedNode], bool]:
    """The predicate of a captured "no CSR" answer: ``unit`` has no CSR pending on the node."""
    return lambda node: unit not in node.csrs


def _replayable(status: int | None) -> bool:
    """A captured HTTP answer the twin may give again (not a refused login or the DRF lock: those are state)."""
    return status is not None and status not in (401, 423)


def _same_text(captured: str, simulated: str) -> bool:
    """Whether two CLI outputs say the same, line ends and trailing blanks aside."""

    def norm(text: str) -> list[str]:
        return [ln.rstrip() for ln in text.replace("\r\n", "\n").strip("\n").split("\n")]

    return norm(captured) == norm(simulated)


def _same_reply(captured: tuple[int | None, str, str], simulated: tuple[int, Any]) -> bool:
    """Whether a captured JSON answer is the simulator's, trackingId (fresh on every answer) aside."""
    try:
        data = json.loads(captured[1])
    except ValueError:
        return False

    def norm(value: Any) -> Any:
        return {k: v for k, v in value.items() if k != "trackingId"} if isinstance(value, dict) else value

    return captured[0] == simulated[0] and norm(data) == norm(simulated[1])
