"""Contract: a multi-server identity uploaded on the publisher reaches every node it names (docs/simulator.md [INF])."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import SIM_OS_PASSWORD, SIM_OS_USER, SimShell, SimTestCa, sim_https, sim_options

API = "/platformcom/api/v1/certmgr/config"
AUTH = (SIM_OS_USER, SIM_OS_PASSWORD)
PUB, SUB = "cucm-pub.c1.certops.test", "cucm-sub1.c1.certops.test"


@pytest.fixture
def fleet(tmp_path) -> Iterator[SimulatedFleet]:
    opts = sim_options(clusters=1, nodes=3, version="15.0", state_dir=tmp_path, multi_server_distribution_seconds=0.2)
    with SimulatedFleet(opts) as f:
        yield f


def _fp(pem: str) -> str:
    return hashlib.sha256(x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)).hexdigest()


def _renew_on_publisher(fleet: SimulatedFleet, distribution: str) -> str:
    ca = SimTestCa()
    with sim_https(fleet, fleet.node(PUB)) as c:
        trust = {"service": ["CallManager"], "certificates": [ca.root_pem, ca.intermediate_pem], "description": "t"}
        assert c.post(f"{API}/trust/certificates", auth=AUTH, json=trust).status_code == 200
        r = c.post(f"{API}/csr", auth=AUTH, json={"service": "CallManager", "distribution": distribution})
        leaf = ca.sign(r.json()["csr"])
        body = {"service": "CallManager", "certificates": [leaf, ca.intermediate_pem]}
        assert c.post(f"{API}/identity/certificates", auth=AUTH, json=body).status_code == 200
    return leaf


def _identity_on(fleet: SimulatedFleet, fqdn: str) -> str:
    with sim_https(fleet, fleet.node(fqdn)) as c:
        r: httpx.Response = c.get(f"{API}/identity/certificate", params={"service": "CallManager"}, auth=AUTH)
    return str(r.json()["certificate"])


def test_a_multi_server_upload_on_the_publisher_is_installed_on_every_node_it_names(fleet: SimulatedFleet) -> None:
    served_before = fleet.node(SUB).served("CallManager").cert
    leaf = _renew_on_publisher(fleet, "multi-server")
    deadline = time.monotonic() + 30  # a bound on a hang, not a measure
    while not fleet.events(operation="identity_distributed") and time.monotonic() < deadline:
        time.sleep(0.05)
    (got,) = fleet.events(operation="identity_distributed")
    assert (got["node"], got["unit"], got["detail"]["from"]) == (SUB, "CallManager", PUB)
    assert _fp(_identity_on(fleet, SUB)) == _fp(leaf)
    assert fleet.node(SUB).served("CallManager").cert == served_before  # served only after its own restart
    (started,) = fleet.events(operation="multi_server_distribution_started")
    assert started["node"] == PUB and started["detail"]["to"] == [SUB]


def test_a_per_node_upload_stays_on_its_node(fleet: SimulatedFleet) -> None:
    before = _identity_on(fleet, SUB)
    _renew_on_publisher(fleet, "this-server")
    # a distribution is recorded as started with the upload's answer: its absence needs no waiting
    assert fleet.events(operation="multi_server_distribution_started") == []
    time.sleep(0.5)  # longer than the distribution delay: nothing may arrive
    assert fleet.events(operation="identity_distributed") == [] and _identity_on(fleet, SUB) == before


@pytest.mark.parametrize(("version", "refused"), [("14SU2", True), ("14SU1", False)])
def test_the_cli_refuses_a_multi_server_import_from_14su2(tmp_path, version: str, refused: bool) -> None:
    ca = SimTestCa()
    with SimulatedFleet(sim_options(clusters=1, nodes=2, version=version, state_dir=tmp_path)) as fleet:
        with sim_https(fleet, fleet.node(PUB)) as c:
            trust = {"service": ["tomcat"], "certificates": [ca.root_pem, ca.intermediate_pem], "description": "t"}
            assert c.post(f"{API}/trust/certificates", auth=AUTH, json=trust).status_code == 200
            csr = c.post(f"{API}/csr", auth=AUTH, json={"service": "tomcat", "distribution": "multi-server"})
        leaf = ca.sign(csr.json()["csr"])
        with SimShell(fleet, fleet.node(PUB)) as shell:
            shell.wait_prompt()
            shell.channel.send("set cert import own tomcat\n")
            shell.read_until("Paste the Certificate and Hit Enter")
            shell.channel.send(leaf.replace("\n", "\r\n") + "\r\n")
            out = shell.wait_prompt()
        installed = _fp(fleet.node(PUB).identity("tomcat").pem) == _fp(leaf)
        reasons = [e["detail"]["reason"] for e in fleet.events(operation="upload_refused")]
    if refused:
        assert "cannot be imported from the CLI" in out and not installed and reasons == ["multi_server_cli"]
    else:
        assert "Successfully imported certificate for tomcat." in out and installed
