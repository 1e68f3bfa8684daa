"""The checks of ``certops doctor``: small functions over one node, each returning typed verdicts.

Every check is read-only: it reads over the existing clients (``certops.cucm``: certmgr REST,
Control Center, RisPort70, AXL, the SSH CLI) and never generates a CSR, uploads, restarts,
resets or sets anything. A check returns :class:`~certops.doctor.verdicts.Check` values and adds
[INF] verdicts and facts (for the capture and the twin) to its :class:`Probe`.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from certops.cucm import parsers
from certops.cucm._http import build_ssl_context
from certops.cucm.certmgr_shapes import BASE_PATH
from certops.cucm.node import CucmNode
from certops.doctor.recorder import Exchange, Recorder
from certops.doctor.schemas import judge_soap
from certops.doctor.verdicts import Check, CheckStatus, InfStatus, InfVerdict
from certops.errors import (
    CertopsError,
    CliCommandError,
    ConfigError,
    CucmAuthError,
    CucmConnectionError,
    CucmError,
    CucmTrustError,
    PlatformLocked,
)
from certops.inventory import ClusterConfig, CredentialRef, Inventory, NodeConfig
from certops.units import UNITS, NodeRole, Precondition

ALL = ("*",)


@dataclass
class NodeFacts:
    """What the node is: written to the capture, read by the twin."""

    fqdn: str
    role: str
    federation: bool = False  # IM&P: XMPP federation on (from the inventory)
    version_active: str | None = None
    certificates: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, str]] = field(default_factory=list)


@dataclass
class ClusterFacts:
    """What the cluster is (from its publisher)."""

    name: str
    version: str
    full_version: str | None = None
    security_mode: int | None = None
    sso_enabled: bool | None = None
    phone_interaction: str | None = None
    phones_registered: int | None = None
    phones_seen: int | None = None
    drf_running: bool | None = None
    shapes: dict[str, str] = field(default_factory=dict)  # response shape per answer (docs/doctor.md)


@dataclass
class Probe:
    """One node being examined: its client, what was recorded, verdicts and facts."""

    inventory: Inventory
    cluster: ClusterConfig
    node: NodeConfig
    cucm: CucmNode
    recorder: Recorder
    facts: NodeFacts
    cluster_facts: ClusterFacts
    inf: list[InfVerdict] = field(default_factory=list)
    cli_ok: bool = False
    cli_seconds: float | None = None

    @property
    def fqdn(self) -> str:
        """The node's FQDN."""
        return self.node.fqdn

    @property
    def role(self) -> NodeRole:
        """The node's role."""
        return NodeRole(self.node.role)

    @property
    def uses_rest(self) -> bool:
        """True on CUCM 14+, where certmgr REST exists."""
        return self.cluster.version_tuple >= (14, 0)

    def verdict(self, inf_id: str, status: InfStatus, said: str = "") -> None:
        """Record a verdict on one [INF] item."""
        said = " ".join(said.split())[:300]
        self.inf.append(InfVerdict(id=inf_id, status=status, node=self.fqdn, said=said))

    def check(
        self, cid: str, title: str, status: CheckStatus, detail: str = "", fix: str = "", blocks: tuple[str, ...] = ()
    ) -> Check:
        """A check of this node."""
        return Check(id=cid, node=self.fqdn, title=title, status=status, detail=detail, fix=fix, blocks=blocks)

    def last(self, interface: str, contains: str = "") -> Exchange | None:
        """The last recorded exchange of ``interface`` whose request contains ``contains``."""
        found = [e for e in self.recorder.for_node(self.fqdn, interface) if contains in e.request]
        return found[-1] if found else None

    def cli_run(self, command: str) -> str:
        """Run a read-only CLI command, record its output, return it (``CliCommandError`` when it failed)."""
        result = self.cucm.cli().run(command)
        self.recorder.add(Exchange(self.fqdn, "cli", command, None, result.output))
        result.raise_for_status()
        return result.output


# -- turning errors into verdicts --------------------------------------------------------------------


def _credential_words(ref: CredentialRef) -> str:
    if ref.password_env:
        return f"${ref.password_env}"
    return f"the Prefect Secret block {ref.password_secret_block!r}"


def error_check(probe: Probe, cid: str, title: str, exc: BaseException, blocks: tuple[str, ...] = ALL) -> Check:
    """The verdict of a check whose call raised ``exc``, with the exact fix."""
    inv, cluster = probe.inventory, probe.cluster
    if isinstance(exc, CucmAuthError):
        soap = cid.startswith(("cc.", "ris.", "axl."))
        ref = inv.app_user_for(cluster) if soap else inv.os_admin_for(cluster, probe.node)
        kind = "application user (AXL, Control Center, RisPort70)" if soap else "OS (platform) administrator"
        roles = (
            "give it the roles Standard AXL API Access and Standard CCM Admin Users (Serviceability)"
            if soap
            else "it is the CLI account made with `set account name`, privilege 1 for certmgr writes"
        )
        fix = (
            f"{probe.fqdn} refused the {kind} {ref.username!r}. Set {_credential_words(ref)} "
            f"to that account's password on {probe.fqdn} ({roles}); certops did not retry, so the account "
            f"is not locked out. Then run certops doctor again."
        )
        return probe.check(cid, title, CheckStatus.FAIL, exc.message, fix, blocks)
    if isinstance(exc, CucmTrustError):
        fix = f"{probe.fqdn}: {exc.message}. {exc.hint or ''}".strip()
        return probe.check(cid, title, CheckStatus.FAIL, exc.message, fix, blocks)
    if isinstance(exc, PlatformLocked):
        fix = (
            f"{probe.fqdn}: the platform API is locked ({exc.message}): a DRF backup or restore is running. "
            "Wait until `utils disaster_recovery status backup` on the publisher shows it finished "
            "(Status: SUCCESS), and plan renewals outside the DRF schedule; then run certops doctor again."
        )
        return probe.check(cid, title, CheckStatus.FAIL, exc.message, fix, blocks)
    if isinstance(exc, CucmConnectionError):
        n = probe.node
        fix = (
            f"{probe.fqdn} did not answer. Check that it is up and that this machine reaches "
            f"{n.connect_address} on ports {n.https_port} (certmgr), {n.soap_port} (SOAP) and {n.ssh_port} (SSH) "
            "(firewall, address and ports in the inventory); then run certops doctor again."
        )
        return probe.check(cid, title, CheckStatus.UNREACHABLE, exc.message, fix, blocks)
    if isinstance(exc, ConfigError):
        return probe.check(cid, title, CheckStatus.FAIL, exc.message, f"{probe.fqdn}: {exc}", blocks)
    if isinstance(exc, CertopsError):
        message = exc.message if isinstance(exc, CucmError) else str(exc)
        hint = f" {exc.hint}" if exc.hint else ""
        fix = (
            f"{probe.fqdn}: {title}: {message}.{hint} "
            "Report this answer (certops doctor --capture DIR) if it looks right."
        )
        return probe.check(cid, title, CheckStatus.FAIL, message, fix, blocks)
    raise exc


def attempt(probe: Probe, cid: str, title: str, fn: Callable[[], Check | None], blocks: tuple[str, ...] = ALL) -> Check:
    """Run one check; an expected error becomes its verdict."""
    try:
        result = fn()
    except CertopsError as exc:
        return error_check(probe, cid, title, exc, blocks)
    except (ValueError, KeyError, TypeError, IndexError, OSError) as exc:  # an answer certops cannot read
        detail = f"{type(exc).__name__}: {exc}"
        fix = (
            f"{probe.fqdn}: {title}: certops could not read the node's answer ({detail}). Run certops doctor "
            "--capture DIR and send the capture: this answer differs from what certops expects."
        )
        return probe.check(cid, title, CheckStatus.FAIL, detail, fix, blocks)
    return result if result is not None else probe.check(cid, title, CheckStatus.OK)


# -- TLS ------------------------------------------------------------------------------------------------


def _ports(node: NodeConfig) -> list[tuple[int, str]]:
    out = [(node.https_port, "tomcat")]
    if node.soap_port != node.https_port:
        out.append((node.soap_port, "tomcat"))
    for unit, port in sorted(node.service_tls_ports.items()):
        out.append((port, unit))
    return out


def check_tls(probe: Probe) -> list[Check]:
    """TLS trust of each port certops uses, against the inventory's CA bundle and the FQDN."""
    tls = probe.inventory.tls_for(probe.cluster)
    out: list[Check] = []
    if not tls.verify:
        fix = (
            f"{probe.fqdn}: tls.verify is false, so certops cannot tell this node from an impostor. "
            "Set tls.verify: true and tls.ca_bundle."
        )
        return [probe.check("tls.verify", "TLS verification", CheckStatus.WARN, "verification is off", fix)]
    ctx = build_ssl_context(verify=True, ca_bundle=tls.ca_bundle, node=probe.fqdn)
    for port, unit in _ports(probe.node):
        cid, title = f"tls.port.{port}", f"TLS trust of port {port} ({unit})"
        blocks = ALL if unit == "tomcat" else ()
        try:
            with (
                socket.create_connection((probe.node.connect_address, port), timeout=15) as sock,
                ctx.wrap_socket(sock, server_hostname=probe.fqdn),
            ):
                pass
        except ssl.SSLCertVerificationError as exc:
            fix = _tls_fix(probe, port, unit, exc, tls.ca_bundle)
            status = CheckStatus.FAIL if blocks else CheckStatus.WARN
            out.append(probe.check(cid, title, status, exc.verify_message or str(exc), fix, blocks))
            continue
        except (OSError, ssl.SSLError) as exc:
            out.append(
                error_check(probe, cid, title, CucmConnectionError(str(exc), node=probe.fqdn, operation="tls"), blocks)
            )
            continue
        out.append(probe.check(cid, title, CheckStatus.OK, "verified against the CA bundle and the FQDN"))
        if unit != "tomcat":
            probe.verdict("tls.service_ports_ca_signed", InfStatus.CONFIRMED)
    return out


def _tls_fix(probe: Probe, port: int, unit: str, exc: ssl.SSLCertVerificationError, bundle: object) -> str:
    addr = probe.node.connect_address
    fetch = f"openssl s_client -connect {addr}:{port} -servername {probe.fqdn} -showcerts </dev/null"
    try:
        leaf = x509.load_der_x509_certificate(probe.cucm.served_certificate_der(unit if unit != "tomcat" else "tomcat"))
        issuer, subject = leaf.issuer.rfc4514_string(), leaf.subject.rfc4514_string()
        sans = _sans(leaf)
    except (CertopsError, ValueError):
        issuer, subject, sans = "(unreadable)", "(unreadable)", []
    where = f"the CA bundle {bundle}" if bundle else "the system trust store (tls.ca_bundle is not set)"
    if exc.verify_code == 62:  # hostname mismatch
        return (
            f"{probe.fqdn}: the certificate on port {port} ({subject}) does not name {probe.fqdn} "
            f"(SANs: {', '.join(sans) or 'none'}). Put the node's FQDN in the inventory as the certificate names it, "
            "or renew the certificate with the FQDN as CN and SAN."
        )
    if exc.verify_code == 10:
        return (
            f"{probe.fqdn}: the certificate on port {port} ({subject}) has expired: renew {unit} first (certops renew)."
        )
    return (
        f"{probe.fqdn}: {where} does not hold the issuer of the certificate on port {port} ({unit}: {subject}, "
        f"issued by '{issuer}'; OpenSSL says: {exc.verify_message}). Get '{issuer}' and its root from your PKI team, "
        f"or read the chain the node serves with `{fetch}`; check the fingerprints out of band, append the PEMs of "
        f"the issuing CA and its root to {bundle or 'a PEM file and set tls.ca_bundle to it'}, "
        "and run certops doctor again."
    )


def _sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in ext.get_values_for_type(x509.DNSName)] + [
        str(v) for v in ext.get_values_for_type(x509.IPAddress)
    ]


# -- SSH CLI ----------------------------------------------------------------------------------------------


def check_ssh(probe: Probe) -> list[Check]:
    """SSH host key, OS admin login, time to the first prompt, pager off."""

    def login() -> Check:
        started = time.monotonic()
        cli = probe.cucm.cli()
        probe.cli_seconds = time.monotonic() - started
        probe.cli_ok = True
        probe.recorder.add(Exchange(probe.fqdn, "cli", "(login banner)", None, cli.banner))
        return probe.check(
            "ssh.login",
            "SSH host key and OS admin login",
            CheckStatus.OK,
            f"host key matches the known_hosts file; admin: prompt after {probe.cli_seconds:.1f} s "
            f"(ssh.login_timeout {probe.inventory.ssh_for(probe.cluster).login_timeout:.0f} s); pager off",
        )

    out = [attempt(probe, "ssh.login", "SSH host key and OS admin login", login)]
    if probe.cli_ok and probe.cli_seconds is not None:
        timeout = probe.inventory.ssh_for(probe.cluster).login_timeout
        if probe.cli_seconds > timeout / 2:
            fix = (
                f"{probe.fqdn}: the CLI took {probe.cli_seconds:.0f} s to its first prompt; "
                f"raise ssh.login_timeout (now {timeout:.0f} s)."
            )
            out.append(probe.check("cli.banner", "CLI start time", CheckStatus.WARN, fix=fix))
    return out


def check_cli(probe: Probe) -> list[Check]:
    """The CLI commands certops reads: version, certificates, services, SSO, DRF, privilege."""
    if not probe.cli_ok:
        return []
    out: list[Check] = []

    def version() -> Check:
        text = probe.cli_run("show version active")
        try:
            full = parsers.parse_version_active(text)
        except ValueError as exc:
            probe.verdict("cli.version_active", InfStatus.REFUTED, text)
            raise CliCommandError(str(exc), node=probe.fqdn, command="show version active", output=text) from exc
        probe.verdict("cli.version_active", InfStatus.CONFIRMED)
        probe.facts.version_active = full
        short = ".".join(full.split(".")[:2])
        if short != probe.cluster.version:
            fix = (
                f"{probe.fqdn} runs {full} but the inventory says version {probe.cluster.version!r} for cluster "
                f'{probe.cluster.name}: set `version: "{short}"` there (certops picks REST or CLI, and the '
                "restarts, by it)."
            )
            return probe.check("cli.version", "show version active", CheckStatus.FAIL, full, fix, ALL)
        return probe.check("cli.version", "show version active", CheckStatus.OK, full)

    out.append(attempt(probe, "cli.version", "show version active", version))

    def cert_list() -> Check:
        text = probe.cli_run("show cert list own")
        entries = parsers.parse_cert_list(text)
        if not entries:
            probe.verdict("cli.cert_list_style", InfStatus.REFUTED, text)
            return probe.check(
                "cli.cert_list",
                "show cert list own",
                CheckStatus.FAIL,
                "no entry parsed",
                f"{probe.fqdn}: certops could not read `show cert list own`; send the capture.",
                ALL,
            )
        probe.verdict("cli.cert_list_style", InfStatus.CONFIRMED)
        # the twin answers in the style this node used (the simulator's is per version: lines on 15)
        style = "blocks" if re.search(r"^\s*Unit:", text, re.M) else "lines"
        probe.cluster_facts.shapes.setdefault("cli.cert_list", style)
        return probe.check("cli.cert_list", "show cert list own", CheckStatus.OK, f"{len(entries)} entries")

    out.append(attempt(probe, "cli.cert_list", "show cert list own", cert_list, blocks=()))

    def service_list() -> Check:
        services = parsers.parse_service_list(probe.cli_run("utils service list"))
        if not services:
            probe.verdict("cli.service_list", InfStatus.REFUTED, "no service line parsed")
            return probe.check(
                "cli.service_list",
                "utils service list",
                CheckStatus.FAIL,
                "no service parsed",
                f"{probe.fqdn}: certops could not read `utils service list`; send the capture.",
                ALL,
            )
        probe.verdict("cli.service_list", InfStatus.CONFIRMED)
        probe.facts.services = [{"name": s.name, "state": s.state.value, "reason": s.reason} for s in services]
        return probe.check("cli.service_list", "utils service list", CheckStatus.OK, f"{len(services)} services")

    out.append(attempt(probe, "cli.service_list", "utils service list", service_list))
    out.append(attempt(probe, "cli.sso", "utils sso status", lambda: _sso(probe)))
    if probe.role is NodeRole.PUBLISHER:
        out.append(attempt(probe, "cli.drf", "utils disaster_recovery status backup", lambda: _drf(probe)))
    out.append(_privilege(probe))
    return out


def _units_with(pre: Precondition) -> tuple[str, ...]:
    return tuple(name for name, spec in UNITS.items() if pre in spec.preconditions)


def _sso(probe: Probe) -> Check:
    text = probe.cli_run("utils sso status")
    try:
        status = parsers.parse_sso_status(text)
    except ValueError:
        probe.verdict("cli.sso_disabled_text", InfStatus.REFUTED, text)
        fix = (
            f"{probe.fqdn}: `utils sso status` has no 'SSO Status:' line, so certops cannot tell "
            "whether SSO is on; send the capture."
        )
        return probe.check(
            "cli.sso", "utils sso status", CheckStatus.FAIL, text[:200], fix, _units_with(Precondition.SSO_DISABLED)
        )
    if probe.role is NodeRole.PUBLISHER:
        probe.cluster_facts.sso_enabled = status.enabled
    if not status.enabled:
        if "SSO Status: SAML SSO Disabled" in text:
            probe.verdict("cli.sso_disabled_text", InfStatus.CONFIRMED)
        else:
            line = next((ln for ln in text.splitlines() if "SSO Status" in ln), text)
            probe.verdict("cli.sso_disabled_text", InfStatus.REFUTED, line)
        return probe.check("cli.sso", "utils sso status", CheckStatus.OK, "SAML SSO disabled")
    probe.verdict("cli.sso_disabled_text", InfStatus.NOT_REACHABLE, "SSO is enabled here")
    blocked = _units_with(Precondition.SSO_DISABLED)
    policy = probe.inventory.policy_for(probe.cluster).sso_policy
    fix = (
        f"{probe.fqdn}: SAML SSO is enabled, and Cisco's procedure renews {', '.join(blocked)} only with SSO disabled. "
        "Before the renewal, disable it in Cisco Unified CM Administration > System > SAML Single Sign-On > "
        "Disable SSO (check with `utils sso status`: 'SAML SSO Disabled') and enable it again afterwards"
    )
    if policy == "wait_for_person":
        fix += "; with policy.sso_policy wait_for_person the renewal will wait for a person to do it."
        return probe.check("cli.sso", "utils sso status", CheckStatus.WARN, "SAML SSO enabled", fix)
    fix += "; or set policy.sso_policy: wait_for_person to have the renewal wait for a person."
    return probe.check("cli.sso", "utils sso status", CheckStatus.FAIL, "SAML SSO enabled", fix, blocked)


_DRF_KNOWN = re.compile(r"drfCliMsg:\s*No backup status available|^\s*Status\s*:\s*\S+", re.I | re.M)


def _drf(probe: Probe) -> Check:
    result = probe.cucm.cli().run("utils disaster_recovery status backup")
    probe.recorder.add(Exchange(probe.fqdn, "cli", result.command, None, result.output))
    status = parsers.parse_drf_status(result.output, "backup")
    probe.cluster_facts.drf_running = status.running
    if _DRF_KNOWN.search(result.output):
        probe.verdict("cli.drf_status_tokens", InfStatus.CONFIRMED)
    else:
        probe.verdict("cli.drf_status_tokens", InfStatus.REFUTED, result.output)
    if not status.running:
        return probe.check("cli.drf", "utils disaster_recovery status backup", CheckStatus.OK, "no DRF backup running")
    blocked = _units_with(Precondition.NO_DRF_JOB)
    pct = f", {status.percentage}% complete" if status.percentage is not None else ""
    fix = (
        f"{probe.fqdn}: a DRF backup is running (Status: {status.status or 'unknown'}{pct}); certops never renews "
        f"{', '.join(blocked)} during one, and the platform API answers 423 meanwhile. Wait until "
        "`utils disaster_recovery status backup` shows Status: SUCCESS (or ask who started it), keep renewals out of "
        "the DRF schedule, and run certops doctor again."
    )
    return probe.check(
        "cli.drf", "utils disaster_recovery status backup", CheckStatus.FAIL, status.status or "", fix, blocked
    )


_PRIVILEGE = re.compile(r"privilege level\s*:\s*(\d+)", re.I)


def _privilege(probe: Probe) -> Check:
    result = probe.cucm.cli().run("show myself")
    probe.recorder.add(Exchange(probe.fqdn, "cli", result.command, None, result.output))
    title = "OS admin privilege (show myself)"
    m = _PRIVILEGE.search(result.output)
    if m is None:
        probe.verdict("cli.privilege_level", InfStatus.NOT_REACHABLE, result.output.strip()[:200])
        if "Executed command unsuccessfully" in result.output:
            probe.verdict("cli.unknown_command", InfStatus.CONFIRMED)
        return probe.check(
            title=title,
            cid="cli.privilege",
            status=CheckStatus.WARN,
            detail="the node did not show a privilege level; write access is proven only by a renewal",
        )
    level = int(m.group(1))
    probe.verdict("cli.privilege_level", InfStatus.CONFIRMED, f"privilege level {level}")
    if level < 1:
        ref = probe.inventory.os_admin_for(probe.cluster, probe.node)
        fix = (
            f"{probe.fqdn}: the OS admin {ref.username!r} has privilege level {level} (read-only); certmgr uploads and "
            f"CSRs need level 1. On the node run `set account name` for a level-1 account (or raise this one's), "
            "and point os_admin at it."
        )
        return probe.check("cli.privilege", title, CheckStatus.FAIL, f"level {level}", fix, ALL)
    return probe.check("cli.privilege", title, CheckStatus.OK, f"privilege level {level}")


# -- certmgr REST ----------------------------------------------------------------------------------------


def check_certificates(probe: Probe) -> list[Check]:
    """The identity certificates (REST snapshot on 14+, CLI on 12.5), GET /csr, the trust list, /options."""
    out: list[Check] = []
    title = "certmgr snapshot" if probe.uses_rest else "show cert own (12.5)"

    def snapshot() -> Check:
        infos = probe.cucm.read_certificates()
        probe.facts.certificates = [
            {
                "unit": i.unit,
                "subject": i.subject,
                "issuer": i.issuer,
                "sans_dns": list(i.sans_dns),
                "sans_ip": list(i.sans_ip),
                "not_before": i.not_before.isoformat(),
                "not_after": i.not_after.isoformat(),
                "self_signed": i.self_signed,
                "key_type": i.key_type,
                "key_size": i.key_size,
            }
            for i in infos
        ]
        if probe.uses_rest:
            probe.verdict("certmgr.snapshot_shape", InfStatus.CONFIRMED)
        return probe.check("rest.snapshot", title, CheckStatus.OK, f"{len(infos)} identity certificates")

    check = attempt(probe, "rest.snapshot", title, snapshot)
    out.append(check)
    if probe.uses_rest:
        locked = check.status is CheckStatus.FAIL and "423" in check.detail
        if locked:
            probe.verdict("certmgr.drf_locked_423", InfStatus.CONFIRMED, check.detail)
        if check.status is CheckStatus.OK:
            out.append(attempt(probe, "rest.csr", "certmgr GET /csr", lambda: _csr(probe)))
            out.append(attempt(probe, "rest.trust", "certmgr GET /trust/certificate", lambda: _trust(probe)))
            out.append(attempt(probe, "rest.options", "certmgr GET /options", lambda: _options(probe), blocks=()))
    return out


def _csr(probe: Probe) -> Check:
    pending = []
    for cert in probe.facts.certificates:
        unit = cert["unit"]
        if probe.cucm.rest().get_csr(unit) is not None:
            pending.append(unit)
        exchange = probe.last("certmgr", f"/csr?service={unit}")
        if exchange is None:
            continue
        if exchange.status == 404:
            if "CSR does not exist for the service" in exchange.body:
                probe.verdict("certmgr.get_csr_none_404", InfStatus.CONFIRMED)
            else:
                probe.verdict("certmgr.get_csr_none_404", InfStatus.REFUTED, f"404: {exchange.body[:200]}")
        elif exchange.status == 200:
            probe.verdict(
                "certmgr.csr_shape",
                InfStatus.CONFIRMED if '"csr"' in exchange.body else InfStatus.REFUTED,
                exchange.body[:200],
            )
        else:
            probe.verdict(
                "certmgr.get_csr_none_404", InfStatus.REFUTED, f"HTTP {exchange.status}: {exchange.body[:200]}"
            )
    detail = f"pending CSRs: {', '.join(pending)}" if pending else "no CSR pending"
    if pending:
        fix = (
            f"{probe.fqdn}: a CSR is pending for {', '.join(pending)}. If it went to a CA, finish that renewal "
            "(certops approve); if it was left by an abandoned attempt outside certops, renew with "
            "--ignore-pending-csr UNIT (audited). certops will not replace a CSR it did not make."
        )
        return probe.check("rest.csr", "certmgr GET /csr", CheckStatus.WARN, detail, fix)
    return probe.check("rest.csr", "certmgr GET /csr", CheckStatus.OK, detail)


def _trust(probe: Probe) -> Check:
    pems = probe.cucm.read_trust("tomcat")
    exchange = probe.last("certmgr", "/trust/certificate")
    if exchange is not None and exchange.status == 200:
        shape = trust_list_shape(exchange.body)
        probe.cluster_facts.shapes.setdefault("certmgr.trust_list", shape)
        if shape == "certificate_data":
            probe.verdict("certmgr.trust_list_shape", InfStatus.CONFIRMED)
        else:
            probe.verdict("certmgr.trust_list_shape", InfStatus.REFUTED, f"shape {shape}: {exchange.body[:200]}")
    return probe.check(
        "rest.trust", "certmgr GET /trust/certificate", CheckStatus.OK, f"tomcat-trust: {len(pems)} certificates"
    )


def trust_list_shape(body: str) -> str:
    """The shape of a ``GET /trust/certificate`` answer: ``certificate_data`` (the simulator's and the
    snapshot's), ``list`` (a bare list of ``{certificate}``), ``certificates`` (netSSL's) or ``unknown``."""
    try:
        data = json.loads(body)
    except ValueError:
        return "unknown"
    if isinstance(data, list):
        return "list"
    if isinstance(data, dict):
        for key in ("certificate_data", "certificates"):
            if key in data:
                return key
    return "unknown"


def _options(probe: Probe) -> Check:
    response = probe.cucm.rest()._http.request("GET", BASE_PATH + "/options", operation="options")  # read-only GET
    try:
        data = response.json()
    except ValueError:
        data = None
    keys = sorted(data) if isinstance(data, dict) else []
    if response.status_code == 200 and {"units", "distributions", "keyTypes"} <= set(keys):
        probe.verdict("certmgr.options_shape", InfStatus.CONFIRMED)
    else:
        probe.verdict("certmgr.options_shape", InfStatus.REFUTED, f"HTTP {response.status_code}, keys {keys}")
    return probe.check("rest.options", "certmgr GET /options", CheckStatus.OK, f"HTTP {response.status_code}")


# -- SOAP -----------------------------------------------------------------------------------------------------


def _schema_detail(probe: Probe, interface: str, contains: str, axl_version: str | None = None) -> tuple[str, bool]:
    exchange = probe.last(interface, contains)
    if exchange is None:
        return "no answer recorded", True
    verdict = judge_soap(exchange.body, interface, axl_version)
    return f"Cisco schema: {verdict}", verdict.status != "invalid"


def check_control_center(probe: Probe) -> list[Check]:
    """Control Center ``soapGetServiceStatus``, every service and one named, judged by Cisco's WSDL."""
    out: list[Check] = []

    def unnamed() -> Check:
        services = probe.cucm.service_status()
        detail, valid = _schema_detail(probe, "controlcenter", "soapGetServiceStatus")
        names = {s.name for s in services}
        if len(names) > 1 and "Cisco Tomcat" in names:
            probe.verdict("cc.empty_means_all", InfStatus.CONFIRMED)
        else:
            probe.verdict("cc.empty_means_all", InfStatus.REFUTED, f"{len(names)} service(s): {sorted(names)[:5]}")
        if probe.cluster.version_tuple >= (14, 0):
            cli_names = {s["name"] for s in probe.facts.services}
            if "Cisco HAProxy" in cli_names:
                probe.verdict(
                    "cc.haproxy_not_listed",
                    InfStatus.REFUTED if "Cisco HAProxy" in names else InfStatus.CONFIRMED,
                    "Control Center lists Cisco HAProxy" if "Cisco HAProxy" in names else "",
                )
        status = CheckStatus.OK if valid else CheckStatus.WARN
        fix = (
            ""
            if valid
            else f"{probe.fqdn}: the Control Center answer does not match Cisco's WSDL ({detail}); send the capture."
        )
        return probe.check(
            "cc.status", "Control Center status (all)", status, f"{len(services)} services; {detail}", fix
        )

    out.append(attempt(probe, "cc.status", "Control Center status (all)", unnamed))

    def named() -> Check:
        services = probe.cucm.service_status(["Cisco Tomcat"])
        if not any(s.name == "Cisco Tomcat" for s in services):
            fix = f"{probe.fqdn}: Control Center did not answer for Cisco Tomcat by name; send the capture."
            return probe.check("cc.status_named", "Control Center status (named)", CheckStatus.FAIL, "", fix, ALL)
        return probe.check("cc.status_named", "Control Center status (named)", CheckStatus.OK, "Cisco Tomcat answered")

    out.append(attempt(probe, "cc.status_named", "Control Center status (named)", named))
    return out


def check_publisher(probe: Probe) -> list[Check]:
    """AXL (version, security mode, SSO mode, Phone Interaction) and one RisPort70 query, on the publisher."""
    if probe.role is not NodeRole.PUBLISHER:
        return []
    out: list[Check] = []
    facts = probe.cluster_facts
    axl = probe.cucm.axl()

    def version() -> Check:
        full = axl.ccm_version()
        facts.full_version = full
        listed = [e for e in probe.recorder.for_node(probe.fqdn, "axl") if e.status == 599]
        if listed:
            probe.verdict("axl.versions_accepted", InfStatus.REFUTED, listed[-1].body[:200])
        else:
            probe.verdict("axl.versions_accepted", InfStatus.CONFIRMED, f"AXL {axl.version} accepted")
        detail, _ = _schema_detail(probe, "axl", "getCCMVersion", axl.version)
        return probe.check("axl.version", "AXL getCCMVersion", CheckStatus.OK, f"{full}; {detail}")

    out.append(attempt(probe, "axl.version", "AXL getCCMVersion", version))

    def security() -> Check:
        facts.security_mode = probe.cucm.cluster_security_mode()
        detail, _ = _schema_detail(probe, "axl", "executeSQLQuery", axl.version)
        mode = "mixed mode (CTL updates after CallManager/TVS/ITLRecovery)" if facts.security_mode else "non-secure"
        return probe.check("axl.security_mode", "AXL Cluster Security Mode", CheckStatus.OK, f"{mode}; {detail}")

    out.append(attempt(probe, "axl.security_mode", "AXL Cluster Security Mode", security))

    def sso() -> Check:
        modes = axl.sso_modes()
        probe.verdict(
            "axl.processnode_rows",
            InfStatus.CONFIRMED if "EnterpriseWideData" in modes else InfStatus.REFUTED,
            "" if "EnterpriseWideData" in modes else f"rows: {sorted(modes)}",
        )
        on = sorted(n for n, m in modes.items() if m)
        return probe.check(
            "axl.sso", "AXL SSO mode", CheckStatus.OK, f"SSO on: {', '.join(on)}" if on else "SSO off everywhere"
        )

    out.append(attempt(probe, "axl.sso", "AXL SSO mode", sso, blocks=()))

    def interaction() -> Check:
        value = probe.cucm.phone_interaction()
        facts.phone_interaction = value
        v14 = probe.cluster.version_tuple >= (14, 0)
        if (value is not None) == v14 and not (value or "").startswith("unknown"):
            probe.verdict("axl.phone_interaction_param", InfStatus.CONFIRMED, value or "no row before 14")
        else:
            probe.verdict(
                "axl.phone_interaction_param", InfStatus.REFUTED, f"value {value!r} on {probe.cluster.version}"
            )
        return probe.check(
            "axl.phone_interaction", "Phone Interaction on Certificate Update", CheckStatus.OK, str(value)
        )

    out.append(
        attempt(probe, "axl.phone_interaction", "Phone Interaction on Certificate Update", interaction, blocks=())
    )

    def ris() -> Check:
        count = probe.cucm.registered_phones()
        facts.phones_registered, facts.phones_seen = count.registered, count.total_seen
        exchange = probe.last("risport", "selectCmDevice")
        if exchange is not None:
            empty = re.search(r"<(?:\w+:)?StateInfo\s*/>|<(?:\w+:)?StateInfo>\s*</", exchange.body) is not None
            probe.verdict(
                "ris.stateinfo",
                InfStatus.CONFIRMED if empty else InfStatus.REFUTED,
                "" if empty else "StateInfo not empty after the last page",
            )
        detail, valid = _schema_detail(probe, "risport", "selectCmDevice")
        return probe.check(
            "ris.query",
            "RisPort70 selectCmDevice (one query)",
            CheckStatus.OK if valid else CheckStatus.WARN,
            f"{count.registered} of {count.total_seen} phones registered, {count.requests_used} request(s); {detail}",
        )

    out.append(attempt(probe, "ris.query", "RisPort70 selectCmDevice (one query)", ris))
    return out


def dump(value: Any) -> str:
    """JSON text of ``value`` (for details)."""
    return json.dumps(value, sort_keys=True)
