"""The lab CA signs a CSR generated ON a simulated CUCM node; check passes and the node accepts the uploads.

Where the lab CA misbehaves, ``certops check`` refuses, and the node itself refuses the same
upload for the same reason: the pre-upload check predicts CUCM's refusal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from typer.testing import CliRunner

from certops.ca.local import LabCa, LabCaMisbehaviour
from certops.cli import app
from certops.x509.checks import CheckReport, check_signed_chain
from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import SIM_OS_PASSWORD, SIM_OS_USER, sim_https, sim_options

API = "/platformcom/api/v1/certmgr/config"
AUTH = (SIM_OS_USER, SIM_OS_PASSWORD)
PUB = "cucm-pub.c1.certops.test"
SUB = "cucm-sub1.c1.certops.test"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    opts = sim_options(clusters=1, nodes=2, version="15.0", state_dir=tmp_path_factory.mktemp("lab-ca-sim"))
    with SimulatedFleet(opts) as f:
        yield f


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab-ca") / "ca"


def node_csr(c: httpx.Client, unit: str, fqdn: str) -> str:
    body = {"service": unit, "distribution": "this-server", "commonName": fqdn, "altNames": [f"alias-{fqdn}"]}
    r = c.post(f"{API}/csr", auth=AUTH, json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["csr"])


def upload(c: httpx.Client, unit: str, report: CheckReport) -> tuple[httpx.Response, httpx.Response]:
    trust = c.post(
        f"{API}/trust/certificates",
        auth=AUTH,
        json={"service": [unit], "certificates": [t.pem for t in report.trust_uploads], "description": "lab CA"},
    )
    identity = c.post(
        f"{API}/identity/certificates", auth=AUTH, json={"service": unit, "certificates": report.identity_pems}
    )
    return trust, identity


@pytest.mark.parametrize(("unit", "fqdn"), [("tomcat", PUB), ("CallManager-ECDSA", SUB), ("CAPF", PUB)])
def test_lab_ca_signs_a_node_csr_check_passes_and_the_node_accepts_it(
    fleet: SimulatedFleet, lab_dir: Path, unit: str, fqdn: str, tmp_path: Path
) -> None:
    ca = LabCa(lab_dir)
    with sim_https(fleet, fleet.node(fqdn)) as c:
        csr = node_csr(c, unit, fqdn)
        signed = ca.poll(ca.submit(csr, unit=unit, node=fqdn, cluster="c1"))
        assert signed is not None
        report = check_signed_chain(csr, signed.leaf_pem, signed.chain_pems, unit, node=fqdn)
        assert report.ok, report.summary()
        # the command line agrees
        (tmp_path / "node.csr").write_text(csr)
        (tmp_path / "signed.pem").write_text(signed.leaf_pem + "".join(signed.chain_pems))
        result = CliRunner().invoke(
            app,
            [
                "check",
                "--csr",
                str(tmp_path / "node.csr"),
                "--chain",
                str(tmp_path / "signed.pem"),
                "--unit",
                unit,
                "--node",
                fqdn,
            ],
        )
        assert result.exit_code == 0, result.output
        trust, identity = upload(c, unit, report)
        assert trust.status_code == 200, trust.text
        assert identity.status_code == 200, identity.text
    installed = fleet.node(fqdn).identity(unit).cert
    assert installed == x509.load_pem_x509_certificate(report.leaf_pem.encode())


@pytest.mark.parametrize(
    ("misbehaviour", "codes", "node_reason"),
    [
        (LabCaMisbehaviour.ADD_SANS, {"san_extra"}, "san_mismatch"),
        (LabCaMisbehaviour.OLDER_CSR, {"key_mismatch"}, "key_mismatch"),
        (LabCaMisbehaviour.WILDCARD, {"san_extra", "wildcard"}, "wildcard"),
    ],
    # a set's str() follows hash randomisation: sorted, so every process names the cases alike
    ids=lambda v: getattr(v, "value", None) or ("+".join(sorted(v)) if isinstance(v, set) else str(v)),
)
def test_check_refuses_what_the_node_would_refuse(
    fleet: SimulatedFleet, lab_dir: Path, misbehaviour: LabCaMisbehaviour, codes: set[str], node_reason: str
) -> None:
    unit = "ipsec"
    ca = LabCa(lab_dir, misbehave=[misbehaviour])
    with sim_https(fleet, fleet.node(SUB)) as c:
        csr = node_csr(c, unit, SUB)
        signed = ca.sign(csr, unit)
        report = check_signed_chain(csr, signed.leaf_pem, signed.chain_pems, unit, node=SUB)
        assert set(report.codes) == codes
        # certops would stop here; upload anyway to see that the node refuses it too
        trust, identity = upload(c, unit, report)
        assert trust.status_code == 200, trust.text
        assert identity.status_code >= 400
    reasons = [e["detail"]["reason"] for e in fleet.events() if e["node"] == SUB and e["operation"] == "upload_refused"]
    assert reasons[-1] == node_reason
