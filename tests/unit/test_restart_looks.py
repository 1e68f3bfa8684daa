"""A Control Center restart is seen Started soon after it is, and never looked at more often than a look takes.

Judged on a fake clock: each look at the service costs ``cost`` seconds of it, the service is
Started from ``back_at`` on, and every sleep the wait asks for moves the clock on.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from certops.models import ServiceState, ServiceStatus
from certops.renewal import steps
from certops.units import RestartVia

SERVICE = "Cisco Trust Verification Service"


class _Clock:
    def __init__(self) -> None:
        self.now = 500.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class _Node:
    """Control Center on one node: the restart is asked at t0, the service is Started ``back_at`` later."""

    fqdn = "cucm-sub1.c1.example"

    def __init__(self, clock: _Clock, *, back_at: float, cost: float) -> None:
        self.clock, self.back_at, self.cost = clock, back_at, cost
        self.asked: float | None = None
        self.looks: list[float] = []

    def restart_service_soap(self, name: str) -> None:
        self.asked = self.clock.now

    def service_status(self, names: list[str]) -> list[ServiceStatus]:
        self.looks.append(self.clock.now)
        self.clock.now += self.cost
        assert self.asked is not None
        up = self.clock.now - self.asked >= self.back_at
        return [ServiceStatus(name=SERVICE, state=ServiceState.STARTED if up else ServiceState.STOPPED)]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(time, "monotonic", fake)
    monkeypatch.setenv("CERTOPS_STATE_DIR", str(tmp_path / "state"))  # where the waits' record is kept
    return fake


def _restart(node: _Node, clock: _Clock, history: tuple[str, ...]) -> float:
    return steps.restart_and_confirm(
        node,  # type: ignore[arg-type]
        SERVICE,
        RestartVia.SOAP,
        unit="TVS",
        timeout=600,
        poll=30,
        sleep=clock.sleep,
        history=history,
    )


def test_a_restart_about_as_long_as_the_last_one_is_seen_started_within_a_few_per_cent_of_its_end(clock):
    history = ("c1-known", SERVICE)
    steps.record_seconds(history, 1.0)  # the last restart of this service on this cluster took 1 s
    node = _Node(clock, back_at=0.95, cost=0.005)
    took = _restart(node, clock, history)
    # looks every 3 % of the expected second once near its end, not a fixed tenth of a second apart
    assert 0.95 <= took <= 0.95 + 0.03 + 2 * 0.005
    assert len(node.looks) <= 4  # the first, then none before 0.9 s of it


def test_a_slow_look_sets_the_pace_no_two_looks_closer_than_one_takes(clock):
    history = ("c1-slow", SERVICE)
    steps.record_seconds(history, 1.0)
    node = _Node(clock, back_at=3.0, cost=0.25)  # a busy node: each look takes a quarter of a second
    took = _restart(node, clock, history)
    assert took >= 3.0
    assert all(s >= 0.25 for s in clock.sleeps)  # every pause at least as long as the look before it


def test_the_next_renewals_first_restart_of_a_service_is_looked_at_near_the_time_the_last_one_took(clock):
    from certops.renewal import expected

    history = ("c1-next-process", SERVICE)
    first = _Node(clock, back_at=5.0, cost=0.005)
    _restart(first, clock, history)  # nothing known yet: looks every tenth of the time so far
    expected.forget()  # a new process: a later `certops renew` knows only what the state directory holds
    again = _Node(clock, back_at=5.0, cost=0.005)
    took = _restart(again, clock, history)
    assert 5.0 <= took <= 5.0 + 0.03 * 5.0 + 2 * 0.005
    # the first, then from 0.9 of the last one's time on, every 3 % of it: a fraction of the looks
    assert len(again.looks) <= len(first.looks) // 4


def test_an_unreadable_record_of_past_waits_is_the_same_as_none(clock, tmp_path):
    from certops.renewal import expected

    state = tmp_path / "state"  # the clock fixture's state directory
    state.mkdir()
    (state / expected.FILE_NAME).write_text("{not json")
    expected.forget()
    node = _Node(clock, back_at=2.0, cost=0.005)
    assert _restart(node, clock, ("c1-unreadable", SERVICE)) >= 2.0  # the restart is waited for as without one
    expected.forget()
    assert expected.expected_seconds(("c1-unreadable", SERVICE)) is not None  # and a good record replaces it
