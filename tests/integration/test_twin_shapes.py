"""A twin answers with its own state in its capture's shapes: snapshot, AXL rows, RisPort70, Control Center."""

from __future__ import annotations

import html
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from certops.cucm.node import CucmNode
from certops.doctor.run import run_doctor
from certops.inventory_file import load_inventory
from certops.models import CsrRequest
from simulator import certmgr, soap
from simulator.fleet import SimulatedFleet
from simulator.pki import ORG
from simulator.twin import TwinFleet
from tests.fixtures.simulator import sim_options
from tests.fixtures.twin import (
    PUB,
    SUB,
    capture_of,
    captured_verdicts,
    doctor_verdicts,
    run_certops,
    scan_table,
    sim_get,
)

SNAPSHOT = f"GET {certmgr.BASE}/snapshot/server"
EWD_ROW = "<row><name>EnterpriseWideData</name><tkssomode>0</tkssomode></row>"
STATE_INFO = (
    '<StateInfo><Node Name="cucm-pub" SubsystemStartTime="1764669600" StateId="48" TotalItemsFound="22"/></StateInfo>'
)
TOP_KEYS = ["server", "trackingId", "platformVersion", "identities", "trusts", "revokedCertificates"]
SHAPE_NOTES = ("snapshot", "processnode", "processconfig", "RisPort70", "Control Center")


def _real_snapshot(data: dict[str, Any]) -> dict[str, Any]:
    """The simulator's snapshot as a real node could give it: keys reordered, one more at the top and per identity,
    the trust certificates under certificateData."""
    identities = []
    for item in data["identities"]:
        key_type = "EC" if item["service"].endswith("-ECDSA") else "RSA"
        identities.append({"certificate": item["certificate"], "service": item["service"], "keyType": key_type})
        if "csr" in item:
            identities[-1]["csr"] = item["csr"]
    trusts = [
        {
            "service": t["service"],
            "certificate_data": [
                {"filename": c["filename"], "certificateData": c["certificate"]} for c in t["certificate_data"]
            ],
        }
        for t in data["trusts"]
    ]
    return {
        "server": data["server"],
        "trackingId": data["trackingId"],
        "platformVersion": "15.0.1.11900-40 (node's own)",
        "identities": identities,
        "trusts": trusts,
        "revokedCertificates": data["revokedCertificates"],
    }


def _entries(capture: Path, node: str, request: str, contains: str) -> tuple[dict[str, Any], list[Path]]:
    data = json.loads((capture / "capture.json").read_text())
    files = [
        capture / e["file"]
        for e in data["responses"]
        if e["node"] == node and request in e["request"] and contains in (capture / e["file"]).read_text()
    ]
    assert files, f"the capture has no answer of {node} to {request} holding {contains!r}"
    return data, files


def _rewrite(capture: Path, node: str, request: str, contains: str, change: Callable[[str], str]) -> None:
    """Give the captured answer(s) of ``node`` to ``request`` that hold ``contains`` another body, as a real node's."""
    _, files = _entries(capture, node, request, contains)
    for path in files:
        before = path.read_text()
        after = change(before)
        assert after != before
        path.write_text(after)


def _with_haproxy(body: str) -> str:
    """The Control Center (all) answer listing Cisco HAProxy too (a copy of Cisco Tomcat's item)."""
    tomcat = re.search(r"<ns:item><ns:ServiceName>Cisco Tomcat</ns:ServiceName>.*?</ns:item>", body)
    assert tomcat is not None
    return body.replace(tomcat.group(0), tomcat.group(0) + tomcat.group(0).replace("Cisco Tomcat", "Cisco HAProxy"))


def _real_stateinfo(body: str) -> str:
    return body.replace("<ns1:StateInfo></ns1:StateInfo>", f"<ns1:StateInfo>{html.escape(STATE_INFO)}</ns1:StateInfo>")


def _edit_like_a_real_node(capture: Path) -> None:
    _rewrite(capture, PUB, SNAPSHOT, "identities", lambda b: json.dumps(_real_snapshot(json.loads(b))))
    _rewrite(capture, PUB, "executeSQLQuery", "<tkssomode>", lambda b: b.replace(EWD_ROW, ""))
    _rewrite(
        capture, PUB, "executeSQLQuery", "PhoneInteractionOnCertificateUpdate",
        lambda b: re.sub(r"<return>.*</return>", "<return/>", b),
    )  # fmt: skip
    _, files = _entries(capture, PUB, "soapGetServiceStatus", "Cisco CallManager")  # the unnamed one: all
    files[0].write_text(_with_haproxy(files[0].read_text()))
    _rewrite(capture, PUB, "selectCmDevice", "StateInfo", _real_stateinfo)


def _node(inventory: Path, fqdn: str) -> CucmNode:
    return CucmNode.from_inventory(load_inventory(inventory), "c1", fqdn)


def test_the_twin_answers_with_its_own_state_in_the_shapes_the_capture_recorded(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    fleet = sim_factory(nodes=2)
    capture = capture_of(fleet, tmp_path / "capture")
    original = scan_table(fleet.state_dir / "inventory.yaml")
    captured_pems = {i["service"]: i["certificate"] for i in json.loads(_captured_snapshot(capture))["identities"]}
    fleet.stop()
    _edit_like_a_real_node(capture)

    with TwinFleet(capture, sim_options(state_dir=tmp_path / "twin")) as twin:
        inventory = twin.write_inventory(tmp_path / "twin.yaml")
        notes = [n for n in twin.notes if any(w in n for w in SHAPE_NOTES)]
        assert len(notes) == 5, notes
        snapshot_note = next(n for n in notes if "snapshot" in n)
        assert f"on {PUB}, with the twin's certificates" in snapshot_note
        assert "extra keys platformVersion" in snapshot_note and SUB not in snapshot_note
        assert any(n.startswith("AXL processnode answers the captured non-node rows (none)") for n in notes), notes

        # the snapshot: the captured keys and order, the extra values, the twin's own certificates
        status, snap = sim_get(twin, PUB, SNAPSHOT)
        assert status == 200 and list(snap) == TOP_KEYS
        assert snap["platformVersion"] == "15.0.1.11900-40 (node's own)" and snap["server"] == PUB
        items = {i["service"]: i for i in snap["identities"]}
        assert list(items["tomcat"]) == ["certificate", "service", "keyType"]
        assert items["tomcat"]["keyType"] == "RSA" and items["tomcat-ECDSA"]["keyType"] == "EC"
        pub = twin.node(PUB)
        assert items["tomcat"]["certificate"] == pub.identity("tomcat").pem != captured_pems["tomcat"]
        assert set(items) == set(pub.identities())
        tomcat_trust = next(t for t in snap["trusts"] if t["service"] == "tomcat")
        assert list(tomcat_trust["certificate_data"][0]) == ["filename", "certificateData"]
        assert list(sim_get(twin, SUB, SNAPSHOT)[1]) == [
            "trackingId",
            "server",
            "identities",
            "trusts",
            "revokedCertificates",
        ]

        # AXL, RisPort70 and Control Center over SOAP, in the captured conventions with the twin's state
        with _node(inventory, PUB) as node:
            rows = node.axl().execute_sql_query("select name, tkssomode from processnode")
            assert [r["name"] for r in rows] == [PUB, SUB]  # no EnterpriseWideData, as captured
            assert node.phone_interaction() is None  # no row, as captured
            page = node.risport().select_cm_device(max_devices=1000)
            assert page.state_info == STATE_INFO and len(page.devices) == page.total_found
            after = node.risport().select_cm_device(page.state_info, max_devices=1000)
            assert after.devices == [] and after.state_info == STATE_INFO
            assert node.registered_phones().total_seen == len(twin.clusters[0].phones)
            assert "Cisco HAProxy" in {s.name for s in node.service_status()}
        with _node(inventory, SUB) as node:
            assert "Cisco HAProxy" not in {s.name for s in node.service_status()}  # its capture did not list it

        # a renewal step: the CSR shows in the captured shape, the certificate is still the twin's
        with _node(inventory, PUB) as node:
            node.rest().generate_csr(CsrRequest(unit="tomcat", common_name=PUB))
        snap = sim_get(twin, PUB, SNAPSHOT)[1]
        assert list(snap) == TOP_KEYS and snap["platformVersion"] == "15.0.1.11900-40 (node's own)"
        tomcat = next(i for i in snap["identities"] if i["service"] == "tomcat")
        assert list(tomcat) == ["certificate", "service", "keyType", "csr"]
        assert tomcat["csr"] == pub.csrs["tomcat"].pem and tomcat["certificate"] == pub.identity("tomcat").pem
        assert all("csr" not in i for i in snap["identities"] if i["service"] != "tomcat")

        # certops reads it as before; doctor on the twin says what it said of the edited answers
        assert scan_table(inventory) == original
        run = run_doctor(load_inventory(inventory), "c1")
        inf = doctor_verdicts(run)
        assert inf["certmgr.snapshot_shape"] == ("confirmed", "")
        assert inf["axl.processnode_rows"] == ("refuted", f"rows: {sorted([PUB, SUB])}")
        assert inf["axl.phone_interaction_param"] == ("refuted", "value None on 15.0")
        assert inf["cc.haproxy_not_listed"] == ("refuted", "Control Center lists Cisco HAProxy")
        assert inf["ris.stateinfo"] == ("refuted", "StateInfo not empty after the last page")


def _captured_snapshot(capture: Path) -> str:
    _, files = _entries(capture, PUB, SNAPSHOT, "identities")
    return files[0].read_text()


@contextmanager
def _a_node_with_other_shapes() -> Iterator[None]:
    """The simulator answering as a real node might: the snapshot, processnode, processconfig, RisPort70, CC."""
    snapshot, run_sql, ris = certmgr.snapshot, soap.run_sql, soap.ris

    def real_snapshot(node: Any) -> certmgr.Reply:
        status, body = snapshot(node)
        return status, _real_snapshot(body)

    def real_sql(cluster: Any, sql: str) -> tuple[list[str], list[list[str]]]:
        cols, rows = run_sql(cluster, sql)
        if "PhoneInteraction" in sql:
            return cols, []
        return cols, [r for r in rows if "EnterpriseWideData" not in r]

    def real_ris(node: Any, raw: bytes, action: str) -> tuple[int, str]:
        status, body = ris(node, raw, action)
        return status, _real_stateinfo(body)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(certmgr, "snapshot", real_snapshot)
        patch.setattr(soap, "run_sql", real_sql)
        patch.setattr(soap, "ris", real_ris)
        patch.setattr(soap, "_unlisted", lambda node: frozenset())  # Control Center lists Cisco HAProxy
        yield


def _capture_with_other_shapes(sim_factory: Callable[..., SimulatedFleet], directory: Path) -> Path:
    """A capture of a 2-node cluster answering as a real node might (:func:`_a_node_with_other_shapes`)."""
    fleet = sim_factory(nodes=2)
    with _a_node_with_other_shapes():
        capture = capture_of(fleet, directory)
    fleet.stop()
    return capture


def test_doctor_on_the_twin_gives_the_captured_verdicts_for_these_shapes(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    capture = _capture_with_other_shapes(sim_factory, tmp_path / "capture")
    captured = captured_verdicts(capture)
    for item in ("axl.processnode_rows", "axl.phone_interaction_param", "cc.haproxy_not_listed", "ris.stateinfo"):
        assert captured[item][0] == "refuted", item  # the patch reached doctor
    with TwinFleet(capture, sim_options(state_dir=tmp_path / "twin")) as twin:
        run = run_doctor(load_inventory(twin.write_inventory(tmp_path / "twin.yaml")), "c1")
        assert list(sim_get(twin, PUB, SNAPSHOT)[1]) == TOP_KEYS
    on_twin = doctor_verdicts(run)
    assert on_twin == captured


@pytest.mark.parametrize("anonymize", [False, True])
def test_an_unedited_capture_adopts_no_shape(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path, anonymize: bool
) -> None:
    fleet = sim_factory(nodes=2)
    capture_of(fleet, tmp_path / "capture", anonymize=anonymize)
    with TwinFleet(tmp_path / "capture", sim_options(state_dir=tmp_path / "twin")) as twin:
        assert not [n for n in twin.notes if any(w in n for w in SHAPE_NOTES)], twin.notes
        fqdn = twin.clusters[0].publisher.fqdn
        assert list(sim_get(twin, fqdn, SNAPSHOT)[1]) == [
            "trackingId",
            "server",
            "identities",
            "trusts",
            "revokedCertificates",
        ]
        with _node(twin.write_inventory(tmp_path / "twin.yaml"), fqdn) as node:
            assert "Cisco HAProxy" not in {s.name for s in node.service_status()}
            assert "System SSH" not in {s.name for s in node.service_status()}
            assert node.phone_interaction() == "automatic"
            assert node.axl().execute_sql_query("select name from processnode")[0]["name"] == "EnterpriseWideData"


def _lab_rows(capture: Path) -> subprocess.CompletedProcess[str]:
    return run_certops("sim", "--from-capture", str(capture), "--lab-rows")


def _as_if_from_a_real_cluster(capture: Path) -> None:
    """The captured certificates issued by a corporate CA, not the simulator's (the twin re-issues them so)."""
    path = capture / "capture.json"
    data = json.loads(path.read_text())
    for node in data["nodes"]:
        for cert in node.get("certificates") or []:
            cert["issuer"] = cert["issuer"].replace(f"O={ORG}", "O=Example Corp")
    path.write_text(json.dumps(data))


def test_lab_rows_name_what_a_real_capture_settled_and_what_the_twin_adopts_with_the_capture_as_source(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    capture = _capture_with_other_shapes(sim_factory, tmp_path / "capture")
    _as_if_from_a_real_cluster(capture)
    data = json.loads((capture / "capture.json").read_text())

    result = _lab_rows(capture)

    assert result.returncode == 0, result.stdout + result.stderr
    rows = result.stdout.splitlines()
    assert rows[0] == "| behaviour | [LAB] what the cluster did | source |"
    source = f"capture {data['created']}, certops {data['certops_version']}, CUCM {data['cluster']['full_version']}"
    processnode = next(r for r in rows if "`axl.processnode_rows`" in r)
    assert f"**[LAB]** refuted: rows: {sorted([PUB, SUB])}" in processnode and source in processnode
    assert re.search(r"; cucm-pub\.c1\.certops\.test: \S+", processnode)  # the answer files it came from
    confirmed = next(r for r in rows if "`certmgr.options_shape`" in r)
    assert "**[LAB]** confirmed" in confirmed
    assert not [r for r in rows if "not reachable" in r]  # only what the capture settled
    twin = [r for r in rows if r.startswith("| twin: ")]
    assert any("AXL processnode answers the captured non-node rows" in r for r in twin), twin
    assert any("Control Center lists Cisco HAProxy" in r for r in twin), twin
    assert "Traceback" not in result.stderr


def test_lab_rows_refuse_a_capture_of_the_simulator_in_one_sentence(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    capture = capture_of(sim_factory(nodes=2), tmp_path / "capture")
    result = _lab_rows(capture)
    assert result.returncode == 2 and result.stdout == ""
    said = " ".join(result.stderr.split())
    assert "is a capture of the certops simulator" in said and "against a real cluster" in said, said
    assert "Traceback" not in result.stderr
