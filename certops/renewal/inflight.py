"""Is another renewal of the ITL group in flight on the cluster? Read the nodes, not a lock.

Locks bind only those who share them: runs of one Prefect server (the claim), processes of one
machine (the host lock). Two engineers on two laptops share neither; the one thing every actor
shares is the cluster. So before the first CSR of an ITL-group unit (CallManager,
CallManager-ECDSA, TVS, ITLRecovery), and again right after it, the renewal looks on the nodes
for the traces another renewal of the group leaves while it is in flight:

- **a pending CSR** of another unit of the group (from its first CSR until its upload);
- **an identity that is not served yet**: the node holds a new certificate of another group
  unit but its TLS listener still serves the old one (uploaded, not restarted), or the listener
  does not answer (a restart in progress);
- **a recently issued identity** of another group unit (``notBefore`` within ``recent_window``
  seconds) that no finished renewal in this host's state store installed: its restarts, phone
  reset and re-registration may still run;
- **phones below the baseline** this renewal read in preflight (a phone reset in progress).

Two renewals that both look before their CSRs and see nothing both make one; the look right
after it then shows each the other's CSR, and both back off (safe) instead of both proceeding.
A pending CSR left by an abandoned attempt would block forever: the operator names it (its
fingerprint, or its unit) to ignore it, loudly (``certops renew --ignore-pending-csr``).

The detection (:func:`find_inflight`) is pure; :func:`look_at_cluster` does the reads (no
Prefect): the flow calls it through a task, the dry run directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import BaseModel, ConfigDict, Field

from certops.cucm.api import CucmNodeApi
from certops.errors import CertopsError, CucmError, PolicyViolation
from certops.inventory import ClusterConfig, Inventory, NodeConfig
from certops.renewal.state import RenewalStore
from certops.units import UNITS, UnitSpec

DEFAULT_RECENT_WINDOW = 600.0
"""Seconds after an identity's ``notBefore`` during which an unexplained new identity counts as in flight.

A CA that backdates ``notBefore`` shortens it by as much (the lab CA: 5 minutes)."""


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeLook(_Value):
    """What one node shows of the ITL group's certificates and services."""

    fqdn: str
    pending_csrs: dict[str, str] = Field(default_factory=dict)  # unit -> sha256 of the CSR (DER)
    installed: dict[str, str] = Field(default_factory=dict)  # unit -> identity fingerprint
    served: dict[str, str | None] = Field(default_factory=dict)  # unit -> served fingerprint; None: no answer
    issued: dict[str, dt.datetime] = Field(default_factory=dict)  # unit -> notBefore of the identity
    problems: list[str] = Field(default_factory=list)  # reads that failed: counted as in flight (fail closed)


class ClusterLook(_Value):
    """Every node's look, when it was taken, and the registered phones (when read)."""

    cluster: str
    at: dt.datetime
    nodes: list[NodeLook]
    phones_registered: int | None = None


class FinishedRenewal(_Value):
    """A renewal the state store knows ended: the identities it installed and the CSRs it left are explained."""

    unit: str
    status: str  # done, denied, abandoned
    leaves: dict[str, str] = Field(default_factory=dict)  # node -> leaf fingerprint it installed
    csrs: dict[str, str] = Field(default_factory=dict)  # node -> fingerprint of the CSR it made


class Finding(_Value):
    """One trace of another renewal in flight."""

    node: str | None
    unit: str
    what: str
    csr_fingerprint: str | None = None

    def line(self) -> str:
        """``cucm-pub: TVS: a CSR is pending (sha256 ab12…)``."""
        return f"{self.node or 'cluster'}: {self.unit}: {self.what}"


def group_units(unit: str) -> list[str]:
    """The other units of ``unit``'s exclusion group (empty when it has none), in table order."""
    group = UNITS[unit].exclusion_group
    if group is None:
        return []
    return [u for u, s in UNITS.items() if s.exclusion_group == group and u != unit]


def csr_fingerprint(pem: str) -> str:
    """SHA-256 (hex) of a PEM CSR's DER: how certops names a CSR everywhere."""
    return hashlib.sha256(x509.load_pem_x509_csr(pem.encode()).public_bytes(Encoding.DER)).hexdigest()


def nodes_holding(cluster: ClusterConfig, spec: UnitSpec) -> list[NodeConfig]:
    """The nodes of ``cluster`` that hold ``spec``'s certificate."""
    from certops.planning import select_nodes

    try:
        return select_nodes(cluster, spec, None)
    except CertopsError:
        return []


def look_at_node(api: CucmNodeApi, node: NodeConfig, units: list[str]) -> NodeLook:
    """Read ``node``: the pending CSRs and the identities (fingerprint, ``notBefore``) of ``units``.

    What the node's TLS listeners serve is left to the caller, which knows how to reach them; a
    failed read is recorded in ``problems``, never raised.
    """
    pending: dict[str, str] = {}
    installed: dict[str, str] = {}
    issued: dict[str, dt.datetime] = {}
    problems: list[str] = []
    readable: list[str] = []
    for u in units:
        try:
            pem = api.pending_csr(u)
        except CucmError as exc:
            problems.append(f"could not read the pending {u} CSR: {exc.message}")
            continue
        if pem:
            pending[u] = csr_fingerprint(pem)
        readable.append(u)
    if readable:  # one read of the node's identities for every unit (a REST snapshot, or one CLI listing)
        try:
            certs = api.read_certificates(readable)
        except CucmError as exc:
            if exc.transient:
                problems.extend(f"could not read the {u} identity: {exc.message}" for u in readable)
            certs = []
        for cert in certs:  # a unit the node does not hold is absent, as before
            if cert.unit not in installed:
                installed[cert.unit] = cert.fingerprint_sha256
                issued[cert.unit] = cert.not_before
    return NodeLook(
        fqdn=node.fqdn,
        pending_csrs=pending,
        installed=installed,
        issued=issued,
        problems=problems,
    )


def find_inflight(
    look: ClusterLook,
    *,
    unit: str,
    own_csrs: Iterable[str] = (),
    ignore: Iterable[str] = (),
    recent_window: float = DEFAULT_RECENT_WINDOW,
    finished: list[FinishedRenewal] | None = None,
    phones_baseline: int | None = None,
) -> list[Finding]:
    """Every trace, in ``look``, of another ITL-group renewal in flight (empty: none seen).

    ``own_csrs``: fingerprints of CSRs this renewal made (never a trace of another).
    ``ignore``: CSR fingerprints (or prefixes of at least 8 hex digits) or unit names whose
    pending CSRs the operator declared leftovers. ``finished``: renewals that ended (this host's
    state store): the CSRs they left and the identities they installed are no trace of a renewal
    in flight. ``phones_baseline``: this renewal's own preflight count.
    """
    others = group_units(unit)
    if not others:
        return []
    own = set(own_csrs)
    ignored = {i.lower() for i in ignore}
    finished = finished or []
    found: list[Finding] = []
    for n in look.nodes:
        for problem in n.problems:
            found.append(Finding(node=n.fqdn, unit=unit, what=f"{problem} (counted as in flight: fail closed)"))
        for u in others:
            fp = n.pending_csrs.get(u)
            left = any(f.unit == u and f.csrs.get(n.fqdn) == fp for f in finished)
            if fp is not None and fp not in own and not left:
                if u.lower() in ignored or any(len(i) >= 8 and fp.startswith(i) for i in ignored):
                    continue
                found.append(
                    Finding(node=n.fqdn, unit=u, what=f"a CSR is pending (sha256 {fp[:16]}…)", csr_fingerprint=fp)
                )
            if u in n.served and u in n.installed:
                got = n.served[u]
                if got is None:
                    found.append(
                        Finding(node=n.fqdn, unit=u, what="its TLS listener does not answer (a restart in progress?)")
                    )
                elif got != n.installed[u]:
                    found.append(
                        Finding(
                            node=n.fqdn,
                            unit=u,
                            what=f"the node holds a new identity (sha256 {n.installed[u][:16]}…) it does not serve "
                            "yet: uploaded, services not restarted",
                        )
                    )
            issued = n.issued.get(u)
            fp_now = n.installed.get(u)
            if issued is None or fp_now is None or (look.at - issued).total_seconds() >= recent_window:
                continue
            if any(f.unit == u and f.status == "done" and f.leaves.get(n.fqdn) == fp_now for f in finished):
                continue
            age = max(0, int((look.at - issued).total_seconds()))
            found.append(
                Finding(
                    node=n.fqdn,
                    unit=u,
                    what=f"its identity (sha256 {fp_now[:16]}…) was issued {age} s ago and no finished renewal on "
                    f"this host installed it: its restarts and phone reset may still run ({recent_window:.0f} s "
                    "after issue counts as settled)",
                )
            )
    if phones_baseline is not None and look.phones_registered is not None and look.phones_registered < phones_baseline:
        found.append(
            Finding(
                node=None,
                unit="/".join(others),
                what=f"only {look.phones_registered} phones registered of the {phones_baseline} seen in preflight "
                "(a phone reset in progress)",
            )
        )
    return found


def refusal(cluster: str, unit: str, findings: list[Finding], *, after_own_csr: bool) -> PolicyViolation:
    """The error a person reads: what was found where, what was (not) changed, and what to do."""
    traces = "; ".join(f.line() for f in findings)
    if after_own_csr:
        changed = (
            "This renewal backs off right after its own first CSR (which stays pending on the node and is reused "
            "by a rerun); nothing else was changed"
        )
    else:
        changed = "Nothing was changed"
    csrs = [f for f in findings if f.csr_fingerprint]
    hint = (
        "if another certops (another shell, laptop or Prefect server) is renewing the ITL group on this cluster, "
        f"let it finish, then rerun certops renew -c {cluster} -u {unit}"
    )
    if csrs:
        names = " ".join(f"--ignore-pending-csr {f.csr_fingerprint[:16]}" for f in csrs if f.csr_fingerprint)
        hint += (
            f"; if the pending CSR is a leftover of an abandoned attempt (nobody is renewing that unit), rerun with "
            f"{names} (recorded in the audit log)"
        )
    return PolicyViolation(
        f"cluster {cluster}: {unit} does not start: another renewal of the ITL group looks in flight on the "
        f"cluster — {traces}. {changed}",
        cluster=cluster,
        unit=unit,
        rule="exclusion",
        hint=hint,
    )


def look_at_cluster(inventory: Inventory, cluster: str, unit: str, *, read_phones: bool = False) -> ClusterLook:
    """Read every node that holds another unit of ``unit``'s ITL group (read-only; failures recorded, not raised)."""
    from certops.renewal.adapters import open_node
    from certops.renewal.steps import served_fingerprint

    cl = inventory.cluster(cluster)
    others = group_units(unit)
    at = dt.datetime.now(dt.UTC)

    def look(node: NodeConfig, units: list[str]) -> NodeLook:
        try:
            with open_node(inventory, cluster, node.fqdn) as api:
                seen = look_at_node(api, node, units)
                served: dict[str, str | None] = {}
                for u in units:
                    if node.tls_port_for(u) is None:
                        continue
                    try:  # where the identity read back is the check (ECDSA), the read just made is used
                        served[u] = served_fingerprint(api, node, u, read_back=seen.installed.get(u))
                    except CertopsError:  # the listener did not answer
                        served[u] = None
                return seen.model_copy(update={"served": served})
        except CertopsError as exc:
            return NodeLook(fqdn=node.fqdn, problems=[f"could not read the node: {exc.message}"])

    def registered() -> int:
        with open_node(inventory, cluster, cl.publisher.fqdn) as api:
            return api.registered_phones().registered

    todo = [(n, us) for n in cl.nodes if (us := [u for u in others if n in nodes_holding(cl, UNITS[u])])]
    # every node at once (reads only; the gate runs twice before the first CSRs), in the cluster's order
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(todo) + read_phones)), thread_name_prefix="inflight") as pool:
        counted = pool.submit(registered) if read_phones else None  # RisPort70, beside the node reads
        looks = list(pool.map(lambda nu: look(*nu), todo))
        phones = counted.result() if counted is not None else None
    return ClusterLook(cluster=cluster, at=at, nodes=looks, phones_registered=phones)


def finished_renewals(store: RenewalStore, cluster: str) -> list[FinishedRenewal]:
    """The renewals of ``cluster`` this state store knows ended: what they installed and which CSRs they left."""
    return [
        FinishedRenewal(
            unit=f.unit,
            status=f.status,
            leaves={p.fqdn: p.leaf_fingerprint for p in f.nodes.values() if p.leaf_fingerprint and p.identity_uploaded},
            csrs={p.fqdn: p.csr.fingerprint_sha256 for p in f.nodes.values() if p.csr is not None},
        )
        for f in store.finished(cluster)
    ]
