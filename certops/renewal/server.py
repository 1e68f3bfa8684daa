"""A real Prefect server in a subprocess, on 127.0.0.1, with its own temporary home.

Used by the test fixture, ``certops demo`` and ``certops renew`` when no ``PREFECT_API_URL``
is set. It runs ``prefect server start`` as a child process (so other processes — workers, a
second ``certops approve`` — can talk to it), with filesystem lease storage so a concurrency
slot survives a server restart (prefect-notes §2) and analytics off. The child is
``python -m certops.cli.prefect_server``: Prefect's command, with every SQLite write transaction
begun ``IMMEDIATE``, so two writers wait for each other instead of one being refused with a 503
(see that module). This module never imports Prefect: it only starts the command and waits for
``/api/health``.

The UI is told its own API (``PREFECT_UI_API_URL``): without it the Prefect UI of a server on any
port but 4200 talks to port 4200 ("Oops. Something went wrong.", or someone else's server).

``announce=True`` (``certops renew`` without ``PREFECT_API_URL``) makes the server discoverable
while it runs: a small file (URL, PID) in ``$CERTOPS_RUNTIME_DIR`` (default
``/tmp/certops-servers``, shared by every user of the host), removed when it stops.
``certops pending / approve / deny`` without ``PREFECT_API_URL`` use it (:func:`discovered_servers`)
when the process that wrote it still runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import importlib.metadata
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx
from pydantic import BaseModel, ConfigDict

from certops.atomicfile import replacing, write_atomic
from certops.cachedir import cache_dir
from certops.errors import CertopsError
from certops.hostlock import process_alive, process_start_time

RUNTIME_DIR_ENV = "CERTOPS_RUNTIME_DIR"
DEFAULT_RUNTIME_DIR = Path("/tmp/certops-servers")  # noqa: S108  (host-wide on purpose, like the host locks)


def runtime_dir() -> Path:
    """``$CERTOPS_RUNTIME_DIR``, else ``/tmp/certops-servers``: where running embedded servers announce themselves."""
    env = os.environ.get(RUNTIME_DIR_ENV)
    return Path(env) if env else DEFAULT_RUNTIME_DIR


class ServerAnnouncement(BaseModel):
    """The discovery file of an embedded Prefect server: where it listens and which process owns it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    api_url: str
    ui_url: str
    pid: int  # the certops process that started the server (and stops it)
    process_start: str | None = None
    server_pid: int | None = None
    user: str = ""
    started: dt.datetime

    def alive(self) -> bool:
        """True while the process that started the server still runs (the very process, not a reused PID)."""
        return process_alive(self.pid, self.process_start)

    def describe(self) -> str:
        """``http://127.0.0.1:PORT/api (embedded server of certops renew, PID 123, user alice)``."""
        who = f", user {self.user}" if self.user else ""
        return f"{self.api_url} (the embedded Prefect server of certops renew, PID {self.pid}{who})"


def discovered_servers(directory: Path | None = None) -> list[ServerAnnouncement]:
    """The embedded servers announced on this host whose owning process still runs, newest first."""
    folder = directory or runtime_dir()
    found: list[ServerAnnouncement] = []
    for path in sorted(folder.glob("prefect-*.json")) if folder.is_dir() else []:
        try:
            ann = ServerAnnouncement.model_validate_json(path.read_text())
        except (OSError, ValueError):
            continue
        if ann.alive():
            found.append(ann)
    return sorted(found, key=lambda a: a.started, reverse=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


STARTUP_TIMEOUT_ENV = "CERTOPS_PREFECT_STARTUP_TIMEOUT"
DEFAULT_STARTUP_TIMEOUT = 180.0
"""Seconds an embedded server may take to answer ``/api/health``: its first start migrates a new
database, which takes a few seconds on an idle machine and minutes on a busy 2-core one."""
HEALTH_POLL = 0.1  # seconds between looks at a starting server's /api/health (each look costs ~1 ms on one client)


def default_startup_timeout() -> float:
    """``$CERTOPS_PREFECT_STARTUP_TIMEOUT`` (seconds) when set to a positive number, else 180."""
    raw = os.environ.get(STARTUP_TIMEOUT_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_STARTUP_TIMEOUT
    return value if value > 0 else DEFAULT_STARTUP_TIMEOUT


DB_URL_ENV = "PREFECT_API_DATABASE_CONNECTION_URL"


def database_template() -> Path | None:
    """Where a migrated, empty Prefect database of the installed Prefect version is kept (None: unknown version).

    A new server's first start migrates its SQLite database (about half of its start-up CPU);
    starting from a copy of one already migrated by the same Prefect version skips that.
    """
    try:
        version = importlib.metadata.version("prefect")
    except importlib.metadata.PackageNotFoundError:
        return None
    return cache_dir() / f"prefect-{version}.db"


def _save_template(live_db: Path, template: Path) -> None:
    """Copy the live (just started, still empty) database consistently into the cache; errors cost only speed."""
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        # replaced atomically: a concurrent start copies the old file or the new one, never half
        with (
            replacing(template, mode=0o644) as tmp,
            contextlib.closing(sqlite3.connect(live_db)) as src,
            contextlib.closing(sqlite3.connect(tmp)) as dst,
        ):
            src.backup(dst)  # SQLite's online backup: a consistent copy of a database in use
    except (OSError, sqlite3.Error):
        pass


def _die_with_parent() -> None:
    """In the server's child process: ask Linux for SIGTERM when the process that started it dies."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class PrefectServerProcess:
    """``prefect server start --host 127.0.0.1 --port <free>`` with a temporary ``PREFECT_HOME``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``api_url`` is the value
    for ``PREFECT_API_URL``; ``ui_url`` the address of the Prefect UI.
    """

    def __init__(
        self,
        *,
        home: Path | None = None,
        port: int | None = None,
        startup_timeout: float | None = None,
        announce: bool = False,
    ) -> None:
        self._own_home = home is None
        self.announce = announce
        self.announcement_path: Path | None = None
        self.home = home or Path(tempfile.mkdtemp(prefix="certops-prefect-"))
        self._own_port = port is None
        self.port = port or free_port()
        self.startup_timeout = startup_timeout if startup_timeout is not None else default_startup_timeout()
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.home / "server.log"

    @property
    def api_url(self) -> str:
        """The API address, for ``PREFECT_API_URL``."""
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        """The Prefect UI address."""
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """The environment the server (and any worker started against it) runs with."""
        env = dict(os.environ)
        env.update(
            {
                "PREFECT_HOME": str(self.home),
                "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect.server.concurrency.lease_storage.filesystem",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SERVER_UI_ENABLED": "true",
                "PREFECT_LOGGING_LEVEL": "WARNING",
                # the UI's own API (GET /ui-settings); unset, the UI calls 127.0.0.1:4200
                "PREFECT_UI_API_URL": self.api_url,
            }
        )
        env.pop("PREFECT_API_URL", None)
        return env

    def start(self) -> PrefectServerProcess:
        """Start the server and wait until ``/api/health`` answers (then the API once); raise with the log tail if not.

        A port picked here that another process took in the meantime is replaced by a new one (3 tries).
        """
        attempts = 3 if self._own_port else 1
        for attempt in range(attempts):
            try:
                started = self._start_once()
            except BaseException:
                self.stop()  # Ctrl-C or SIGTERM while waiting for health: the child goes too
                raise
            if started:
                return self
            taken = self._proc is None and "already in use" in self.log_path.read_text(errors="replace")
            if not taken or attempt + 1 == attempts:
                break
            self.port = free_port()
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise CertopsError(
            f"the Prefect server on 127.0.0.1:{self.port} did not become healthy within {self.startup_timeout:.0f} s",
            hint=f"on a busy machine allow it longer ({STARTUP_TIMEOUT_ENV}=SECONDS; now "
            f"{self.startup_timeout:.0f}), or set PREFECT_API_URL to a Prefect server that runs already. "
            f"Server log:\n{tail}",
        )

    def _start_once(self) -> bool:
        """One start; True once healthy. False when the process ended (e.g. its port was taken) or timed out."""
        # Prefect's own command, with SQLite write transactions begun IMMEDIATE (certops.cli.prefect_server)
        cmd = [sys.executable, "-m", "certops.cli.prefect_server", "server", "start"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        self.home.mkdir(parents=True, exist_ok=True)
        seeded = self._seed_database()
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            cmd,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # certops renew's own server ends with it, even when it is killed with SIGKILL
            preexec_fn=_die_with_parent if self.announce else None,
        )
        log.close()
        deadline = time.monotonic() + self.startup_timeout
        # one client for every look: a new one per look builds a TLS context from certifi's bundle
        # (about 30 ms of CPU, taken from the server starting beside it on a small machine)
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    break
                try:
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        self._first_answer(client, deadline)
                        template = database_template()
                        if not seeded and template is not None and not template.exists() and self._sqlite_db():
                            _save_template(self.home / "prefect.db", template)
                        if self.announce:
                            self._write_announcement()
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(HEALTH_POLL)
        if self._proc.poll() is None:
            return False  # timed out while running: stop() ends it
        self._proc = None
        return False

    def _first_answer(self, client: httpx.Client, deadline: float) -> None:
        """Ask the API once (``/admin/version``) before the server counts as started.

        ``/api/health`` answers before the API has answered anything else, and a fresh server's first
        API answer takes about 0.7 s (measured on 2 cores): that is part of starting it, not of the
        first renewal (``benchmarks/renewal_overhead.py``, ``docs/operations.md``). A server that
        does not answer it in time still counts as started: health said so, and the run's own
        requests retry.
        """
        with contextlib.suppress(httpx.HTTPError):
            client.get(f"{self.api_url}/admin/version", timeout=max(1.0, min(30.0, deadline - time.monotonic())))

    def _sqlite_db(self) -> bool:
        """True when the server keeps its database in ``PREFECT_HOME/prefect.db`` (no database URL set)."""
        return not os.environ.get(DB_URL_ENV)

    def _seed_database(self) -> bool:
        """Start from a copy of the migrated template database when this home has none yet; True if copied."""
        db = self.home / "prefect.db"
        template = database_template()
        if template is None or db.exists() or not self._sqlite_db() or not template.is_file():
            return False
        try:
            shutil.copyfile(template, db)
        except OSError:
            return False
        return True

    def _write_announcement(self) -> None:
        """Write the discovery file (atomically); a folder that cannot be written only costs discovery."""
        assert self._proc is not None
        pid = os.getpid()
        ann = ServerAnnouncement(
            api_url=self.api_url,
            ui_url=self.ui_url,
            pid=pid,
            process_start=process_start_time(pid),
            server_pid=self._proc.pid,
            user=getpass.getuser(),
            started=dt.datetime.now(dt.UTC),
        )
        folder = runtime_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(PermissionError):
                os.chmod(folder, 0o1777)  # noqa: S103  (shared by every user of the host, sticky like /tmp)
            path = folder / f"prefect-{os.getuid()}-{pid}-{self.port}.json"
            write_atomic(path, ann.model_dump_json(), mode=0o644)
        except OSError:
            return
        self.announcement_path = path

    def stop(self) -> None:
        """Stop the server (SIGINT, then SIGKILL after 15 s) and remove its temporary home."""
        path, self.announcement_path = self.announcement_path, None
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGINT)
                proc.wait(timeout=15)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> PrefectServerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
