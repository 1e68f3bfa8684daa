"""A host-wide lock per (cluster, lock key): two certops processes on one machine never renew at once.

The Prefect claim (``flows/_locks.py``) only binds runs of one Prefect server; two ``certops
renew`` processes without ``PREFECT_API_URL`` each start their own embedded server and would not
see each other. On one machine they share the file system, so each renewal also holds an
``fcntl.flock`` on ``$CERTOPS_LOCK_DIR/<cluster>__<key>.lock`` (default ``/tmp/certops-locks``)
from before its first look at the cluster until its run ends, pauses for approval or suspends.
The kernel releases a flock when its process dies, so a killed holder never leaves it behind.
Who holds it (host, PID, process start time, run, unit, since) is written next to it, in
``<name>.holder-<uid>.json``, for ``certops lock status`` and the dry run. Across machines only the
on-cluster check (``certops.renewal.inflight``) protects.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from pydantic import BaseModel, ConfigDict

from certops.atomicfile import write_atomic

LOCK_DIR_ENV = "CERTOPS_LOCK_DIR"
DEFAULT_LOCK_DIR = Path("/tmp/certops-locks")  # noqa: S108  (host-wide on purpose: every user's certops)


def lock_dir() -> Path:
    """``$CERTOPS_LOCK_DIR``, else ``/tmp/certops-locks`` (shared by every user's certops on this host)."""
    env = os.environ.get(LOCK_DIR_ENV)
    return Path(env) if env else DEFAULT_LOCK_DIR


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def process_start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, from ``/proc``), or None if it does not exist.

    With the PID it identifies one process: a PID reused by a later process has another start time.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def process_alive(pid: int, start_time: str | None) -> bool:
    """True when ``pid`` runs and (when known) started at ``start_time``: the very process recorded."""
    now = process_start_time(pid)
    if now is None:
        return False
    return start_time is None or now == start_time


class Holder(BaseModel):
    """Who holds a host lock (or a Prefect claim): enough to prove the holder dead."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    host: str
    pid: int
    process_start: str | None = None
    run_id: str = ""
    unit: str = ""
    since: dt.datetime

    @classmethod
    def this_process(cls, *, run_id: str = "", unit: str = "") -> Holder:
        """The current process as a holder."""
        pid = os.getpid()
        return cls(
            host=socket.gethostname(),
            pid=pid,
            process_start=process_start_time(pid),
            run_id=run_id,
            unit=unit,
            since=dt.datetime.now(dt.UTC),
        )

    def describe(self) -> str:
        """``CallManager (run R) in process 123 on host h since 2026-12-01 21:00 UTC``."""
        run = f" (run {self.run_id})" if self.run_id else ""
        return (
            f"{self.unit or 'a renewal'}{run} in process {self.pid} on host {self.host} "
            f"since {self.since:%Y-%m-%d %H:%M} UTC"
        )


class HostLockBusy(Exception):
    """The host lock is held by another process (``holder`` when it could be read)."""

    def __init__(self, path: Path, holder: Holder | None) -> None:
        self.path = path
        self.holder = holder
        who = holder.describe() if holder else "another process (its holder file is unreadable)"
        super().__init__(f"{path} is held by {who}")


class HostLock:
    """``fcntl.flock`` on ``<dir>/<cluster>__<key>.lock``, exclusive, held by this object until :meth:`release`.

    Each acquisition opens the file anew, so two threads of one process exclude each other too
    (a flock belongs to an open file description).
    """

    def __init__(self, cluster: str, key: str, directory: Path | None = None) -> None:
        self.cluster = cluster
        self.key = key
        self.directory = directory or lock_dir()
        self.path = self.directory / f"{_slug(cluster)}__{_slug(key)}.lock"
        # one holder file per user: in a sticky shared directory nobody can replace another user's file
        self.holder_path = self.directory / f"{self.path.stem}.holder-{os.getuid()}.json"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def _open(self) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(self.directory, 0o1777)  # noqa: S103  (shared by every user of the host, sticky like /tmp)
        # flock needs no write access: every user can lock a file another user created
        return os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)

    def try_acquire(self, holder: Holder) -> bool:
        """Take the lock if free (never blocks); record ``holder``. True when taken."""
        if self._fd is not None:
            return True
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        write_atomic(self.holder_path, holder.model_dump_json(), mode=0o644)
        return True

    def acquire(
        self,
        holder: Holder,
        *,
        wait: bool,
        timeout: float,
        poll: float = 1.0,
        on_wait: Callable[[Holder | None], None] | None = None,
    ) -> None:
        """Take the lock; while busy, wait (bounded by ``timeout``) or, with ``wait=False``, raise ``HostLockBusy``.

        ``on_wait(holder)`` is called at each look while busy (``certops.renewal.waiting.Wait`` decides what to say).
        """
        deadline = time.monotonic() + timeout
        while not self.try_acquire(holder):
            current = self.read_holder()
            if not wait or time.monotonic() >= deadline:
                raise HostLockBusy(self.path, current)
            if on_wait is not None:
                on_wait(current)
            time.sleep(poll)

    def release(self) -> None:
        """Release the lock (and forget the holder file) if held; safe to call twice."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.holder_path.unlink()
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def read_holder(self) -> Holder | None:
        """The most recently recorded holder, or None (no file, or unreadable)."""
        found: list[Holder] = []
        for path in self.directory.glob(f"{self.path.stem}.holder-*.json"):
            try:
                found.append(Holder.model_validate(json.loads(path.read_text())))
            except (OSError, ValueError):
                continue
        return max(found, key=lambda h: h.since) if found else None

    def current_holder(self) -> Holder | None:
        """Who holds the lock now, or None when it is free (probed without blocking anyone for long)."""
        if self._fd is not None:
            return self.read_holder()
        if not self.path.exists():
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return self.read_holder() or Holder(host="?", pid=0, since=dt.datetime.now(dt.UTC))
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def __enter__(self) -> HostLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
