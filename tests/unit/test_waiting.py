"""Long waits speak alike: what is waited for, since when, at most how long, then progress, then the end."""

from __future__ import annotations

import time
from typing import Any

import pytest

from certops.models import DrfStatus
from certops.renewal import steps, waiting
from certops.renewal.settings import RenewalSettings
from certops.renewal.waiting import Wait


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_wait_says_at_once_what_since_when_and_at_most_how_long():
    said: list[str] = []
    clock = FakeClock()
    Wait(
        "cluster c1 [ipsec]", "DRF", bound=3600, log=said.append, setting="drf_wait_timeout", every=60, clock=clock
    ).start("a DRF backup runs (40%)")
    assert len(said) == 1
    line = said[0]
    assert line.startswith("cluster c1 [ipsec]: waiting for DRF: a DRF backup runs (40%) (since ")
    assert "UTC); at most 3600 s (60 min) (drf_wait_timeout), progress every 60 s" in line


def test_a_wait_reports_progress_every_interval_and_says_when_it_ends():
    said: list[str] = []
    clock = FakeClock()
    wait = Wait(
        "cluster c1 [CallManager]", "the phones to re-register", bound=600, log=said.append, every=60, clock=clock
    )
    for _ in range(13):  # a look every 10 s for 130 s
        wait.tick("3 of 6 registered")
        clock.sleep(10)
    wait.done("6 of 6 phones registered")
    progress = [s for s in said if "still waiting" in s]
    assert len(said) == 4 and len(progress) == 2  # first line at once, at 60 s and 120 s, the end
    assert "60 s so far, 540 s (9 min) left; 3 of 6 registered" in progress[0]
    assert (
        said[-1]
        == "cluster c1 [CallManager]: 6 of 6 phones registered; waited 130 s (2 min) for the phones to re-register"
    )


def test_a_wait_that_never_started_says_nothing_at_its_end():
    said: list[str] = []
    Wait("n1 [tomcat]", "DRF", bound=10, log=said.append).done("the platform API answers again")
    assert said == []


def test_progress_interval_is_a_renewal_setting():
    assert RenewalSettings().wait_progress_interval == 60
    assert RenewalSettings(wait_progress_interval=5).wait_progress_interval == 5


class _Drf:
    def __init__(self, busy_looks: int) -> None:
        self.looks = busy_looks

    def drf_status(self, op: str) -> DrfStatus:
        if op == "backup":
            self.looks -= 1
            return DrfStatus(operation=op, running=self.looks >= 0, percentage=50)
        return DrfStatus(operation=op, running=False)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    fake = FakeClock()
    monkeypatch.setattr(time, "monotonic", fake)
    yield fake
    waiting.configure(progress_interval=waiting.DEFAULT_PROGRESS_INTERVAL)


def test_a_drf_wait_speaks_at_once_then_at_the_configured_interval_then_at_its_end(clock):
    waiting.configure(progress_interval=30)
    said: list[str] = []
    waited = steps.wait_drf_idle(
        _Drf(busy_looks=10), cluster="c1", unit="ipsec", timeout=3600, poll=10, sleep=clock.sleep, log=said.append
    )
    assert waited == 100
    assert (
        "waiting for DRF: a DRF backup runs (50%)" in said[0]
        and "at most 3600 s (60 min) (drf_wait_timeout)" in said[0]
    )
    assert [s.split("so far")[0].split("): ")[-1] for s in said if "still waiting" in s] == ["30 s ", "60 s ", "90 s "]
    assert said[-1].endswith("the DRF job finished; waited 100 s for DRF")


def test_a_registration_wait_speaks_progress_with_the_count_reached(clock):
    waiting.configure(progress_interval=5)  # the reads come at 1, 2, 3, 4.5, 6.75 ... s (steps.look_delay)
    counts = iter([0, 1, 2, 3, 4, 5, 6])
    said: list[str] = []

    class Api:
        fqdn = "pub"

        def registered_phones(self) -> Any:
            from certops.models import PhoneCount

            return PhoneCount(registered=next(counts), total_seen=6)

    budget = steps.RateBudget(1000, window=60.0, clock=clock, sleep=clock.sleep)
    count, _ = steps.wait_registration(
        Api(),
        cluster="c1",
        unit="CallManager",
        baseline=6,
        timeout=600,
        interval=10,
        budget=budget,
        sleep=clock.sleep,
        log=said.append,
    )
    assert count == 6
    assert "waiting for the phones to re-register (baseline 6): 0 of 6 registered" in said[0]
    assert "at most 600 s (10 min) (registration_timeout)" in said[0]
    assert any("still waiting" in s and "of 6 registered" in s for s in said)
    assert said[-1].startswith("cluster c1 [CallManager]: 6 of 6 phones registered; waited")


def test_a_wait_for_this_hosts_lock_speaks_at_once_then_progress_then_gives_up(clock, monkeypatch, tmp_path):
    from certops.hostlock import Holder, HostLock, HostLockBusy

    monkeypatch.setattr(time, "sleep", clock.sleep)
    held = HostLock("c1", "itl", directory=tmp_path)
    assert held.try_acquire(Holder.this_process(run_id="run-a", unit="TVS"))
    said: list[str] = []
    wait = Wait("cluster c1 [CallManager]", "the host lock", bound=100, log=said.append, every=30, clock=clock)
    try:
        with pytest.raises(HostLockBusy):
            HostLock("c1", "itl", directory=tmp_path).acquire(
                Holder.this_process(run_id="run-b", unit="CallManager"),
                wait=True,
                timeout=100,
                poll=10,
                on_wait=lambda h: wait.tick(f"held by {h.describe() if h else '?'}"),
            )
    finally:
        held.release()
    assert "waiting for the host lock: held by" in said[0] and "run-a" in said[0]
    assert len([s for s in said if "still waiting" in s]) == 3  # at 30, 60 and 90 s of the 100 s
