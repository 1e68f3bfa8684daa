"""A Control Center restart is seen Started soon after it is, and never looked at more often than a look takes.

Restarts of one length are seen ever sooner after their end; one far longer than the last costs
no storm of looks.

Judged on a fake clock: each look at the service costs ``cost`` seconds of it, the service is
Started from ``back_at`` on, and every sleep the wait asks for moves the clock on.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from certops.models import ServiceState, ServiceStatus
from certops.renewal import expected, steps
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
    expected.record_span(history, 0.97, 1.0)  # the last restart here: not Started at 0.97 s, Started by 1 s
    node = _Node(clock, back_at=0.95, cost=0.005)
    took = _restart(node, clock, history)
    # looks every 3 % of the expected second once near its end, not a fixed tenth of a second apart
    assert 0.95 <= took <= 0.95 + 0.03 + 3 * 0.005
    assert len(node.looks) <= 4  # the first, then none before 0.9 s of it


def test_a_slow_look_sets_the_pace_no_two_looks_closer_than_one_takes(clock):
    history = ("c1-slow", SERVICE)
    expected.record_span(history, 0.97, 1.0)
    node = _Node(clock, back_at=3.0, cost=0.25)  # a busy node: each look takes a quarter of a second
    took = _restart(node, clock, history)
    assert took >= 3.0
    assert all(s >= 0.25 for s in clock.sleeps)  # every pause at least as long as the look before it


def test_the_next_renewals_first_restart_of_a_service_is_looked_at_near_the_time_the_last_one_took(clock):
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
    state = tmp_path / "state"  # the clock fixture's state directory
    state.mkdir()
    (state / expected.FILE_NAME).write_text("{not json")
    expected.forget()
    node = _Node(clock, back_at=2.0, cost=0.005)
    assert _restart(node, clock, ("c1-unreadable", SERVICE)) >= 2.0  # the restart is waited for as without one
    expected.forget()
    assert expected.expected_span(("c1-unreadable", SERVICE)) is not None  # and a good record replaces it


def test_a_record_written_by_an_earlier_version_still_times_the_first_look(clock, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / expected.FILE_NAME).write_text(json.dumps({json.dumps(["c1-old", SERVICE]): 4.0}))  # a lower bound
    expected.forget()
    node = _Node(clock, back_at=4.1, cost=0.005)
    took = _restart(node, clock, ("c1-old", SERVICE))
    assert 4.1 <= took <= 4.1 + 0.03 * 4.0 + 2 * 0.005
    assert node.looks[1] - node.looks[0] >= 0.9 * 4.0 - 0.01  # nothing between the first look and 0.9 of it


@pytest.mark.parametrize("length", [1.0, 1.37, 2.13])
def test_restarts_of_one_length_are_seen_started_ever_closer_to_their_end(clock, length):
    history = (f"c1-steady-{length}", SERVICE)
    late: list[float] = []
    for _ in range(7):  # the publisher and six subscribers, each restart as long as the others
        node = _Node(clock, back_at=length, cost=0.002)
        late.append(_restart(node, clock, history) - length)
    # the first knows nothing (up to a tenth late); each later one halves the span the looks left
    assert late[-1] <= 0.01 * length
    assert late[-1] < late[0]


def test_a_restart_far_longer_than_the_last_one_is_not_looked_at_every_few_hundredths_of_a_second(clock):
    history = ("c1-stale", SERVICE)
    expected.record_span(history, 0.97, 1.0)  # last time a second; now the node takes a minute
    node = _Node(clock, back_at=60.0, cost=0.005)
    took = _restart(node, clock, history)
    assert 60.0 <= took <= 60.0 * 1.1 + 0.01  # still seen within a tenth of its time
    assert len(node.looks) <= 60  # every 3 % of one second for a minute would be about 2,000 looks


def test_the_span_kept_is_what_two_waits_share_or_the_newer_when_they_share_nothing():
    assert expected.merged(expected.Span(1.0, 2.0), 1.5, 3.0) == expected.Span(1.5, 2.0)
    assert expected.merged(expected.Span(1.0, 2.0), 2.5, 3.0) == expected.Span(2.5, 3.0)  # longer now
    assert expected.merged(expected.Span(1.0), 1.2, 1.3) == expected.Span(1.2, 1.3)  # a lower bound only
    assert expected.merged(None, 0.4, 0.5) == expected.Span(0.4, 0.5)
