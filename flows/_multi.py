"""The multi-server (Multi-SAN) part of the renewal flow (``certops.renewal.multi_server``).

One ``NodeProgress`` per node, as for a per-node renewal. Only the CSR node's progress (the
publisher, or the IM&P database publisher for the cup* units) carries the CSR, the ticket, the
chain and the identity upload. Once its chain passed the checks (and the leaf names every node),
every other node's progress gets the leaf's fingerprint and CA certificates; after the upload on
the CSR node, certops reads the unit on every other node until CUCM has distributed the new leaf
there (bounded), and only then marks that node ``identity_uploaded``. Restarts, phones and
verification then run node by node exactly as for a per-node renewal. Every step is recorded
before and after, so a rerun after a kill makes no second CSR and repeats no upload.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from certops.renewal import multi_server, steps
from tasks import multi as mt
from tasks import renewal as t


def active(r: Any) -> bool:
    """True when this run (``_Run`` r) renews one multi-server certificate."""
    return r.plan.csr_node is not None


def signing(r: Any) -> list[Any]:
    """The progress of the nodes that get a CSR signed: the CSR node only when multi-server, else every node."""
    if not active(r):
        return list(r.progress())
    return [p for p in r.progress() if p.fqdn == r.plan.csr_node]


def csrs(r: Any, inflight_gate: Callable[..., None]) -> None:
    """The one multi-server CSR on the CSR node (reused when this renewal made it already)."""
    check = r.spec.exclusion_group is not None and not r.state.changed_anything
    if check:
        inflight_gate(r, after_own_csr=False)
    (p,) = signing(r)
    if p.identity_uploaded:
        return
    snap = r.snapshots.get(p.fqdn)
    current = snap.certificate if snap else None
    requested_before = p.csr_requested
    if p.csr is None and not p.csr_requested:
        p.csr_requested = True
        r.save()
    covered = [n.fqdn for n in r.plan.nodes]
    artifact, reused = mt.generate_multi_server_csr(
        r.path,
        r.cl.name,
        p.fqdn,
        r.spec.name,
        covered,
        current,
        p.csr,
        p.sent_to_ca,
        p.identity_uploaded,
        requested_before,
        r.s.drf_wait_timeout,
        r.s.drf_poll,
    )
    if reused:
        r.log.info(
            "%s: reusing the multi-server CSR this renewal already made (sha256 %s…)",
            p.fqdn,
            artifact.fingerprint_sha256[:16],
        )
    else:
        p.csr, p.ticket, p.chain = artifact, None, None
        p.trust_pems, p.identity_pems, p.leaf_fingerprint = [], [], None
        r.audit(
            "generate_csr",
            node=p.fqdn,
            detail=f"multi-server CSR sha256 {artifact.fingerprint_sha256} for {', '.join(covered)}",
        )
    r.save()
    if check:
        inflight_gate(r, after_own_csr=True)


def share_leaf(r: Any) -> None:
    """After the signature: the leaf must name every node; every other node then expects that leaf.

    Stops before any upload, naming the nodes the leaf does not cover.
    """
    if not active(r):
        return
    (src,) = signing(r)
    if src.leaf_fingerprint is None or not src.identity_pems:
        return
    nodes = [n.fqdn for n in r.plan.nodes]
    missing = multi_server.uncovered(multi_server.leaf_sans(src.identity_pems[0]), nodes)
    if missing:
        raise steps.RenewalStopped(
            f"{src.fqdn} [{r.spec.name}]: the signed multi-server certificate does not name "
            f"{', '.join(missing)} in its SANs; nothing was uploaded",
            hint="have the CA keep every SAN of the CSR, then rerun (the same CSR is reused)",
        )
    for p in r.progress():
        if p is src or p.fqdn == src.fqdn:
            continue
        if p.leaf_fingerprint != src.leaf_fingerprint:
            p.leaf_fingerprint, p.leaf_summary = src.leaf_fingerprint, src.leaf_summary
            p.trust_pems = list(src.trust_pems)
    r.save()


def uploads(r: Any) -> None:
    """CA certificates on every node (skip those present), the leaf on the CSR node, then the distribution."""
    (src,) = signing(r)
    others = [p for p in r.progress() if p.fqdn != src.fqdn]
    if not src.identity_uploaded:
        planned = next(n for n in r.plan.nodes if n.fqdn == src.fqdn)
        # Cisco forbids multi-server uploads over the CLI from 14SU2: refuse before anything is sent
        multi_server.refuse_cli_upload(r.cl.name, r.spec, src.fqdn, planned.release, planned.path)
        for p in [src, *others]:
            if p.trust_uploaded or r.spec.trust_via_imp_publisher:
                continue
            added = t.upload_trust(
                r.path, r.cl.name, p.fqdn, r.spec.name, p.trust_pems, r.s.drf_wait_timeout, r.s.drf_poll, r.drf
            )
            for fp in added:
                r.audit("upload_trust", node=p.fqdn, after=fp, detail=f"to {r.spec.trust_store}")
            p.trust_uploaded = True
            r.save()
        assert src.leaf_fingerprint is not None
        uploaded, before = t.upload_identity(
            r.path,
            r.cl.name,
            src.fqdn,
            r.spec.name,
            src.identity_pems,
            src.leaf_fingerprint,
            r.s.drf_wait_timeout,
            r.s.drf_poll,
            r.drf,
        )
        src.identity_uploaded = True
        if uploaded:
            r.audit(
                "upload_identity",
                node=src.fqdn,
                before=before,
                after=src.leaf_fingerprint,
                detail=f"multi-server, for {len(others) + 1} nodes",
            )
        r.save()
    await_distribution(r, src, others)


def await_distribution(r: Any, src: Any, others: list[Any]) -> None:
    """Read the unit on every other node until each holds the uploaded leaf (bounded); record each.

    The bound passing is a stop that names the nodes still without it; a rerun waits again (the
    upload is not repeated: the CSR node already holds the leaf).
    """
    todo = [p for p in others if not p.identity_uploaded]
    if not todo:
        return
    deadline = time.monotonic() + r.s.multi_server_distribution_timeout
    while True:
        now = t.read_identities(r.path, r.cl.name, r.spec.name, [p.fqdn for p in todo])
        have = {i.fqdn for i in now if i.fingerprint_sha256 == src.leaf_fingerprint}
        for p in todo:
            if p.fqdn in have:
                p.identity_uploaded = True
                r.audit(
                    "identity_distributed",
                    node=p.fqdn,
                    after=src.leaf_fingerprint,
                    detail=f"multi-server certificate uploaded on {src.fqdn}",
                )
                r.log.info("%s [%s]: holds the multi-server certificate now", p.fqdn, r.spec.name)
        r.save()
        todo = [p for p in todo if not p.identity_uploaded]
        if not todo:
            return
        if time.monotonic() >= deadline:
            names = ", ".join(p.fqdn for p in todo)
            raise steps.RenewalStopped(
                f"{src.fqdn} [{r.spec.name}]: the multi-server certificate uploaded there did not reach {names} "
                f"within {r.s.multi_server_distribution_timeout:.0f} s; no service was restarted",
                hint="check the cluster's replication (utils dbreplication runtimestate) and that the nodes are "
                "up, then rerun: nothing is uploaded again, certops waits for the distribution once more",
            )
        time.sleep(r.s.multi_server_distribution_poll)
