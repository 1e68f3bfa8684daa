"""Thin Prefect tasks of a multi-server (Multi-SAN) renewal (``certops.renewal.multi_server``)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from certops.models import CertificateInfo, CsrArtifact
from certops.renewal import multi_server
from certops.units import unit as unit_spec
from tasks.renewal import ensure_csr_on, load_inventory


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
    request = multi_server.csr_request(unit_spec(unit), inv.cluster(cluster).node(fqdn), covered, current)
    return ensure_csr_on(
        inv,
        cluster,
        fqdn,
        unit,
        request,
        existing,
        sent_to_ca,
        identity_uploaded,
        requested_before,
        drf_wait_timeout,
        drf_poll,
    )
