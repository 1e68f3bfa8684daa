"""Prefect tasks that send Slack messages. They never fail the flow that calls them.

Each task loads the inventory, builds the ``SlackNotifier`` its ``notifications.slack`` section
describes (reading the token now, from the environment or a Prefect Secret block) and sends one
message. Whatever goes wrong — no Slack section, a missing token, Slack down — comes back as a
``DeliveryResult`` with ``delivered=False`` and a reason, which the caller records in its report.

Threads: the first message about a renewal (normally the approval request) starts a thread; later
messages of the same run reply in it. The thread's ``ts`` is returned in ``DeliveryResult.ts``;
pass it back as ``thread_ts`` (a flow that can resume on another machine should keep it in its
state), or rely on the per-machine thread file ``$CERTOPS_STATE_DIR/slack-threads.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from certops.due import DuePlan
from certops.errors import CertopsError
from certops.inventory_file import load_inventory
from certops.notify.messages import (
    ApprovalReminder,
    ApprovalRequest,
    DeliveryResult,
    NodeChange,
    RenewalCompleted,
    RenewalFailed,
    RenewalStarted,
)
from certops.notify.slack import FileThreadStore, SlackNotifier
from certops.renewal.drf_backup import DUE_NOW_PREFIX


def thread_file() -> Path:
    """Where this machine remembers renewal threads: ``$CERTOPS_STATE_DIR`` or ``~/.certops``."""
    base = os.environ.get("CERTOPS_STATE_DIR")
    return (Path(base) if base else Path.home() / ".certops") / "slack-threads.json"


def _register_secret_blocks() -> None:
    """Let ``*_secret_block`` references resolve through Prefect Secret blocks in this process."""
    from prefect.blocks.system import Secret

    from certops import secrets

    def read(name: str) -> str:
        block: Any = Secret.load(name)  # sync context: returns the block, not a coroutine
        return str(block.get())

    secrets.register_block_resolver(read)


def notifier_for(inventory_path: str) -> SlackNotifier | DeliveryResult:
    """The inventory's notifier, or a not-delivered result saying why there is none."""
    try:
        inv = load_inventory(inventory_path)
        if inv.notifications.slack is None:
            return DeliveryResult(delivered=False, error="no notifications.slack in the inventory: nothing sent")
        _register_secret_blocks()
        notifier = SlackNotifier.from_inventory(inv, threads=FileThreadStore(thread_file()))
        assert notifier is not None
        return notifier
    except CertopsError as exc:
        return DeliveryResult(delivered=False, error=f"Slack not configured correctly: {exc}")


def _send(what: str, call: object) -> DeliveryResult:
    log = get_run_logger()
    try:
        assert callable(call)
        result = call()
        assert isinstance(result, DeliveryResult)
    except Exception as exc:  # noqa: BLE001  (a notification must never fail a renewal)
        result = DeliveryResult(delivered=False, error=f"Slack {what} failed unexpectedly: {type(exc).__name__}")
    if result.delivered:
        log.info("Slack: %s delivered (ts %s)", what, result.ts)
    else:
        log.warning("Slack: %s not delivered: %s", what, result.error)
    return result


@task(name="notify-scan-summary", cache_policy=NO_CACHE)
def notify_scan_summary(
    inventory_path: str, plan: DuePlan, started: list[RenewalStarted], ui_url: str | None = None
) -> DeliveryResult:
    """Post the scan summary (counts, most urgent rows, unreadable nodes, renewals started)."""
    n = notifier_for(inventory_path)
    if isinstance(n, DeliveryResult):
        return _send("scan summary", lambda: n)
    return _send("scan summary", lambda: n.scan_summary(plan, started=started, ui_url=ui_url))


@task(name="notify-approval-needed", cache_policy=NO_CACHE)
def notify_approval_needed(inventory_path: str, request: ApprovalRequest) -> DeliveryResult:
    """Post an approval request (starts the renewal's thread; CSRs follow in it as files)."""
    n = notifier_for(inventory_path)
    if isinstance(n, DeliveryResult):
        return _send("approval request", lambda: n)
    return _send("approval request", lambda: n.approval_needed(request))


@task(name="notify-approval-reminder", cache_policy=NO_CACHE)
def notify_approval_reminder(
    inventory_path: str, reminder: ApprovalReminder, thread_ts: str | None = None
) -> DeliveryResult:
    """Remind, in the renewal's thread, that the approval deadline is near."""
    n = notifier_for(inventory_path)
    if isinstance(n, DeliveryResult):
        return _send("approval reminder", lambda: n)
    return _send("approval reminder", lambda: n.approval_reminder(reminder, thread_ts=thread_ts))


@task(name="notify-renewal-completed", cache_policy=NO_CACHE)
def notify_renewal_completed(
    inventory_path: str, completed: RenewalCompleted, thread_ts: str | None = None
) -> DeliveryResult:
    """Report a completed renewal in its thread."""
    n = notifier_for(inventory_path)
    if isinstance(n, DeliveryResult):
        return _send("renewal completed", lambda: n)
    return _send("renewal completed", lambda: n.renewal_completed(completed, thread_ts=thread_ts))


@task(name="notify-renewal-failed", cache_policy=NO_CACHE)
def notify_renewal_failed(inventory_path: str, failed: RenewalFailed, thread_ts: str | None = None) -> DeliveryResult:
    """Report a failed or blocked renewal in its thread."""
    n = notifier_for(inventory_path)
    if isinstance(n, DeliveryResult):
        return _send("renewal failed", lambda: n)
    return _send("renewal failed", lambda: n.renewal_failed(failed, thread_ts=thread_ts))


def _renewal_hook(flow: Any, flow_run: Any, state: Any, *, crashed: bool) -> None:
    """Post a failure message for a renewal run; never raises (hooks must not mask the failure)."""
    params: dict[str, Any] = getattr(flow_run, "parameters", None) or {}
    inventory_path, cluster, unit = params.get("inventory_path"), params.get("cluster"), params.get("unit")
    if not (inventory_path and cluster and unit):
        return
    what = (
        getattr(state, "message", None) or getattr(state, "name", None) or "the run ended without a message"
    ).strip()
    if crashed:
        what = f"the process running the renewal stopped unexpectedly: {what}"
        next_step = (
            "check the worker; nothing is repeated when the renewal runs again — the next scan starts it, "
            "or rerun it with the same parameters"
        )
    else:
        next_step = (
            "read the run's log in Prefect; fix the cause named above, then rerun the renewal "
            "(or let the next scan start it)"
        )
    try:
        n = notifier_for(str(inventory_path))
        if isinstance(n, SlackNotifier):
            n.renewal_failed(
                RenewalFailed(
                    run_id=str(flow_run.id), cluster=str(cluster), unit=str(unit), what=what, next_step=next_step
                )
            )
    except Exception:  # noqa: BLE001  (a hook must never raise over the run's own failure)
        return


def renewal_failed_hook(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect ``on_failure`` hook for the renewal flow: tell Slack what failed, where, what next."""
    _renewal_hook(flow, flow_run, state, crashed=False)


def renewal_crashed_hook(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect ``on_crashed`` hook for the renewal flow."""
    _renewal_hook(flow, flow_run, state, crashed=True)


def completed_message(report: Any, run_id: str, duration_s: float) -> RenewalCompleted | None:
    """A ``RenewalCompleted`` from the renewal flow's ``RenewalReport`` (None unless it completed)."""
    if getattr(report, "status", None) != "completed":
        return None

    def field(obj: Any, name: str) -> Any:
        return getattr(obj, name, None) if obj is not None else None

    nodes = [
        NodeChange(
            node=str(n.fqdn),
            before_not_after=field(n.before, "not_after"),
            after_not_after=field(n.after, "not_after"),
            before_fingerprint=field(n.before, "fingerprint_sha256"),
            after_fingerprint=field(n.after, "fingerprint_sha256"),
        )
        for n in getattr(report, "nodes", [])
    ]
    return RenewalCompleted(
        run_id=run_id,
        cluster=str(report.cluster),
        unit=str(report.unit),
        nodes=nodes,
        duration_s=duration_s,
        approver=getattr(report, "approver", None),
        phones=getattr(report, "phones_outcome", None),
        # what a person must do now: the DRF backup Cisco's guides ask for after every regeneration
        to_do=[w for w in getattr(report, "warnings", None) or [] if w.startswith(DUE_NOW_PREFIX)],
    )


def renewal_completed_hook(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect ``on_completion`` hook for the renewal flow: before/after per node, duration, approver.

    Reads the run's result (the ``RenewalReport``); dry runs and denials post nothing. Never raises.
    """
    params: dict[str, Any] = getattr(flow_run, "parameters", None) or {}
    inventory_path = params.get("inventory_path")
    if not inventory_path:
        return
    try:
        report = state.result(raise_on_failure=False)
        total = getattr(flow_run, "total_run_time", None)
        duration = total.total_seconds() if total is not None else 0.0
        done = completed_message(report, str(flow_run.id), duration)
        if done is None:
            return
        n = notifier_for(str(inventory_path))
        if isinstance(n, SlackNotifier):
            n.renewal_completed(done)
    except Exception:  # noqa: BLE001  (a hook must never turn a completed renewal into an error)
        return
