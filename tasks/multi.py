"""Thin Prefect tasks of a multi-server (Multi-SAN) renewal (``certops.renewal.multi_server``)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from certops.models import CertificateInfo, CsrArtifact
from certops.renewal import multi_server, steps
from certops.renewal.adapters import open_node
from certops.units import unit as unit_spec
from tasks.renewal import _info, load_inventory


@task(name="generate-multi-server-csr", cache_policy=NO_CACHE, retries=0)
def generate_multi_server_csr(
    inventory_path: str,
    cluster: str,
    fqdn: str,
    unit: str,
    covered: list[str],
    current: CertificateInfo | None,
    existing: CsrArtifact | None,
    sent_to_ca: bool,
    identity_uploaded: bool,
    requested_before: bool = False,
    drf_wait_timeout: float = 4 * 3600.0,
    drf_poll: float = 60.0,
) -> tuple[CsrArtifact, bool]:
    """The one multi-server CSR on ``fqdn`` (distribution multi-server, ``covered`` in its SANs).

    Reuses the pending one this renewal made (checked by fingerprint), as a per-node CSR; a CSR
    sent to a CA is never regenerated. HTTP 423 (DRF holds the platform API) is waited out.
    """
    inv = load_inventory(inventory_path)
    node = inv.cluster(cluster).node(fqdn)
    request = multi_server.csr_request(unit_spec(unit), node, covered, current)

    def make() -> tuple[CsrArtifact, bool]:
        with open_node(inv, cluster, fqdn) as api:
            return steps.ensure_csr(
                api,
                cluster=cluster,
                request=request,
                existing=existing,
                sent_to_ca=sent_to_ca,
                identity_uploaded=identity_uploaded,
                requested_before=requested_before,
            )

    return steps.wait_platform_unlocked(
        make, cluster=cluster, node=fqdn, unit=unit, timeout=drf_wait_timeout, poll=drf_poll, log=_info
    )
