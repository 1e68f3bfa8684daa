"""``certops doctor`` against the simulator: a healthy cluster passes, each injected fault is named
with its fix, nothing is ever changed (the simulator's event log), and the capture is redacted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from certops.cli.doctor import run_doctor_command
from certops.doctor.capture import write_capture
from certops.doctor.run import run_doctor
from certops.doctor.verdicts import CheckStatus
from certops.inventory_file import load_inventory
from simulator import pki
from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import SIM_APP_PASSWORD, SIM_OS_PASSWORD

# a child of a test keeps its pytest process's own host-lock and server-discovery folders (tests/conftest.py):
# the shared /tmp defaults would let parallel workers see each other's locks
HOST_WIDE = {"CERTOPS_LOCK_DIR", "CERTOPS_RUNTIME_DIR", "CERTOPS_CACHE_DIR", "CERTOPS_PREFECT_STARTUP_TIMEOUT"}

CERTOPS = str(Path(sys.executable).parent / "certops")
PUB, SUB, IMP = "cucm-pub.c1.certops.test", "cucm-sub1.c1.certops.test", "imp1.c1.certops.test"

# every state change the simulator logs that a read could never cause
CHANGING = {
    "csr_generated",
    "trust_uploaded",
    "identity_uploaded",
    "upload_refused",
    "service_restart_started",
    "service_restart_finished",
    "service_start",
    "service_stop",
    "ctl_updated",
    "phone_reset",
    "enterprise_parameters_set_to_default",
    "security_mode_set",
    "sso_set",
    "drf_backup_started",
    "drf_restore_started",
}
CHANGING_WORDS = re.compile(r"generated|upload|restart|reset|_set$|_start|_stop|import|ctl", re.I)

EVERY_CHECK = {
    "ssh.login",
    "cli.version",
    "cli.cert_list",
    "cli.service_list",
    "cli.sso",
    "cli.drf",
    "cli.privilege",
    "rest.snapshot",
    "rest.csr",
    "rest.trust",
    "rest.options",
    "cc.status",
    "cc.status_named",
    "axl.version",
    "axl.security_mode",
    "axl.sso",
    "axl.phone_interaction",
    "ris.query",
}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CERTOPS_")) or k in HOST_WIDE}
    env.update({"CUCM_SIM_OS_PASSWORD": SIM_OS_PASSWORD, "CUCM_SIM_APP_PASSWORD": SIM_APP_PASSWORD, "COLUMNS": "120"})
    env.update(extra)
    return env


def _doctor_process(inventory: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CERTOPS, "doctor", "--inventory", str(inventory), *args],
        capture_output=True,
        text=True,
        env=_env(**env),
        timeout=300,
    )


def _inventory(fleet: SimulatedFleet) -> Path:
    return fleet.state_dir / "inventory.yaml"


def _changes(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["operation"] in CHANGING or CHANGING_WORDS.search(e["operation"])]


def _fix_section(out: str) -> str:
    assert "What to fix, node by node:" in out, out
    return " ".join(out.split("What to fix, node by node:", 1)[1].split())


def test_doctor_passes_on_a_healthy_cluster_as_a_process(sim_factory: Callable[..., SimulatedFleet]) -> None:
    fleet = sim_factory(nodes=3)
    before = len(fleet.events())
    result = _doctor_process(_inventory(fleet), "--cluster", "c1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verdict: certops can renew every configured unit on every node of c1." in result.stdout
    for node in (PUB, SUB, IMP):
        assert f"\n{node}\n" in result.stdout
    assert "FAIL" not in result.stdout and "UNREACHABLE" not in result.stdout
    assert "Traceback" not in result.stderr
    assert re.search(r"\[INF\] items \(\d+; docs/simulator.md\): [1-9]\d* confirmed, 0 refuted", result.stdout)
    assert _changes(fleet.events()[before:]) == []


def test_doctor_changes_nothing_for_every_check(sim_factory: Callable[..., SimulatedFleet], tmp_path: Path) -> None:
    fleet = sim_factory(nodes=3)
    before = len(fleet.events())
    run = run_doctor(load_inventory(_inventory(fleet)), "c1")
    write_capture(tmp_path / "capture", run)
    ran = {c.id for c in run.report.checks if c.status in (CheckStatus.OK, CheckStatus.WARN)}
    assert ran >= EVERY_CHECK, EVERY_CHECK - ran
    assert any(c.startswith("tls.port.") for c in ran)
    assert _changes(fleet.events()[before:]) == []
    pub = fleet.node(PUB)
    assert pub.csrs == {} and all(n.csrs == {} for n in fleet.nodes)
    assert all(s.restart_token == 0 for n in fleet.nodes for s in n.services.values())


def test_doctor_passes_on_a_12_5_cluster_through_the_cli(sim_factory: Callable[..., SimulatedFleet]) -> None:
    fleet = sim_factory(nodes=2, version="12.5")
    before = len(fleet.events())
    run = run_doctor(load_inventory(_inventory(fleet)), "c1")
    assert run.report.ok, [c for c in run.report.blocking]
    assert {c["unit"] for c in run.nodes[0].certificates} >= {"tomcat", "CallManager", "ipsec"}
    assert not any(c.id == "rest.csr" for c in run.report.checks)  # no certmgr on 12.5
    assert _changes(fleet.events()[before:]) == []


def test_a_wrong_ca_bundle_is_named_with_the_missing_issuer_and_the_command_to_fetch_it(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path
) -> None:
    fleet = sim_factory(nodes=2)
    other = tmp_path / "other-ca.pem"
    other.write_text(pki.SimulatorCa.create("Some Other Root").pem)
    data = yaml.safe_load(_inventory(fleet).read_text())
    data["defaults"]["tls"]["ca_bundle"] = str(other)
    inventory = tmp_path / "wrong-bundle.yaml"
    inventory.write_text(yaml.safe_dump(data))
    before = len(fleet.events())
    result = _doctor_process(inventory)
    assert result.returncode == 1, result.stdout + result.stderr
    fixes = _fix_section(result.stdout)
    for node in (PUB, "cucm-sub1.c1.certops.test"):
        assert f"{node} — blocks: tomcat" in fixes
    assert f"{other} does not hold the issuer" in fixes
    assert "issued by 'CN=Certops Simulator Root CA,O=Certops Simulator'" in fixes
    assert f"openssl s_client -connect 127.0.0.1:{fleet.node(PUB).https_port} -servername {PUB} -showcerts" in fixes
    assert "Traceback" not in result.stderr
    assert _changes(fleet.events()[before:]) == []


def _run(inventory: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run_doctor_command(inventory, "c1")
    return code, capsys.readouterr().out


def test_a_wrong_os_admin_password_is_named_with_its_variable(
    sim_factory: Callable[..., SimulatedFleet], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = sim_factory(nodes=2)
    monkeypatch.setenv("CUCM_SIM_OS_PASSWORD", "not-the-password")
    code, out = _run(_inventory(fleet), capsys)
    assert code == 1
    fixes = _fix_section(out)
    assert f"{PUB} refused the OS (platform) administrator 'admin'. Set $CUCM_SIM_OS_PASSWORD" in fixes
    assert "not locked out" in fixes
    assert "not-the-password" not in out


def test_a_read_only_os_admin_is_named_with_how_to_get_write_access(
    sim_factory: Callable[..., SimulatedFleet], capsys: pytest.CaptureFixture[str]
) -> None:
    healthy = sim_factory(nodes=2)
    run = run_doctor(load_inventory(_inventory(healthy)), "c1")
    privilege = [c for c in run.report.checks if c.id == "cli.privilege"]
    assert privilege and all(c.status is CheckStatus.OK and "privilege level 4" in c.detail for c in privilege)
    fleet = sim_factory(nodes=2, os_admin_privilege=0)
    code, out = _run(_inventory(fleet), capsys)
    assert code == 1
    fixes = _fix_section(out)
    assert f"{PUB}: the OS admin 'admin' has privilege level 0 (read-only)" in fixes
    assert "set account name" in fixes


def test_an_unknown_ssh_host_key_is_named_with_the_keyscan_command(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = sim_factory(nodes=2)
    sub = fleet.node(SUB)
    known = tmp_path / "known_hosts"
    lines = fleet.known_hosts_path.read_text().splitlines()
    known.write_text("\n".join(line for line in lines if f":{sub.ssh_port} " not in line) + "\n")
    data = yaml.safe_load(_inventory(fleet).read_text())
    data["defaults"]["ssh"]["known_hosts"] = str(known)
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(yaml.safe_dump(data))
    code, out = _run(inventory, capsys)
    assert code == 1
    fixes = _fix_section(out)
    assert f"{SUB} — blocks:" in fixes and f"{PUB} — blocks" not in fixes
    assert f"no ssh-ed25519 host key for [127.0.0.1]:{sub.ssh_port}" in fixes
    assert f"ssh-keyscan -p {sub.ssh_port} 127.0.0.1 >> {known}" in fixes


def test_sso_on_blocks_tomcat_with_how_to_disable_it(
    sim_factory: Callable[..., SimulatedFleet], capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = sim_factory(nodes=2)
    fleet.set_fault("sso")
    before = len(fleet.events())
    code, out = _run(_inventory(fleet), capsys)
    assert code == 1
    fixes = _fix_section(out)
    assert f"{PUB} — blocks: tomcat, tomcat-ECDSA" in fixes
    assert "SAML SSO is enabled" in fixes and "Disable SSO" in fixes and "wait_for_person" in fixes
    assert "ipsec" not in fixes.split(f"{PUB} — blocks:", 1)[1].split("-", 1)[0]
    code = run_doctor_command(_inventory(fleet), "c1", as_json=True)
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["ok"] is False
    assert data["blocked"] == {PUB: ["tomcat", "tomcat-ECDSA"], SUB: ["tomcat", "tomcat-ECDSA"]}
    sso = next(c for c in data["checks"] if c["id"] == "cli.sso" and c["node"] == PUB)
    assert sso["status"] == "fail" and "Disable SSO" in sso["fix"]
    assert {v["id"]: v["status"] for v in data["inf"]}["cli.sso_disabled_text"] == "not reachable"
    assert _changes(fleet.events()[before:]) == []


def test_an_unreachable_node_is_named_once_with_its_ports(
    sim_factory: Callable[..., SimulatedFleet], capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = sim_factory(nodes=2)
    fleet.set_fault("unreachable", node="cucm-sub1.c1")
    sub = fleet.node(SUB)
    code, out = _run(_inventory(fleet), capsys)
    assert code == 1
    fixes = _fix_section(out)
    assert f"{PUB} — blocks" not in fixes
    assert fixes.count(f"{SUB} did not answer.") == 1
    assert f"ports {sub.https_port} (certmgr), {sub.soap_port} (SOAP) and {sub.ssh_port} (SSH)" in fixes
    assert "UNREACHABLE" in out


def test_a_running_drf_backup_blocks_ipsec_and_says_to_wait(
    sim_factory: Callable[..., SimulatedFleet], capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = sim_factory(nodes=2)
    fleet.set_fault("drf-backup", seconds=3600)
    before = len(fleet.events())
    code, out = _run(_inventory(fleet), capsys)
    assert code == 1
    fixes = _fix_section(out)
    assert "a DRF backup is running (Status: RUNNING" in fixes
    assert "utils disaster_recovery status backup" in fixes and "Status: SUCCESS" in fixes
    assert "HTTP 423" in out  # certmgr locked: the [INF] item is confirmed
    assert re.search(r"confirmed\s+certmgr.drf_locked_423", out)
    assert _changes(fleet.events()[before:]) == []


# -- the capture -----------------------------------------------------------------------------------

PLANTED_OS = "Pl4nted-OS-passw0rd-7731"
PLANTED_APP = "Pl4nted-APP-passw0rd-9140"
PLANTED_SESSION = "PLANTEDSESSION0123456789ABCDEF"
PLANTED_TOKEN = "planted-token-5c1d2e3f4a"
PLANTED_COOKIE = "planted-cookie-value-77aa"
PLANTED_KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDPLANTEDKEY"


def _plant(fleet: SimulatedFleet) -> None:
    """Make the nodes say secrets: in a service's reason (CLI and Control Center answers)."""
    tftp = fleet.node(SUB).services["Cisco Tftp"]
    tftp.status = "Stopped"
    tftp.reason = (
        f"stopped by script JSESSIONID={PLANTED_SESSION} token={PLANTED_TOKEN} Cookie: {PLANTED_COOKIE} "
        f"-----BEGIN PRIVATE KEY-----{PLANTED_KEY_BODY}-----END PRIVATE KEY-----"
    )


def _files(directory: Path) -> dict[Path, str]:
    return {p: p.read_text() for p in directory.rglob("*") if p.is_file()}


def test_the_capture_holds_no_planted_secret(
    sim_factory: Callable[..., SimulatedFleet], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fleet = sim_factory(nodes=3, password=PLANTED_OS, app_password=PLANTED_APP)
    monkeypatch.setenv("CUCM_SIM_OS_PASSWORD", PLANTED_OS)
    monkeypatch.setenv("CUCM_SIM_APP_PASSWORD", PLANTED_APP)
    _plant(fleet)
    run = run_doctor(load_inventory(_inventory(fleet)), "c1")
    said = "\n".join(e.body for e in run.recorder.exchanges)
    for planted in (PLANTED_SESSION, PLANTED_TOKEN, PLANTED_COOKIE, PLANTED_KEY_BODY):
        assert planted in said  # the nodes did say it: the capture must not
    write_capture(tmp_path / "capture", run)
    files = _files(tmp_path / "capture")
    assert len(files) == len(run.recorder.exchanges) + 1
    for path, text in files.items():
        for planted in (PLANTED_OS, PLANTED_APP, PLANTED_SESSION, PLANTED_TOKEN, PLANTED_COOKIE, PLANTED_KEY_BODY):
            assert planted not in text, f"{planted} in {path}"
        assert "PRIVATE KEY-----MII" not in text
    everything = "\n".join(files.values())
    assert "<redacted: private key>" in everything and "JSESSIONID=<redacted>" in everything
    assert "Cisco Tftp" in everything and PUB in everything  # redacted, not emptied


def test_an_anonymized_capture_names_no_host_and_no_address_but_stays_consistent(
    sim_factory: Callable[..., SimulatedFleet], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = sim_factory(nodes=3)
    code = run_doctor_command(_inventory(fleet), "c1", capture=tmp_path / "capture", anonymize=True)
    assert code == 0
    files = _files(tmp_path / "capture")
    for path, text in files.items():
        for leak in ("certops.test", "cucm-pub", "cucm-sub1", "imp1", "127.0.0.1", "BEGIN CERTIFICATE"):
            assert leak not in text, f"{leak} in {path}"
    capture = yaml.safe_load((tmp_path / "capture" / "capture.json").read_text())
    names = [n["fqdn"] for n in capture["nodes"]]
    assert names == ["node1.example.invalid", "node2.example.invalid", "node3.example.invalid"]
    tomcat = next(c for c in capture["nodes"][0]["certificates"] if c["unit"] == "tomcat")
    assert tomcat["sans_dns"] == ["node1.example.invalid"] and "CN=node1.example.invalid" in tomcat["subject"]
    assert any("node2.example.invalid" in t for p, t in files.items() if p.suffix == ".txt")
