"""The host-wide lock: one certops process per cluster and ITL group on a machine, freed when its holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from certops.hostlock import Holder, HostLock, HostLockBusy, process_alive, process_start_time

ROOT = Path(__file__).resolve().parents[2]

_CHILD = (
    "import sys\n"
    "from pathlib import Path\n"
    "from certops.hostlock import Holder, HostLock\n"
    "lock = HostLock('c1', 'itl', Path(sys.argv[1]))\n"
    "assert lock.try_acquire(Holder.this_process(run_id='run-child', unit='CallManager'))\n"
    "print('held', flush=True)\n"
    "sys.stdin.readline()\n"
)


def _child_holding(directory: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(directory)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_cannot_take_the_lock_and_is_told_who_holds_it(tmp_path):
    child = _child_holding(tmp_path)
    try:
        lock = HostLock("c1", "itl", tmp_path)
        assert not lock.try_acquire(Holder.this_process(unit="TVS"))
        with pytest.raises(HostLockBusy) as err:
            lock.acquire(Holder.this_process(unit="TVS"), wait=False, timeout=0)
        assert err.value.holder is not None and err.value.holder.pid == child.pid
        assert "CallManager (run run-child)" in str(err.value) and f"process {child.pid}" in str(err.value)
        assert lock.current_holder() == err.value.holder
    finally:
        child.kill()
        child.wait(timeout=10)


def test_the_lock_is_free_the_moment_its_holder_is_killed(tmp_path):
    child = _child_holding(tmp_path)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    lock = HostLock("c1", "itl", tmp_path)
    assert lock.current_holder() is None
    assert lock.try_acquire(Holder.this_process(unit="TVS"))
    assert lock.read_holder() is not None and lock.read_holder().unit == "TVS"  # type: ignore[union-attr]
    lock.release()
    assert lock.current_holder() is None


def test_two_threads_of_one_process_exclude_each_other_too(tmp_path):
    first, second = HostLock("c1", "itl", tmp_path), HostLock("c1", "itl", tmp_path)
    assert first.try_acquire(Holder.this_process(unit="CallManager"))
    assert not second.try_acquire(Holder.this_process(unit="TVS"))
    first.release()
    assert second.try_acquire(Holder.this_process(unit="TVS"))
    second.release()


def test_other_clusters_and_groups_have_their_own_lock(tmp_path):
    a = HostLock("c1", "itl", tmp_path)
    assert a.try_acquire(Holder.this_process())
    assert HostLock("c2", "itl", tmp_path).try_acquire(Holder.this_process())
    assert HostLock("c1", "tomcat", tmp_path).try_acquire(Holder.this_process())


def test_lock_directory_comes_from_certops_lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTOPS_LOCK_DIR", str(tmp_path / "locks"))
    assert HostLock("c1", "itl").path == tmp_path / "locks" / "c1__itl.lock"


def test_a_dead_or_reused_pid_is_not_alive(tmp_path):
    me = os.getpid()
    assert process_alive(me, process_start_time(me))
    assert not process_alive(me, "1")  # same PID, another start time: a reused PID
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=10)
    assert not process_alive(child.pid, None)
