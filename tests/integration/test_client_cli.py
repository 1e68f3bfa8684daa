"""The SSH CLI driver against the simulator: prompt, pager, confirmations, dropped sessions, host keys."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from certops.cucm import parsers
from certops.cucm.node import CucmNode
from certops.cucm.shell import CucmCli
from certops.errors import CliCommandError, CucmAuthError, CucmConnectionError, CucmTrustError
from certops.inventory import Inventory
from certops.models import ServiceState
from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import client_options, inventory_with_passwords

OS_PW = "cli-Os-pw-7"
APP_PW = "cli-App-pw-7"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    opts = client_options(
        tmp_path_factory.mktemp("sim-cli"),
        password=OS_PW,
        app_password=APP_PW,
    )
    with SimulatedFleet(opts) as f:
        yield f


@pytest.fixture()
def inventory(fleet: SimulatedFleet, monkeypatch: pytest.MonkeyPatch) -> Inventory:
    return inventory_with_passwords(fleet, monkeypatch, password=OS_PW, app_password=APP_PW)


def _node_entry(fleet: SimulatedFleet, index: int) -> dict[str, Any]:
    entry: dict[str, Any] = fleet.inventory_dict()["clusters"][0]["nodes"][index]
    return entry


def _cli(fleet: SimulatedFleet, index: int = 0, **kw: Any) -> CucmCli:
    n = _node_entry(fleet, index)
    args: dict[str, Any] = {
        "fqdn": n["fqdn"],
        "address": n["address"],
        "port": n["ssh_port"],
        "username": "certops",
        "password": SecretStr(OS_PW),
        "known_hosts": fleet.known_hosts_path,
        "login_timeout": 30,
        "command_timeout": 30,
    }
    args.update(kw)
    return CucmCli(**args)


def test_version_is_read_after_login(inventory: Inventory) -> None:
    pub = inventory.clusters[0].publisher.fqdn
    with CucmNode.from_inventory(inventory, "c1", pub) as node:
        assert node.active_version().startswith("15.0.")


def test_pager_is_answered_when_pagination_stays_on(fleet: SimulatedFleet, inventory: Inventory) -> None:
    pub = inventory.clusters[0].publisher.fqdn
    with _cli(fleet, pagination_off=False) as cli:
        paged = cli.run("show cert own tomcat")
    with _cli(fleet) as cli:
        unpaged = cli.run("show cert own tomcat")
    assert not paged.failed
    assert len(paged.output.splitlines()) > 24, "the output is longer than one page of the simulated terminal"
    assert "Press <enter>" not in paged.output and "options: q=quit" not in paged.output
    pem = parsers.extract_pem(paged.output)
    assert pem == parsers.extract_pem(unpaged.output)
    with CucmNode.from_inventory(inventory, "c1", pub) as node:
        served = hashlib.sha256(node.served_certificate_der()).hexdigest()
        assert node.read_certificate("tomcat").fingerprint_sha256 == served


def test_output_has_no_ansi_no_carriage_returns_no_echo_and_no_prompt(fleet: SimulatedFleet) -> None:
    with _cli(fleet) as cli:
        result = cli.run("utils service list")
    assert "\r" not in result.output and "\x1b" not in result.output
    assert "admin:" not in result.output and "utils service list" not in result.output
    services = {s.name: s for s in parsers.parse_service_list(result.output)}
    assert services["Cisco Tomcat"].state is ServiceState.STARTED


def test_confirmation_is_answered_when_the_command_expects_it(fleet: SimulatedFleet, inventory: Inventory) -> None:
    pub = inventory.clusters[0].publisher.fqdn
    fleet.set_fault("mixed-mode")
    try:
        with CucmNode.from_inventory(inventory, "c1", pub) as node:
            output = node.ctl_update()
    finally:
        fleet.clear_faults()
    assert "CTL file Updated" in output


def test_unexpected_confirmation_is_answered_no_and_fails(fleet: SimulatedFleet) -> None:
    fleet.set_fault("mixed-mode")
    try:
        with _cli(fleet) as cli:
            result = cli.run("utils ctl update CTLFile")
            after = cli.run("show version active")
    finally:
        fleet.clear_faults()
    assert result.failed and "unexpected confirmation prompt" in result.reason
    with pytest.raises(CliCommandError, match="unexpected confirmation prompt"):
        result.raise_for_status()
    assert not after.failed and "Active Master Version" in after.output


def test_dropped_session_is_a_connection_error_and_the_next_command_reconnects(fleet: SimulatedFleet) -> None:
    n = _node_entry(fleet, 1)
    with _cli(fleet, 1) as cli:
        fleet.set_fault("ssh-drop", node=n["fqdn"], times=1)
        try:
            with pytest.raises(CucmConnectionError) as info:  # a read repeats itself once by default: not here
                cli.run("utils service list", reconnect=False)
        finally:
            fleet.clear_faults()
        assert info.value.transient and "dropped" in str(info.value) and n["fqdn"] in str(info.value)
        assert not cli.is_open
        again = cli.run("show version active")
    assert "Active Master Version" in again.output


def test_tomcat_restart_through_the_cli_waits_until_started(inventory: Inventory) -> None:
    sub = inventory.clusters[0].nodes[1].fqdn
    with CucmNode.from_inventory(inventory, "c1", sub) as node:
        node.restart_service_cli("Cisco Tomcat")
        states = {s.name: s.state for s in node.cli_service_list()}
    assert states["Cisco Tomcat"] is ServiceState.STARTED


def test_sso_and_drf_status_follow_the_cluster_state(fleet: SimulatedFleet, inventory: Inventory) -> None:
    pub = inventory.clusters[0].publisher.fqdn
    with CucmNode.from_inventory(inventory, "c1", pub) as node:
        assert not node.sso_status().enabled
        assert not node.drf_status("backup").running
        fleet.set_fault("sso")
        fleet.set_fault("drf-backup", seconds=30)
        try:
            assert node.sso_status().enabled
            running = node.drf_status("backup")
        finally:
            fleet.clear_faults()
    assert running.running


def test_wrong_password_is_refused_without_retrying(fleet: SimulatedFleet) -> None:
    with pytest.raises(CucmAuthError) as info:
        _cli(fleet, password=SecretStr("wrong")).open()
    assert "refused the SSH login" in str(info.value) and "wrong" not in str(info.value)


def test_host_key_check_off_connects_but_warns_loudly(
    fleet: SimulatedFleet, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with _cli(fleet, known_hosts=tmp_path / "empty", host_key_check=False) as cli:
        assert "Active Master Version" in cli.run("show version active").output
    assert any("SSH HOST KEY CHECKING IS OFF" in r.getMessage() for r in caplog.records)


def test_unknown_host_key_is_refused_with_ssh_keyscan_hint(fleet: SimulatedFleet, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(CucmTrustError) as info:
        _cli(fleet, known_hosts=empty).open()
    assert "ssh-keyscan" in str(info.value) and not info.value.transient


def test_command_that_outlives_its_timeout_fails_and_closes_the_session(fleet: SimulatedFleet) -> None:
    # The login and `set cli pagination off` get the normal timeout (a busy machine may need it);
    # only the restart, which the simulator holds for restart_seconds (0.5 s), gets 0.05 s.
    with _cli(fleet, 0) as cli:
        cli.open()
        with pytest.raises(CliCommandError, match="no admin: prompt after") as info:
            cli.run("utils service restart Cisco Tftp", timeout=0.05)
        assert "check it before rerunning" in (info.value.hint or "")
        assert not cli.is_open
        again = cli.run("show version active", timeout=30)
    assert "Active Master Version" in again.output
