"""The renewal plan: which nodes, in which order, which steps, which rules apply.

Pure: it reads the inventory, the unit table (``certops.units``) and, when known, a snapshot of
the cluster (``ClusterState``: security mode, SSO, DRF, activated services, expiry, claims held
by other runs). The flow follows the plan; ``certops renew --dry-run`` prints ``render()``.

Order (Cisco's procedure, ``procedure.md``): publisher first, then subscribers, then IM&P nodes.
Per node: preflight, CSR on the node, signature, chain check, trust then identity upload. Then
the CTL update on the publisher (mixed mode, units that need it), restarts node by node
(publisher first, one node at a time), phone reset and re-registration, verification.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from certops.cucm.paths import certificate_path
from certops.due import DuePlan
from certops.errors import ConfigError
from certops.inventory import ClusterConfig, Inventory, NodeConfig
from certops.renewal import multi_server
from certops.units import (
    UNITS,
    NodeRole,
    PlanOrder,
    Precondition,
    Release,
    RestartVia,
    UnitSpec,
    parse_release,
    release_label,
)
from certops.units import unit as unit_spec
from certops.windows import describe as describe_window
from certops.windows import window_decision

_ROLE_ORDER = {NodeRole.PUBLISHER: 0, NodeRole.SUBSCRIBER: 1, NodeRole.IMP_PUBLISHER: 2, NodeRole.IMP: 3}


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClusterState(_Value):
    """What preflight learned about the cluster (every field optional: unknown = not read yet)."""

    now: dt.datetime | None = None
    security_mode: int | None = None  # 0 non-secure, 1 mixed
    sso_enabled: bool | None = None
    drf_running: bool | None = None
    versions: dict[str, str] = Field(default_factory=dict)  # fqdn -> active version
    activated_services: dict[str, list[str]] = Field(default_factory=dict)  # fqdn -> activated names
    expiries: dict[str, dt.datetime] = Field(default_factory=dict)  # fqdn -> current not_after
    claims: dict[str, str] = Field(default_factory=dict)  # exclusion key -> who holds it
    claims_note: str | None = None  # why the Prefect claim could not be read (no PREFECT_API_URL)
    host_lock: str | None = None  # who holds this host's lock of the unit's lock key (None: free or not read)
    host_lock_read: bool = False
    inflight: list[str] | None = None  # traces of another ITL-group renewal on the nodes (None: not read)
    phones_registered: int | None = None
    phone_interaction: str | None = None  # "Phone Interaction on Certificate Update" as read (None: not read)


class StepKind(StrEnum):
    """The kinds of step a renewal runs, in order."""

    PREFLIGHT = "preflight"
    GENERATE_CSR = "generate_csr"
    SIGN = "sign"
    CHECK_CHAIN = "check_chain"
    UPLOAD_TRUST = "upload_trust"
    UPLOAD_IDENTITY = "upload_identity"
    CTL_UPDATE = "ctl_update"
    RESTART = "restart"
    RESET_PHONES = "reset_phones"
    WAIT_REGISTRATION = "wait_registration"
    VERIFY = "verify"


class PlanStep(_Value):
    """One step on one node (``node`` None: cluster-wide)."""

    kind: StepKind
    node: str | None
    text: str
    service: str | None = None
    via: RestartVia | None = None


class RuleCheck(_Value):
    """A rule that applies to this renewal and what is known about it now."""

    rule: str
    text: str
    status: str  # "ok", "blocked", "unknown", "applies"


class PlannedNode(_Value):
    """A node the renewal touches."""

    fqdn: str
    role: NodeRole
    version: str
    release: Release = ()  # (major, minor, su) read from the version (SU: the inventory may override)
    path: str = ""  # "REST" or "CLI": how the CSR and the uploads go (certops.cucm.paths)
    path_reason: str = ""  # why, in one line (e.g. "12.5: certmgr REST has no CSR endpoint before 14 ...")

    @property
    def release_text(self) -> str:
        """``14SU2``; the version as given when it names no build."""
        return release_label(self.release) if self.release else self.version


class RenewalPlan(_Value):
    """The ordered plan for one unit on one cluster."""

    cluster: str
    unit: str
    ca_backend: str
    nodes: list[PlannedNode]
    steps: list[PlanStep]
    rules: list[RuleCheck]
    exclusion_key: str
    # a multi-server (Multi-SAN) renewal: the node that makes the one CSR, and the dry run's line about it
    csr_node: str | None = None
    multi_server: str | None = None

    @property
    def blockers(self) -> list[RuleCheck]:
        """Rules that stop the renewal as things stand."""
        return [r for r in self.rules if r.status == "blocked"]

    def steps_for(self, node: str) -> list[PlanStep]:
        """The steps on ``node``, in order."""
        return [s for s in self.steps if s.node == node]

    def render(self) -> str:
        """The dry-run text: every step per node in order, then the rules that apply."""
        lines = [f"Renewal plan: {self.unit} on cluster {self.cluster} (CA backend: {self.ca_backend})"]
        lines.append(
            "Nodes, in order: "
            + ", ".join(
                f"{n.fqdn} ({n.role.value}, {n.version}"
                + (f" = {n.release_text}" if n.release_text != n.version else "")
                + ")"
                for n in self.nodes
            )
        )
        if self.multi_server:
            lines.append(self.multi_server)
        if any(n.path for n in self.nodes):
            lines.append("Certificate path (CSR and uploads), per node:")
            lines += [f"  {n.fqdn}: {n.path} — {n.path_reason}" for n in self.nodes if n.path]
        lines.append("")
        lines.append("Steps:")
        for i, step in enumerate(self.steps, 1):
            where = step.node or "cluster"
            lines.append(f"  {i:2d}. [{where}] {step.text}")
        lines.append("")
        lines.append("Rules:")
        for r in self.rules:
            lines.append(f"  - [{r.status}] {r.rule}: {r.text}")
        if self.blockers:
            lines.append("")
            lines.append("BLOCKED: the renewal would not start as things stand (see the rules marked [blocked]).")
        lines.append("")
        lines.append("Dry run: nothing was changed.")
        return "\n".join(lines)


class NodeReading(_Value):
    """A planned node as the dry run's look at the cluster found it."""

    fqdn: str
    role: NodeRole
    version: str
    status: str  # "read", "not read" (unreachable, credentials refused, ...), "not looked at" (offline)
    problem: str | None = None


class DryRunVerdict(_Value):
    """The dry run's go/no-go: ``go`` only when every rule is known and nothing stops the renewal.

    ``no-go`` when a rule is blocked or unknown, a node could not be read (unreachable, refused
    the credentials) or the cluster was not looked at (``--offline``). ``certops renew --dry-run``
    exits 0 for ``go`` and 1 for ``no-go``; ``--json`` prints this whole record.
    """

    cluster: str
    unit: str
    verdict: str  # "go" | "no-go"
    reasons: list[str]
    plan: RenewalPlan
    nodes: list[NodeReading]
    problems: list[str]
    changed: bool = False

    @property
    def go(self) -> bool:
        """True when nothing stops the renewal as things stand."""
        return self.verdict == "go"

    def text(self) -> str:
        """The verdict as lines for the terminal (after the plan)."""
        if self.go:
            return "GO: every rule is ok or applies, every node was read; the renewal can start as things stand."
        lines = ["NO-GO: the renewal would not start as things stand:"]
        lines += [f"  - {r}" for r in self.reasons]
        return "\n".join(lines)


def dry_run_verdict(plan: RenewalPlan, problems: list[str], *, looked: bool, read_nodes: set[str]) -> DryRunVerdict:
    """Judge ``plan`` and what the look at the cluster met (``problems``) into a go/no-go.

    ``looked`` False: the cluster was not read at all (offline); ``read_nodes``: the nodes that answered.
    """
    nodes: list[NodeReading] = []
    reasons: list[str] = []
    for n in plan.nodes:
        if not looked:
            nodes.append(NodeReading(fqdn=n.fqdn, role=n.role, version=n.version, status="not looked at"))
            continue
        if n.fqdn in read_nodes:
            nodes.append(NodeReading(fqdn=n.fqdn, role=n.role, version=n.version, status="read"))
            continue
        problem = next((p for p in problems if n.fqdn in p), None)
        nodes.append(NodeReading(fqdn=n.fqdn, role=n.role, version=n.version, status="not read", problem=problem))
        reasons.append(f"node {n.fqdn} could not be read: {problem or 'no answer'}")
    if not looked:
        reasons.append("the cluster was not looked at (--offline): rules and nodes are not known")
    for r in plan.rules:
        if r.status in ("blocked", "unknown"):
            reasons.append(f"rule '{r.rule}' is {r.status}: {r.text}")
    named = {p for n in nodes if n.problem for p in [n.problem]}
    reasons += [f"the look at the cluster met: {p}" for p in problems if p not in named]
    return DryRunVerdict(
        cluster=plan.cluster,
        unit=plan.unit,
        verdict="no-go" if reasons else "go",
        reasons=reasons,
        plan=plan,
        nodes=nodes,
        problems=list(problems),
    )


def exclusion_key(spec: UnitSpec) -> str:
    """The lock key of a unit: its exclusion group, or the unit itself (one renewal per unit)."""
    return spec.exclusion_group or spec.name


def select_nodes(cluster: ClusterConfig, spec: UnitSpec, nodes: list[str] | None) -> list[NodeConfig]:
    """The nodes that hold ``spec`` (restricted to ``nodes``), publisher, subscribers, IM&P.

    Naming a node that is not in the cluster, or that does not hold the unit, is a ConfigError.
    """
    holding = [n for n in cluster.nodes if spec.nodes_with(n.role, n.federation)]
    if nodes:
        problems: list[str] = []
        chosen: list[NodeConfig] = []
        for name in nodes:
            try:
                node = cluster.node(name)
            except KeyError as exc:
                problems.append(str(exc.args[0]))
                continue
            if not spec.nodes_with(node.role, node.federation):
                problems.append(
                    f"node {node.fqdn} ({node.role.value}) does not hold the {spec.name} certificate "
                    f"(scope: {spec.scope.value}); nodes that do: {', '.join(n.fqdn for n in holding)}"
                )
                continue
            if node not in chosen:
                chosen.append(node)
        if problems:
            raise ConfigError(
                f"cannot renew {spec.name} on the nodes asked for in cluster {cluster.name}",
                problems=problems,
                hint="name only nodes that hold the unit, or leave --nodes out to renew every such node",
            )
        holding = chosen
    if not holding:
        raise ConfigError(f"no node of cluster {cluster.name} holds the {spec.name} certificate")
    return sorted(holding, key=lambda n: (_ROLE_ORDER[n.role], cluster.nodes.index(n)))


def plan_renewal(
    inventory: Inventory,
    cluster: str,
    unit: str,
    nodes: list[str] | None = None,
    *,
    state: ClusterState | None = None,
) -> RenewalPlan:
    """Plan the renewal of ``unit`` on ``cluster`` (optionally only ``nodes``).

    ``state`` (from preflight) makes the plan precise: restarts only for activated services,
    the CTL step only in mixed mode, rules marked ok/blocked. Without it, the plan lists what
    would be checked and what applies "if" (dry run before any node was read).
    """
    try:
        spec = unit_spec(unit)
        cl = inventory.cluster(cluster)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    st = state or ClusterState()
    chosen = select_nodes(cl, spec, nodes)  # the nodes asked for are checked even when multi-server
    multi = multi_server.is_multi_server(cl, spec)
    if multi and nodes:  # one certificate for every node that holds the unit: it is renewed on all of them
        chosen = select_nodes(cl, spec, None)
    policy = inventory.policy_for(cl)
    ca_name, ca_cfg = inventory.ca_for(cl)
    planned = [
        PlannedNode(
            fqdn=n.fqdn,
            role=n.role,
            version=(v := st.versions.get(n.fqdn, cl.version)),
            release=(node_release := parse_release(v, cl.service_update)),
            path=(node_path := certificate_path(node_release)).via.value,
            path_reason=node_path.why,
        )
        for n in chosen
    ]
    over = {n.fqdn: " over the CLI" if n.path == "CLI" else " over certmgr REST" for n in planned}
    pub = cl.publisher.fqdn
    makes_csr = list(planned)
    ms_line: str | None = None
    if multi:  # one CSR on the (IM&P) publisher, distributed by CUCM to every node in its SANs
        first = multi_server.csr_node(cl, spec)
        csr_planned = next((n for n in planned if n.fqdn == first.fqdn), None)
        assert csr_planned is not None
        multi_server.check_plan(cl, spec, csr_planned.release)
        makes_csr = [csr_planned]
        ms_line = multi_server.plan_text(first.fqdn, [n.fqdn for n in planned])
        if nodes:
            ms_line += f"; asked for {', '.join(nodes)}: the one certificate is renewed on every node it names"
    steps: list[PlanStep] = []

    def add(kind: StepKind, node: str | None, text: str, **kw: object) -> None:
        steps.append(PlanStep(kind=kind, node=node, text=text, **kw))

    # 1 preflight
    checks = ["reachable", "active version", f"current {unit} certificate recorded"]
    for n in planned:
        add(StepKind.PREFLIGHT, n.fqdn, "preflight: " + ", ".join(checks))
    if Precondition.SECURITY_MODE_KNOWN in spec.preconditions:
        add(StepKind.PREFLIGHT, pub, "read Cluster Security Mode (AXL)")
    if Precondition.SSO_DISABLED in spec.preconditions:
        add(StepKind.PREFLIGHT, pub, "check SAML SSO is disabled (utils sso status)")
    if Precondition.NO_DRF_JOB in spec.preconditions:
        add(StepKind.PREFLIGHT, pub, "check no DRF backup/restore runs (re-checked before each change)")
    if spec.reset_phones:
        add(StepKind.PREFLIGHT, None, "count registered phones (baseline, RisPort70)")
    if Precondition.EVERY_PHONE_REGISTERED in spec.preconditions:
        add(
            StepKind.PREFLIGHT,
            pub,
            "check every configured phone is registered (AXL listPhone against RisPort70); refuse otherwise",
        )
    # 2-4 CSR, signature, check
    key = f"{spec.key_type.upper()}"
    for n in makes_csr:
        if multi:
            add(
                StepKind.GENERATE_CSR,
                n.fqdn,
                f"generate one multi-server {key} CSR for {unit} (distribution multi-server, SANs: "
                f"{', '.join(p.fqdn for p in planned)}){over[n.fqdn]} (reuse a pending one this renewal made)",
            )
            continue
        add(
            StepKind.GENERATE_CSR,
            n.fqdn,
            f"generate a {key} CSR for {unit} on the node{over[n.fqdn]} (reuse a pending one this renewal made)",
        )
    for n in makes_csr:
        how = (
            "a person signs it and pastes the chain (approval)"
            if ca_cfg.type == "manual"
            else f"submit to CA '{ca_name}' and poll"
        )
        add(StepKind.SIGN, n.fqdn, f"sign the CSR: {how}")
    for n in makes_csr:
        add(
            StepKind.CHECK_CHAIN,
            n.fqdn,
            "check the chain against the pending CSR (key, SANs, usages, issuers); nothing is uploaded until it passes"
            + ("; the leaf's SANs must name every node" if multi else ""),
        )
    imp_pub = cl.imp_publisher if spec.trust_via_imp_publisher else None
    if imp_pub is not None:  # IM&P: the CA certificates replicate from the IM&P database publisher
        others = ", ".join(n.fqdn for n in cl.imp_nodes if n is not imp_pub) or "no other IM&P node"
        add(
            StepKind.UPLOAD_TRUST,
            imp_pub.fqdn,
            f"upload root, then intermediate(s) to {spec.trust_store} on the IM&P database publisher only (skip "
            f"those present); restart Cisco Intercluster Sync Agent there; wait until {others} hold them "
            "(read back, at most imp_trust_replication_timeout; Cisco: about 30 minutes)",
        )
    for n in planned:
        if imp_pub is None:
            add(
                StepKind.UPLOAD_TRUST,
                n.fqdn,
                f"upload root, then intermediate(s) to {spec.trust_store}{over[n.fqdn]} (skip those present)",
            )
        if multi and n not in makes_csr:
            add(
                StepKind.UPLOAD_IDENTITY,
                n.fqdn,
                f"no upload here: read {unit} back until CUCM has distributed the multi-server certificate to the "
                "node (bounded: multi_server_distribution_timeout)",
            )
            continue
        add(
            StepKind.UPLOAD_IDENTITY,
            n.fqdn,
            f"upload the signed leaf to {unit}{over[n.fqdn]} (skip if already installed)",
        )
    # 5 CTL
    if spec.ctl_update_in_mixed_mode and st.security_mode != 0:
        cond = "" if st.security_mode == 1 else " if the cluster is in mixed mode"
        add(StepKind.CTL_UPDATE, pub, f"utils ctl update CTLFile on the publisher{cond}, before any restart")
    # 6 restarts
    for n in planned:
        active = st.activated_services.get(n.fqdn)
        for r in spec.restarts_for(n.role, n.release):
            if active is not None and r.service not in active:
                continue
            only = "" if active is not None else " (if activated)"
            via = "CLI 'utils service restart'" if r.via is RestartVia.CLI else "Control Center SOAP"
            add(
                StepKind.RESTART,
                n.fqdn,
                f"restart {r.service}{only} via {via}; wait until Started {r.sources_text()}",
                service=r.service,
                via=r.via,
            )
    # 7 phones
    if spec.reset_phones:
        from certops.renewal.phones import PhoneStep, phone_step

        phone_kind, _ = phone_step(spec, st.phone_interaction)
        if phone_kind is PhoneStep.WATCH_AUTOMATIC:
            add(
                StepKind.RESET_PHONES,
                None,
                "no reset by certops: the phones reset themselves (Phone Interaction on Certificate Update: "
                "automatic); watch them re-register (RisPort70) and reset only those not back within the timeout",
            )
        elif phone_kind is PhoneStep.READ_FIRST:
            add(
                StepKind.RESET_PHONES,
                None,
                "read Phone Interaction on Certificate Update (AXL): automatic -> watch the phones reset themselves "
                "and reset only those not back; otherwise reset all phones in throttled batches (AXL doDeviceReset)",
            )
        else:
            add(StepKind.RESET_PHONES, None, "reset all phones in throttled batches (AXL doDeviceReset)")
        add(
            StepKind.WAIT_REGISTRATION,
            None,
            "poll RisPort70 (within 15 requests/min) until the phone count is back to the baseline",
        )
    # 8 verify
    for n in planned:
        node_cfg = cl.node(n.fqdn)
        port = node_cfg.tls_port_for(unit)
        how = f"TLS handshake on port {port}" if port else "identity read back from the node"
        add(StepKind.VERIFY, n.fqdn, f"verify the node serves the new certificate ({how}; fingerprint = uploaded leaf)")

    rules = _rules(spec, st, inventory, cl, policy.sso_policy, chosen)
    return RenewalPlan(
        cluster=cl.name,
        unit=unit,
        ca_backend=f"{ca_name} ({ca_cfg.type})",
        nodes=planned,
        steps=steps,
        rules=rules,
        exclusion_key=exclusion_key(spec),
        csr_node=makes_csr[0].fqdn if multi else None,
        multi_server=ms_line,
    )


def _rules(
    spec: UnitSpec, st: ClusterState, inventory: Inventory, cl: ClusterConfig, sso_policy: str, chosen: list[NodeConfig]
) -> list[RuleCheck]:
    rules: list[RuleCheck] = []
    key = exclusion_key(spec)
    if spec.exclusion_group:
        text = (
            f"{spec.name} is in exclusion group '{spec.exclusion_group}' (CallManager, CallManager-ECDSA, TVS, "
            "ITLRecovery): never two of them at once on one cluster, from the first CSR until the phones re-registered"
        )
    else:
        text = f"one {spec.name} renewal at a time on cluster {cl.name}"
    holder = st.claims.get(key)
    rules.append(
        RuleCheck(
            rule="exclusion",
            text=text
            + (f"; Prefect claim held now by {holder}" if holder else "")
            + (f"; this host's lock held now by {st.host_lock}" if st.host_lock else "")
            + (f"; {st.claims_note}" if st.claims_note and not holder else ""),
            status="blocked" if holder or st.host_lock else ("ok" if st.now and not st.claims_note else "applies"),
        )
    )
    if st.host_lock_read:
        rules.append(
            RuleCheck(
                rule="host lock",
                text=f"this host's lock of '{key}' on cluster {cl.name}: "
                + (f"held by {st.host_lock} (the renewal would wait or refuse)" if st.host_lock else "free"),
                status="blocked" if st.host_lock else "ok",
            )
        )
    if spec.exclusion_group:
        if st.inflight is None:
            rules.append(
                RuleCheck(
                    rule="in flight on the cluster",
                    text="the nodes are looked at for another ITL-group renewal before the first CSR and right "
                    "after it",
                    status="applies",
                )
            )
        else:
            found = "; ".join(st.inflight)
            rules.append(
                RuleCheck(
                    rule="in flight on the cluster",
                    text=f"the nodes show another ITL-group renewal in flight: {found}"
                    if st.inflight
                    else "the nodes show no other ITL-group renewal in flight (pending CSRs, identities not served "
                    "yet, recently issued identities)",
                    status="blocked" if st.inflight else "ok",
                )
            )
    if Precondition.SSO_DISABLED in spec.preconditions:
        if st.sso_enabled is None:
            status, extra = "unknown", "checked in preflight"
        elif st.sso_enabled:
            status = "blocked" if sso_policy == "refuse" else "applies"
            extra = (
                "SSO is ENABLED: disable it first (and re-enable it after the renewal)"
                if sso_policy == "refuse"
                else "SSO is enabled: a person must confirm it is disabled (sso_policy=wait_for_person)"
            )
        else:
            status, extra = "ok", "SSO is disabled"
        rules.append(
            RuleCheck(rule="sso", text=f"SAML SSO must be disabled for a tomcat renewal; {extra}", status=status)
        )
    if Precondition.NO_DRF_JOB in spec.preconditions:
        if st.drf_running is None:
            status, extra = "unknown", "checked in preflight and before each change (unknown counts as running)"
        elif st.drf_running:
            status, extra = "blocked", "a DRF backup/restore runs now: the renewal waits (bounded)"
        else:
            status, extra = "ok", "no DRF job runs"
        rules.append(
            RuleCheck(rule="drf", text=f"no ipsec renewal while a DRF backup or restore runs; {extra}", status=status)
        )
    if spec.ctl_update_in_mixed_mode or Precondition.SECURITY_MODE_KNOWN in spec.preconditions:
        mode = {None: "unknown (read in preflight)", 0: "non-secure (0)", 1: "mixed mode (1)"}[st.security_mode]
        ctl = (
            "CTL update on the publisher before restarts"
            if spec.ctl_update_in_mixed_mode
            else "no CTL update for this unit"
        )
        rules.append(
            RuleCheck(
                rule="security_mode", text=f"Cluster Security Mode: {mode}; {ctl} in mixed mode", status="applies"
            )
        )
    if spec.reset_phones:
        from certops.renewal.phones import phone_step

        base = "" if st.phones_registered is None else f" (baseline now: {st.phones_registered})"
        _, why = phone_step(spec, st.phone_interaction)
        rules.append(
            RuleCheck(
                rule="phones",
                text=f"all phones re-registered before the run ends{base}; {why}",
                status="applies",
            )
        )
    policy = inventory.policy_for(cl)
    windows = cl.maintenance_windows
    if not windows:
        rules.append(
            RuleCheck(rule="window", text="no maintenance window configured: changes may run at any time", status="ok")
        )
    else:
        names = "; ".join(describe_window(w) for w in windows)
        if st.now is None:
            rules.append(
                RuleCheck(
                    rule="window",
                    text=(
                        f"uploads/restarts/phone resets only in {names} "
                        f"(urgency override within {policy.urgent_days} d of expiry)"
                    ),
                    status="applies",
                )
            )
        else:
            expiries = [st.expiries[n.fqdn] for n in chosen if n.fqdn in st.expiries]
            d = window_decision(
                windows, st.now, earliest_expiry=min(expiries) if expiries else None, urgent_days=policy.urgent_days
            )
            rules.append(RuleCheck(rule="window", text=f"{names}: {d.reason}", status="ok" if d.allowed else "blocked"))
    rules += _guide_rules(spec, st, cl)
    rules.append(
        RuleCheck(rule="risk", text=f"risk {spec.risk.value}; if it goes wrong: {spec.impact}", status="applies")
    )
    return rules


def _guide_rules(spec: UnitSpec, st: ClusterState, cl: ClusterConfig) -> list[RuleCheck]:
    """What Cisco's Security Guides add (procedure.md): warnings shown before anything goes to a CA."""
    from certops.x509.usages import CALLMANAGER_RSA_PHONE_MAX_BITS, presend_warnings

    out: list[RuleCheck] = []
    if spec.name == "CallManager":
        out.append(
            RuleCheck(
                rule="guide",
                text=f"certops asks the node for a {CALLMANAGER_RSA_PHONE_MAX_BITS}-bit RSA CSR: some phone models "
                f"fail to register with a CallManager key above {CALLMANAGER_RSA_PHONE_MAX_BITS} bits (a reused CSR "
                "is checked before it is sent)",
                status="applies",
            )
        )
    if spec.exclusion_group == "itl":
        out.append(
            RuleCheck(
                rule="guide",
                text="when TVS and CallManager are both due, renew TVS first, wait for the phones, then CallManager "
                "(the TFTP certificate last)",
                status="applies",
            )
        )
    sso = st.sso_enabled if spec.name != "ITLRecovery" else None
    out += [
        RuleCheck(rule="guide", text=w, status="applies")
        for w in presend_warnings(spec.name, {}, security_mode=st.security_mode, sso_enabled=sso)
    ]
    out.append(
        RuleCheck(
            rule="guide",
            text=f"after the renewal, take a DRF backup of cluster {cl.name}: a restore without the new certificate "
            "forces an unlock of every phone by hand; "
            + (
                f"certops starts it to device {cl.drf_backup.device} and waits for it"
                if cl.drf_backup is not None
                else "no backup device in the inventory (clusters[].drf_backup): certops says it is due, a person "
                "takes it"
            ),
            status="applies",
        )
    )
    return out


# -- one cluster, several units ----------------------------------------------------------------


class DueUnit(_Value):
    """A unit of a cluster that is due now: the nodes that need it and its most urgent days left."""

    unit: str
    nodes: list[str]
    days_left: int
    urgency: str


class NotDueUnit(_Value):
    """A unit of a cluster that is not due now (``days_left`` None: not read on any node)."""

    unit: str
    days_left: int | None
    threshold_days: int | None = None


class PlanPosition(_Value):
    """One unit's renewal in a cluster plan, with why it comes where it does."""

    position: int
    unit: str
    nodes: list[str]
    days_left: int
    why: str
    sources: str
    independent: bool  # its own rules' refusal (nothing changed) skips it; the plan goes on
    starts: str  # when it starts


class DeferredUnit(_Value):
    """A due unit that this plan does not renew, and what to do instead."""

    unit: str
    days_left: int
    why: str


class ClusterPlan(_Value):
    """Every due unit of one cluster in Cisco's order (``certops renew --cluster C --due``)."""

    cluster: str
    positions: list[PlanPosition]
    deferred: list[DeferredUnit]
    not_due: list[NotDueUnit]
    drf_backup: str  # what happens after the last regeneration
    unread: list[str] = Field(default_factory=list)  # nodes whose certificates could not be read

    @property
    def units(self) -> list[str]:
        """The units renewed, in order."""
        return [p.unit for p in self.positions]

    def render(self) -> str:
        """The dry-run text: the order and why, what is left out, what is not due, the backup after."""
        lines = [f"Cluster plan: every due unit of cluster {self.cluster}, in Cisco's order"]
        if self.positions:
            lines += ["", "Order:"]
            for p in self.positions:
                lines.append(
                    f"  {p.position}. {p.unit} on {', '.join(p.nodes)} ({_days(p.days_left)}): {p.why} {p.sources}"
                )
                lines.append(f"     starts: {p.starts}")
        else:
            lines += ["", "Nothing is due: no renewal would start."]
        if self.deferred:
            lines += ["", "Due but not in this plan:"]
            lines += [f"  - {d.unit} ({_days(d.days_left)}): {d.why}" for d in self.deferred]
        if self.not_due:
            lines += ["", "Not due:"]
            for n in self.not_due:
                if n.days_left is None:
                    lines.append(f"  - {n.unit}: not read on any node")
                else:
                    limit = f", due at {n.threshold_days} days" if n.threshold_days is not None else ""
                    lines.append(f"  - {n.unit}: {n.days_left} days left{limit}")
        if self.unread:
            lines += ["", "Could not be read (what is due there is not known):"]
            lines += [f"  - {u}" for u in self.unread]
        if self.positions:
            lines += ["", f"After the last regeneration: {self.drf_backup}"]
        lines += ["", "Each unit's own plan and rules: certops renew --cluster C --unit U --dry-run", ""]
        lines.append("Dry run: nothing was changed.")
        return "\n".join(lines)


def _days(days_left: int) -> str:
    return f"expired {-days_left} days ago" if days_left < 0 else f"{days_left} days left"


def drf_backup_text(cluster: ClusterConfig) -> str:
    """What certops does about the DRF backup after a regeneration on ``cluster`` (Cisco's Security Guides)."""
    why = "a restore from a backup without the new certificates means unlocking every phone by hand"
    cfg = cluster.drf_backup
    if cfg is None:
        return (
            f"a DRF backup of cluster {cluster.name} is due (no backup device in the inventory: certops says so "
            f"and does not take it; {why}; set clusters[].drf_backup.device to have certops take it)"
        )
    return (
        f"certops starts a DRF backup of cluster {cluster.name} on the publisher to device {cfg.device} "
        f"(features {','.join(cfg.features)}) and waits for it, at most {cfg.timeout_minutes:.0f} min ({why})"
    )


def due_units(due_plan: DuePlan, cluster: str) -> tuple[list[DueUnit], list[NotDueUnit]]:
    """The due and the not-due units of ``cluster`` in the scan's verdict ``due_plan``."""
    due = [
        DueUnit(unit=c.unit, nodes=list(c.nodes), days_left=c.days_left, urgency=c.urgency.value)
        for c in [*due_plan.start, *due_plan.queued]
        if c.cluster == cluster
    ]
    names = {d.unit for d in due}
    seen: dict[str, tuple[int, int]] = {}
    for s in due_plan.statuses:
        if s.cluster != cluster or not s.counted or s.unit in names:
            continue
        left = min(s.days_left, seen[s.unit][0]) if s.unit in seen else s.days_left
        seen[s.unit] = (left, s.threshold_days)
    not_due = [NotDueUnit(unit=u, days_left=d, threshold_days=t) for u, (d, t) in seen.items()]
    return due, not_due


def plan_cluster(
    inventory: Inventory,
    cluster: str,
    due: list[DueUnit],
    not_due: list[NotDueUnit] | None = None,
    *,
    unread: list[str] | None = None,
) -> ClusterPlan:
    """Order the due units of ``cluster`` as Cisco's Security Guides ask (``UnitSpec.plan_order``).

    Lowest ``rank`` first: ipsec and tomcat (their rules allowing), CAPF, then the ITL group with
    TVS before CallManager and CallManager (the TFTP certificate) last. A unit that goes ``alone``
    (ITLRecovery) is renewed only in a plan of its own: due with others, it is left out and said so.
    Each position starts once the one before it completed, its phones re-registered.
    """
    try:
        cl = inventory.cluster(cluster)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    unknown = [d.unit for d in due if d.unit not in UNITS]
    if unknown:
        raise ConfigError(f"cluster {cluster}: unknown certificate unit(s) {', '.join(unknown)}")
    ordered = sorted(due, key=lambda d: (_rank(d.unit), d.unit))
    alone = [d for d in ordered if _order(d.unit).alone]
    deferred: list[DeferredUnit] = []
    if alone and len(ordered) > len(alone):
        for d in alone:
            deferred.append(
                DeferredUnit(
                    unit=d.unit,
                    days_left=d.days_left,
                    why=f"{_order(d.unit).why}: renew it once this plan is done, on its own "
                    f"(certops renew --cluster {cluster} --unit {d.unit}) with every phone registered",
                )
            )
        ordered = [d for d in ordered if not _order(d.unit).alone]
    elif len(alone) > 1:
        for d in alone[1:]:
            deferred.append(
                DeferredUnit(unit=d.unit, days_left=d.days_left, why=f"{_order(d.unit).why}: after {alone[0].unit}")
            )
        ordered = alone[:1]
    positions: list[PlanPosition] = []
    for i, d in enumerate(ordered, 1):
        o = _order(d.unit)
        spec = unit_spec(d.unit)
        if i == 1:
            starts = "first"
        else:
            prev = unit_spec(ordered[i - 2].unit)
            starts = f"as soon as the {prev.name} renewal completed" + (
                " (its phones re-registered)" if prev.reset_phones else ""
            )
        why = o.why
        if spec.exclusion_group:
            why += "; never together with another ITL-group unit (the cluster lock)"
        positions.append(
            PlanPosition(
                position=i,
                unit=d.unit,
                nodes=list(d.nodes),
                days_left=d.days_left,
                why=why,
                sources=o.sources_text(),
                independent=o.independent,
                starts=starts,
            )
        )
    return ClusterPlan(
        cluster=cl.name,
        positions=positions,
        deferred=deferred,
        not_due=sorted(not_due or [], key=lambda n: (_rank(n.unit), n.unit)),
        drf_backup=drf_backup_text(cl),
        unread=list(unread or []),
    )


def _order(unit: str) -> PlanOrder:
    o = unit_spec(unit).plan_order
    if o is None:  # every unit of the table has one (a test says so); a fail-safe place: last
        return PlanOrder(999, "no place in Cisco's order is known: last", ())
    return o


def _rank(unit: str) -> int:
    return _order(unit).rank if unit in UNITS else 1000
