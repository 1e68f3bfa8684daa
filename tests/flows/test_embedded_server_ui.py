"""The Prefect UI of the embedded server (``certops renew`` without PREFECT_API_URL, ``certops demo
--keep``) talks to that server's own API, not to port 4200 ("Oops. Something went wrong.")."""

from __future__ import annotations

import httpx

from certops.renewal.server import PrefectServerProcess


def test_the_embedded_servers_ui_settings_name_its_own_api_even_when_the_shell_names_another(monkeypatch):
    # what the browser's UI reads first (prefect/server/api/server.py: GET <ui>/ui-settings)
    monkeypatch.setenv("PREFECT_UI_API_URL", "http://127.0.0.1:4200/api")  # someone else's server
    with PrefectServerProcess() as server:
        assert server.port != 4200
        settings = httpx.get(f"{server.ui_url}/ui-settings", timeout=10).json()
        assert settings["api_url"] == server.api_url
        assert httpx.get(f"{settings['api_url']}/health", timeout=10).status_code == 200
