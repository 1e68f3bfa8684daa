"""A twin answers the read-only questions doctor asks as its capture recorded, while its state is as captured."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from certops.cucm.node import CucmNode
from certops.doctor.run import run_doctor
from certops.inventory_file import load_inventory
from certops.models import CsrRequest
from simulator import certmgr
from simulator.cli import CliSession
from simulator.fleet import SimulatedFleet
from simulator.twin import TwinFleet
from tests.fixtures.simulator import sim_options
from tests.fixtures.twin import PUB, SUB, capture_of, captured_verdicts, doctor_verdicts, sim_get

OPTIONS = f"GET {certmgr.BASE}/options"
SSO_OTHER = "SSO Status: Disabled\n"  # a node saying "off" in other words than the simulator's
DRF_OTHER = "drfCliMsg: No history data is available\n"
MYSELF_OTHER = "Machine Name    : cucm-pub\naccount name    : admin\nprivilege: 4\n"
OPTIONS_OTHER = {"units": ["tomcat"], "distributionTypes": ["this-server"], "keyTypes": ["RSA"]}


def _csr(unit: str) -> str:
    return f"GET {certmgr.BASE}/csr?service={unit}"


def _edit(capture: Path, node: str, request: str, body: str, status: int | None = None) -> None:
    """Give the captured answer(s) of ``node`` to ``request`` another body (and status), as a real node's."""
    data = json.loads((capture / "capture.json").read_text())
    entries = [e for e in data["responses"] if e["node"] == node and e["request"] == request]
    assert entries, f"the capture has no answer of {node} to {request}"
    for entry in entries:
        (capture / entry["file"]).write_text(body, encoding="utf-8")
        if status is not None:
            entry["status"] = status
    (capture / "capture.json").write_text(json.dumps(data))


def _cli(inventory: Path, fqdn: str, command: str) -> str:
    with CucmNode.from_inventory(load_inventory(inventory), "c1", fqdn) as node:
        return node.cli().run(command).output


def test_captured_answers_that_differ_are_the_twins_until_its_state_moves_on(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    fleet = sim_factory(nodes=2)
    capture = capture_of(fleet, tmp_path / "capture")
    version = _cli(fleet.state_dir / "inventory.yaml", PUB, "show version active")
    _edit(capture, PUB, "show myself", MYSELF_OTHER)
    _edit(capture, PUB, "show version active", version + "ciscocm.V15_lab_locale.cop\n")
    _edit(capture, PUB, "utils sso status", SSO_OTHER)
    _edit(capture, PUB, "utils disaster_recovery status backup", DRF_OTHER)
    _edit(capture, PUB, OPTIONS, json.dumps(OPTIONS_OTHER))
    _edit(capture, PUB, _csr("tomcat"), json.dumps({"message": "No CSR found for tomcat"}))
    # ipsec had a CSR pending when captured: the twin has none, and answers with tomcat's words
    _edit(capture, PUB, _csr("ipsec"), json.dumps({"csr": "-----BEGIN CERTIFICATE REQUEST-----"}), 200)
    _edit(capture, SUB, _csr("tomcat"), json.dumps({"error": "Internal Server Error"}), 500)

    with TwinFleet(capture, sim_options(state_dir=tmp_path / "twin")) as twin:
        inventory = twin.write_inventory(tmp_path / "twin.yaml")
        replayed = [n for n in twin.notes if "as captured" in n]
        assert f"{PUB}: `show myself` answers as captured" in replayed
        assert f"{PUB}: `utils sso status` answers as captured while SSO is off as captured" in replayed
        assert f"{PUB}: `utils disaster_recovery status backup` answers as captured until a DRF job runs" in (
            " ".join(replayed)
        )
        assert f"{PUB}: a CSR was pending for ipsec; the twin starts without one" in twin.notes
        assert len(replayed) == 7, replayed  # 6 of PUB, 1 of SUB: its unedited answers are the simulator's

        # over SSH and HTTPS, the twin says what the node said
        assert _cli(inventory, PUB, "show myself") == MYSELF_OTHER
        assert _cli(inventory, PUB, "show version active").endswith("ciscocm.V15_lab_locale.cop\n")
        assert _cli(inventory, PUB, "utils sso status") == SSO_OTHER
        assert _cli(inventory, SUB, "utils sso status") == "SSO Status: SAML SSO Disabled\n"
        assert _cli(inventory, PUB, "utils disaster_recovery status backup") == DRF_OTHER
        assert sim_get(twin, PUB, OPTIONS) == (200, OPTIONS_OTHER)
        assert sim_get(twin, PUB, _csr("tomcat")) == (404, {"message": "No CSR found for tomcat"})
        assert sim_get(twin, PUB, _csr("ipsec")) == (404, {"message": "No CSR found for ipsec"})
        assert sim_get(twin, SUB, _csr("tomcat")) == (500, {"error": "Internal Server Error"})

        # doctor on the twin reports what the node said
        run = run_doctor(load_inventory(inventory), "c1")
        inf = run.report.inf_summary()
        assert inf["cli.sso_disabled_text"].status.value == "refuted"
        assert inf["cli.sso_disabled_text"].said == "SSO Status: Disabled"
        assert inf["cli.drf_status_tokens"].status.value == "refuted"
        assert inf["certmgr.options_shape"].said == "HTTP 200, keys ['distributionTypes', 'keyTypes', 'units']"
        assert inf["certmgr.get_csr_none_404"].said.startswith('404: {"message": "No CSR found for ')
        privilege = [v for v in run.report.inf if v.id == "cli.privilege_level" and v.node == PUB]
        assert privilege[0].status.value == "not reachable" and "privilege: 4" in privilege[0].said
        failed = {c.node for c in run.report.checks if c.id == "rest.csr" and c.status.value == "fail"}
        assert failed == {SUB}  # the 500, as on the captured node

        # once the twin's state differs from the captured one, the simulator answers
        twin.set_fault("sso")
        assert "SAML SSO Enabled" in _cli(inventory, PUB, "utils sso status")
        twin.set_fault("sso", on=False)
        assert _cli(inventory, PUB, "utils sso status") == SSO_OTHER
        twin.set_fault("drf-backup", seconds=600)
        assert "Status: RUNNING" in _cli(inventory, PUB, "utils disaster_recovery status backup")
        twin.clear_faults()
        assert "Status:" in _cli(inventory, PUB, "utils disaster_recovery status backup")  # the job it ran
        with CucmNode.from_inventory(load_inventory(inventory), "c1", PUB) as node:
            node.rest().generate_csr(CsrRequest(unit="tomcat", common_name=PUB))
        status, body = sim_get(twin, PUB, _csr("tomcat"))
        assert status == 200 and "BEGIN CERTIFICATE REQUEST" in body["csr"]
        assert sim_get(twin, PUB, _csr("ipsec"))[0] == 404  # another unit still has none: as captured
        assert sim_get(twin, PUB, _csr("ipsec"))[1] == {"message": "No CSR found for ipsec"}

        # a fleet not made from a capture, in the same process, keeps the simulator's answers
        assert _cli(fleet.state_dir / "inventory.yaml", PUB, "utils sso status") == "SSO Status: SAML SSO Disabled\n"
        assert sim_get(fleet, PUB, OPTIONS)[1]["distributions"] == ["this-server", "multi-server"]
        assert sim_get(fleet, PUB, _csr("tomcat"))[1]["message"] == "CSR does not exist for the service tomcat"


@contextmanager
def _a_node_that_words_things_otherwise() -> Iterator[None]:
    """The simulator answering doctor's read-only questions in other words, as a real node might."""

    def myself(self: CliSession) -> None:
        self.output(f"Machine Name    : {self.node.hostname}\naccount name    : admin\nprivilege: 4\n")

    def sso(self: CliSession) -> None:
        self.output(SSO_OTHER)

    def drf(self: CliSession, operation: str) -> None:
        self.output(DRF_OTHER if self.node.is_publisher else "drfCliMsg: Unable to connect to Master Agent\n")

    def no_csr(node: Any, service: str | None) -> certmgr.Reply:
        return 404, {"message": f"No CSR exists for {service}", "code": "CSR_NOT_FOUND"}

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CliSession, "_show_myself", myself)
        patch.setattr(CliSession, "_sso_status", sso)
        patch.setattr(CliSession, "_drf_status", drf)
        patch.setattr(certmgr, "options", lambda node: (200, OPTIONS_OTHER))
        patch.setattr(certmgr, "get_csr", no_csr)
        yield


def test_doctor_on_the_twin_gives_the_verdicts_doctor_gave_on_the_captured_cluster(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    fleet = sim_factory(nodes=3)
    with _a_node_that_words_things_otherwise():
        capture = capture_of(fleet, tmp_path / "capture")
    captured = captured_verdicts(capture)
    assert captured["cli.sso_disabled_text"] == ("refuted", "SSO Status: Disabled")  # the patch reached doctor
    assert captured["certmgr.get_csr_none_404"][0] == "refuted"
    fleet.stop()
    with TwinFleet(capture, sim_options(state_dir=tmp_path / "twin")) as twin:
        run = run_doctor(load_inventory(twin.write_inventory(tmp_path / "twin.yaml")), "c1")
    on_twin = doctor_verdicts(run)
    assert on_twin == captured


def test_an_anonymized_capture_replays_on_the_stand_in_nodes_and_an_unedited_one_replays_nothing(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    fleet = sim_factory(nodes=2)
    capture_of(fleet, tmp_path / "capture", anonymize=True)
    with TwinFleet(tmp_path / "capture", sim_options(state_dir=tmp_path / "twin")) as twin:
        assert not [n for n in twin.notes if "as captured" in n], twin.notes  # the simulator's own answers
    stand_in = "node2.example.invalid"
    _edit(tmp_path / "capture", stand_in, "utils sso status", SSO_OTHER)
    with TwinFleet(tmp_path / "capture", sim_options(state_dir=tmp_path / "twin2")) as twin:
        inventory = twin.write_inventory(tmp_path / "twin.yaml")
        assert f"{stand_in}: `utils sso status` answers as captured while SSO is off as captured" in twin.notes
        assert _cli(inventory, stand_in, "utils sso status") == SSO_OTHER
        assert _cli(inventory, "node1.example.invalid", "utils sso status") == "SSO Status: SAML SSO Disabled\n"
