"""Multi-server (Multi-SAN) certificates: one certificate for every node of a cluster that holds a unit.

Cisco (TAC 118731; CUCM Security Guides 12.5SU2 and 14SU2, procedure.md "Multi-server (Multi-SAN)
certificates"): one CSR on the publisher with distribution multi-server, every node's name in its
SANs; one signature; the upload on the publisher; CUCM distributes the certificate to the nodes in
its SANs. A CallManager multi-server CN is ``<host>-ms.<domain>`` (ECDSA ``<host>-EC-ms.<domain>``).
The certificate covers only the nodes that exist at its upload. From 14SU2 it cannot be uploaded
through the CLI. The IM&P units' CSR is made on the IM&P database publisher [INF: Cisco's IM&P
guides make IM&P certificates there].

Pure rules only: which node makes the CSR, its request, which nodes a leaf does not cover, and
the refusals (before anything changes). The flow (``flows/_multi.py``) drives them.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from certops.errors import ConfigError, PolicyViolation
from certops.inventory import ClusterConfig, NodeConfig
from certops.models import CertificateInfo, CsrRequest
from certops.units import MULTI_SERVER_NO_CLI_FROM, NodeScope, Release, UnitSpec, release_label

DISTRIBUTION = "multi-server"


def is_multi_server(cluster: ClusterConfig, spec: UnitSpec) -> bool:
    """True when the inventory renews ``spec`` on ``cluster`` as one multi-server certificate."""
    return spec.multi_server is not None and cluster.is_multi_server(spec.name)


def csr_node(cluster: ClusterConfig, spec: UnitSpec) -> NodeConfig:
    """The node that makes the one CSR: the publisher; for the cup* units the IM&P database publisher,
    or (cup-xmpp-s2s, when federation is off there) the first IM&P node that holds the unit."""
    if spec.scope in (NodeScope.IMP, NodeScope.IMP_FEDERATION):
        holding = [n for n in cluster.imp_nodes if spec.nodes_with(n.role, n.federation)]
        imp_pub = cluster.imp_publisher
        if imp_pub is not None and imp_pub in holding:
            return imp_pub
        if not holding:
            raise ConfigError(f"no node of cluster {cluster.name} holds the {spec.name} certificate")
        return holding[0]
    return cluster.publisher


def common_name(spec: UnitSpec, node: NodeConfig) -> str:
    """The multi-server CN: ``<host>-ms.<domain>`` where Cisco says so (CallManager), else the node's FQDN [INF]."""
    assert spec.multi_server is not None
    if not spec.multi_server.ms_common_name:
        return node.fqdn
    host, _, domain = node.fqdn.partition(".")
    suffix = "-EC-ms" if spec.key_type == "ec" else "-ms"
    return f"{host}{suffix}.{domain}" if domain else f"{host}{suffix}"


def csr_request(
    spec: UnitSpec, node: NodeConfig, covered: Sequence[str], current: CertificateInfo | None
) -> CsrRequest:
    """The multi-server CSR settings: distribution multi-server, every covered node in the SANs.

    Names the current certificate carries besides the nodes (an alias, no wildcard) are kept, as
    for a per-node CSR. The node adds every node holding the unit itself; certops names them too,
    so a leaf that lacks one is caught before the upload.
    """
    alt = list(dict.fromkeys(fqdn.lower() for fqdn in covered))
    if current is not None:
        alt += [n for n in current.sans_dns if n.lower() not in alt and "*" not in n]
    ec = spec.key_type == "ec"
    return CsrRequest(
        unit=spec.name,
        common_name=common_name(spec, node),
        alt_names=alt,
        key_type="ec" if ec else "rsa",
        key_length=256 if ec else 2048,
        hash_algorithm="sha256",
        distribution=DISTRIBUTION,
    )


def leaf_sans(pem: str) -> list[str]:
    """The DNS names in a certificate's SANs (none when it has no SAN extension)."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(ext.value.get_values_for_type(x509.DNSName))


def uncovered(sans: Sequence[str], nodes: Sequence[str]) -> list[str]:
    """The nodes among ``nodes`` whose FQDN is not in ``sans`` (case-insensitive), in order."""
    have = {s.lower() for s in sans}
    return [n for n in nodes if n.lower() not in have]


def check_plan(cluster: ClusterConfig, spec: UnitSpec, release: Release) -> None:
    """Refuse, before anything changes, a multi-server renewal certops cannot do.

    ``release``: what the CSR node runs (from the inventory, or read by preflight).
    """
    ms = spec.multi_server
    if ms is None:
        raise ConfigError(
            f"cluster {cluster.name}: {spec.name} cannot be multi-server",
            hint=f"remove {spec.name} from multi_server in the inventory",
        )
    if len(release) >= 2 and tuple(release[:2]) < tuple(ms.since[:2]):
        raise ConfigError(
            f"cluster {cluster.name} [{spec.name}]: certops makes multi-server certificates from "
            f"{release_label(ms.since)} (certmgr REST); the cluster runs {release_label(release)}",
            hint=f"take {spec.name} out of multi_server for this cluster (it is then renewed per node)",
        )


def refuse_cli_upload(cluster: str, spec: UnitSpec, node: str, release: Release, via: str) -> None:
    """From 14SU2 Cisco forbids uploading a multi-server certificate over the CLI: refuse before anything is sent.

    ``via``: the node's certificate path (``"CLI"`` or ``"REST"``, ``certops.cucm.paths``). A release
    without a known SU (``(14, 0)``) is held to the rule (the safe side).
    """
    if via.upper() != "CLI":
        return
    low = MULTI_SERVER_NO_CLI_FROM
    at_or_after = tuple(release) >= tuple(low) if len(release) >= 3 else tuple(release[:2]) >= tuple(low[:2])
    if at_or_after:
        raise PolicyViolation(
            f"{node} [{spec.name}]: a multi-server certificate cannot be uploaded over the CLI on "
            f"{release_label(release)} (Cisco forbids it from {release_label(low)}); nothing was sent",
            cluster=cluster,
            unit=spec.name,
            rule="multi_server_cli",
            hint="upload it through certmgr REST (CUCM 14+), or renew the unit per node",
        )


def plan_text(csr_fqdn: str, covered: Sequence[str]) -> str:
    """The dry run's line: ``multi-server: one CSR on <pub>, distributed to N nodes``."""
    others = [n for n in covered if n != csr_fqdn]
    return (
        f"multi-server: one CSR on {csr_fqdn}, distributed to {len(others)} node{'s' if len(others) != 1 else ''}"
        + (f" ({', '.join(others)})" if others else "")
    )
