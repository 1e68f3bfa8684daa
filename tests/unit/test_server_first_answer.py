"""An embedded Prefect server counts as started once its API answered, not its health check only.

A fresh server answers ``/api/health`` first and takes about 0.7 s over its first API answer; when
that answer is part of the start, a renewal's first steps do not wait for it (``certops renew``
starts its server before the run). The server process is a stand-in here (a ``sleep``); what is
judged is which addresses the start asks, in which order.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from certops.renewal import server as server_mod
from certops.renewal.server import PrefectServerProcess


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    urls: list[str] = []
    real_popen = subprocess.Popen

    def popen(cmd: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        return real_popen(["sleep", "60"], start_new_session=True, stdout=kwargs.get("stdout"))

    def get(url: str, **kwargs: Any) -> httpx.Response:
        urls.append(url)
        return httpx.Response(200, json="3.0.0", request=httpx.Request("GET", url))

    monkeypatch.setattr(server_mod.subprocess, "Popen", popen)
    monkeypatch.setattr(server_mod.httpx, "get", get)
    monkeypatch.setattr(server_mod, "database_template", lambda: None)
    return urls


def test_the_start_asks_the_api_once_after_health_before_it_returns(asked: list[str], tmp_path: Path):
    with PrefectServerProcess(home=tmp_path / "home", port=54321, startup_timeout=30) as server:
        assert asked == [f"{server.api_url}/health", f"{server.api_url}/admin/version"]


def test_a_first_api_answer_that_fails_still_leaves_a_healthy_server_started(
    asked: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def get(url: str, **kwargs: Any) -> httpx.Response:
        asked.append(url)
        if url.endswith("/admin/version"):
            raise httpx.ReadTimeout("slow", request=httpx.Request("GET", url))
        return httpx.Response(200, json=True, request=httpx.Request("GET", url))

    monkeypatch.setattr(server_mod.httpx, "get", get)
    with PrefectServerProcess(home=tmp_path / "home", port=54322, startup_timeout=30) as server:
        assert server.api_url.endswith(":54322/api")
        assert asked[-1].endswith("/admin/version")
