"""certops's node adapter on CUCM 12.5, over real SSH against the simulator: every unit's CSR, trust and
identity go over the CLI (12.5 has no certmgr REST), and the trust store is read back with
``show cert list trust`` then ``show cert trust <store>/<file>``."""

from __future__ import annotations

import pytest
from cryptography import x509

from certops.cucm.node import CucmNode
from certops.cucm.paths import Via
from certops.inventory import Inventory
from certops.models import CsrRequest
from certops.units import UNITS as UNIT_TABLE
from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import SimTestCa

PUB = "cucm-pub.c1.certops.test"
UNITS = ["tomcat", "tomcat-ECDSA", "CallManager", "CallManager-ECDSA", "CAPF", "TVS", "ipsec", "ITLRecovery"]


def _store_unit(unit: str) -> str:
    """The unit whose store takes ``unit``'s CA (the unit table's trust store), as tasks.renewal passes it."""
    return UNIT_TABLE[unit].trust_store.removesuffix("-trust")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory):
    from tests.fixtures.simulator import sim_options

    opts = sim_options(nodes=1, version="12.5", phones_per_cluster=0, state_dir=tmp_path_factory.mktemp("c125"))
    with SimulatedFleet(opts) as f:
        yield f


@pytest.fixture(autouse=True)
def _passwords(fleet: SimulatedFleet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUCM_SIM_OS_PASSWORD", fleet.options.password)
    monkeypatch.setenv("CUCM_SIM_APP_PASSWORD", fleet.options.app_password)


def _node(fleet: SimulatedFleet) -> CucmNode:
    return CucmNode.from_inventory(Inventory.model_validate(fleet.inventory_dict()), "c1", PUB)


def test_a_12_5_node_takes_the_cli_path_and_says_why(fleet: SimulatedFleet) -> None:
    with _node(fleet) as node:
        assert node.path.via is Via.CLI and not node.uses_rest
        assert "certmgr REST has no CSR endpoint before 14" in node.path.why


def test_trust_read_over_the_cli_returns_the_pems_of_the_unit_store(fleet: SimulatedFleet) -> None:
    ca = SimTestCa("Read Back")
    with _node(fleet) as node:
        node.upload_trust("tomcat", [ca.root_pem, ca.intermediate_pem], "read back")
        listed = node.read_trust("tomcat")
        other = node.read_trust("CAPF")
    fps = {x509.load_pem_x509_certificate(p.encode()).fingerprint(ca.root.signature_hash_algorithm) for p in listed}
    assert ca.root.fingerprint(ca.root.signature_hash_algorithm) in fps
    assert len(listed) == len(fleet.node(PUB).trust["tomcat-trust"])
    assert all("Read Back" not in x509.load_pem_x509_certificate(p.encode()).subject.rfc4514_string() for p in other)


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_is_renewed_through_the_cli_by_the_node_adapter(fleet: SimulatedFleet, unit: str) -> None:
    ca = SimTestCa(f"Adapter {unit}")
    with _node(fleet) as node:
        before = node.read_certificate(unit)
        csr = node.generate_csr(CsrRequest(unit=unit, common_name=PUB))
        assert node.pending_csr(unit) == csr
        node.upload_trust(_store_unit(unit), [ca.root_pem, ca.intermediate_pem], "adapter")
        leaf = ca.sign(csr)
        node.upload_identity(unit, [leaf, ca.intermediate_pem])
        after = node.read_certificate(unit)
        assert node.pending_csr(unit) is None, "the import consumed the CSR"
    assert after.fingerprint_sha256 != before.fingerprint_sha256
    assert after.serial == format(x509.load_pem_x509_certificate(leaf.encode()).serial_number, "x")
    assert after.key_type == ("ec" if unit.endswith("-ECDSA") else "rsa")
