"""The twin: ``certops sim --from-capture DIR`` starts a cluster shaped like the captured one."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from certops.doctor.run import run_doctor
from certops.inventory_file import load_inventory
from simulator import pki
from simulator.fleet import SimulatedFleet
from simulator.twin import TwinError, TwinFleet
from tests.fixtures.simulator import sim_options
from tests.fixtures.twin import CERTOPS, PUB, SUB, capture_of, certops_env, run_certops, scan_table

READY = "Press Ctrl-C to stop."


def test_the_twin_from_a_capture_reproduces_the_scanscan_table(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    fleet = sim_factory(nodes=3, node_expiry_days={SUB: {"tomcat": 3, "ipsec": 400}})
    capture = capture_of(fleet, tmp_path / "capture")
    original = scan_table(fleet.state_dir / "inventory.yaml")
    fleet.stop()
    twin_inventory = tmp_path / "twin.yaml"
    proc = subprocess.Popen(
        [CERTOPS, "sim", "--from-capture", str(capture), "--write-inventory", str(twin_inventory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=certops_env(),
    )
    guard = threading.Timer(120, proc.kill)
    guard.start()
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if READY in line:
                break
        assert READY in "".join(lines), "".join(lines)
        assert "1 cluster(s), 3 node(s)" in "".join(lines)
        twin = scan_table(twin_inventory)
    finally:
        guard.cancel()
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert twin == original
    assert SUB in twin and "every node answered" in twin
    assert re.search(r"Identity certificates \((\d+)\)", twin) and int(re.findall(r"\((\d+)\)", twin)[0]) >= 19


def _corp_cert(fqdn: str, unit: str, days: int) -> tuple[object, object]:
    corp = pki.SimulatorCa.create("Corp Issuing CA")
    key = pki.new_key("rsa", 2048)
    cert = pki.issue_node_cert(
        subject=pki.node_subject(fqdn, unit),
        sans=[fqdn, f"alias.{fqdn}"],
        key=key,
        not_after=pki.utcnow() + dt.timedelta(days=days),
        ca=corp,
        unit=unit,
    )
    return cert, key


def test_the_twin_has_the_captured_nodes_versions_certificates_services_and_cluster_state(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    fleet = sim_factory(nodes=2, version="14SU1", phones_per_cluster=7)
    fleet.set_fault("mixed-mode")
    cert, key = _corp_cert(SUB, "tomcat", 11)
    fleet.node(SUB).set_identity("tomcat", cert, key)  # type: ignore[arg-type]
    tftp = fleet.node(SUB).services["Cisco Tftp"]
    tftp.status, tftp.reason = "Stopped", "Commanded Out of Service"
    capture = capture_of(fleet, tmp_path / "capture")
    with TwinFleet(capture, sim_options(state_dir=tmp_path / "twin")) as twin:
        cluster = twin.clusters[0]
        assert (cluster.name, cluster.version, cluster.full_version) == ("c1", "14.0", "14.0.1.11900-132")
        assert [(n.fqdn, n.role) for n in cluster.nodes] == [(PUB, "publisher"), (SUB, "subscriber")]
        assert cluster.mixed_mode and not cluster.sso_enabled and len(cluster.phones) == 7
        sub = twin.node(SUB)
        assert sub.services["Cisco Tftp"].current_status() == "Stopped"
        tomcat = sub.identity("tomcat").cert
        assert tomcat.issuer.rfc4514_string() == "CN=Corp Issuing CA,O=Certops Simulator"
        assert pki.dns_sans(tomcat) == [SUB, f"alias.{SUB}"]
        assert abs((tomcat.not_valid_after_utc - cert.not_valid_after_utc).total_seconds()) < 1  # type: ignore[attr-defined]
        assert sub.chain_trusted("tomcat", tomcat)
        twin.write_inventory(tmp_path / "twin.yaml")
        again = run_doctor(load_inventory(tmp_path / "twin.yaml"), "c1")
        assert again.report.ok, [c.fix for c in again.report.blocking]  # its TLS verifies with the twin's CA
        assert again.cluster.security_mode == 1 and again.cluster.phones_seen == 7


def test_a_capture_the_twin_cannot_build_is_refused_in_one_sentence(tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    capture.mkdir()
    nodes = [{"fqdn": f"n{i}.x", "role": r} for i, r in enumerate(["publisher", "publisher", "imp"])]
    (capture / "capture.json").write_text(
        json.dumps({"format": "certops-doctor-capture", "version": 1, "nodes": nodes})
    )
    with pytest.raises(TwinError, match="the capture has 2 publishers; a twin needs exactly one"):
        TwinFleet(capture)
    result = run_certops("sim", "--from-capture", str(tmp_path / "nothing-here"), timeout=120)
    assert result.returncode == 2
    assert "holds no capture.json: make one with certops doctor --capture" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_a_captured_trust_list_shape_becomes_the_twins_and_other_fleets_keep_theirs(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    fleet = sim_factory(nodes=1)
    capture = capture_of(fleet, tmp_path / "capture")
    data = json.loads((capture / "capture.json").read_text())
    assert data["cluster"]["shapes"] == {"certmgr.trust_list": "certificate_data", "cli.cert_list": "lines"}
    data["cluster"]["shapes"]["certmgr.trust_list"] = "list"  # as a node answering a bare list would have
    (capture / "capture.json").write_text(json.dumps(data))
    with TwinFleet(capture, sim_options(state_dir=tmp_path / "twin")) as twin:
        assert "GET /trust/certificate answers in the captured shape 'list'" in twin.notes
        twin.write_inventory(tmp_path / "twin.yaml")
        run = run_doctor(load_inventory(tmp_path / "twin.yaml"), "c1")
        assert run.report.ok  # certops reads that shape too
        assert run.cluster.shapes == {"certmgr.trust_list": "list", "cli.cert_list": "lines"}
        verdict = run.report.inf_summary()["certmgr.trust_list_shape"]
        assert verdict.status.value == "refuted" and verdict.said.startswith("shape list")
        again = run_doctor(load_inventory(fleet.state_dir / "inventory.yaml"), "c1")  # a plain fleet, same process
        assert again.cluster.shapes == {"certmgr.trust_list": "certificate_data", "cli.cert_list": "lines"}


def test_a_captured_cert_list_style_becomes_the_twins_whatever_its_version(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    # a 15 cluster that printed `show cert list own` in blocks (the simulator's style before 15):
    # its twin answers in blocks, and certops reads them
    fleet = sim_factory(nodes=1, version="15.0")
    capture = capture_of(fleet, tmp_path / "capture")
    data = json.loads((capture / "capture.json").read_text())
    data["cluster"]["shapes"]["cli.cert_list"] = "blocks"
    (capture / "capture.json").write_text(json.dumps(data))
    with TwinFleet(capture, sim_options(state_dir=tmp_path / "twin")) as twin:
        assert "show cert list own|trust answers in the captured style (blocks)" in twin.notes
        twin.write_inventory(tmp_path / "twin.yaml")
        run = run_doctor(load_inventory(tmp_path / "twin.yaml"), "c1")
        assert run.report.ok
        assert run.cluster.shapes["cli.cert_list"] == "blocks"
        said = next(
            r for r in run.recorder.for_node(twin.clusters[0].nodes[0].fqdn, "cli") if r.request == "show cert list own"
        )
        assert "Unit: tomcat" in said.body


def test_the_readme_before_your_first_renewal_block_runs_as_written(tmp_path: Path) -> None:
    from tests.unit.test_readme_blocks import Shell, _reason, _shell_blocks, commands

    block = next(b for b in _shell_blocks() if b.path.name == "README.md" and "certops doctor" in b.text)
    shell = Shell(tmp_path)
    results: dict[str, subprocess.CompletedProcess[str]] = {}
    try:
        for command in commands(block):
            assert _reason(command) is None, command
            result = shell.run(command)
            if result is not None:
                results[command] = result
                assert result.returncode == 0, f"{block.where}: {command}\n{result.stdout}\n{result.stderr}"
    finally:
        outputs = shell.stop()
    assert len(outputs) == 2 and "twin note" not in outputs[1]
    doctor = next(r for c, r in results.items() if c.startswith("certops doctor") and "--anonymize" not in c)
    assert "Verdict: certops can renew every configured unit on every node of c1." in doctor.stdout
    assert (tmp_path / "capture" / "capture.json").is_file() and (tmp_path / "to-send" / "capture.json").is_file()
    assert "certops.test" not in (tmp_path / "to-send" / "capture.json").read_text()
    table = next(r for c, r in results.items() if c.startswith("certops certificates"))
    assert "every node answered" in table.stdout  # the twin's nodes answer over the inventory it wrote
    assert int(re.findall(r"Identity certificates \((\d+)\)", table.stdout)[0]) >= 19
    dry = next(r for c, r in results.items() if "--dry-run" in c)
    assert "tomcat" in dry.stdout


def _dry_run(inventory: Path, unit: str) -> dict[str, object]:
    result = run_certops("renew", "-i", str(inventory), "-c", "c1", "-u", unit, "--dry-run", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(re.sub(r"\bport \d+", "port N", result.stdout))  # the twin listens on other ports


def test_a_dry_run_on_the_twin_shows_the_plan_it_shows_on_the_cluster(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    fleet = sim_factory(nodes=3, version="14.0")
    fleet.set_fault("mixed-mode")
    capture = capture_of(fleet, tmp_path / "capture")
    on_cluster = _dry_run(fleet.state_dir / "inventory.yaml", "CallManager")
    with TwinFleet(capture, sim_options(state_dir=tmp_path / "twin")) as twin:
        on_twin = _dry_run(twin.write_inventory(tmp_path / "twin.yaml"), "CallManager")
    assert on_twin == on_cluster
    assert "ctl" in json.dumps(on_cluster).lower()  # mixed mode reached the twin's plan too


def test_a_twin_starts_from_an_anonymized_capture_with_the_stand_in_names(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    fleet = sim_factory(nodes=3)
    capture_of(fleet, tmp_path / "capture", anonymize=True)
    with TwinFleet(tmp_path / "capture", sim_options(state_dir=tmp_path / "twin")) as twin:
        assert [n.fqdn for n in twin.nodes] == [f"node{i}.example.invalid" for i in (1, 2, 3)]
        tomcat = twin.node("node2.example.invalid").identity("tomcat").cert
        assert pki.dns_sans(tomcat) == ["node2.example.invalid"]
        again = run_doctor(load_inventory(twin.write_inventory(tmp_path / "twin.yaml")), "c1")
        assert again.report.ok, [c.fix for c in again.report.blocking]


def test_a_three_node_cluster_without_im_and_p_gets_three_cucm_nodes_and_a_two_node_one_its_im_and_p(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    fleet = sim_factory(nodes=3)
    capture = capture_of(fleet, tmp_path / "capture")
    data = json.loads((capture / "capture.json").read_text())
    data["nodes"][2]["role"] = "subscriber"  # as a publisher and two subscribers would have been captured
    (capture / "capture.json").write_text(json.dumps(data))
    with TwinFleet(capture, sim_options(state_dir=tmp_path / "twin")) as twin:
        last = twin.clusters[0].nodes[2]
        assert (last.fqdn, last.role) == ("imp1.c1.certops.test", "subscriber")
        inventory = load_inventory(twin.write_inventory(tmp_path / "twin.yaml"))
        assert [n.role for n in inventory.clusters[0].nodes] == ["publisher", "subscriber", "subscriber"]
    data["nodes"] = [data["nodes"][0], {**data["nodes"][2], "role": "imp"}]
    (capture / "capture.json").write_text(json.dumps(data))
    with TwinFleet(capture, sim_options(state_dir=tmp_path / "twin2")) as twin:
        assert [n.role for n in twin.clusters[0].nodes] == ["publisher", "imp"]


def test_the_twin_of_a_cluster_with_two_im_and_p_nodes_reproduces_its_scan_table_and_roles(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    fleet = sim_factory(nodes=4, imp_nodes=2, federation=(2,))
    capture = capture_of(fleet, tmp_path / "capture")
    original = scan_table(fleet.state_dir / "inventory.yaml")
    roles = [
        (n.fqdn, n.role, n.federation) for n in load_inventory(fleet.state_dir / "inventory.yaml").clusters[0].nodes
    ]
    fleet.stop()
    with TwinFleet(capture, sim_options(state_dir=tmp_path / "twin")) as twin:
        inventory = twin.write_inventory(tmp_path / "twin.yaml")
        assert [(n.fqdn, n.role, n.federation) for n in load_inventory(inventory).clusters[0].nodes] == roles
        assert scan_table(inventory) == original
    assert "imp2.c1.certops.test" in original
