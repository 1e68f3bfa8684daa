"""Thin Prefect task of the IM&P trust replication wait (``certops.renewal.imp_trust``)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from certops.renewal import imp_trust
from certops.renewal.adapters import load_inventory, open_node
from certops.units import unit as unit_spec


@task(name="wait-imp-trust-replicated", cache_policy=NO_CACHE, retries=0)
def wait_imp_trust_replicated(
    inventory_path: str,
    cluster: str,
    unit: str,
    publisher: str,
    nodes: list[str],
    trust_pems: list[str],
    timeout: float,
    poll: float,
) -> float:
    """Read every IM&P node's trust store of ``unit`` until each holds ``trust_pems`` (bounded); seconds waited.

    Raises ``RenewalStopped`` naming the node, trust store and certificate that did not replicate.
    """
    inv = load_inventory(inventory_path)
    store = unit_spec(unit).trust_store

    def read(fqdn: str) -> list[str]:
        with open_node(inv, cluster, fqdn) as api:
            return api.read_trust(store.removesuffix("-trust"))

    log = get_run_logger()
    return imp_trust.wait_replicated(
        cluster=cluster,
        unit=unit,
        publisher=publisher,
        store=store,
        nodes=nodes,
        wanted_pems=trust_pems,
        read=read,
        timeout=timeout,
        poll=poll,
        log=lambda m: log.info("%s", m),
    )
