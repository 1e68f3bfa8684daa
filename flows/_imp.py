"""The IM&P trust step of the renewal flow: the CA certificates via the IM&P database publisher.

For a unit with ``trust_via_imp_publisher`` (the ``cup*`` units), before any identity upload:
upload the CA certificates to the unit's trust store on the IM&P database publisher, restart
Cisco Intercluster Sync Agent there, and wait (bounded) until every IM&P node of the cluster holds
them (``certops.renewal.imp_trust``). Each step is recorded in the renewal state before and after,
so a rerun after a kill neither uploads twice nor restarts the agent again once it was seen Started.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from certops.errors import ConfigError
from certops.renewal import imp_trust
from certops.renewal.steps import RenewalStopped
from tasks import imp as imp_tasks
from tasks import renewal as t


def trust_via_publisher(r: Any) -> None:
    """Upload to the IM&P publisher, restart its Intercluster Sync Agent, wait for every IM&P node (``_Run`` r)."""
    st, spec, cl = r.state, r.spec, r.cl
    todo = [p for p in r.progress() if not p.identity_uploaded]
    if st.imp_trust_replicated or not todo:
        return
    pub = cl.imp_publisher
    if pub is None:  # select_nodes found IM&P nodes, so there is one; kept for a clear message
        raise ConfigError(f"cluster {cl.name} [{spec.name}]: no IM&P node in the inventory")
    if pub.role.value != "imp-publisher":
        r.log.info(
            "cluster %s: no node has role imp-publisher; %s (the first IM&P node listed) is taken as the IM&P "
            "database publisher",
            cl.name,
            pub.fqdn,
        )
    pems = imp_trust.union_in_order(p.trust_pems for p in todo)
    if not st.imp_trust_uploaded:
        added = t.upload_trust(r.path, cl.name, pub.fqdn, spec.name, pems, r.s.drf_wait_timeout, r.s.drf_poll, r.drf)
        for fp in added:
            r.audit("upload_trust", node=pub.fqdn, after=fp, detail=f"to {spec.trust_store} (IM&P database publisher)")
        st.imp_trust_uploaded = True
        r.save()
    if not st.imp_sync_agent_restarted:
        earlier = None
        if st.imp_sync_agent_attempted:
            at = st.imp_sync_agent_attempted_at
            earlier = t.EarlierAttempt(at=at.isoformat() if at else None)
        else:
            st.imp_sync_agent_attempted = True
            st.imp_sync_agent_attempted_at = dt.datetime.now(dt.UTC)
        r.save()
        out = t.restart_service(
            r.path,
            cl.name,
            pub.fqdn,
            spec.name,
            imp_trust.SYNC_AGENT,
            "soap",
            r.s.restart_timeout,
            r.s.restart_poll,
            earlier,
        )
        if out.done:
            r.audit("restart", node=pub.fqdn, detail=f"{imp_trust.SYNC_AGENT} via soap: {out.reason}")
        else:
            r.log.warning(
                "%s: %s not restarted (%s); the trust may not replicate: certops waits and reads every IM&P node",
                pub.fqdn,
                imp_trust.SYNC_AGENT,
                out.reason,
            )
        st.imp_sync_agent_restarted = True
        r.save()
    others = [n.fqdn for n in cl.imp_nodes if n.fqdn != pub.fqdn]
    try:
        waited = imp_tasks.wait_imp_trust_replicated(
            r.path,
            cl.name,
            spec.name,
            pub.fqdn,
            others,
            pems,
            r.s.imp_trust_replication_timeout,
            r.s.imp_trust_replication_poll,
        )
    except RenewalStopped:
        # the replication this restart started did not arrive: a rerun restarts the agent once more
        st.imp_sync_agent_attempted = st.imp_sync_agent_restarted = False
        r.audit("imp_trust_not_replicated", node=pub.fqdn, detail=f"{spec.trust_store}: see the run's message")
        r.save()
        raise
    st.imp_trust_replicated = True
    for p in todo:
        p.trust_uploaded = True  # the trust reached this node by replication (read back above)
    r.audit(
        "imp_trust_replicated",
        node=pub.fqdn,
        detail=f"{spec.trust_store} on {', '.join(others) or 'no other IM&P node'} after {waited:.0f} s",
    )
    r.save()
