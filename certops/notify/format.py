"""Pure formatting: scan plans and renewal events -> Slack Block Kit blocks plus fallback text.

Nothing here talks to the network, reads the clock or sees a secret. Slack's limits are
respected here, once: at most 50 blocks per message, 3000 characters per section text, 2000
per field, 150 per header, 40000 characters of fallback text. Long lists are cut, and the
message says how many entries were left out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from certops.due import DuePlan, Urgency
from certops.notify.messages import (
    ApprovalReminder,
    ApprovalRequest,
    RenewalCompleted,
    RenewalFailed,
    RenewalStarted,
    SlackMessage,
)

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_TEXT = 40000
MAX_ROWS = 15  # most urgent rows shown in a scan summary

_EMOJI = {
    Urgency.EXPIRED: ":red_circle:",
    Urgency.CRITICAL: ":large_orange_circle:",
    Urgency.DUE: ":large_yellow_circle:",
    Urgency.OK: ":large_green_circle:",
}


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` as Slack's mrkdwn requires (so text cannot mention or link)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its start and how much was cut."""
    if len(text) <= limit:
        return text
    note = f"\n… ({len(text) - limit + 40} more characters not shown)"
    return text[: limit - len(note)] + note


def header(text: str) -> dict[str, Any]:
    """A header block (plain text, at most 150 characters)."""
    return {"type": "header", "text": {"type": "plain_text", "text": cut(text, MAX_HEADER), "emoji": True}}


def section(mrkdwn: str) -> dict[str, Any]:
    """A section block with mrkdwn text, cut to Slack's 3000 characters."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(mrkdwn, MAX_SECTION)}}


def context(mrkdwn: str) -> dict[str, Any]:
    """A context block (small grey text)."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(mrkdwn, MAX_SECTION)}]}


def code(text: str, limit: int = MAX_SECTION) -> str:
    """``text`` in a mrkdwn code block that fits in ``limit`` characters."""
    return "```" + cut(text.strip(), limit - 6) + "```"


def finish(text: str, blocks: list[dict[str, Any]]) -> SlackMessage:
    """Apply the message-level limits: 50 blocks (the last says what was cut), 40000 characters of text."""
    if len(blocks) > MAX_BLOCKS:
        dropped = len(blocks) - (MAX_BLOCKS - 1)
        blocks = [*blocks[: MAX_BLOCKS - 1], context(f"… {dropped} more blocks not shown")]
    return SlackMessage(text=cut(text, MAX_TEXT), blocks=blocks)


def _date(d: dt.datetime | None) -> str:
    return d.strftime("%Y-%m-%d %H:%M UTC") if d is not None else "unknown"


def _days(n: int) -> str:
    if n < 0:
        return f"expired {-n} day{'s' if n != -1 else ''} ago"
    return f"{n} day{'s' if n != 1 else ''} left"


def _link(url: str | None, label: str) -> str:
    return f"<{url}|{label}>" if url else label


def _rows(lines: list[str], limit: int, what: str) -> str:
    shown = lines[:limit]
    text = "\n".join(shown)
    if len(lines) > limit:
        text += f"\n… and {len(lines) - limit} more {what} not shown"
    return text


# -- scan ---------------------------------------------------------------------------------------------
def scan_summary(
    plan: DuePlan,
    *,
    started: list[RenewalStarted] | None = None,
    ui_url: str | None = None,
    max_rows: int = MAX_ROWS,
) -> SlackMessage:
    """The scan summary: counts by urgency, the most urgent rows, unreadable nodes, renewals started."""
    counts = plan.counts()
    total = sum(counts.values())
    count_line = " · ".join(f"{_EMOJI[u]} {u.value}: *{counts[u]}*" for u in Urgency)
    fallback = (
        f"Certificate scan {plan.generated_at:%Y-%m-%d}: {total} certificates, "
        f"{counts[Urgency.EXPIRED]} expired, {counts[Urgency.CRITICAL]} critical, {counts[Urgency.DUE]} due"
        + (f", {len(plan.failures)} nodes unreadable" if plan.failures else "")
    )
    blocks: list[dict[str, Any]] = [
        header(f"Certificate scan {plan.generated_at:%Y-%m-%d %H:%M} UTC"),
        section(f"{count_line}\n{total} certificates counted"),
    ]
    due = plan.due
    if due:
        lines = [
            f"{_EMOJI[s.urgency]} *{escape(s.cluster)}* `{escape(s.unit)}` {escape(s.node)} — "
            f"{_days(s.days_left)} (not after {s.certificate.not_after:%Y-%m-%d})"
            for s in due
        ]
        blocks.append(section("*Most urgent*\n" + _rows(lines, max_rows, "certificates")))
    else:
        blocks.append(section(":white_check_mark: Nothing is due."))
    if plan.failures:
        lines = [
            f":warning: *{escape(f.cluster)}* {escape(f.node)}: {escape(f.operation)} — {escape(f.reason)}"
            for f in plan.failures
        ]
        blocks.append(
            section(
                f"*{len(plan.failures)} node(s) could not be read* (their certificates are not in the counts)\n"
                + _rows(lines, max_rows, "nodes")
            )
        )
    if started:
        lines = []
        for r in started:
            label = f"*{escape(r.cluster)}* `{escape(r.unit)}` ({len(r.nodes)} node(s), {_days(r.days_left)})"
            if r.skipped_reason:
                lines.append(f":fast_forward: {label}: not started, {escape(r.skipped_reason)}")
            elif r.queued_behind:
                lines.append(f":hourglass: {label}: queued behind `{escape(r.queued_behind)}` (never together)")
            else:
                lines.append(f":arrow_forward: {label}: renewal started" + (f" (run `{r.run_id}`)" if r.run_id else ""))
        blocks.append(section("*Renewals*\n" + _rows(lines, max_rows, "renewals")))
    if ui_url:
        blocks.append(context(_link(ui_url, "Open the scan in Prefect")))
    return finish(fallback, blocks)


# -- approvals ----------------------------------------------------------------------------------------
def approve_command(run_id: str) -> str:
    """The command a person runs to hand the signed chain back."""
    return f"certops approve {run_id} --chain signed-chain.pem --approver YOUR_NAME"


def _ca_request(req: ApprovalRequest) -> str:
    """The exact KU, EKU and basic constraints for the unit (the first CSR's Data Encipherment kept)."""
    from certops.errors import CertopsError
    from certops.units import UNITS
    from certops.x509.read import read_csr
    from certops.x509.usages import ca_request

    if req.unit not in UNITS:
        return ""
    pems = list(req.csr_pems.values()) or ([req.csr_pem] if req.csr_pem else [])
    try:
        csr = read_csr(pems[0].encode()) if pems else None
    except CertopsError:
        csr = None
    return ca_request(req.unit, csr)


def approval_needed(req: ApprovalRequest, *, mention: str | None = None) -> SlackMessage:
    """Approval needed: cluster, unit, nodes, the CSR, how to approve (command and UI link), the deadline."""
    who = f"{mention} " if mention else ""
    fallback = (
        f"{who}Approval needed: {escape(req.unit)} on {escape(req.cluster)} ({len(req.nodes)} node(s)). "
        f"Sign the CSR and run: {approve_command(req.run_id)}"
        + (f" before {_date(req.deadline)}" if req.deadline else "")
    )
    blocks: list[dict[str, Any]] = [
        header(f"Approval needed: {req.unit} on {req.cluster}"),
        section(
            f"{who}A renewal is waiting for a signed certificate.\n"
            f"*Cluster:* {escape(req.cluster)}\n*Unit:* `{escape(req.unit)}`\n"
            f"*Nodes:* {escape(', '.join(req.nodes))}\n"
            f"*Deadline:* {_date(req.deadline)}"
        ),
    ]
    if req.ca_instructions:
        blocks.append(section("*Where to get it signed*\n" + escape(req.ca_instructions)))
    if asked := _ca_request(req):
        blocks.append(section("*What to ask the CA for*\n" + escape(asked)))
    csrs = dict(req.csr_pems)
    if req.csr_pem and not csrs:
        csrs = {", ".join(req.nodes): req.csr_pem}
    budget = MAX_BLOCKS - 8
    for i, (node, pem) in enumerate(csrs.items()):
        if i >= budget:
            blocks.append(context(f"… {len(csrs) - budget} more CSRs not shown; they are attached as files"))
            break
        blocks.append(section(f"*CSR for {escape(node)}*\n" + code(pem)))
    how = (
        "*How to approve*\n1. Have the CA sign the CSR (keep its SANs exactly).\n"
        f"2. Run:\n```{approve_command(req.run_id)}```"
    )
    if req.ui_url:
        how += f"\n3. Or resume the run in the {_link(req.ui_url, 'Prefect UI')} and paste the chain."
    blocks.append(section(how))
    blocks.append(context(f"Run `{req.run_id}` · nothing on the nodes changes until the chain is checked"))
    return finish(fallback, blocks)


def approval_reminder(rem: ApprovalReminder, *, mention: str | None = None) -> SlackMessage:
    """A reminder that an approval's deadline is near."""
    left = rem.deadline - rem.now
    hours = max(0, int(left.total_seconds() // 3600))
    who = f"{mention} " if mention else ""
    fallback = (
        f"{who}Reminder: {escape(rem.unit)} on {escape(rem.cluster)} still waits for approval; "
        f"{hours} h left (deadline {_date(rem.deadline)}). Run: {approve_command(rem.run_id)}"
    )
    blocks = [
        section(
            f":alarm_clock: {who}*Reminder:* `{escape(rem.unit)}` on *{escape(rem.cluster)}* still waits for "
            f"approval. *{hours} h left* (deadline {_date(rem.deadline)}); after that the renewal fails "
            f"and the next scan starts a new one.\n```{approve_command(rem.run_id)}```"
            + (f"\n{_link(rem.ui_url, 'Open the run in Prefect')}" if rem.ui_url else "")
        )
    ]
    return finish(fallback, blocks)


# -- outcomes ----------------------------------------------------------------------------------------
def _fp(fp: str | None) -> str:
    return f"`{fp[:16]}…`" if fp else "?"


def renewal_completed(done: RenewalCompleted) -> SlackMessage:
    """Renewal completed: before/after expiry and fingerprints per node, duration, approver."""
    minutes = done.duration_s / 60
    fallback = (
        f"Renewed {escape(done.unit)} on {escape(done.cluster)}: {len(done.nodes)} node(s) in {minutes:.1f} min"
        + (f", approved by {escape(done.approver)}" if done.approver else "")
    )
    lines = [
        f"*{escape(n.node)}*: {_date(n.before_not_after)} {_fp(n.before_fingerprint)} → "
        f"{_date(n.after_not_after)} {_fp(n.after_fingerprint)}"
        for n in done.nodes
    ]
    blocks = [
        section(
            f":white_check_mark: *Renewed* `{escape(done.unit)}` on *{escape(done.cluster)}* in {minutes:.1f} min"
            + (f", approved by {escape(done.approver)}" if done.approver else "")
        ),
        section("*Not after (before → after), SHA-256 fingerprints*\n" + _rows(lines, 40, "nodes")),
    ]
    if done.phones:
        fallback += f". Phones: {escape(done.phones)}"
        blocks.append(section(f"*Phones*: {escape(done.phones)}"))
    if done.to_do:
        fallback += ". To do now: " + "; ".join(escape(t) for t in done.to_do)
        blocks.append(section("*To do now*\n" + "\n".join(f"• {escape(t)}" for t in done.to_do)))
    blocks.append(context(f"Run `{done.run_id}`" + (f" · {_link(done.ui_url, 'Prefect')}" if done.ui_url else "")))
    return finish(fallback, blocks)


def renewal_failed(fail: RenewalFailed, *, mention: str | None = None) -> SlackMessage:
    """Renewal failed or blocked: what happened, where, and what to do next."""
    verb = "blocked" if fail.blocked else "failed"
    where = f"{fail.cluster}" + (f" / {fail.node}" if fail.node else "")
    who = f"{mention} " if mention else ""
    fallback = f"{who}Renewal of {escape(fail.unit)} on {escape(where)} {verb}: {escape(fail.what)}" + (
        f" Next: {escape(fail.next_step)}" if fail.next_step else ""
    )
    icon = ":no_entry:" if fail.blocked else ":x:"
    blocks = [
        section(f"{icon} {who}*Renewal {verb}:* `{escape(fail.unit)}` on *{escape(where)}*\n{escape(fail.what)}"),
    ]
    if fail.next_step:
        blocks.append(section("*What to do next*\n" + escape(fail.next_step)))
    blocks.append(context(f"Run `{fail.run_id}`" + (f" · {_link(fail.ui_url, 'Prefect')}" if fail.ui_url else "")))
    return finish(fallback, blocks)
