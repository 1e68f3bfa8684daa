"""Factories (no tests here) for the scan, due, notify and timeline tests: certificates, reports, inventories."""

from __future__ import annotations

import datetime as dt
from typing import Any

from certops.inventory import Inventory
from certops.models import CertificateInfo, CertificateReport, NodeFailure

NOW = dt.datetime(2026, 11, 26, 21, 0, tzinfo=dt.UTC)


def cert(
    cluster: str = "c1",
    node: str = "pub.c1.example.com",
    unit: str = "tomcat",
    days: float = 100,
    *,
    self_signed: bool = False,
    now: dt.datetime = NOW,
) -> CertificateInfo:
    """A certificate on ``node`` expiring ``days`` after ``now``."""
    na = now + dt.timedelta(days=days)
    return CertificateInfo(
        cluster=cluster,
        node=node,
        unit=unit,
        subject=f"CN={node}",
        subject_cn=node,
        issuer="CN=Issuing CA" if not self_signed else f"CN={node}",
        sans_dns=[node],
        serial=f"{abs(hash((cluster, node, unit, days))) % 10**12:x}",
        not_before=na - dt.timedelta(days=365),
        not_after=na,
        fingerprint_sha256=f"{abs(hash((node, unit, days))):064x}"[-64:],
        self_signed=self_signed,
        key_type="rsa",
        key_size=2048,
        pem="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )


def inventory(clusters: dict[str, int] | None = None, policy: dict[str, Any] | None = None, **extra: Any) -> Inventory:
    """An inventory of ``{cluster: node count}``; node 0 is ``pub.<c>.example.com``, then ``subN``."""
    clusters = clusters or {"c1": 3}
    data: dict[str, Any] = {
        "defaults": {
            "os_admin": {"username": "admin", "password_env": "CERTOPS_TEST_OS"},
            "app_user": {"username": "app", "password_env": "CERTOPS_TEST_APP"},
        },
        "clusters": [
            {
                "name": name,
                "version": "15.0",
                "nodes": [
                    {
                        "fqdn": f"pub.{name}.example.com" if i == 0 else f"sub{i}.{name}.example.com",
                        "role": "publisher" if i == 0 else "subscriber",
                    }
                    for i in range(count)
                ],
            }
            for name, count in clusters.items()
        ],
    }
    if policy:
        data["defaults"]["policy"] = policy
    data.update(extra)
    return Inventory.model_validate(data)


def report(certs: list[CertificateInfo], failures: list[NodeFailure] | None = None) -> CertificateReport:
    """A report generated at ``NOW``."""
    return CertificateReport(generated_at=NOW, certificates=certs, failures=failures or [])
