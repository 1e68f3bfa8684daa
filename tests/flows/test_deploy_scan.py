"""Deploy with deployments/prefect.yaml to a real local server, run the scan on a worker, and follow
the renewal it starts to the approval pause."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from simulator.fleet import SimulatedFleet
from simulator.options import FleetOptions
from tests.fixtures.postgres import WorkerProcess

pytestmark = [pytest.mark.postgres, pytest.mark.prefect, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def _wait_state(client, run_id, wanted: set[str], timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    run = client.read_flow_run(run_id)
    while time.monotonic() < deadline:
        run = client.read_flow_run(run_id)
        if run.state and run.state.type.value in wanted:
            return run
        time.sleep(1)
    raise AssertionError(f"run {run_id} is {run.state_name}, not {wanted}, after {timeout:.0f} s")


def test_deployed_scan_starts_the_renewal_which_waits_for_approval(prefect_server_pg, slack_server, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowFilter, FlowFilterName
    from prefect.deployments import run_deployment
    from prefect.states import Cancelled

    opts = FleetOptions(nodes=3, state_dir=tmp_path / "sim", cli_banner_seconds=0.0)
    with SimulatedFleet(opts) as fleet:
        inv = fleet.inventory_dict()
        inv["defaults"]["policy"] = {"units": ["tomcat"]}
        inv["ca_backends"] = {"manual": {"type": "manual", "instructions": "the corporate CA portal"}}
        inv["notifications"] = {
            "slack": {"token_env": "CERTOPS_TEST_SLACK_TOKEN", "channel": "C-ops", "base_url": slack_server.api_url}
        }
        inventory = tmp_path / "inventory.yaml"
        inventory.write_text(yaml.safe_dump(inv, sort_keys=False))
        env = prefect_server_pg.child_env(
            CUCM_SIM_OS_PASSWORD=opts.password,
            CUCM_SIM_APP_PASSWORD=opts.app_password,
            CERTOPS_TEST_SLACK_TOKEN=slack_server.token,
            CERTOPS_STATE_DIR=str(tmp_path / "state"),
            CERTOPS_AUDIT_LOG=str(tmp_path / "audit.jsonl"),
            CERTOPS_REPORT_DIR=str(tmp_path / "reports"),
            CERTOPS_CODE_DIR=str(REPO),
            CERTOPS_INVENTORY=str(inventory),
            CERTOPS_WORK_POOL="deploy-test",
        )
        prefect = str(Path(sys.executable).parent / "prefect")
        boot = subprocess.run(
            [sys.executable, "deployments/bootstrap.py", "--inventory", str(inventory), "--pool", "deploy-test"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert boot.returncode == 0, boot.stdout + boot.stderr
        assert "work pool deploy-test: created" in boot.stdout
        assert "zombie-detection automation: created" in boot.stdout
        deployed = subprocess.run(
            [prefect, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]

        worker = WorkerProcess(env, "deploy-test", "deploy-worker", tmp_path)
        renewal = plan = None
        try:
            worker.wait_until_polling()
            with prefect_server_pg.settings(), get_client(sync_client=True) as client:
                scan_dep = client.read_deployment_by_name("scan/scan")
                [schedule] = scan_dep.schedules
                assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 6 * * 1-5", "Europe/Berlin")
                assert scan_dep.parameters["inventory_path"] == str(inventory)

                scan_run = run_deployment("scan/scan", timeout=0)
                scan_run = _wait_state(client, scan_run.id, {"COMPLETED", "FAILED", "CRASHED"})
                assert scan_run.state.type.value == "COMPLETED", worker.log()[-3000:]

                # the shipped scan starts one cluster plan per cluster with due units (renew-cluster) ...
                [plan] = client.read_flow_runs(
                    deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["renew-cluster"])),
                )
                assert plan.parameters["cluster"] == "c1"
                # ... which renews tomcat as its subflow, paused for the person who pastes the chain
                deadline = time.monotonic() + 180
                found = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["renew"])))
                while not found and time.monotonic() < deadline:
                    time.sleep(1)
                    found = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["renew"])))
                [renewal] = found
                assert (renewal.parameters["cluster"], renewal.parameters["unit"]) == ("c1", "tomcat")
                renewal = _wait_state(client, renewal.id, {"PAUSED", "FAILED", "CRASHED", "COMPLETED"})
                assert renewal.state.type.value == "PAUSED", worker.log()[-3000:]
        finally:
            with prefect_server_pg.settings(), get_client(sync_client=True) as client:
                for run in (renewal, plan):
                    if run is not None:
                        client.set_flow_run_state(run.id, Cancelled(message="test over"), force=True)
            worker.stop()

        # the CSR is pending on every node that holds tomcat, and Slack has the scan summary
        assert all("tomcat" in n.csrs for n in fleet.cluster("c1").nodes)
        summary = [m for m in slack_server.messages if "Certificate scan" in m.all_text()]
        assert len(summary) == 1
        assert "renewal started" in summary[0].all_text()
        assert list((tmp_path / "reports").glob("scan-*.png"))
