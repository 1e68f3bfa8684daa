"""A client generated from Cisco's AXL WSDL (zeep, strict) works against the simulator unchanged,
and the certops AXL client falls back once when a node refuses its AXL version (HTTP 599).

zeep reads Cisco's ``AXLAPI.wsdl`` 12.5, 14.0 or 15.0 (``.cisco-schemas/``, or the copy the
simulated node serves at ``/axl/?wsdl``) and talks to a simulated CUCM 15.0 publisher over its
real HTTPS: TLS verified against the simulator CA for the node's FQDN, HTTP Basic with the
application user. What is asserted is what its user would look at: rows, phone names, the
version string, the phone actually reset in the simulator's event log.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import yaml
import zeep
import zeep.exceptions
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from zeep.proxy import ServiceProxy
from zeep.transports import Transport

from certops.cucm.node import CucmNode
from certops.cucm.soap import AxlClient, forget_axl_versions, remembered_axl_version
from certops.errors import CucmApiError
from certops.inventory import Inventory
from simulator import cisco_schemas
from simulator.fleet import SimulatedFleet, SimulatedNode
from tests.fixtures.simulator import (
    APP_PASSWORD_ENV,
    OS_PASSWORD_ENV,
    SIM_APP_PASSWORD,
    SIM_APP_USER,
    SIM_OS_PASSWORD,
    sim_options,
)

VERSIONS = ("12.5", "14.0", "15.0")
PUB = "cucm-pub.c1.certops.test"
FULL_VERSION = "15.0.1.11900-40"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    """One CUCM 15.0 cluster: publisher and a subscriber, 9 phones."""
    opts = sim_options(
        clusters=1, nodes=2, version="15.0", phones_per_cluster=9, state_dir=tmp_path_factory.mktemp("zeep-axl")
    )
    with SimulatedFleet(opts) as f:
        yield f


@pytest.fixture(autouse=True)
def _fresh_axl_memory() -> Iterator[None]:
    """Each test is a new certops process as far as remembered AXL fallbacks go."""
    forget_axl_versions()
    yield
    forget_axl_versions()


class _FqdnTls(HTTPAdapter):
    """Connect to 127.0.0.1, send SNI = the node's FQDN and check its certificate against that name."""

    def __init__(self, fqdn: str) -> None:
        self.fqdn = fqdn
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self.fqdn
        kwargs["assert_hostname"] = self.fqdn
        super().init_poolmanager(*args, **kwargs)


@pytest.fixture(scope="module")
def session(fleet: SimulatedFleet) -> Iterator[requests.Session]:
    node = fleet.node(PUB)
    s = requests.Session()
    s.trust_env = False  # $REQUESTS_CA_BUNDLE would otherwise replace the simulator CA below
    s.verify = str(fleet.ca_bundle_path)
    s.auth = (SIM_APP_USER, SIM_APP_PASSWORD)
    s.mount(f"https://127.0.0.1:{node.soap_port}", _FqdnTls(node.fqdn))
    s.headers["Host"] = f"{node.fqdn}:{node.soap_port}"
    yield s
    s.close()


def zeep_axl(wsdl: str, session: requests.Session, node: SimulatedNode) -> tuple[zeep.Client, ServiceProxy]:
    """A strict zeep client of ``wsdl`` and its AXL service at the node (reached on 127.0.0.1)."""
    client = zeep.Client(wsdl, settings=zeep.Settings(strict=True), transport=Transport(session=session, timeout=30))
    binding = next(iter(client.wsdl.bindings))
    return client, client.create_service(binding, f"https://127.0.0.1:{node.soap_port}/axl/")


@pytest.fixture(scope="module")
def cisco_axl(fleet: SimulatedFleet, session: requests.Session) -> dict[str, ServiceProxy]:
    """Per AXL version, zeep's service from Cisco's AXLAPI.wsdl file (built once: ~2 s each)."""
    return {v: zeep_axl(str(cisco_schemas.axl_file(v, "AXLAPI.wsdl")), session, fleet.node(PUB))[1] for v in VERSIONS}


@pytest.mark.parametrize("version", VERSIONS)
def test_zeep_from_ciscos_wsdl_reads_rows_phones_and_the_version(
    fleet: SimulatedFleet, cisco_axl: dict[str, ServiceProxy], version: str
) -> None:
    axl = cisco_axl[version]
    phones = [p.name for p in fleet.cluster("c1").phones]

    result = axl.executeSQLQuery(sql="select name, description from device where tkclass = 1")
    # xsd:anyType rows: zeep hands over each row's column elements, as Cisco's zeep samples read them
    rows = [{column.tag: column.text for column in row} for row in result["return"]["row"]]
    assert [r["name"] for r in rows] == phones
    assert all(r["description"].startswith(r["name"]) for r in rows)

    result = axl.listPhone(searchCriteria={"name": "SEP%"}, returnedTags={"name": "", "model": ""}, skip=3, first=4)
    assert [p.name for p in result["return"]["phone"]] == phones[3:7]

    result = axl.getCCMVersion()
    assert result["return"]["componentVersion"]["version"] == FULL_VERSION


@pytest.mark.parametrize("version", VERSIONS)
def test_zeep_from_ciscos_wsdl_resets_a_phone_in_the_simulator(
    fleet: SimulatedFleet, cisco_axl: dict[str, ServiceProxy], version: str
) -> None:
    axl = cisco_axl[version]
    name = fleet.cluster("c1").phones[VERSIONS.index(version)].name
    before = [e for e in fleet.events(operation="phone_reset") if e["detail"]["phone"] == name]

    result = axl.doDeviceReset(deviceName=name, isHardReset=True)

    assert result["return"].startswith("{")
    after = [e for e in fleet.events(operation="phone_reset") if e["detail"]["phone"] == name]
    assert len(after) == len(before) + 1
    assert after[-1]["detail"]["type"] == "Reset"
    assert after[-1]["cluster"] == "c1"


def test_zeep_sees_an_unknown_device_as_a_fault_with_its_text(
    cisco_axl: dict[str, ServiceProxy],
) -> None:
    axl = cisco_axl["15.0"]
    with pytest.raises(zeep.exceptions.Fault) as info:
        axl.doDeviceReset(deviceName="SEPDEADBEEF0000", isHardReset=True)
    assert "was not found" in info.value.message
    assert info.value.detail is not None and info.value.detail.findtext("axlError/axlcode") == "5007"


def test_zeep_reads_the_wsdl_the_node_serves_and_finds_the_node_in_it(
    fleet: SimulatedFleet, session: requests.Session
) -> None:
    node = fleet.node(PUB)
    client, axl = zeep_axl(f"https://127.0.0.1:{node.soap_port}/axl/?wsdl", session, node)
    (service,) = client.wsdl.services.values()
    (port,) = service.ports.values()
    assert port.binding_options["address"] == f"https://{PUB}:{node.soap_port}/axl/"
    op = client.wsdl.bindings[next(iter(client.wsdl.bindings))].get("getCCMVersion")
    assert op.soapaction == "CUCM:DB ver=15.0 getCCMVersion"
    assert axl.getCCMVersion()["return"]["componentVersion"]["version"] == FULL_VERSION


# ------------------------------------------------------------------------------------------------
# the certops client and AXL versioning
# ------------------------------------------------------------------------------------------------


def _inventory(fleet: SimulatedFleet, monkeypatch: pytest.MonkeyPatch, version: str) -> Inventory:
    """The fleet's inventory, saying the cluster runs ``version`` (e.g. a stale entry)."""
    monkeypatch.setenv(OS_PASSWORD_ENV, SIM_OS_PASSWORD)
    monkeypatch.setenv(APP_PASSWORD_ENV, SIM_APP_PASSWORD)
    data = fleet.inventory_dict()
    data["clusters"][0]["version"] = version
    return Inventory.model_validate(data)


def _http_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "certops.cucm.http" and "/axl/" in r.getMessage()]


def _fallback_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "certops.cucm.soap" and r.levelno >= logging.WARNING]


def test_a_12_5_client_works_against_a_15_node_without_falling_back(
    fleet: SimulatedFleet, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    inventory = _inventory(fleet, monkeypatch, "12.5")
    with CucmNode.from_inventory(inventory, "c1", PUB) as node:
        assert node.cluster_security_mode() == 0
        assert node.list_phones() == [p.name for p in fleet.cluster("c1").phones]
        assert node.axl().version == "12.5"
    assert _fallback_lines(caplog) == []
    assert all(line.endswith(")") and "-> 200" in line for line in _http_lines(caplog))
    assert remembered_axl_version(PUB) is None


def test_an_11_0_client_falls_back_to_a_version_the_15_node_lists_says_so_once_and_remembers_it(
    fleet: SimulatedFleet, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    inventory = _inventory(fleet, monkeypatch, "11.0")
    with CucmNode.from_inventory(inventory, "c1", PUB) as node:
        assert node.cluster_security_mode() == 0  # answered, after one 599
        assert node.axl().version == "15.0"
        assert node.list_phones() == [p.name for p in fleet.cluster("c1").phones]
    with CucmNode.from_inventory(inventory, "c1", PUB) as again:  # a later client, same process
        assert again.axl().version == "15.0"
        phone = fleet.cluster("c1").phones[-1].name
        again.reset_phone(phone)
    assert fleet.events(operation="phone_reset")[-1]["detail"]["phone"] == phone

    (line,) = _fallback_lines(caplog)
    text = line.getMessage()
    assert "\n" not in text
    assert PUB in text and "AXL version 11.0" in text and "using AXL 15.0" in text
    assert "12.x, 14.0, 15.0" in text
    assert [s for s in _http_lines(caplog) if "-> 599" in s] == [s for s in _http_lines(caplog)[:1]]
    assert remembered_axl_version(PUB) == "15.0"


def test_the_fallback_line_reaches_a_terminal_without_any_logging_set_up(
    fleet: SimulatedFleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = fleet.inventory_dict()
    data["clusters"][0]["version"] = "11.0"
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    script = textwrap.dedent(
        f"""
        from certops.cucm.node import CucmNode
        from certops.inventory_file import load_inventory
        inventory = load_inventory({str(path)!r})
        for _ in range(2):
            with CucmNode.from_inventory(inventory, "c1", {PUB!r}) as node:
                print("security mode", node.cluster_security_mode())
        """
    )
    env = {**os.environ, OS_PASSWORD_ENV: SIM_OS_PASSWORD, APP_PASSWORD_ENV: SIM_APP_PASSWORD}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["security mode 0", "security mode 0"]
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"AXL on {PUB}: the node refused AXL version 11.0")
    assert "using AXL 15.0 for this node from now on" in lines[0]
    assert SIM_APP_PASSWORD not in done.stderr


def test_a_node_listing_no_version_certops_speaks_is_one_clear_error(fleet: SimulatedFleet) -> None:
    # An AxlClient pointed at a 15.0 node whose answer lists only versions certops never checked.
    page = "<html><body>HTTP Status 599 - Incorrect axl version. Supported axl versions are 9.x and 10.x</body></html>"
    client = AxlClient(
        version="11.0",
        fqdn=PUB,
        address="127.0.0.1",
        username="app",
        password=SecretStr("unused"),
        transport=httpx.MockTransport(lambda request: httpx.Response(599, text=page)),
    )
    with client, pytest.raises(CucmApiError) as info:
        client.list_phones()
    text = str(info.value)
    assert PUB in text and "11.0" in text and "9.x, 10.x" in text and "12.5, 14.0, 15.0" in text
    assert info.value.status == 599
    assert remembered_axl_version(PUB) is None


def test_a_node_refusing_the_version_it_listed_too_is_one_clear_error_not_its_html_page() -> None:
    page = (
        "<html><body>HTTP Status 599 - Incorrect axl version. "
        "Supported axl versions are 12.x, 14.0 and 15.0</body></html>"
    )
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["SOAPAction"])
        return httpx.Response(599, text=page)

    client = AxlClient(
        version="11.0",
        fqdn=PUB,
        address="127.0.0.1",
        username="app",
        password=SecretStr("unused"),
        transport=httpx.MockTransport(answer),
    )
    with client, pytest.raises(CucmApiError) as info:
        client.cluster_security_mode()
    assert sent == ['"CUCM:DB ver=11.0 executeSQLQuery"', '"CUCM:DB ver=15.0 executeSQLQuery"']  # one retry only
    text = str(info.value)
    assert "refused AXL version 11.0 and then 15.0" in text and "<html>" not in text
    assert remembered_axl_version(PUB) is None
