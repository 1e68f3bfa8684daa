"""Maintenance windows: inside/outside, past midnight, time zones, urgency override."""

from __future__ import annotations

import datetime as dt

from certops.inventory import MaintenanceWindow
from certops.windows import in_window, next_window_start, window_decision

UTC = dt.UTC


def _w(start: str, end: str, days: list[str] | None = None, tz: str = "UTC") -> MaintenanceWindow:
    kw = {"start": dt.time.fromisoformat(start), "end": dt.time.fromisoformat(end), "timezone": tz}
    if days is not None:
        kw["days"] = days
    return MaintenanceWindow.model_validate(kw)


def test_no_windows_means_any_time_is_allowed():
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert in_window([], now)
    assert window_decision([], now, earliest_expiry=None, urgent_days=7).allowed


def test_window_past_midnight_covers_the_next_morning_of_its_start_day():
    win = [_w("22:00", "05:00", ["mon"])]
    monday_2300 = dt.datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 2026-11-23 is a Monday
    tuesday_0430 = dt.datetime(2026, 11, 24, 4, 30, tzinfo=UTC)
    tuesday_0500 = dt.datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    tuesday_2300 = dt.datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    assert in_window(win, monday_2300)
    assert in_window(win, tuesday_0430)
    assert not in_window(win, tuesday_0500)
    assert not in_window(win, tuesday_2300)  # Tuesday is not a window day


def test_window_in_berlin_time_is_checked_in_berlin_time():
    win = [_w("22:00", "23:00", tz="Europe/Berlin")]
    # 21:30 UTC in November = 22:30 in Berlin (CET, UTC+1)
    assert in_window(win, dt.datetime(2026, 11, 25, 21, 30, tzinfo=UTC))
    assert not in_window(win, dt.datetime(2026, 11, 25, 22, 30, tzinfo=UTC))
    # in July (CEST, UTC+2) the same window starts at 20:00 UTC
    assert in_window(win, dt.datetime(2026, 7, 1, 20, 30, tzinfo=UTC))


def test_next_window_start_skips_days_that_are_not_window_days():
    win = [_w("22:00", "05:00", ["fri"])]
    wednesday_noon = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert next_window_start(win, wednesday_noon) == dt.datetime(2026, 11, 27, 22, 0, tzinfo=UTC)


def test_outside_window_is_refused_with_the_next_start():
    win = [_w("22:00", "05:00")]
    noon = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    d = window_decision(win, noon, earliest_expiry=noon + dt.timedelta(days=20), urgent_days=7)
    assert not d.allowed
    assert d.next_start == dt.datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
    assert "2026-11-25 22:00 UTC" in d.reason


def test_certificate_expiring_within_urgent_days_overrides_the_window():
    win = [_w("22:00", "05:00")]
    noon = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    d = window_decision(win, noon, earliest_expiry=noon + dt.timedelta(days=3), urgent_days=7)
    assert d.allowed and d.urgent
    assert "urgency override" in d.reason


def test_naive_datetime_is_refused():
    import pytest

    with pytest.raises(ValueError, match="time-zone-aware"):
        in_window([_w("22:00", "05:00")], dt.datetime(2026, 11, 25, 12, 0))
