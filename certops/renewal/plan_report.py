"""What a cluster plan did: each unit's outcome in order, what was not done, and the DRF backup after.

``certops renew --cluster C --due`` prints ``to_text()``; the flow writes ``to_markdown()`` as an
artifact and posts ``slack_message()``. No Prefect here.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from certops.notify.format import context, escape, finish, section
from certops.notify.messages import SlackMessage
from certops.planning import ClusterPlan
from certops.renewal.drf_backup import DrfBackupOutcome

DONE = ("completed", "nothing_to_do", "skipped")
"""Outcomes after which the plan goes on."""


class UnitOutcome(BaseModel):
    """One position of the plan: what its renewal did.

    ``status``: ``completed``; ``nothing_to_do`` (another run renewed it, or no longer due);
    ``skipped`` (its own rule refused it before anything changed; the plan went on); ``failed`` or
    ``denied`` (the plan stopped there); ``not_started`` (after a stop).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    position: int
    unit: str
    status: str
    run_id: str | None = None
    detail: str = ""


class ClusterRenewalReport(BaseModel):
    """The outcome of one cluster plan (``status``: ``completed`` or ``stopped``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: str
    status: str
    run_id: str | None = None
    plan: ClusterPlan
    outcomes: list[UnitOutcome]
    drf_backup: DrfBackupOutcome | None = None
    finished_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def regenerated(self) -> list[str]:
        """The units whose certificates this plan replaced, in order."""
        return [o.unit for o in self.outcomes if o.status == "completed"]

    @property
    def stopped_at(self) -> UnitOutcome | None:
        """The position where the plan stopped (None: it ran to the end)."""
        return next((o for o in self.outcomes if o.status not in (*DONE, "not_started")), None)

    def summary(self) -> str:
        """One paragraph: what was done and what was not."""
        done = [f"{o.unit} ({o.status.replace('_', ' ')})" for o in self.outcomes if o.status in DONE]
        left = [o.unit for o in self.outcomes if o.status == "not_started"]
        stop = self.stopped_at
        head = (
            f"cluster {self.cluster}: the plan stopped at {stop.unit} ({stop.status}: {stop.detail})"
            if stop
            else f"cluster {self.cluster}: the plan ran to the end"
        )
        not_done = ([stop.unit] if stop else []) + left
        return f"{head}. Done: {', '.join(done) or 'nothing'}." + (
            f" Not done: {', '.join(not_done)}." if not_done else ""
        )

    def to_text(self) -> str:
        """A few lines for a terminal: each unit in order, then the DRF backup."""
        lines = [f"Cluster plan on {self.cluster}: {self.status}" + (f" (run {self.run_id})" if self.run_id else "")]
        for o in self.outcomes:
            run = f" run {o.run_id}" if o.run_id else ""
            lines.append(f"  {o.position}. {o.unit:18} {o.status}{run}" + (f": {o.detail}" if o.detail else ""))
        lines += [f"  due, not in this plan: {d.unit}: {d.why}" for d in self.plan.deferred]
        if self.status != "completed":
            lines.append(f"  {self.summary()}")
        if self.drf_backup is not None:
            mark = "DRF backup" if self.drf_backup.status == "taken" else "DRF BACKUP DUE NOW"
            lines.append(f"  {mark}: {self.drf_backup.text}")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """The report as Markdown (the Prefect artifact)."""
        lines = [f"# Cluster plan on {self.cluster}: {self.status}", "", "| # | unit | outcome | run | detail |"]
        lines.append("|---|---|---|---|---|")
        for o in self.outcomes:
            lines.append(f"| {o.position} | {o.unit} | {o.status} | {o.run_id or '-'} | {o.detail or '-'} |")
        lines.append("")
        if self.status != "completed":
            lines += [self.summary(), ""]
        if self.drf_backup is not None:
            lines.append(
                ("**DRF backup**: " if self.drf_backup.status == "taken" else "**DRF backup due now**: ")
                + self.drf_backup.text
            )
        lines += ["", "```", self.plan.render(), "```"]
        return "\n".join(lines)

    def slack_message(self) -> SlackMessage:
        """The plan's completion (or stop) message, with the DRF backup said plainly."""
        icon = ":white_check_mark:" if self.status == "completed" else ":red_circle:"
        verb = "renewed" if self.status == "completed" else "stopped"
        units = ", ".join(self.regenerated) or "nothing"
        fallback = f"Cluster plan {verb} on {escape(self.cluster)}: renewed {escape(units)}"
        rows = "\n".join(
            f"{o.position}. `{escape(o.unit)}`: {escape(o.status)}" + (f" — {escape(o.detail)}" if o.detail else "")
            for o in self.outcomes
        )
        blocks = [section(f"{icon} *Cluster plan {verb}* on *{escape(self.cluster)}*"), section(rows or "nothing due")]
        if self.status != "completed":
            blocks.append(section(escape(self.summary())))
        if self.drf_backup is not None:
            drf = self.drf_backup
            head = ":floppy_disk: *DRF backup taken*" if drf.status == "taken" else ":warning: *DRF backup due NOW*"
            blocks.append(section(f"{head}\n{escape(drf.text)}"))
            if drf.status != "taken":
                fallback += f". A DRF backup of {escape(self.cluster)} is due now"
        blocks.append(context(f"Run `{self.run_id}`" if self.run_id else "certops"))
        return finish(fallback, blocks)
