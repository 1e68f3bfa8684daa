"""Approval while a person has the CA sign: typed input, pause or suspend, a deadline.

The run asks for the signed chain with a typed ``RunInput``. The server checks only the JSON
schema (``Field(pattern=...)``; validators do not run server-side, prefect-notes §1), so the
full ``check_chain`` runs in the flow after resume: a chain that fails does not fail the run, it
asks again (a new pause key) with the reasons, and nothing is uploaded.

Under a deployment the run *suspends* (no process, no worker held while the CA takes days; the
flow reruns from the top on resume and finds its CSRs in the renewal state). Without one
(tests, ``certops renew`` in a terminal) it *pauses*. Past the deadline (default 7 days) the run
fails with a clear message.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run, suspend_flow_run
from prefect.input import RunInput
from pydantic import BaseModel, Field

from certops.errors import CertopsError
from certops.renewal.state import RenewalState
from certops.units import unit as unit_spec

FORM_WAIT_SECONDS = 10.0
"""How long ``pending_approval`` waits for a run that has just paused to save its form (the CSRs)."""

PEM_OR_EMPTY = r"^(|[\s\S]*-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----[\s\S]*)$"
CSR_MARKER = "certops-csrs:"


class ChainApproval(RunInput):
    """What the approver sends back: the chain as the CA returned it, who they are, a comment.

    The titles are what the Prefect UI's form shows; ``approver`` is required (never labelled
    "(Optional)" there), the chain may stay empty only for a denial.
    """

    decision: Literal["approve", "deny"] = Field(
        default="approve",
        title="Decision",
        description="approve (with the signed certificates below) or deny (the run ends, nothing is uploaded)",
    )
    chain_pem: str = Field(
        default="",
        pattern=PEM_OR_EMPTY,
        title="Signed certificates and their chain (PEM)",
        description="needed to approve (empty only to deny): every signed certificate (one per node) plus the "
        "intermediates and the root, PEM, any order",
    )
    approver: str = Field(min_length=1, max_length=100, pattern=r"^\S.*$", title="Your name", description="who decides")
    comment: str = Field(
        default="", max_length=2000, title="Comment", description="why (a ticket number); for a denial: the reason"
    )


class SsoConfirmation(RunInput):
    """A person confirms SAML SSO is disabled on the cluster (``sso_policy: wait_for_person``)."""

    confirm: Literal["SSO is disabled"] = Field(description="type exactly: SSO is disabled")
    approver: str = Field(min_length=1, max_length=100, pattern=r"^\S.*$")


def _fail_with(err: CertopsError) -> None:
    """Replace Prefect's "never resumed" failure with our message (the run is already Failed on timeout)."""
    from prefect import get_client
    from prefect.states import Failed

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(ctx.flow_run.id, Failed(message=str(err)), force=True)


def _in_deployment() -> bool:
    ctx = FlowRunContext.get()
    return bool(ctx and ctx.flow_run and ctx.flow_run.deployment_id)


def _ca_request(state: RenewalState) -> str:
    """The KU, EKU and basic constraints to ask the CA for (``certops.x509.usages.ca_request``)."""
    from certops.x509.read import read_csr
    from certops.x509.usages import ca_request

    pems = [n.csr.pem for n in state.nodes.values() if n.csr is not None]
    try:
        csr = read_csr(pems[0].encode()) if pems else None
    except CertopsError:
        csr = None
    return ca_request(state.unit, csr)


def approval_description(
    state: RenewalState, *, instructions: str, deadline: dt.datetime, csr_files: dict[str, str] | None = None
) -> str:
    """The Markdown the Prefect UI shows: nodes, unit, the CSRs in full, what to send and paste back.

    On a re-ask the reasons the last chain was refused stand first, right under the heading.
    ``csr_files`` (node -> file the renewal wrote) is listed and kept in the machine-readable part.
    """
    from certops.ca.manual import extended_key_usage_names, key_usage_names

    spec = unit_spec(state.unit)
    nodes = list(state.nodes.values())
    lines = [f"## Signed certificate needed: **{state.unit}** on cluster **{state.cluster}**", ""]
    if state.approval_problems:
        lines += [
            "### The previous chain was NOT accepted (nothing was uploaded)",
            *[f"- {p}" for p in state.approval_problems],
            "",
            "Fix these, then paste the corrected chain below.",
            "",
        ]
    lines += [
        f"Nodes: {', '.join(f'`{n.fqdn}` ({n.role})' for n in nodes)}",
        f"Deadline: **{deadline:%Y-%m-%d %H:%M} UTC** (the run fails after it).",
        "",
        "### What to do",
        f"1. Send each CSR below to the CA{': ' + instructions if instructions else ''}.",
        f"2. Ask for a {spec.key_type.upper()} "
        + ("CA certificate (CA:TRUE: CAPF signs phone LSCs)" if spec.must_be_ca else "server certificate")
        + " with exactly the CSR's subject and SANs, key usage "
        + ", ".join(key_usage_names(state.unit))
        + ", extended key usage "
        + ", ".join(extended_key_usage_names(state.unit))
        + ".",
        f"   Exactly: {_ca_request(state)}",
        "3. Paste back **every signed certificate** (one per node) **plus the intermediates and the root**, "
        "PEM, in any order, and give your name. certops matches each to its node by public key and checks "
        "the chain before anything is uploaded.",
        "",
    ]
    if csr_files:
        lines += ["CSR files written by the renewal:", *[f"- `{n}`: `{f}`" for n, f in csr_files.items()], ""]
    with_csr = [n for n in nodes if n.csr is not None]  # multi-server: one CSR (the publisher's) for every node
    if with_csr and len(with_csr) < len(nodes):
        lines += [
            f"One multi-server CSR, on `{with_csr[0].fqdn}`, covers every node above: sign it once "
            "(keep every SAN) and paste that one certificate with its chain.",
            "",
        ]
    for n in with_csr:
        assert n.csr is not None
        lines += [f"### CSR for `{n.fqdn}`", "```", n.csr.pem.strip(), "```", ""]
    csrs = {n.fqdn: n.csr.pem for n in with_csr if n.csr is not None}
    meta: dict[str, object] = {"cluster": state.cluster, "unit": state.unit, "csrs": csrs}
    if csr_files:
        meta["csr_files"] = csr_files
    lines.append(f"<!-- {CSR_MARKER} {json.dumps(meta)} -->")
    return "\n".join(lines)


def csrs_from_description(description: str) -> dict[str, object]:
    """The machine-readable part of an approval description (cluster, unit, csrs), or {}."""
    start = description.find(f"<!-- {CSR_MARKER}")
    if start < 0:
        return {}
    body = description[start + len(f"<!-- {CSR_MARKER}") :]
    body = body[: body.rfind("-->")]
    data: dict[str, object] = json.loads(body)
    return data


def request_chain(
    state: RenewalState,
    *,
    instructions: str,
    deadline: dt.datetime,
    poll_interval: float,
    csr_files: dict[str, str] | None = None,
) -> ChainApproval:
    """Ask for the signed chain (suspend in a deployment, pause otherwise); the key changes per attempt."""
    remaining = (deadline - dt.datetime.now(dt.UTC)).total_seconds()
    if remaining <= 0:
        raise CertopsError(
            f"cluster {state.cluster} [{state.unit}]: the approval deadline {deadline:%Y-%m-%d %H:%M} UTC has passed; "
            "no certificate was uploaded",
            hint="start the renewal again when the CA can sign in time (the CSRs stay pending on the nodes)",
        )
    description = approval_description(state, instructions=instructions, deadline=deadline, csr_files=csr_files)
    # no initial data: a field given one loses its constraints and becomes "(Optional)" in the UI's form
    wanted = ChainApproval.with_initial_data(description=description)
    key = f"chain-{state.approval_attempt}"
    try:
        if _in_deployment():
            got = suspend_flow_run(wait_for_input=wanted, timeout=int(remaining) + 1, key=key)
        else:
            got = pause_flow_run(
                wait_for_input=wanted, timeout=int(remaining) + 1, poll_interval=int(max(1, poll_interval)), key=key
            )
    except FlowPauseTimeout:
        err = CertopsError(
            f"cluster {state.cluster} [{state.unit}]: nobody approved by the deadline {deadline:%Y-%m-%d %H:%M} UTC; "
            "no certificate was uploaded",
            hint="start the renewal again; it reuses the CSRs still pending on the nodes",
        )
        _fail_with(err)
        raise err from None
    assert isinstance(got, ChainApproval)
    return got


def request_sso_confirmation(cluster: str, *, attempt: int, timeout: float, poll_interval: float) -> SsoConfirmation:
    """Wait for a person to confirm SSO is disabled (pause/suspend)."""
    description = (
        f"## SAML SSO is enabled on cluster **{cluster}**\n\nA tomcat renewal breaks SSO logins. Disable SSO "
        "(Cisco Unified CM Administration > System > SAML Single Sign-On > Disable), then confirm here by typing "
        "`SSO is disabled`. certops checks it again and reminds you to re-enable SSO when the renewal is done."
    )
    wanted = SsoConfirmation.with_initial_data(description=description)
    key = f"sso-{attempt}"
    try:
        if _in_deployment():
            got = suspend_flow_run(wait_for_input=wanted, timeout=int(timeout), key=key)
        else:
            got = pause_flow_run(
                wait_for_input=wanted, timeout=int(timeout), poll_interval=int(max(1, poll_interval)), key=key
            )
    except FlowPauseTimeout:
        err = CertopsError(
            f"cluster {cluster}: nobody confirmed SSO was disabled in time; nothing was changed",
            hint="disable SAML SSO, then start the renewal again",
        )
        _fail_with(err)
        raise err from None
    assert isinstance(got, SsoConfirmation)
    return got


# --- the approver's side (certops pending / approve / deny, the demo) -------------------------------


class PendingApproval(BaseModel):
    """One renewal run waiting for a person."""

    run_id: str
    run_name: str
    cluster: str
    unit: str
    nodes: list[str]
    since: dt.datetime | None
    deadline: dt.datetime | None
    waiting_for: str  # "chain" or "sso"
    csrs: dict[str, str] = Field(default_factory=dict)
    inventory_path: str = ""  # the run's inventory (tls.ca_bundle is read from it)
    csr_files: dict[str, str] = Field(default_factory=dict)  # node -> the CSR file the renewal wrote


def _paused_filter() -> FlowRunFilter:
    return FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))


def _describe_run(run: FlowRun) -> PendingApproval:
    from prefect.input import read_flow_run_input

    assert run.state is not None
    details = run.state.state_details
    keyset = details.run_input_keyset or {}
    description: Any = ""
    if "description" in keyset:
        description = read_flow_run_input(keyset["description"], flow_run_id=run.id) or ""
    meta = csrs_from_description(str(description))
    raw = meta.get("csrs")
    csrs: dict[str, str] = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    files = meta.get("csr_files")
    csr_files = {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}
    params = run.parameters
    return PendingApproval(
        run_id=str(run.id),
        run_name=run.name,
        cluster=str(params.get("cluster", "?")),
        unit=str(params.get("unit", "?")),
        nodes=list(csrs) if csrs else [str(n) for n in params.get("nodes") or []],
        since=run.state.timestamp,
        deadline=details.pause_timeout,
        waiting_for="sso" if (details.pause_key or "").startswith("sso") else "chain",
        csrs=csrs,
        inventory_path=str(params.get("inventory_path", "")),
        csr_files=csr_files,
    )


def pending_approvals() -> list[PendingApproval]:
    """Renewal runs paused or suspended for a person, oldest first."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=_paused_filter())
        flows = {f.id: f.name for f in client.read_flows()}
    mine = [r for r in runs if flows.get(r.flow_id) == "renew"]
    # a run that paused a moment ago may not have saved its form (the CSRs) yet: listed once it has
    described = [p for p in (_describe_run(r) for r in mine) if _form_complete(p)]
    return sorted(described, key=lambda p: p.since or dt.datetime.min.replace(tzinfo=dt.UTC))


def _form_complete(p: PendingApproval) -> bool:
    """False for a chain request whose form (with the CSRs) is not saved yet: Prefect pauses first."""
    return p.waiting_for != "chain" or bool(p.csrs)


def pending_approval(run_id: str) -> PendingApproval:
    """The pending approval of ``run_id``; ``CertopsError`` if that run is not waiting for one."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(UUID(run_id))
        except Exception as exc:
            raise CertopsError(
                f"no flow run {run_id!r}", hint="certops pending lists the runs awaiting approval"
            ) from exc
    if run.state is None or not run.state.is_paused():
        state = run.state.name if run.state else "unknown"
        raise CertopsError(
            f"flow run {run_id} is {state}, not waiting for an approval",
            hint="certops pending lists the runs awaiting approval",
        )
    described = _describe_run(run)
    deadline = time.monotonic() + FORM_WAIT_SECONDS
    while not _form_complete(described) and time.monotonic() < deadline:
        time.sleep(0.2)  # the pause is set before its form is saved; wait (bounded) for the form
        described = _describe_run(run)
    return described


class ApprovalCheck(BaseModel):
    """What ``certops approve`` found before resuming: the problems (nothing is sent if any), and notes."""

    pem_text: str = ""
    problems: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def tls_bundle_of(pending: PendingApproval) -> tuple[Path | None, str | None]:
    """The pinned ``tls.ca_bundle`` the run's new chain must be trusted by, read from the run's inventory.

    Returns ``(bundle, note)``: ``note`` says why it could not be checked here (the inventory is not
    readable on this machine); the run checks it again when the chain arrives.
    """
    from certops.inventory_file import load_inventory
    from certops.x509.checks import TLS_CLIENT_UNITS, pinned_bundle

    if pending.unit not in TLS_CLIENT_UNITS or not pending.inventory_path:
        return None, None
    try:
        inv = load_inventory(Path(pending.inventory_path))
        tls = inv.tls_for(inv.cluster(pending.cluster))
    except Exception as exc:  # noqa: BLE001  (an approver's machine may not have the worker's inventory)
        return None, (
            f"tls.ca_bundle was not checked here: the run's inventory {pending.inventory_path} cannot be read on this "
            f"machine ({type(exc).__name__}); the run checks it when the chain arrives"
        )
    return pinned_bundle(pending.unit, verify=tls.verify, ca_bundle=tls.ca_bundle), None


def check_chain_files(pending: PendingApproval, blobs: list[bytes], names: list[str]) -> tuple[str, list[str]]:
    """Read the files (any format), match leaves to the run's CSRs, run every check for each node.

    The same checks as the flow's when the chain arrives (``certops.x509.checks.check_pasted``).
    Returns ``(chain_pem_text, problems)``; ``problems`` is empty when every node's chain passes.
    Raises ``CertificateError`` when a file cannot be read (garbage, a private key).
    """
    found = check_approval(pending, blobs, names)
    return found.pem_text, found.problems


def check_approval(pending: PendingApproval, blobs: list[bytes], names: list[str]) -> ApprovalCheck:
    """``check_chain_files`` with the notes (e.g. why tls.ca_bundle could not be checked here)."""
    from certops.x509.checks import check_pasted
    from certops.x509.read import read_certificates, to_pem

    if not pending.csrs:  # the pause is set a moment before its form (with the CSRs) is saved
        raise CertopsError(
            f"flow run {pending.run_id}: its approval form (with the nodes' CSRs) cannot be read yet; nothing was sent",
            hint="run certops approve again in a moment",
        )
    bundle, note = tls_bundle_of(pending)
    verdict = check_pasted(pending.csrs, blobs, pending.unit, names=names, tls_bundle=bundle)
    pem_text = "".join(to_pem(c) for c in read_certificates(blobs, names))
    return ApprovalCheck(pem_text=pem_text, problems=verdict.problems, notes=[note] if note else [])


def approve_run(run_id: str, blobs: list[bytes], names: list[str], *, approver: str, comment: str = "") -> list[str]:
    """Check the chain locally, then resume the run with it. Returns the problems (nothing resumed if any).

    Raises ``CertificateError`` (nothing resumed) when a file cannot be read or holds a private key.
    """
    return approve_checked(run_id, blobs, names, approver=approver, comment=comment).problems


def approve_checked(
    run_id: str, blobs: list[bytes], names: list[str], *, approver: str, comment: str = ""
) -> ApprovalCheck:
    """``approve_run`` returning the whole ``ApprovalCheck`` (problems and notes)."""
    from prefect.flow_runs import resume_flow_run

    pending = pending_approval(run_id)
    if pending.waiting_for != "chain":
        raise CertopsError(f"flow run {run_id} waits for an SSO confirmation, not a chain")
    found = check_approval(pending, blobs, names)
    if not found.problems:
        resume_flow_run(UUID(run_id), run_input={"chain_pem": found.pem_text, "approver": approver, "comment": comment})
    return found


def forget_run_input(got: RunInput) -> bool:
    """Delete a received run input from the Prefect server (it held a secret a person pasted by mistake).

    Returns True when it was deleted. Never raises: the run goes on asking either way.
    """
    from prefect.input import delete_flow_run_input

    try:
        delete_flow_run_input(got.metadata.key, flow_run_id=got.metadata.receiver)
    except Exception:  # noqa: BLE001  (a failed delete must not end the waiting run)
        return False
    return True


def deny_run(run_id: str, *, approver: str, reason: str) -> None:
    """Resume the run with a denial: it records the reason, uploads nothing and ends Cancelled."""
    from prefect.flow_runs import resume_flow_run

    pending = pending_approval(run_id)
    if pending.waiting_for != "chain":
        raise CertopsError(f"flow run {run_id} waits for an SSO confirmation, not a chain")
    resume_flow_run(UUID(run_id), run_input={"decision": "deny", "approver": approver, "comment": reason})
