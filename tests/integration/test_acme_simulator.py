"""ACME (pebble) signs a CSR generated ON a simulated CUCM node; check passes and the node accepts it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from certops.ca import make_backend
from certops.ca.acme import AcmeCa
from certops.inventory import AcmeCaConfig
from certops.x509.checks import check_signed_chain
from simulator.fleet import SimulatedFleet
from tests.fixtures.pebble import PebbleServer
from tests.fixtures.simulator import SIM_OS_PASSWORD, SIM_OS_USER, sim_https, sim_options

pytestmark = pytest.mark.pebble

API = "/platformcom/api/v1/certmgr/config"
AUTH = (SIM_OS_USER, SIM_OS_PASSWORD)
PUB = "cucm-pub.c1.certops.test"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    opts = sim_options(clusters=1, nodes=1, version="15.0", state_dir=tmp_path_factory.mktemp("acme-sim"))
    with SimulatedFleet(opts) as f:
        yield f


@pytest.mark.parametrize("unit", ["tomcat", "CallManager"])
def test_acme_signs_a_node_csr_check_passes_and_the_node_accepts_it(
    fleet: SimulatedFleet, pebble: PebbleServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unit: str
) -> None:
    monkeypatch.setenv("CERTOPS_TEST_EAB_KEY", pebble.eab_hmac_key)
    config = AcmeCaConfig(
        directory_url=pebble.directory_url,
        eab_kid=pebble.eab_kid,
        eab_hmac_key_env="CERTOPS_TEST_EAB_KEY",
        ca_bundle=pebble.ca_bundle,
        account_key_path=tmp_path / "account.pem",
        trigger_validation=True,
        poll_timeout=60,
    )
    backend = make_backend("corp-acme", config)
    assert isinstance(backend, AcmeCa)
    with sim_https(fleet, fleet.node(PUB)) as c:
        body = {"service": unit, "distribution": "this-server", "commonName": PUB, "altNames": ["cucm.c1.certops.test"]}
        r = c.post(f"{API}/csr", auth=AUTH, json=body)
        assert r.status_code == 200, r.text
        csr = r.json()["csr"]
        chain = backend.sign(csr, unit=unit, node=PUB, cluster="c1")
        report = check_signed_chain(csr, chain.leaf_pem, [*chain.chain_pems, pebble.root_pem()], unit, node=PUB)
        assert report.ok, report.summary()
        trust = c.post(
            f"{API}/trust/certificates",
            auth=AUTH,
            json={"service": [unit], "certificates": [t.pem for t in report.trust_uploads], "description": "ACME"},
        )
        assert trust.status_code == 200, trust.text
        identity = c.post(
            f"{API}/identity/certificates", auth=AUTH, json={"service": unit, "certificates": report.identity_pems}
        )
        assert identity.status_code == 200, identity.text
    assert fleet.node(PUB).identity(unit).cert == x509.load_pem_x509_certificate(report.leaf_pem.encode())
