"""``certops certificates`` against the simulated fleet, over real TLS and real SSH, checks on."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from certops.cli import app
from certops.cucm.node import CucmNode
from certops.inventory_file import load_inventory
from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import SIM_APP_PASSWORD, SIM_OS_PASSWORD, sim_options

OS_PW = SIM_OS_PASSWORD
APP_PW = SIM_APP_PASSWORD
ENV = {"CUCM_SIM_OS_PASSWORD": OS_PW, "CUCM_SIM_APP_PASSWORD": APP_PW, "WRONG_OS_PASSWORD": "not-the-password"}

CUCM_UNITS = {"tomcat", "tomcat-ECDSA", "ipsec", "CAPF", "CallManager", "CallManager-ECDSA", "TVS"}
IMP_UNITS = {"tomcat", "tomcat-ECDSA", "ipsec", "cup", "cup-ECDSA", "cup-xmpp", "cup-xmpp-ECDSA"}
FEDERATION_UNITS = {"cup-xmpp-s2s", "cup-xmpp-s2s-ECDSA"}  # on IM&P nodes with federation on (the fleet's imp1)


@pytest.fixture()
def fleet15(sim_fleet: SimulatedFleet) -> Iterator[SimulatedFleet]:
    """The session's shared 15.0 fleet (publisher, subscriber, IM&P); faults are cleared after each test."""
    yield sim_fleet
    sim_fleet.clear_faults()


@pytest.fixture(scope="module")
def fleet125(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    """A 12.5 fleet (no certmgr REST: certificates are read through the CLI)."""
    with SimulatedFleet(sim_options(version="12.5", state_dir=tmp_path_factory.mktemp("sim125"))) as fleet:
        yield fleet


def _inventory(fleet: SimulatedFleet, path: Path, edit: Any = None) -> Path:
    data = fleet.inventory_dict()
    if edit is not None:
        edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env=ENV)


def _json_report(result: Any) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _roles(fleet: SimulatedFleet) -> dict[str, str]:
    return {n["fqdn"]: n["role"] for n in fleet.inventory_dict()["clusters"][0]["nodes"]}


def test_every_unit_of_every_node_is_listed_with_verification_on(fleet15: SimulatedFleet, tmp_path: Path) -> None:
    inv = _inventory(fleet15, tmp_path / "inv.yaml")
    data = yaml.safe_load(inv.read_text())
    assert data["defaults"]["tls"]["verify"] is True and data["defaults"]["ssh"]["host_key_check"] is True
    result = _run("certificates", "--inventory", str(inv), "--json")
    assert result.exit_code == 0, result.output
    report = _json_report(result)
    assert report["failures"] == []
    got: dict[str, set[str]] = {}
    for cert in report["certificates"]:
        got.setdefault(cert["node"], set()).add(cert["unit"])
    expected = {
        fqdn: (IMP_UNITS | FEDERATION_UNITS if role == "imp" else CUCM_UNITS) for fqdn, role in _roles(fleet15).items()
    }
    assert got == expected
    for cert in report["certificates"]:
        parsed = x509.load_pem_x509_certificate(cert["pem"].encode())
        assert cert["fingerprint_sha256"] == parsed.fingerprint(hashes.SHA256()).hex()
        assert dt.datetime.fromisoformat(cert["not_after"]) == parsed.not_valid_after_utc


def test_table_is_sorted_by_days_left_and_says_every_node_answered(fleet15: SimulatedFleet, tmp_path: Path) -> None:
    result = _run("certificates", "--inventory", str(_inventory(fleet15, tmp_path / "inv.yaml")))
    assert result.exit_code == 0, result.output
    assert "every node answered" in result.stdout
    rows = [line for line in result.stdout.splitlines() if "certops.test" in line and "│" in line]
    assert len(rows) == 7 + 7 + 9  # publisher, subscriber, IM&P node (federation on)
    days = [int(row.split("│")[8].strip()) for row in rows]
    assert days == sorted(days)
    assert any("self-signed" in r for r in rows) and any("CA-signed" in r for r in rows)


def test_a_second_read_says_the_same_with_the_verdicts_the_first_kept(fleet15: SimulatedFleet, tmp_path: Path) -> None:
    inv = str(_inventory(fleet15, tmp_path / "inv.yaml"))
    cache = tmp_path / "cache"
    env = {**ENV, "CERTOPS_CACHE_DIR": str(cache)}
    first = CliRunner().invoke(app, ["certificates", "--inventory", inv, "--json"], env=env)
    assert first.exit_code == 0, first.output
    kept = json.loads((cache / "self-signed-verdicts.json").read_text())["verdicts"]
    listed = {c["fingerprint_sha256"]: c["self_signed"] for c in _json_report(first)["certificates"]}
    checked = {fp: listed[fp] for fp in kept}  # a verdict is kept only of a certificate that needed a check
    assert checked and checked == {fp: kept[fp] for fp in checked}
    second = CliRunner().invoke(app, ["certificates", "--inventory", inv, "--json"], env=env)
    assert second.exit_code == 0, second.output
    assert {c["fingerprint_sha256"]: c["self_signed"] for c in _json_report(second)["certificates"]} == listed


def test_served_tomcat_certificate_matches_the_listed_one(fleet15: SimulatedFleet, tmp_path: Path) -> None:
    inv = load_inventory(_inventory(fleet15, tmp_path / "inv.yaml"))
    pub = inv.clusters[0].publisher.fqdn
    with pytest.MonkeyPatch.context() as mp:
        for k, v in ENV.items():
            mp.setenv(k, v)
        with CucmNode.from_inventory(inv, "c1", pub) as node:
            listed = node.read_certificate("tomcat")
            served = node.served_certificate_der()
            served_cm = node.served_certificate_der("CallManager")
            listed_cm = node.read_certificate("CallManager")
    assert hashlib.sha256(served).hexdigest() == listed.fingerprint_sha256
    assert hashlib.sha256(served_cm).hexdigest() == listed_cm.fingerprint_sha256


def test_12_5_cluster_is_read_through_the_cli(fleet125: SimulatedFleet, tmp_path: Path) -> None:
    result = _run("certificates", "--inventory", str(_inventory(fleet125, tmp_path / "inv.yaml")), "--json")
    assert result.exit_code == 0, result.output
    report = _json_report(result)
    got: dict[str, set[str]] = {}
    for cert in report["certificates"]:
        got.setdefault(cert["node"], set()).add(cert["unit"])
    expected = {
        fqdn: (IMP_UNITS | FEDERATION_UNITS if role == "imp" else CUCM_UNITS) for fqdn, role in _roles(fleet125).items()
    }
    assert got == expected
    # The CLI-read tomcat certificate is the one the node serves.
    inv = load_inventory(tmp_path / "inv.yaml")
    pub = inv.clusters[0].publisher
    with pytest.MonkeyPatch.context() as mp:
        for k, v in ENV.items():
            mp.setenv(k, v)
        with CucmNode.from_inventory(inv, "c1", pub.fqdn) as node:
            served = hashlib.sha256(node.served_certificate_der()).hexdigest()
    tomcat = next(c for c in report["certificates"] if c["node"] == pub.fqdn and c["unit"] == "tomcat")
    assert tomcat["fingerprint_sha256"] == served


def _other_key(kind: str) -> paramiko.PKey:
    """A fresh key of the same type as ``kind`` (an impostor's key)."""
    if kind == "ssh-ed25519":
        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))
    if kind.startswith("ecdsa"):
        return paramiko.ECDSAKey.generate()
    return paramiko.RSAKey.generate(2048)


def _failures(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["node"]: f for f in report["failures"]}


def test_unreachable_node_is_reported_and_the_others_are_listed(fleet15: SimulatedFleet, tmp_path: Path) -> None:
    inv = _inventory(fleet15, tmp_path / "inv.yaml")
    sub = next(f for f, r in _roles(fleet15).items() if r == "subscriber")
    fleet15.set_fault("unreachable", node=sub)
    try:
        result = _run("certificates", "--inventory", str(inv), "--json")
        table = _run("certificates", "--inventory", str(inv))
    finally:
        fleet15.clear_faults()
    assert result.exit_code == 1
    report = _json_report(result)
    failures = _failures(report)
    assert set(failures) == {sub}
    assert "cannot reach" in failures[sub]["reason"] and failures[sub]["transient"]
    assert {c["node"] for c in report["certificates"]} == set(_roles(fleet15)) - {sub}
    assert table.exit_code == 1
    assert "1 node(s) could not be read" in table.stdout and sub in table.stdout.split("could not be read")[1]


def test_bad_password_on_one_node_is_reported_as_refused_credentials(fleet15: SimulatedFleet, tmp_path: Path) -> None:
    roles = _roles(fleet15)
    imp = next(f for f, r in roles.items() if r == "imp")

    def edit(data: dict[str, Any]) -> None:
        for node in data["clusters"][0]["nodes"]:
            if node["fqdn"] == imp:
                node["os_admin"] = {
                    "username": data["defaults"]["os_admin"]["username"],
                    "password_env": "WRONG_OS_PASSWORD",
                }

    result = _run("certificates", "--inventory", str(_inventory(fleet15, tmp_path / "inv.yaml", edit)), "--json")
    assert result.exit_code == 1
    report = _json_report(result)
    failure = _failures(report)[imp]
    assert "refused" in failure["reason"] and "401" in failure["reason"] and not failure["transient"]
    assert "not-the-password" not in result.stdout and OS_PW not in result.stdout
    assert {c["node"] for c in report["certificates"]} == set(roles) - {imp}


def test_node_serving_another_nodes_certificate_is_a_tls_mismatch(fleet15: SimulatedFleet, tmp_path: Path) -> None:
    roles = _roles(fleet15)
    pub = next(f for f, r in roles.items() if r == "publisher")
    sub = next(f for f, r in roles.items() if r == "subscriber")

    def edit(data: dict[str, Any]) -> None:
        nodes = {n["fqdn"]: n for n in data["clusters"][0]["nodes"]}
        nodes[sub]["https_port"] = nodes[pub]["https_port"]  # the sub's name, the pub's certificate

    result = _run("certificates", "--inventory", str(_inventory(fleet15, tmp_path / "inv.yaml", edit)), "--json")
    assert result.exit_code == 1
    report = _json_report(result)
    failure = _failures(report)[sub]
    assert "could not be verified" in failure["reason"] and sub in failure["reason"]
    assert len(report["certificates"]) == 7 + 9  # the publisher and the IM&P node (federation on)


def test_wrong_ca_bundle_fails_every_node_with_a_trust_error(fleet15: SimulatedFleet, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Some Other Root CA")])
    now = dt.datetime.now(dt.UTC)
    other = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    bundle = tmp_path / "other-ca.pem"
    bundle.write_bytes(other.public_bytes(serialization.Encoding.PEM))

    def edit(data: dict[str, Any]) -> None:
        data["defaults"]["tls"]["ca_bundle"] = "other-ca.pem"  # relative to the inventory file

    result = _run("certificates", "--inventory", str(_inventory(fleet15, tmp_path / "inv.yaml", edit)))
    assert result.exit_code == 1
    assert "3 node(s) could not be read" in result.stdout
    for fqdn in _roles(fleet15):
        line = next(line for line in result.stdout.splitlines() if line.strip().startswith(f"- c1 {fqdn}:"))
        assert "could not be verified" in line and "ca_bundle" in line


def test_missing_and_changed_host_keys_are_refused_with_how_to_fix(fleet125: SimulatedFleet, tmp_path: Path) -> None:
    roles = _roles(fleet125)
    pub = next(f for f, r in roles.items() if r == "publisher")
    sub = next(f for f, r in roles.items() if r == "subscriber")
    ports = {n["fqdn"]: n["ssh_port"] for n in fleet125.inventory_dict()["clusters"][0]["nodes"]}
    known = paramiko.HostKeys(str(fleet125.known_hosts_path))
    edited = paramiko.HostKeys()
    for host in list(known):
        for kind, key in known[host].items():
            if str(ports[pub]) in host:
                continue  # pub: missing
            edited.add(host, kind, _other_key(kind) if str(ports[sub]) in host else key)  # sub: changed
    known_hosts = tmp_path / "known_hosts"
    edited.save(str(known_hosts))

    def edit(data: dict[str, Any]) -> None:
        data["defaults"]["ssh"]["known_hosts"] = str(known_hosts)

    result = _run("certificates", "--inventory", str(_inventory(fleet125, tmp_path / "inv.yaml", edit)), "--json")
    assert result.exit_code == 1
    report = _json_report(result)
    failures = _failures(report)
    assert set(failures) == {pub, sub}
    assert "no " in failures[pub]["reason"] and "host key" in failures[pub]["reason"]
    assert "ssh-keyscan" in failures[pub]["reason"]
    assert "CHANGED" in failures[sub]["reason"] and "ssh-keygen -R" in failures[sub]["reason"]
    assert {c["node"] for c in report["certificates"]} == set(roles) - {pub, sub}


def test_cluster_filter_and_unknown_cluster(fleet15: SimulatedFleet, tmp_path: Path) -> None:
    inv = _inventory(fleet15, tmp_path / "inv.yaml")
    ok = _run("certificates", "--inventory", str(inv), "--cluster", "c1", "--unit", "tomcat", "--json")
    assert ok.exit_code == 0
    assert {c["unit"] for c in _json_report(ok)["certificates"]} == {"tomcat"}
    bad = _run("certificates", "--inventory", str(inv), "--cluster", "nope")
    assert bad.exit_code == 2 and "no cluster 'nope'" in bad.stderr


def test_bad_inventory_exits_2_with_its_problems(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("clusters:\n  - name: c1\n    versoin: '15.0'\n")
    result = _run("certificates", "--inventory", str(inv))
    assert result.exit_code == 2
    assert "did you mean 'version'?" in result.stderr
