"""One ``certops doctor`` run over one cluster: :func:`run_doctor`.

Node by node, in the inventory's order: TLS trust of every port, SSH host key and login, the CLI
commands certops reads, the certificates (certmgr snapshot, ``GET /csr``, ``GET /trust/certificate``
on 14+; the CLI on 12.5), Control Center, and on the publisher AXL and one RisPort70 query.
Everything is read-only. What each node answered stays in the :class:`~certops.doctor.recorder.Recorder`
for the capture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import SecretStr

from certops.cucm._http import build_ssl_context
from certops.cucm.node import CucmNode
from certops.doctor import checks
from certops.doctor.checks import ClusterFacts, NodeFacts, Probe
from certops.doctor.inf import INF_ITEMS
from certops.doctor.recorder import Recorder, RecordingTransport
from certops.doctor.verdicts import Check, CheckStatus, DoctorReport, InfStatus, InfVerdict
from certops.errors import ConfigError
from certops.inventory import Inventory, resolve_secret
from certops.units import UNITS


@dataclass
class DoctorRun:
    """The report, the facts for the capture, what was recorded, and the secrets used (to redact)."""

    report: DoctorReport
    cluster: ClusterFacts
    nodes: list[NodeFacts]
    recorder: Recorder
    secrets: list[str] = field(default_factory=list)


def run_doctor(inventory: Inventory, cluster_name: str) -> DoctorRun:
    """Examine every node of ``cluster_name``, read-only; return what was found."""
    cluster = inventory.cluster(cluster_name)
    policy = inventory.policy_for(cluster)
    units = [u for u in policy.units if u in UNITS]
    report = DoctorReport(cluster=cluster.name, version=cluster.version, units=units)
    facts = ClusterFacts(name=cluster.name, version=cluster.version)
    recorder = Recorder()
    node_facts: list[NodeFacts] = []
    secrets: list[str] = []
    tls = inventory.tls_for(cluster)
    ssh = inventory.ssh_for(cluster)
    app_ref = inventory.app_user_for(cluster)
    app_password: SecretStr | None = None
    app_error: ConfigError | None = None
    try:
        app_password = resolve_secret(app_ref)
        secrets.append(app_password.get_secret_value())
    except ConfigError as exc:
        app_error = exc
    for node in cluster.nodes:
        nf = NodeFacts(fqdn=node.fqdn, role=str(node.role), federation=node.federation)
        report.roles[node.fqdn] = str(node.role)
        node_facts.append(nf)
        os_ref = inventory.os_admin_for(cluster, node)
        try:
            os_password = resolve_secret(os_ref)
            ssl_context = build_ssl_context(verify=tls.verify, ca_bundle=tls.ca_bundle, node=node.fqdn)
        except ConfigError as exc:
            report.checks.append(
                Check(
                    "inventory",
                    node.fqdn,
                    "credentials and CA bundle",
                    CheckStatus.FAIL,
                    exc.message,
                    f"{node.fqdn}: {exc}",
                    checks.ALL,
                )
            )
            continue
        secrets.append(os_password.get_secret_value())
        transport = RecordingTransport(node=node.fqdn, ssl_context=ssl_context, recorder=recorder)
        cucm = CucmNode(
            cluster=cluster,
            node=node,
            os_username=os_ref.username,
            os_password=os_password,
            app_username=app_ref.username,
            app_password=app_password if app_password is not None else _raise(app_error),
            tls=tls,
            ssh=ssh,
            http_transport=transport,
        )
        probe = Probe(inventory, cluster, node, cucm, recorder, nf, facts)
        try:
            report.checks.extend(_examine(probe))
        finally:
            cucm.close()
            transport.close()
        report.inf.extend(probe.inf)
    seen = {v.id for v in report.inf}
    for item in INF_ITEMS.values():
        if item.id not in seen:
            why = item.why_not if item.observed_by is None else "the node did not answer it"
            report.inf.append(InfVerdict(item.id, InfStatus.NOT_REACHABLE, "", why))
    return DoctorRun(report=report, cluster=facts, nodes=node_facts, recorder=recorder, secrets=secrets)


def _raise(error: ConfigError | None) -> Callable[[], SecretStr]:
    """The application password's stand-in when it is unset: raising at first SOAP use names the variable."""

    def fail() -> SecretStr:
        assert error is not None
        raise error

    return fail


def _examine(probe: Probe) -> list[Check]:
    out = checks.check_tls(probe)
    https_ok = not any(c.blocking for c in out)
    out += checks.check_ssh(probe)
    out += checks.check_cli(probe)
    if not https_ok:
        reason = "not asked: the HTTPS port failed its TLS check above"
        for cid, title in (
            ("rest.snapshot", "certmgr snapshot"),
            ("cc.status", "Control Center"),
            ("axl", "AXL, RisPort70"),
        ):
            out.append(probe.check(cid, title, CheckStatus.SKIPPED, reason))
        return out
    if probe.uses_rest or probe.cli_ok:
        out += checks.check_certificates(probe)
    out += checks.check_control_center(probe)
    out += checks.check_publisher(probe)
    return out
