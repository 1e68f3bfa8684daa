"""Maintenance windows: is now inside one, when does the next one start, may we go anyway.

A window is recurring (``days``, ``start``, ``end``, ``timezone``). A window whose end is at or
before its start runs past midnight: ``22:00-05:00`` on ``mon`` covers Monday 22:00 to Tuesday
05:00, so ``days`` names the day a window *starts*. Times are wall-clock times in the window's
time zone, so a window stays at 22:00 local across daylight-saving changes.

No windows configured means no restriction: disruptive steps may run at any time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from certops.inventory import MaintenanceWindow

_DAY_INDEX = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def _aware(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("maintenance-window checks need a time-zone-aware datetime (e.g. datetime.now(timezone.utc))")
    return now


def _occurrences(
    window: MaintenanceWindow, around: dt.datetime, days_back: int, days_ahead: int
) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """(start, end) of each occurrence of ``window`` starting between the given days, UTC."""
    tz = ZoneInfo(window.timezone)
    local_day = around.astimezone(tz).date()
    wanted = {_DAY_INDEX[d] for d in window.days}
    for offset in range(-days_back, days_ahead + 1):
        day = local_day + dt.timedelta(days=offset)
        if day.weekday() not in wanted:
            continue
        start = dt.datetime.combine(day, window.start, tzinfo=tz)
        end_day = day if window.end > window.start else day + dt.timedelta(days=1)
        end = dt.datetime.combine(end_day, window.end, tzinfo=tz)
        yield start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def in_window(windows: Sequence[MaintenanceWindow], now: dt.datetime) -> bool:
    """True when ``now`` is inside one of ``windows`` (or when there are no windows)."""
    now = _aware(now)
    if not windows:
        return True
    return any(start <= now < end for w in windows for start, end in _occurrences(w, now, 1, 0))


def current_window_end(windows: Sequence[MaintenanceWindow], now: dt.datetime) -> dt.datetime | None:
    """When the window ``now`` is in ends (the latest end if several overlap), or None."""
    now = _aware(now)
    ends = [end for w in windows for start, end in _occurrences(w, now, 1, 0) if start <= now < end]
    return max(ends) if ends else None


def next_window_start(windows: Sequence[MaintenanceWindow], now: dt.datetime) -> dt.datetime | None:
    """The earliest window start strictly after ``now`` (UTC), or None when there are no windows."""
    now = _aware(now)
    starts = [start for w in windows for start, _ in _occurrences(w, now, 0, 8) if start > now]
    return min(starts) if starts else None


class WindowDecision(BaseModel):
    """Whether disruptive steps may run now, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed: bool
    urgent: bool
    reason: str
    next_start: dt.datetime | None = None


def window_decision(
    windows: Sequence[MaintenanceWindow],
    now: dt.datetime,
    *,
    earliest_expiry: dt.datetime | None,
    urgent_days: int,
) -> WindowDecision:
    """Decide whether restarts and phone resets may run at ``now``.

    Inside a window, or with no windows: allowed. Outside: allowed only when the certificate
    expires within ``urgent_days`` (the urgency override, reported as such); otherwise not,
    with the next window's start.
    """
    now = _aware(now)
    if not windows:
        return WindowDecision(allowed=True, urgent=False, reason="no maintenance window configured: any time")
    if in_window(windows, now):
        end = current_window_end(windows, now)
        return WindowDecision(
            allowed=True, urgent=False, reason=f"inside a maintenance window (until {end:%Y-%m-%d %H:%M} UTC)"
        )
    nxt = next_window_start(windows, now)
    if earliest_expiry is not None and earliest_expiry - now <= dt.timedelta(days=urgent_days):
        left = earliest_expiry - now
        return WindowDecision(
            allowed=True,
            urgent=True,
            reason=(
                f"outside the maintenance windows, but the certificate expires in {left.days} d "
                f"{left.seconds // 3600} h (urgent_days={urgent_days}): urgency override"
            ),
            next_start=nxt,
        )
    when = f"{nxt:%Y-%m-%d %H:%M} UTC" if nxt else "never (no window day configured)"
    return WindowDecision(
        allowed=False,
        urgent=False,
        reason=f"outside the maintenance windows; the next one starts {when}",
        next_start=nxt,
    )


def describe(window: MaintenanceWindow) -> str:
    """``mon,tue 22:00-05:00 Europe/Berlin (past midnight)``."""
    days = ",".join(window.days)
    past = " (past midnight)" if window.end <= window.start else ""
    return f"{days} {window.start:%H:%M}-{window.end:%H:%M} {window.timezone}{past}"
