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
from typing import Literal

from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run, suspend_flow_run
from prefect.input import RunInput
from pydantic import Field

from certops.errors import CertopsError
from certops.renewal.state import RenewalState
from certops.units import unit as unit_spec

PEM_OR_EMPTY = r"^(|[\s\S]*-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----[\s\S]*)$"
CSR_MARKER = "certops-csrs:"


class ChainApproval(RunInput):
    """What the approver sends back: the chain as the CA returned it, who they are, a comment."""

    decision: Literal["approve", "deny"] = Field(
        default="approve", description="approve (with the chain) or deny (the run ends, nothing uploaded)"
    )
    chain_pem: str = Field(
        default="",
        pattern=PEM_OR_EMPTY,
        description="every signed certificate (one per node) plus the intermediates and the root, PEM, any order",
    )
    approver: str = Field(min_length=1, max_length=100, pattern=r"^\S.*$", description="your name")
    comment: str = Field(default="", max_length=2000, description="why; for a denial: the reason")


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


def approval_description(state: RenewalState, *, instructions: str, deadline: dt.datetime) -> str:
    """The Markdown the Prefect UI shows: nodes, unit, the CSRs in full, what to send and paste back."""
    spec = unit_spec(state.unit)
    nodes = list(state.nodes.values())
    lines = [
        f"## Signed certificate needed: **{state.unit}** on cluster **{state.cluster}**",
        "",
        f"Nodes: {', '.join(f'`{n.fqdn}` ({n.role})' for n in nodes)}",
        f"Deadline: **{deadline:%Y-%m-%d %H:%M} UTC** (the run fails after it).",
        "",
        "### What to do",
        f"1. Send each CSR below to the CA{': ' + instructions if instructions else ''}.",
        f"2. Ask for a {spec.key_type.upper()} server certificate with exactly the CSR's subject and SANs, key usages "
        f"{', '.join(sorted(spec.key_usage))}"
        + (" and CA:TRUE (CAPF signs phone LSCs)" if spec.must_be_ca else "")
        + ".",
        "3. Paste back **every signed certificate** (one per node) **plus the intermediates and the root**, "
        "PEM, in any order. certops matches each to its node by public key and checks the chain "
        "before anything is uploaded.",
        "",
    ]
    if state.approval_problems:
        lines += ["### The previous chain was NOT accepted", *[f"- {p}" for p in state.approval_problems], ""]
    for n in nodes:
        assert n.csr is not None
        lines += [f"### CSR for `{n.fqdn}`", "```", n.csr.pem.strip(), "```", ""]
    csrs = {n.fqdn: n.csr.pem for n in nodes if n.csr is not None}
    lines.append(f"<!-- {CSR_MARKER} {json.dumps({'cluster': state.cluster, 'unit': state.unit, 'csrs': csrs})} -->")
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
    state: RenewalState, *, instructions: str, deadline: dt.datetime, poll_interval: float
) -> ChainApproval:
    """Ask for the signed chain (suspend in a deployment, pause otherwise); the key changes per attempt."""
    remaining = (deadline - dt.datetime.now(dt.UTC)).total_seconds()
    if remaining <= 0:
        raise CertopsError(
            f"cluster {state.cluster} [{state.unit}]: the approval deadline {deadline:%Y-%m-%d %H:%M} UTC has passed; "
            "no certificate was uploaded",
            hint="start the renewal again when the CA can sign in time (the CSRs stay pending on the nodes)",
        )
    description = approval_description(state, instructions=instructions, deadline=deadline)
    wanted = ChainApproval.with_initial_data(description=description, approver="")
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
