"""A real Prefect server in a subprocess, on 127.0.0.1, with its own temporary home.

Used by the test fixture, ``certops demo`` and ``certops renew`` when no ``PREFECT_API_URL``
is set. It runs ``prefect server start`` as a child process (so other processes — workers, a
second ``certops approve`` — can talk to it), with filesystem lease storage so a concurrency
slot survives a server restart (prefect-notes §2) and analytics off. This module never imports
Prefect: it only starts the command and waits for ``/api/health``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from certops.errors import CertopsError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrefectServerProcess:
    """``prefect server start --host 127.0.0.1 --port <free>`` with a temporary ``PREFECT_HOME``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``api_url`` is the value
    for ``PREFECT_API_URL``; ``ui_url`` the address of the Prefect UI.
    """

    def __init__(self, *, home: Path | None = None, port: int | None = None, startup_timeout: float = 90.0) -> None:
        self._own_home = home is None
        self.home = home or Path(tempfile.mkdtemp(prefix="certops-prefect-"))
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
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
            }
        )
        env.pop("PREFECT_API_URL", None)
        return env

    def start(self) -> PrefectServerProcess:
        """Start the server and wait until ``/api/health`` answers; raise with the log tail if not."""
        prefect_bin = Path(sys.executable).parent / "prefect"
        cmd = [str(prefect_bin) if prefect_bin.exists() else "prefect", "server", "start"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        self.home.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            cmd, env=self.environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise CertopsError(
            f"the Prefect server on 127.0.0.1:{self.port} did not become healthy within {self.startup_timeout:.0f} s",
            hint=f"server log:\n{tail}",
        )

    def stop(self) -> None:
        """Stop the server (SIGINT, then SIGKILL after 15 s) and remove its temporary home."""
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
