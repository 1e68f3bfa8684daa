"""One inventory, three releases: a 12.5, a 14SU2 and a 15 cluster are scanned and renewed together.

12.5 has no certmgr REST API (cucm-interfaces.md §1.1), so its nodes are read and renewed over the
CLI; 14 and 15 use certmgr REST. The dry run names the path each node takes and why, before
anything is changed, and the scan reads every node of every cluster whichever path it needs.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from certops.cli import app
from flows.renew import renew
from simulator.fleet import SimulatedFleet
from simulator.options import FleetOptions
from tests.flows.conftest import FAST, served_fingerprint

VERSIONS = ["12.5", "14SU2", "15.0"]  # c1, c2, c3
MIXED = {"clusters": 3, "nodes": 2, "version": VERSIONS, "phones_per_cluster": 4}
CLI_WHY = "12.5: certmgr REST has no CSR endpoint before 14"


@pytest.fixture
def mixed_inventory(tmp_path, monkeypatch):
    opts = FleetOptions(clusters=3, nodes=2, version=VERSIONS, phones_per_cluster=0, state_dir=tmp_path / "sim")
    with SimulatedFleet(opts) as fl:
        monkeypatch.setenv("CUCM_SIM_OS_PASSWORD", fl.options.password)
        monkeypatch.setenv("CUCM_SIM_APP_PASSWORD", fl.options.app_password)
        yield fl, fl.write_inventory(tmp_path / "inv.yaml")


def test_scan_of_a_mixed_fleet_reads_every_node_of_every_release(mixed_inventory, tmp_path):
    fleet, path = mixed_inventory
    result = CliRunner().invoke(app, ["scan", "-i", str(path), "--no-renew", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["failures"] == []
    certs = [s["certificate"] for s in plan["statuses"]]
    read = {(c["cluster"], c["node"]) for c in certs}
    every = {(c.name, n.fqdn) for c in fleet.clusters for n in c.nodes}
    assert read == every, f"not read: {sorted(every - read)}"
    # the 12.5 cluster, read over the CLI, shows the same units as the 15 one, read over REST
    units = {name: sorted(c["unit"] for c in certs if c["cluster"] == name) for name in ("c1", "c2", "c3")}
    assert units["c1"] == units["c2"] == units["c3"] and "CallManager" in units["c1"]
    # the renewals due are found on every cluster alike, whatever path each one takes
    due = {(d["cluster"], d["unit"]) for d in plan["start"]}
    assert {(c, "tomcat") for c in ("c1", "c2", "c3")} <= due


@pytest.mark.parametrize(
    ("cluster", "path", "why"), [("c1", "CLI", CLI_WHY), ("c2", "REST", "14.0"), ("c3", "REST", "15.0")]
)
def test_offline_dry_run_says_which_path_each_node_takes_and_why(mixed_inventory, cluster, path, why):
    _, inv = mixed_inventory
    args = ["renew", "-i", str(inv), "-c", cluster, "-u", "CallManager", "--dry-run", "--offline"]
    text = CliRunner().invoke(app, args).output
    assert "Certificate path (CSR and uploads), per node:" in text
    lines = [ln for ln in text.splitlines() if ln.startswith("  cucm-") and f".{cluster}." in ln and " — " in ln]
    assert len(lines) == 2 and all(f": {path} — " in ln and why in ln for ln in lines), text
    over = "over the CLI" if path == "CLI" else "over certmgr REST"
    assert f"generate a RSA CSR for CallManager on the node {over}" in text
    result = CliRunner().invoke(app, [*args, "--json"])
    nodes = json.loads(result.stdout)["plan"]["nodes"]
    assert [n["path"] for n in nodes] == [path, path] and all(why in n["path_reason"] for n in nodes)


@pytest.mark.prefect
def test_a_mixed_fleet_renews_each_cluster_by_its_own_path_in_one_inventory(make_env):
    env = make_env(ca="auto", fleet=MIXED)
    for cluster in ("c1", "c2", "c3"):
        looked = CliRunner().invoke(
            app, ["renew", "-i", str(env.inventory_path), "-c", cluster, "-u", "CallManager", "--dry-run", "--json"]
        )
        verdict = json.loads(looked.stdout)
        want = "CLI" if cluster == "c1" else "REST"
        assert [n["path"] for n in verdict["plan"]["nodes"]] == [want, want], looked.output
    for cluster in ("c1", "c2", "c3"):
        report = renew(str(env.inventory_path), cluster, "CallManager", settings=FAST)
        assert report.status == "completed", cluster
        for n in report.nodes:
            assert n.verified and n.after is not None and n.before is not None
            assert served_fingerprint(env, n.fqdn, "CallManager") == n.after.fingerprint_sha256
            assert n.after.fingerprint_sha256 != n.before.fingerprint_sha256
    uploads = [e["cluster"] for e in env.fleet.events() if e["operation"] == "identity_uploaded"]
    assert sorted(uploads) == ["c1", "c1", "c2", "c2", "c3", "c3"]
