"""Files certops replaces (renewal state, lock holders, caches): readers see the old or the new content, never half."""

from __future__ import annotations

import json
import os
import threading

import pytest

from certops.atomicfile import replacing, write_atomic
from certops.hostlock import Holder, HostLock
from certops.renewal.state import RenewalState, RenewalStore


@pytest.fixture()
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths ``os.fsync`` flushed to disk, in order (each flush still happens)."""
    paths: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return paths


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "state.json"
    write_atomic(target, '{"csr": "sent"}')
    with pytest.raises(RuntimeError), replacing(target) as tmp:
        tmp.write_text('{"csr": ')
        raise RuntimeError("disk full")
    assert target.read_text() == '{"csr": "sent"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_the_file_gets_the_mode_asked_for_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "shared.json", "{}", mode=0o644)
        write_atomic(tmp_path / "private.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "shared.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private.json").stat().st_mode & 0o777 == 0o600


def test_a_reader_never_sees_a_half_written_file_while_writers_race(tmp_path):
    target = tmp_path / "waits.json"
    write_atomic(target, json.dumps({"n": -1, "pad": "x" * 200_000}))
    stop = threading.Event()
    torn: list[str] = []

    def read() -> None:
        while not stop.is_set():
            text = target.read_text()
            try:
                json.loads(text)
            except ValueError:
                torn.append(text[:40])

    reader = threading.Thread(target=read)
    reader.start()

    def write(start: int) -> None:
        for n in range(start, start + 40):
            write_atomic(target, json.dumps({"n": n, "pad": "x" * 200_000}))

    writers = [threading.Thread(target=write, args=(k * 100,)) for k in range(3)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    assert torn == []
    assert json.loads(target.read_text())["n"] in {39, 139, 239}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["waits.json"]


def test_a_renewals_state_is_flushed_to_disk_with_its_directory_entry(tmp_path, synced):
    store = RenewalStore(tmp_path)
    store.save(RenewalState(cluster="c1", unit="CallManager"))
    saved = [p for p in tmp_path.iterdir() if p.suffix == ".json"]
    assert len(saved) == 1
    assert synced[-1] == str(tmp_path)  # the rename itself survives a power cut
    assert any(name.startswith(str(tmp_path / ".")) for name in synced[:-1])  # the content, before the rename
    assert store.load("c1", "CallManager") is not None


def test_the_lock_holder_file_is_readable_by_every_user_of_the_host(tmp_path):
    old = os.umask(0o077)
    try:
        lock = HostLock("c1", "itl", tmp_path)
        assert lock.try_acquire(Holder.this_process(unit="CallManager"))
    finally:
        os.umask(old)
    try:
        assert lock.holder_path.stat().st_mode & 0o044 == 0o044
        assert json.loads(lock.holder_path.read_text())["unit"] == "CallManager"
    finally:
        lock.release()


def test_a_finished_renewal_moves_to_history_with_both_directories_flushed(tmp_path, synced):
    store = RenewalStore(tmp_path)
    state = RenewalState(cluster="c1", unit="tomcat")
    store.save(state)
    synced.clear()
    store.finish(state, "done")
    assert store.load("c1", "tomcat") is None
    assert [s.status for s in store.finished("c1", "tomcat")] == ["done"]
    assert synced[-2:] == [str(tmp_path / "history"), str(tmp_path)]
