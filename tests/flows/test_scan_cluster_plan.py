"""The scan's renewal trigger with cluster plans: one plan run per cluster covers every due unit.

Today the scan starts one run per unit and leaves CallManager queued behind TVS until the next scan;
with ``cluster_deployment`` it starts ONE ``renew-cluster`` run per cluster (the plan then renews
tomcat, TVS and CallManager in Cisco's order, CallManager as soon as TVS's phones are back).
"""

from __future__ import annotations

import pytest

from simulator.fleet import SimulatedFleet
from simulator.options import FleetOptions

pytestmark = pytest.mark.prefect


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    expiry = {u: 400 for u in ("tomcat-ECDSA", "ipsec", "CAPF", "CallManager-ECDSA", "ITLRecovery")}
    expiry.update({"tomcat": 20, "CallManager": 25, "TVS": 10})
    opts = FleetOptions(clusters=2, nodes=2, state_dir=tmp_path / "sim", expiry_days=expiry, cli_banner_seconds=0.0)
    with SimulatedFleet(opts) as fl:
        monkeypatch.setenv("CUCM_SIM_OS_PASSWORD", fl.options.password)
        monkeypatch.setenv("CUCM_SIM_APP_PASSWORD", fl.options.app_password)
        monkeypatch.setenv("CERTOPS_STATE_DIR", str(tmp_path / "state"))
        yield fl


@pytest.fixture
def plan_deployment(prefect_server):
    """The cluster-plan flow as deployment ``renew-cluster/scan-plan-test`` (no worker: runs stay Scheduled)."""
    from prefect.client.orchestration import get_client

    from flows.renew_cluster import renew_cluster

    deployment_id = renew_cluster.to_deployment(name="scan-plan-test").apply()
    yield "renew-cluster/scan-plan-test"
    with get_client(sync_client=True) as client:
        for run in _plan_runs():
            client.delete_flow_run(run.id)
        client.delete_deployment(deployment_id)


def _plan_runs():
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["scan-plan-test"]))
        )


def test_the_scan_starts_one_cluster_plan_per_cluster_covering_every_due_unit_none_queued(
    fleet, tmp_path, plan_deployment
):
    import yaml

    from flows.scan import scan

    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(fleet.inventory_dict(), sort_keys=False))
    result = scan(str(path), output_dir=str(tmp_path / "r"), notify=False, cluster_deployment=plan_deployment)

    runs = _plan_runs()
    assert sorted(r.parameters["cluster"] for r in runs) == ["c1", "c2"]
    for run in runs:
        assert sorted(run.parameters["units"]) == ["CallManager", "TVS", "tomcat"]
    by_cluster = {s.cluster: s for s in result.started}
    assert set(by_cluster) == {"c1", "c2"}
    assert all(s.queued_behind is None and s.skipped_reason is None for s in result.started)
    assert len({s.run_id for s in result.started if s.cluster == "c1"}) == 1  # one plan run for all its units

    again = scan(str(path), output_dir=str(tmp_path / "r2"), notify=False, cluster_deployment=plan_deployment)
    assert len(_plan_runs()) == 2  # a plan in flight is not started twice
    assert all(s.skipped_reason and "cluster plan is in flight" in s.skipped_reason for s in again.started)
