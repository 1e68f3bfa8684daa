"""The Prefect UI of the embedded server (``certops renew`` without PREFECT_API_URL, ``certops demo
--keep``) talks to that server's own API, not to port 4200 ("Oops. Something went wrong.")."""

from __future__ import annotations

import httpx

from certops.renewal.server import PrefectServerProcess, database_template


def test_the_embedded_servers_ui_settings_name_its_own_api_even_when_the_shell_names_another(monkeypatch):
    # what the browser's UI reads first (prefect/server/api/server.py: GET <ui>/ui-settings)
    monkeypatch.setenv("PREFECT_UI_API_URL", "http://127.0.0.1:4200/api")  # someone else's server
    with PrefectServerProcess() as server:
        assert server.port != 4200
        settings = httpx.get(f"{server.ui_url}/ui-settings", timeout=10).json()
        assert settings["api_url"] == server.api_url
        assert httpx.get(f"{settings['api_url']}/health", timeout=10).status_code == 200


def test_a_new_embedded_server_starts_from_a_migrated_database_that_holds_nothing_of_the_last_one(
    tmp_path, monkeypatch
):
    # the first start migrates a new database and keeps a copy of it, still empty, for the next
    # start (half of a server's start-up CPU); nothing one server stored may reach the next
    monkeypatch.setenv("CERTOPS_CACHE_DIR", str(tmp_path / "cache"))
    template = database_template()
    assert template is not None and not template.exists()
    with PrefectServerProcess() as first:
        assert template.is_file()
        made = httpx.post(f"{first.api_url}/flows/", json={"name": "made-by-the-first-server"}, timeout=10)
        assert made.status_code == 201
    with PrefectServerProcess() as second:
        assert (second.home / "prefect.db").is_file()
        flows = httpx.post(f"{second.api_url}/flows/filter", json={}, timeout=10).json()
        assert [f["name"] for f in flows] == []
        # and it works as a server: it stores and returns what it is given
        assert httpx.post(f"{second.api_url}/flows/", json={"name": "x"}, timeout=10).status_code == 201
