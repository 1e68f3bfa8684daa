"""An embedded Prefect server counts as started once its API answered, not its health check only.

A fresh server answers ``/api/health`` first and takes about 0.7 s over its first API answer; when
that answer is part of the start, a renewal's first steps do not wait for it (``certops renew``
starts its server before the run). The server process is a stand-in here (a ``sleep``); what is
judged is which addresses the start asks, in which order.
"""

from __future__ import annotations

import http.server
import subprocess
import threading
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from certops.renewal import server as server_mod
from certops.renewal.server import PrefectServerProcess


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server process is a ``sleep``, and no database template is kept."""
    real_popen = subprocess.Popen

    def popen(cmd: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        return real_popen(["sleep", "60"], start_new_session=True, stdout=kwargs.get("stdout"))

    monkeypatch.setattr(server_mod.subprocess, "Popen", popen)
    monkeypatch.setattr(server_mod, "database_template", lambda: None)


@pytest.fixture
def asked(stand_in: None, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    urls: list[str] = []

    def get(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
        urls.append(url)
        return httpx.Response(200, json="3.0.0", request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx.Client, "get", get)
    return urls


def test_the_start_asks_the_api_once_after_health_before_it_returns(asked: list[str], tmp_path: Path):
    with PrefectServerProcess(home=tmp_path / "home", port=54321, startup_timeout=30) as server:
        assert asked == [f"{server.api_url}/health", f"{server.api_url}/admin/version"]


def test_a_first_api_answer_that_fails_still_leaves_a_healthy_server_started(
    asked: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def get(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
        asked.append(url)
        if url.endswith("/admin/version"):
            raise httpx.ReadTimeout("slow", request=httpx.Request("GET", url))
        return httpx.Response(200, json=True, request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx.Client, "get", get)
    with PrefectServerProcess(home=tmp_path / "home", port=54322, startup_timeout=30) as server:
        assert server.api_url.endswith(":54322/api")
        assert asked[-1].endswith("/admin/version")


class _Starting(http.server.BaseHTTPRequestHandler):
    """A server that says 503 to its first health looks (still starting), then 200; counts its connections."""

    protocol_version = "HTTP/1.1"  # keep-alive: a client that keeps its connection asks on one
    looks: ClassVar[list[str]] = []
    connections: ClassVar[int] = 0

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1

    def do_GET(self) -> None:
        type(self).looks.append(self.path)
        starting = self.path.endswith("/health") and len([p for p in self.looks if p.endswith("/health")]) <= 3
        body = b'"starting"' if starting else b'"3.0.0"'
        self.send_response(503 if starting else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_the_start_looks_at_a_starting_server_over_one_connection(stand_in: None, tmp_path: Path):
    """A new client per look builds a TLS context and a connection (~30 ms of CPU beside the starting server)."""
    _Starting.looks, _Starting.connections = [], 0
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Starting)
    serving = threading.Thread(target=httpd.serve_forever, daemon=True)
    serving.start()
    try:
        port = int(httpd.server_address[1])
        with PrefectServerProcess(home=tmp_path / "home", port=port, startup_timeout=30):
            pass
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert _Starting.looks == ["/api/health"] * 4 + ["/api/admin/version"]
    assert _Starting.connections == 1
