"""Which certificates are due for renewal, how urgent they are, and what the scan may start.

Pure: a ``CertificateReport`` and the inventory's renewal policy go in, a ``DuePlan`` comes out.

Rules (from ``procedure.md``):

- a certificate is due when its days left are at or below the unit's threshold (policy
  ``threshold_days``, per-unit overrides ``per_unit_threshold_days``, default 30);
- urgency: *expired* (not-after passed), *critical* (days left <= ``urgent_days``), *due*
  (<= threshold), *ok*;
- only the units in the policy's ``units`` count; self-signed certificates count only with
  ``include_self_signed``; CAPF counts on the publisher only (a subscriber's CAPF is unused);
- one renewal per (cluster, unit) covers every due node of that unit;
- a multi-server (Multi-SAN) certificate is one certificate on several nodes, every node's name in
  its SANs (TAC 118731); the scan lists each one and the nodes holding the unit that it does not
  cover (a node added after it was issued, or one holding another certificate);
- units of one exclusion group (CallManager, CallManager-ECDSA, TVS, ITLRecovery: the ITL) due
  on the same cluster are never started together: the most urgent one starts, the others are
  queued behind it (the next scan starts them once it has finished).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from certops.inventory import ClusterConfig, Inventory, RenewalPolicy
from certops.models import CertificateInfo, CertificateReport, NodeFailure
from certops.units import UNITS, NodeRole


class Urgency(StrEnum):
    """How soon a certificate needs attention, most urgent first."""

    EXPIRED = "expired"
    CRITICAL = "critical"
    DUE = "due"
    OK = "ok"

    @property
    def rank(self) -> int:
        """0 for expired ... 3 for ok: sort key, most urgent first."""
        return _RANK[self]


_RANK = {Urgency.EXPIRED: 0, Urgency.CRITICAL: 1, Urgency.DUE: 2, Urgency.OK: 3}


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def days_left(not_after: dt.datetime, now: dt.datetime) -> int:
    """Whole days from ``now`` until ``not_after``; negative once expired (floor, like ``timedelta.days``)."""
    return (not_after - now).days


def urgency_of(not_after: dt.datetime, now: dt.datetime, *, threshold_days: int, urgent_days: int) -> Urgency:
    """The urgency of a certificate expiring at ``not_after``, seen at ``now``."""
    if not_after <= now:
        return Urgency.EXPIRED
    left = days_left(not_after, now)
    if left <= urgent_days:
        return Urgency.CRITICAL
    if left <= threshold_days:
        return Urgency.DUE
    return Urgency.OK


class CertificateStatus(_Value):
    """One certificate on one node, judged against its cluster's policy."""

    certificate: CertificateInfo
    days_left: int
    urgency: Urgency
    threshold_days: int
    counted: bool  # False when the policy leaves this certificate out (see ``skip_reason``)
    skip_reason: str | None = None

    @property
    def cluster(self) -> str:
        """The certificate's cluster."""
        return self.certificate.cluster

    @property
    def node(self) -> str:
        """The certificate's node."""
        return self.certificate.node

    @property
    def unit(self) -> str:
        """The certificate's unit."""
        return self.certificate.unit

    @property
    def due(self) -> bool:
        """True when this certificate should be renewed now."""
        return self.counted and self.urgency is not Urgency.OK


class RenewalCandidate(_Value):
    """One renewal the scan may start: a unit on a cluster, covering its due nodes."""

    cluster: str
    unit: str
    nodes: list[str]
    days_left: int  # of the most urgent node
    urgency: Urgency
    earliest_not_after: dt.datetime
    exclusion_group: str | None = None
    queued_behind: str | None = None  # the unit of the same exclusion group that goes first

    @property
    def key(self) -> str:
        """``cluster:unit``, the identity of a renewal."""
        return f"{self.cluster}:{self.unit}"


class MultiServerCertificate(_Value):
    """One multi-server certificate the scan found: which nodes hold it, and which it does not cover.

    ``uncovered``: nodes of the cluster that hold the unit but are not named in its SANs (a node
    added after it was issued needs a new multi-server certificate, Cisco). ``elsewhere``: nodes it
    names that hold another certificate for the unit. ``configured``: the inventory's
    ``multi_server`` lists the unit for the cluster.
    """

    cluster: str
    unit: str
    fingerprint_sha256: str
    subject_cn: str | None
    not_after: dt.datetime
    nodes: list[str]  # the nodes that hold it, in inventory order
    uncovered: list[str] = Field(default_factory=list)
    elsewhere: list[str] = Field(default_factory=list)
    configured: bool = False


class DuePlan(_Value):
    """The scan's verdict: every certificate's status, what to start now and what waits."""

    generated_at: dt.datetime
    statuses: list[CertificateStatus]  # sorted by days left, then cluster, unit, node
    start: list[RenewalCandidate]  # most urgent first
    queued: list[RenewalCandidate]  # wait for a unit of the same exclusion group
    failures: list[NodeFailure]
    multi_server: list[MultiServerCertificate] = Field(default_factory=list)

    def multi_server_of(self, cert: CertificateInfo) -> MultiServerCertificate | None:
        """The multi-server certificate ``cert`` is (on its node), or None when it is a per-node one."""
        return next(
            (
                m
                for m in self.multi_server
                if m.cluster == cert.cluster and m.unit == cert.unit and m.fingerprint_sha256 == cert.fingerprint_sha256
            ),
            None,
        )

    def counts(self) -> dict[Urgency, int]:
        """How many counted certificates fall in each urgency (every level present, maybe 0)."""
        out = dict.fromkeys(Urgency, 0)
        for s in self.statuses:
            if s.counted:
                out[s.urgency] += 1
        return out

    @property
    def due(self) -> list[CertificateStatus]:
        """The certificates that should be renewed, most urgent first."""
        return [s for s in self.statuses if s.due]


def _skip_reason(
    cert: CertificateInfo, policy: RenewalPolicy, role: NodeRole | None, federation: bool = False
) -> str | None:
    if role is None:
        return f"node {cert.node} of cluster {cert.cluster} is not in the inventory"
    if cert.unit not in policy.units:
        return f"unit {cert.unit} is not in the renewal policy's units"
    if cert.unit == "CAPF" and role is not NodeRole.PUBLISHER:
        return "CAPF is renewed on the publisher only (a subscriber's CAPF is unused)"
    spec = UNITS.get(cert.unit)
    if spec is not None and not spec.nodes_with(role, federation):
        extra = " without XMPP federation (the inventory's federation is off)" if spec.scope == "imp-federation" else ""
        return f"unit {cert.unit} is not renewed on a {role.value} node{extra}"
    if cert.self_signed and not policy.include_self_signed:
        return "self-signed (the policy's include_self_signed is off)"
    return None


def judge(cert: CertificateInfo, inventory: Inventory, now: dt.datetime) -> CertificateStatus:
    """The status of one certificate under its cluster's policy."""
    return _Judge(inventory)(cert, now)


class _Judge:
    """``judge`` for many certificates of one inventory: each cluster's policy and node roles looked up once."""

    def __init__(self, inventory: Inventory) -> None:
        self.default_policy = inventory.defaults.policy
        self.policies: dict[str, RenewalPolicy] = {}
        self.nodes: dict[tuple[str, str], tuple[NodeRole, bool]] = {}
        for cluster in inventory.clusters:
            self.policies[cluster.name] = inventory.policy_for(cluster)
            for node in cluster.nodes:
                self.nodes[(cluster.name, node.fqdn)] = (node.role, node.federation)

    def __call__(self, cert: CertificateInfo, now: dt.datetime) -> CertificateStatus:
        policy = self.policies.get(cert.cluster, self.default_policy)
        role: NodeRole | None
        role, federation = self.nodes.get((cert.cluster, cert.node.lower()), (None, False))
        threshold = policy.threshold_for(cert.unit)
        reason = _skip_reason(cert, policy, role, federation)
        return CertificateStatus(
            certificate=cert,
            days_left=days_left(cert.not_after, now),
            urgency=urgency_of(cert.not_after, now, threshold_days=threshold, urgent_days=policy.urgent_days),
            threshold_days=threshold,
            counted=reason is None,
            skip_reason=reason,
        )


_UNIT_ORDER = {name: i for i, name in enumerate(UNITS)}


def _unit_order(unit: str) -> int:
    return _UNIT_ORDER.get(unit, len(_UNIT_ORDER))


def select_due(report: CertificateReport, inventory: Inventory, now: dt.datetime | None = None) -> DuePlan:
    """Judge every certificate in ``report`` and group the due ones into renewals.

    ``now`` defaults to the report's ``generated_at``, so the same report always gives the same plan.
    """
    now = now or report.generated_at
    judge_one = _Judge(inventory)
    statuses = sorted(
        (judge_one(c, now) for c in report.certificates),
        key=lambda s: (s.certificate.not_after, s.cluster, _unit_order(s.unit), s.node),
    )
    by_key: dict[tuple[str, str], list[CertificateStatus]] = defaultdict(list)
    for s in statuses:
        if s.due:
            by_key[(s.cluster, s.unit)].append(s)
    clusters = _clusters_by_name(inventory)
    candidates = [
        RenewalCandidate(
            cluster=cluster,
            unit=unit,
            nodes=sorted({s.node for s in group}, key=lambda n: _node_order(clusters.get(cluster), n)),
            days_left=min(s.days_left for s in group),
            urgency=min((s.urgency for s in group), key=lambda u: u.rank),
            earliest_not_after=min(s.certificate.not_after for s in group),
            exclusion_group=UNITS[unit].exclusion_group if unit in UNITS else None,
        )
        for (cluster, unit), group in by_key.items()
    ]
    candidates.sort(key=lambda c: (c.earliest_not_after, c.cluster, _unit_order(c.unit)))
    start: list[RenewalCandidate] = []
    queued: list[RenewalCandidate] = []
    first_in_group: dict[tuple[str, str], str] = {}
    for c in candidates:
        if c.exclusion_group is None:
            start.append(c)
            continue
        slot = (c.cluster, c.exclusion_group)
        if slot in first_in_group:
            queued.append(c.model_copy(update={"queued_behind": first_in_group[slot]}))
        else:
            first_in_group[slot] = c.unit
            start.append(c)
    return DuePlan(
        generated_at=now,
        statuses=statuses,
        start=start,
        queued=queued,
        failures=list(report.failures),
        multi_server=find_multi_server(report.certificates, inventory),
    )


def find_multi_server(certificates: list[CertificateInfo], inventory: Inventory) -> list[MultiServerCertificate]:
    """The multi-server certificates among ``certificates``: one certificate whose SANs name several nodes.

    Recognised by what the nodes serve, not by the inventory: a certificate (by fingerprint) of a
    unit that names two or more nodes of its cluster in its SANs. For each, the nodes of the
    cluster that hold the unit (the unit table's scope) but are not named (``uncovered``), and the
    named nodes that hold another certificate (``elsewhere``). Nodes the scan could not read are
    neither. In inventory order.
    """
    by_cert: dict[tuple[str, str, str], list[CertificateInfo]] = defaultdict(list)
    for c in certificates:
        by_cert[(c.cluster, c.unit, c.fingerprint_sha256)].append(c)
    read = {(c.cluster, c.unit, c.node.lower()) for c in certificates}
    clusters = _clusters_by_name(inventory)
    fqdns_of = {name: [n.fqdn for n in cluster.nodes] for name, cluster in clusters.items()}
    distinct = {name: len(set(fqdns)) == len(fqdns) for name, fqdns in fqdns_of.items()}
    found: list[MultiServerCertificate] = []
    for (cluster_name, unit, fp), held in by_cert.items():
        cluster = clusters.get(cluster_name)
        if cluster is None:
            continue
        if len(held[0].sans_dns) < 2 and distinct[cluster_name]:
            continue  # one name (or none) cannot name two nodes: most certificates
        fqdns = fqdns_of[cluster_name]
        sans = {s.lower() for s in held[0].sans_dns}
        named = [f for f in fqdns if f in sans]
        if len(named) < 2:
            continue
        spec = UNITS.get(unit)
        holding = [n.fqdn for n in cluster.nodes if spec is None or spec.nodes_with(n.role, n.federation)]
        on = {c.node.lower() for c in held}
        found.append(
            MultiServerCertificate(
                cluster=cluster_name,
                unit=unit,
                fingerprint_sha256=fp,
                subject_cn=held[0].subject_cn,
                not_after=held[0].not_after,
                nodes=[f for f in fqdns if f in on],
                uncovered=[f for f in holding if f not in sans and (cluster_name, unit, f) in read],
                elsewhere=[f for f in named if f not in on and (cluster_name, unit, f) in read],
                configured=cluster.is_multi_server(unit),
            )
        )
    found.sort(key=lambda m: (m.cluster, _unit_order(m.unit), m.fingerprint_sha256))
    return found


def _clusters_by_name(inventory: Inventory) -> dict[str, ClusterConfig]:
    """Each cluster by its name, as ``Inventory.cluster`` finds it (the first of a name), looked up once."""
    clusters: dict[str, ClusterConfig] = {}
    for cluster in inventory.clusters:
        clusters.setdefault(cluster.name, cluster)
    return clusters


def _node_order(cluster: ClusterConfig | None, node: str) -> tuple[int, str]:
    """Publisher first, then the inventory's order (Cisco: publisher first, then subscribers)."""
    if cluster is None:  # not in the inventory
        return (0, node)
    for i, n in enumerate(cluster.nodes):
        if n.fqdn == node.lower():
            return (0 if n.role is NodeRole.PUBLISHER else 1 + i, node)
    return (len(cluster.nodes) + 1, node)
