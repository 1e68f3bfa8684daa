"""``certops scan --no-renew``: the library scan from the command line, without Prefect."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from certops.cli import app
from simulator.fleet import SimulatedFleet
from simulator.options import FleetOptions


@pytest.fixture
def inventory(tmp_path, monkeypatch):
    with SimulatedFleet(FleetOptions(clusters=1, nodes=3, state_dir=tmp_path / "sim")) as fl:
        monkeypatch.setenv("CUCM_SIM_OS_PASSWORD", fl.options.password)
        monkeypatch.setenv("CUCM_SIM_APP_PASSWORD", fl.options.app_password)
        yield fl, fl.write_inventory(tmp_path / "inv.yaml")


def test_no_renew_json_lists_statuses_sorted_and_the_due_renewals(inventory, tmp_path):
    _, path = inventory
    result = CliRunner().invoke(
        app, ["scan", "-i", str(path), "--no-renew", "--json", "--picture", str(tmp_path / "tl")]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    days = [s["days_left"] for s in plan["statuses"]]
    assert days == sorted(days)
    assert [(c["cluster"], c["unit"]) for c in plan["start"]] == [("c1", "tomcat"), ("c1", "CallManager")]
    assert (tmp_path / "tl.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "tl.svg").exists()


def test_no_renew_table_names_unreadable_nodes_and_exits_1(inventory):
    fleet, path = inventory
    fleet.set_fault("unreachable", node="cucm-sub1.c1.certops.test")
    result = CliRunner().invoke(app, ["scan", "-i", str(path), "--no-renew"])
    assert result.exit_code == 1
    assert "not read c1 cucm-sub1.c1.certops.test" in result.stdout
    assert "due: c1 tomcat on cucm-pub.c1.certops.test, imp1.c1.certops.test" in result.stdout


def test_unknown_cluster_is_refused_with_the_known_ones(inventory):
    _, path = inventory
    result = CliRunner().invoke(app, ["scan", "-i", str(path), "--no-renew", "--cluster", "nope"])
    assert result.exit_code == 2
    assert "no cluster 'nope'" in result.stderr and "clusters: c1" in result.stderr


def test_renewing_scan_without_a_prefect_server_says_how_to_set_one(inventory, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    _, path = inventory
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = CliRunner().invoke(app, ["scan", "-i", str(path)])
    assert result.exit_code == 2
    assert "PREFECT_API_URL is not set" in result.stderr
    assert "--no-renew" in result.stderr


@pytest.mark.prefect
def test_renewing_scan_runs_the_flow_and_exits_3_when_the_renewal_deployment_is_missing(
    inventory, prefect_server, tmp_path
):
    _, path = inventory
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        app, ["scan", "-i", str(path), "--output-dir", str(out), "--renewal-deployment", "renew/not-deployed"]
    )
    assert result.exit_code == 3, result.output
    assert (
        "could not be started (c1 tomcat, c1 CallManager): deployment renew/not-deployed does not exist"
        in result.stderr
    )
    assert list(out.glob("scan-*.json")) and list(out.glob("scan-*.png"))
    assert "┃ days left" in result.stdout and "certificates read" in result.stdout  # the scan worked: its table


def _table_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("┃", "│"))]


def _summary_adds_up(out: str) -> None:
    m = re.search(r"(\d+) certificates read: (\d+) counted \(([^)]*)\)(?:; (\d+) not counted[^(]*\(([^)]*)\))?", out)
    assert m, out
    total, counted = int(m.group(1)), int(m.group(2))
    assert sum(int(n) for n in re.findall(r": (\d+)", m.group(3))) == counted
    left_out = int(m.group(4) or 0)
    assert total == counted + left_out
    if left_out:
        assert sum(int(n) for n in re.findall(r": (\d+)", m.group(5))) == left_out
        assert "self-signed" in m.group(5) or "not renewed" in m.group(5)
    assert total == len(_table_lines(out)) - 1  # one row per certificate, under the header


def test_no_renew_table_fits_columns_and_its_summary_adds_up(inventory):
    _, path = inventory
    result = CliRunner().invoke(app, ["scan", "-i", str(path), "--no-renew"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 120
    wide = CliRunner().invoke(app, ["scan", "-i", str(path), "--no-renew"], env={"COLUMNS": "250"}).stdout
    _summary_adds_up(wide)


@pytest.mark.prefect
def test_renewing_scan_prints_the_same_table_as_no_renew(inventory, prefect_server, tmp_path):
    _, path = inventory
    quiet = tmp_path / "quiet.yaml"  # nothing due: the flow starts no renewal and ends with exit 0
    quiet.write_text(
        path.read_text().replace("defaults:\n", "defaults:\n  policy: {threshold_days: 1, urgent_days: 0}\n")
    )
    env = {"COLUMNS": "250"}
    flow = CliRunner().invoke(app, ["scan", "-i", str(quiet), "--output-dir", str(tmp_path / "reports")], env=env)
    assert flow.exit_code == 0, flow.output
    local = CliRunner().invoke(app, ["scan", "-i", str(quiet), "--no-renew"], env=env)
    assert "| days left |" not in flow.stdout and "┃ days left" in flow.stdout
    assert _table_lines(flow.stdout) == _table_lines(local.stdout)
    _summary_adds_up(flow.stdout)
