"""The expiry timeline: one row per cluster and unit, a marker at each node's not-after date.

Markers are coloured by urgency; today and the renewal threshold are drawn as vertical lines
(a short tick per row where a unit has its own threshold), today's labelled at the top and kept
clear of the frame. Nodes whose certificates expire the same day share one marker labelled with
how many they are and the days left (a lone node's marker gets its days left when it is due or
worse). The legend lists only what is drawn. Rendered with matplotlib's Agg
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
TODAY_COLOUR = "#1f5fbf"
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


def _points(row: TimelineRow) -> dict[dt.date, list[CertificateStatus]]:
    """The row's markers: certificates expiring the same day share one."""
    out: dict[dt.date, list[CertificateStatus]] = {}
    for s in row.statuses:
        out.setdefault(s.certificate.not_after.date(), []).append(s)
    return out


def _marker(group: list[CertificateStatus]) -> tuple[Urgency, bool]:
    """What a shared marker shows: the most urgent counted certificate's urgency (else: not counted)."""
    counted = [s.urgency for s in group if s.counted]
    order = list(Urgency)
    if counted:
        return min(counted, key=order.index), True
    return min((s.urgency for s in group), key=order.index), False


def point_label(group: list[CertificateStatus] | tuple[CertificateStatus, ...]) -> str:
    """The text next to a marker: ``3 nodes, 20 d`` where several share it (and how many of them are
    not counted, when some are); ``20 d`` for a lone due one."""
    days = min(s.days_left for s in group)
    if len(group) > 1:
        left_out = sum(1 for s in group if not s.counted)
        extra = f" ({left_out} not counted)" if 0 < left_out < len(group) else ""
        return f"{len(group)} nodes, {days} d{extra}"
    s = group[0]
    return f"{days} d" if s.counted and s.urgency is not Urgency.OK else ""


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
    drawn: set[Urgency] = set()
    uncounted = unit_ticks = False
    # Top row = most urgent.
    for y, r in enumerate(reversed(rows)):
        for group in _points(r).values():
            urgency, counted = _marker(group)
            colour = COLOURS[urgency] if counted else SKIPPED_COLOUR
            if counted:
                drawn.add(urgency)
            else:
                uncounted = True
            x = _num(group[0].certificate.not_after)
            ax.plot(
                [x],
                [y],
                marker="o" if counted else "x",
                markersize=7,
                color=colour,
                markeredgecolor="#333333" if counted else colour,
                linestyle="none",
                zorder=3,
            )
            label = point_label(group)
            if label:
                ax.annotate(
                    label,
                    (x, y),
                    xytext=(6, 5),
                    textcoords="offset points",
                    fontsize=7,
                    color="#333333",
                    bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
                    zorder=4,
                )
        if r.threshold_days != default_threshold_days:
            unit_ticks = True
            t = _num(now + dt.timedelta(days=r.threshold_days))
            ax.plot([t, t], [y - 0.35, y + 0.35], color="#444444", linewidth=1.5, zorder=2)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r.label for r in reversed(rows)], fontsize=8)
    ax.set_ylim(-0.8, max(len(rows), 1) - 0.2)
    ax.axvline(_num(now), color=TODAY_COLOUR, linewidth=1.6, label="today", zorder=2)
    ax.annotate(
        f"today {now:%Y-%m-%d}",
        (_num(now), 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(0, 2),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=7,
        color=TODAY_COLOUR,
    )
    ax.axvline(
        _num(now + dt.timedelta(days=default_threshold_days)),
        color="#444444",
        linestyle="--",
        linewidth=1.2,
        label=f"renewal threshold ({default_threshold_days} d)",
        zorder=2,
    )
    if rows:
        latest = max(s.certificate.not_after for r in rows for s in r.statuses)
        earliest = min(r.earliest for r in rows)
        right = max(latest, now + dt.timedelta(days=default_threshold_days))
        if horizon_days is not None:
            right = min(right, now + dt.timedelta(days=horizon_days))
        lo = min(earliest, now)
        # room on both sides, in proportion to the span: today's line and the last marker stay clear of the frame
        pad = max(dt.timedelta(days=5), (right - lo) * 0.04)
        left, right = lo - pad, right + pad * 3  # the label right of the last marker fits
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
        if u in drawn
    ]
    if uncounted:
        handles.append(Line2D([], [], marker="x", linestyle="none", color=SKIPPED_COLOUR, label="not counted"))
    handles.append(Line2D([], [], color=TODAY_COLOUR, linewidth=1.6, label="today"))
    handles.append(Line2D([], [], color="#444444", linestyle="--", label=f"threshold ({default_threshold_days} d)"))
    if unit_ticks:
        handles.append(
            Line2D([], [], color="#444444", marker="|", markersize=10, linestyle="none", label="unit threshold")
        )
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
