"""The renewal report: before/after per node, approver, timings — JSON and Markdown."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from certops.renewal.state import CertSummary, NotificationRecord, RenewalState


class NodeReport(BaseModel):
    """One node's outcome."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fqdn: str
    role: str
    before: CertSummary | None = None
    after: CertSummary | None = None
    restarted: list[str] = Field(default_factory=list)
    verified: bool = False


class RenewalReport(BaseModel):
    """What a renewal did (or, for a dry run, would do)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: str
    unit: str
    status: str  # completed, dry_run, denied
    run_id: str | None = None
    nodes: list[NodeReport] = Field(default_factory=list)
    approver: str | None = None
    comment: str | None = None
    denied_reason: str | None = None
    ctl_updated: bool = False
    phones_baseline: int | None = None
    phones_reset: bool = False
    phones_interaction: str | None = None  # the enterprise parameter as read before the phone step
    phones_outcome: str | None = None  # who reset the phones and how many came back, in one line
    timings: dict[str, float] = Field(default_factory=dict)
    plan: str | None = None  # the dry-run text
    notifications: list[NotificationRecord] = Field(default_factory=list)  # Slack: delivered or not, and why
    warnings: list[str] = Field(default_factory=list)  # Cisco's Security Guides' warnings for this renewal
    finished_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @classmethod
    def from_state(cls, state: RenewalState, *, status: str, run_id: str | None) -> RenewalReport:
        """Build the report from the renewal's durable state."""
        return cls(
            cluster=state.cluster,
            unit=state.unit,
            status=status,
            run_id=run_id,
            nodes=[
                NodeReport(
                    fqdn=n.fqdn, role=n.role, before=n.before, after=n.after, restarted=n.restarted, verified=n.verified
                )
                for n in state.nodes.values()
            ],
            approver=state.approver,
            comment=state.approval_comment,
            denied_reason=state.denied_reason,
            ctl_updated=state.ctl_updated,
            phones_baseline=state.phones_baseline,
            phones_reset=state.phones_reset,
            phones_interaction=state.phones_interaction,
            phones_outcome=state.phones_outcome,
            timings=dict(state.timings),
            notifications=list(state.notifications),
            warnings=list(state.guide_warnings),
        )

    def to_markdown(self) -> str:
        """The report as Markdown (the Prefect artifact)."""
        lines = [f"# {self.unit} renewal on {self.cluster}: {self.status}", ""]
        if self.plan:
            return "\n".join([*lines, "```", self.plan, "```"])
        if self.denied_reason:
            lines += [f"**Denied** by {self.approver or 'unknown'}: {self.denied_reason}", ""]
        elif self.approver:
            lines += [f"Approved by **{self.approver}**" + (f": {self.comment}" if self.comment else ""), ""]
        lines += [
            "| node | role | before (subject / expiry / sha256) | after (subject / expiry / sha256) | restarted |"
        ]
        lines += ["|---|---|---|---|---|"]
        for n in self.nodes:
            lines.append(
                f"| {n.fqdn} | {n.role} | {_cell(n.before)} | {_cell(n.after)} | {', '.join(n.restarted) or '-'} |"
            )
        lines.append("")
        if self.warnings:
            lines += ["**Warnings** (Cisco's Security Guides):", *[f"- {w}" for w in self.warnings], ""]
        if self.ctl_updated:
            lines.append("CTL file updated on the publisher (mixed mode).")
        if self.phones_outcome:
            lines.append(f"Phones: {self.phones_outcome}.")
        elif self.phones_reset:
            lines.append(f"Phones reset; all {self.phones_baseline} re-registered.")
        if self.phones_interaction:
            lines.append(f"Phone Interaction on Certificate Update: {self.phones_interaction}.")
        if self.notifications:
            lines += ["", "| Slack message | delivered |", "|---|---|"]
            for m in self.notifications:
                lines.append(f"| {m.what} | {'yes' if m.delivered else 'NO: ' + (m.error or '?')} |")
        if self.timings:
            lines += ["", "| phase | seconds |", "|---|---|"]
            lines += [f"| {k} | {v:.1f} |" for k, v in self.timings.items()]
        return "\n".join(lines)

    def to_text(self) -> str:
        """A few lines for a terminal."""
        if self.plan:
            return self.plan
        lines = [f"{self.unit} on {self.cluster}: {self.status}" + (f" (run {self.run_id})" if self.run_id else "")]
        if self.denied_reason:
            lines.append(f"  denied by {self.approver}: {self.denied_reason}")
        elif self.approver:
            lines.append(f"  approved by {self.approver}")
        for n in self.nodes:
            b = f"{n.before.fingerprint_sha256[:12]}… until {n.before.not_after:%Y-%m-%d}" if n.before else "-"
            a = f"{n.after.fingerprint_sha256[:12]}… until {n.after.not_after:%Y-%m-%d}" if n.after else "-"
            lines.append(f"  {n.fqdn:32} {b}  ->  {a}  {'verified' if n.verified else 'NOT verified'}")
        if self.phones_outcome:
            lines.append(f"  phones: {self.phones_outcome}")
        lines += [f"  WARNING: {w}" for w in self.warnings]
        for m in self.notifications:
            if not m.delivered:
                lines.append(f"  Slack {m.what}: NOT delivered ({m.error})")
        return "\n".join(lines)


def _cell(s: CertSummary | None) -> str:
    if s is None:
        return "-"
    return f"{s.subject} / {s.not_after:%Y-%m-%d} / `{s.fingerprint_sha256[:16]}…`"
