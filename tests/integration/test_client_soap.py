"""SOAP clients (Control Center, RisPort70, AXL) against the simulator over verified TLS."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from certops.cucm.node import CucmNode
from certops.cucm.soap import RisPortClient
from certops.errors import CucmApiError, CucmAuthError, CucmRateLimited
from certops.inventory import Inventory
from certops.models import ServiceState
from simulator.fleet import FleetOptions, SimulatedFleet
from tests.fixtures.simulator import inventory_with_passwords, restarts_ended, wait_restart_ended

OS_PW = "soap-Os-pw-3"
APP_PW = "soap-App-pw-3"
PHONES = 23


def _options(tmp: object, **kw: object) -> FleetOptions:
    base: dict[str, object] = {
        "clusters": 1,
        "nodes": 2,
        "username": "certops",
        "password": OS_PW,
        "app_username": "app",
        "app_password": APP_PW,
        "version": "15.0",
        "phones_per_cluster": PHONES,
        "state_dir": tmp,
    }
    base.update(kw)
    return FleetOptions(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    with SimulatedFleet(_options(tmp_path_factory.mktemp("sim-soap"), ris_rate_limit=1000)) as f:
        yield f


@pytest.fixture()
def inventory(fleet: SimulatedFleet, monkeypatch: pytest.MonkeyPatch) -> Inventory:
    return inventory_with_passwords(fleet, monkeypatch, password=OS_PW, app_password=APP_PW)


def _node(inventory: Inventory, index: int = 0) -> CucmNode:
    return CucmNode.from_inventory(inventory, "c1", inventory.clusters[0].nodes[index].fqdn)


def test_service_status_reports_requested_services(inventory: Inventory) -> None:
    with _node(inventory) as node:
        services = {s.name: s for s in node.service_status(["Cisco CallManager", "Cisco Tftp"])}
    assert set(services) == {"Cisco CallManager", "Cisco Tftp"}
    assert services["Cisco CallManager"].state is ServiceState.STARTED


def test_service_status_without_names_lists_every_service(inventory: Inventory) -> None:
    with _node(inventory) as node:
        names = {s.name for s in node.service_status()}
    assert {"Cisco CallManager", "Cisco Tftp", "Cisco Trust Verification Service"} <= names


def test_soap_restart_is_accepted_and_the_service_comes_back(inventory: Inventory) -> None:
    with _node(inventory, 1) as node:
        node.restart_service_soap("Cisco Tftp")
        deadline = time.monotonic() + 15
        state = ServiceState.UNKNOWN
        while time.monotonic() < deadline:
            state = node.service_status(["Cisco Tftp"])[0].state
            if state is ServiceState.STARTED:
                break
            time.sleep(0.2)
    assert state is ServiceState.STARTED


def test_tomcat_is_never_restarted_through_control_center(inventory: Inventory) -> None:
    with _node(inventory) as node, pytest.raises(CucmApiError, match="utils service restart"):
        node.restart_service_soap("Cisco Tomcat")


def test_failing_restart_leaves_the_service_stopped(fleet: SimulatedFleet, inventory: Inventory) -> None:
    sub = inventory.clusters[0].nodes[1].fqdn
    fleet.set_fault("restart-fails", node=sub, service="Cisco Tftp")
    before = len(restarts_ended(fleet, sub, "Cisco Tftp"))
    try:
        with _node(inventory, 1) as node:
            # Refusing the restart is as good as accepting it and leaving the service stopped.
            try:
                node.restart_service_soap("Cisco Tftp")
            except CucmApiError:
                refused = True
            else:
                refused = False
                wait_restart_ended(fleet, sub, "Cisco Tftp", before)  # its record, not a fixed time
            state = node.service_status(["Cisco Tftp"])[0].state
    finally:
        fleet.clear_faults()
    assert state is not ServiceState.STARTED
    if not refused:
        assert [e["detail"]["result"] for e in restarts_ended(fleet, sub, "Cisco Tftp")[before:]] == ["failed"]


def test_registered_phones_are_counted_over_every_page(inventory: Inventory) -> None:
    with _node(inventory) as node:
        whole = node.risport().registered_phone_count()
        paged = node.risport().registered_phone_count(max_devices=5)
    assert whole.registered == PHONES and whole.total_seen == PHONES
    assert paged.registered == PHONES and paged.total_seen == PHONES
    assert paged.requests_used >= PHONES // 5


def test_cluster_security_mode_and_sso_modes_through_axl(fleet: SimulatedFleet, inventory: Inventory) -> None:
    with _node(inventory) as node:
        assert node.cluster_security_mode() == 0
        fleet.set_fault("mixed-mode")
        try:
            assert node.cluster_security_mode() == 1
        finally:
            fleet.clear_faults()
        off = node.axl().sso_modes()
        fleet.set_fault("sso")
        try:
            on = node.axl().sso_modes()
        finally:
            fleet.clear_faults()
    fqdns = [n.fqdn for n in inventory.clusters[0].nodes]
    assert all(off[f] == 0 for f in fqdns)
    assert all(on[f] == 2 for f in fqdns), "SAML SSO is mode 2 in processnode.tkssomode"


def test_phones_are_listed_and_one_reset_re_registers(inventory: Inventory) -> None:
    with _node(inventory) as node:
        phones = node.list_phones()
        assert len(phones) == PHONES and len(set(phones)) == PHONES
        node.reset_phone(phones[0])
        deadline = time.monotonic() + 15
        count = node.registered_phones()
        while count.registered < PHONES and time.monotonic() < deadline:
            time.sleep(0.3)
            count = node.registered_phones()
    assert count.registered == PHONES


def test_wrong_application_password_is_an_auth_error(fleet: SimulatedFleet, inventory: Inventory) -> None:
    n = fleet.inventory_dict()["clusters"][0]["nodes"][0]
    client = RisPortClient(
        fqdn=n["fqdn"],
        address=n["address"],
        port=n["soap_port"],
        username="app",
        password=SecretStr("bad"),
        ca_bundle=fleet.ca_bundle_path,
    )
    with client, pytest.raises(CucmAuthError, match="application user"):
        client.select_cm_device()


def test_ris_rate_limit_is_reported_and_backoff_recovers(tmp_path_factory: pytest.TempPathFactory) -> None:
    # a 5 s window: the three requests fall into it however busy the machine (1 s was close)
    opts = _options(tmp_path_factory.mktemp("sim-ris"), nodes=1, ris_rate_limit=2, ris_rate_window=5.0)
    with SimulatedFleet(opts) as fleet:
        n = fleet.inventory_dict()["clusters"][0]["nodes"][0]
        client = RisPortClient(
            fqdn=n["fqdn"],
            address=n["address"],
            port=n["soap_port"],
            username="app",
            password=SecretStr(APP_PW),
            ca_bundle=fleet.ca_bundle_path,
        )
        with client:
            client.select_cm_device()
            client.select_cm_device()
            with pytest.raises(CucmRateLimited) as info:
                client.select_cm_device()
            assert info.value.transient and "15 requests per minute" in (info.value.hint or "")
            waits: list[float] = []

            def sleep(seconds: float) -> None:
                waits.append(seconds)
                time.sleep(seconds)

            count = client.registered_phone_count(rate_limit_backoff=[5.1, 5.1], sleep=sleep)
    assert count.registered == PHONES
    assert waits, "the rate limit was hit and waited out"
