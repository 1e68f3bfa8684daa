"""The expiry timeline: one row per cluster and unit, a marker at each node's not-after date.

Markers are coloured by urgency; today and the renewal threshold are drawn as vertical lines
(a short tick per row where a unit has its own threshold). Rendered with matplotlib's Agg
canvas (no display, no pyplot global state, safe in threads) as PNG and SVG. Deterministic: the
same plan gives byte-identical files (no dates in the metadata, a fixed SVG id salt).

With many rows only the most urgent ``max_rows`` are drawn and the title says how many were left out.
"""

from __future__ import annotations

import datetime as dt
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib import dates as mdates
from matplotlib import rcParams
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from certops.due import CertificateStatus, DuePlan, Urgency
from certops.inventory import Inventory

COLOURS = {
    Urgency.EXPIRED: "#b2182b",
    Urgency.CRITICAL: "#ef8a62",
    Urgency.DUE: "#e6c229",
    Urgency.OK: "#4d9221",
}
SKIPPED_COLOUR = "#bbbbbb"
MAX_ROWS = 60


def _num(when: dt.datetime) -> float:
    """matplotlib's date number for ``when``."""
    return float(mdates.date2num(when))  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class TimelineRow:
    """One row of the picture: a unit on a cluster and its nodes' certificates."""

    cluster: str
    unit: str
    statuses: tuple[CertificateStatus, ...]
    threshold_days: int

    @property
    def label(self) -> str:
        """``cluster · unit``."""
        return f"{self.cluster} · {self.unit}"

    @property
    def earliest(self) -> dt.datetime:
        """The earliest not-after in the row."""
        return min(s.certificate.not_after for s in self.statuses)


def timeline_rows(plan: DuePlan) -> list[TimelineRow]:
    """The rows, most urgent (earliest expiry) first."""
    groups: dict[tuple[str, str], list[CertificateStatus]] = {}
    for s in plan.statuses:
        groups.setdefault((s.cluster, s.unit), []).append(s)
    out = [
        TimelineRow(cluster=c, unit=u, statuses=tuple(g), threshold_days=max(s.threshold_days for s in g))
        for (c, u), g in groups.items()
    ]
    out.sort(key=lambda r: (r.earliest, r.cluster, r.unit))
    return out


def timeline_figure(
    plan: DuePlan,
    *,
    now: dt.datetime | None = None,
    default_threshold_days: int = 30,
    max_rows: int = MAX_ROWS,
    horizon_days: int | None = None,
) -> Figure:
    """Draw the timeline of ``plan`` on a new matplotlib ``Figure`` (Agg canvas)."""
    now = now or plan.generated_at
    rows = timeline_rows(plan)
    hidden = max(0, len(rows) - max_rows)
    rows = rows[:max_rows]
    height = max(3.5, 1.6 + 0.32 * len(rows))
    fig = Figure(figsize=(11, height), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    # Top row = most urgent.
    for y, r in enumerate(reversed(rows)):
        for s in r.statuses:
            colour = COLOURS[s.urgency] if s.counted else SKIPPED_COLOUR
            ax.plot(
                [_num(s.certificate.not_after)],
                [y],
                marker="o" if s.counted else "x",
                markersize=7,
                color=colour,
                markeredgecolor="#333333" if s.counted else colour,
                linestyle="none",
                zorder=3,
            )
        if r.threshold_days != default_threshold_days:
            t = _num(now + dt.timedelta(days=r.threshold_days))
            ax.plot([t, t], [y - 0.35, y + 0.35], color="#444444", linewidth=1.5, zorder=2)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r.label for r in reversed(rows)], fontsize=8)
    ax.set_ylim(-0.8, max(len(rows), 1) - 0.2)
    ax.axvline(_num(now), color="#222222", linewidth=1.2, label="today", zorder=1)
    ax.axvline(
        _num(now + dt.timedelta(days=default_threshold_days)),
        color="#444444",
        linestyle="--",
        linewidth=1,
        label=f"renewal threshold ({default_threshold_days} d)",
        zorder=1,
    )
    if rows:
        latest = max(s.certificate.not_after for r in rows for s in r.statuses)
        earliest = min(r.earliest for r in rows)
        left = min(earliest, now) - dt.timedelta(days=5)
        right = max(latest, now + dt.timedelta(days=default_threshold_days)) + dt.timedelta(days=10)
        if horizon_days is not None:
            right = min(right, now + dt.timedelta(days=horizon_days))
        ax.set_xlim(_num(left), _num(right))
    ax.xaxis.set_major_locator(mdates.AutoDateLocator())  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
    ax.tick_params(axis="x", labelsize=8, labelrotation=30)
    ax.grid(axis="x", color="#eeeeee")
    title = f"Certificate expiry by cluster and unit — {now:%Y-%m-%d %H:%M} UTC"
    if hidden:
        title += f"\n(the {len(rows)} most urgent rows; {hidden} more not shown)"
    ax.set_title(title, fontsize=10)
    handles = [
        Line2D([], [], marker="o", linestyle="none", color=COLOURS[u], markeredgecolor="#333333", label=u.value)
        for u in Urgency
    ]
    handles.append(Line2D([], [], marker="x", linestyle="none", color=SKIPPED_COLOUR, label="not counted"))
    handles.append(Line2D([], [], color="#222222", label="today"))
    handles.append(Line2D([], [], color="#444444", linestyle="--", label=f"threshold ({default_threshold_days} d)"))
    handles.append(Line2D([], [], color="#444444", marker="|", markersize=10, linestyle="none", label="unit threshold"))
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.7 / max(height - 1.6, 0.5)), ncol=8, fontsize=8
    )
    with warnings.catch_warnings():
        # the legend sits below the axes; bbox_inches="tight" at save time makes room for it
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()
    return fig


def default_threshold(inventory: Inventory | None) -> int:
    """The inventory's default renewal threshold (30 days without an inventory)."""
    return inventory.defaults.policy.threshold_days if inventory is not None else 30


def render(plan: DuePlan, fmt: str, **kwargs: object) -> bytes:
    """The picture as ``png`` or ``svg`` bytes, byte-identical for the same inputs."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"unknown picture format {fmt!r}: use png or svg")
    fig = timeline_figure(plan, **kwargs)  # type: ignore[arg-type]
    buf = io.BytesIO()
    metadata: dict[str, str | None] = {"Date": None} if fmt == "svg" else {"Software": None}
    old_salt = rcParams["svg.hashsalt"]
    rcParams["svg.hashsalt"] = "certops-timeline"
    try:
        fig.savefig(buf, format=fmt, metadata=metadata, bbox_inches="tight")
    finally:
        rcParams["svg.hashsalt"] = old_salt
    return buf.getvalue()


def write_timeline(plan: DuePlan, path: Path, **kwargs: object) -> list[Path]:
    """Write the picture next to ``path``: ``<stem>.png`` and ``<stem>.svg``; return both paths.

    A ``path`` ending in ``.png`` or ``.svg`` names the stem; any other name gets both suffixes.
    """
    stem = path.with_suffix("") if path.suffix in (".png", ".svg") else path
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in ("png", "svg"):
        out = stem.with_name(stem.name + f".{fmt}")
        out.write_bytes(render(plan, fmt, **kwargs))
        written.append(out)
    return written
