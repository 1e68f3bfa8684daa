"""The scan flow against a real Prefect server and a simulated fleet: report, artifacts, Slack, renewals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from simulator.fleet import SimulatedFleet
from simulator.options import FleetOptions

pytestmark = pytest.mark.prefect


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    """Two clusters of three nodes; TVS expires before CallManager, so the ITL group must queue."""
    expiry = {
        "tomcat": 20,
        "tomcat-ECDSA": 400,
        "ipsec": 45,
        "CAPF": 300,
        "CallManager": 25,
        "CallManager-ECDSA": 500,
        "TVS": 10,
        "ITLRecovery": 3000,
    }
    opts = FleetOptions(
        clusters=2,
        nodes=3,
        state_dir=tmp_path / "sim",
        expiry_days=expiry,
        self_signed_units=frozenset({"tomcat-ECDSA", "CallManager-ECDSA", "ITLRecovery"}),
    )
    with SimulatedFleet(opts) as fl:
        monkeypatch.setenv("CUCM_SIM_OS_PASSWORD", fl.options.password)
        monkeypatch.setenv("CUCM_SIM_APP_PASSWORD", fl.options.app_password)
        yield fl


@pytest.fixture
def inventory_path(fleet, tmp_path, slack_server, monkeypatch) -> Path:
    monkeypatch.setenv("CERTOPS_TEST_SLACK_TOKEN", slack_server.token)
    monkeypatch.setenv("CERTOPS_STATE_DIR", str(tmp_path / "state"))
    data = fleet.inventory_dict()
    data["notifications"] = {
        "slack": {"token_env": "CERTOPS_TEST_SLACK_TOKEN", "channel": "C-ops", "base_url": slack_server.api_url}
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def renew_deployment(prefect_server):
    """The renewal flow registered as deployment ``renew/scan-test`` (no worker: its runs stay Scheduled)."""
    from prefect.client.orchestration import get_client

    from flows.renew import renew

    deployment_id = renew.to_deployment(name="scan-test").apply()
    yield "renew/scan-test"
    with get_client(sync_client=True) as client:
        for run in _renewal_runs():
            client.delete_flow_run(run.id)
        client.delete_deployment(deployment_id)


def _renewal_runs():
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["renew"])),
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["scan-test"])),
        )


def test_scan_reports_starts_due_renewals_once_and_queues_callmanager_behind_tvs(
    fleet, inventory_path, renew_deployment, slack_server, tmp_path
):
    from prefect.client.orchestration import get_client

    from flows.scan import scan

    fleet.set_fault("unreachable", node="cucm-sub1.c2.certops.test")
    out = tmp_path / "reports"
    result = scan(str(inventory_path), output_dir=str(out), renewal_deployment=renew_deployment)

    # the report: every readable certificate, the unreachable node with its reason
    assert [(f.cluster, f.node) for f in result.failures] == [("c2", "cucm-sub1.c2.certops.test")]
    # every certificate the unit table has certops read, on every node that answered
    from certops.inventory_file import load_inventory
    from certops.units import units_for_role

    nodes = [n for c in load_inventory(inventory_path).clusters for n in c.nodes]
    expected = sum(len(units_for_role(n.role)) for n in nodes if n.fqdn != "cucm-sub1.c2.certops.test")
    assert result.certificates == expected
    plan = json.loads(Path(result.files.json_path).read_text())
    days = [s["days_left"] for s in plan["statuses"]]
    assert days == sorted(days)
    assert Path(result.files.png_path).read_bytes().startswith(b"\x89PNG")
    assert "<svg" in Path(result.files.svg_path).read_text()

    # renewals: tomcat and TVS per cluster; CallManager waits behind TVS (never together)
    runs = _renewal_runs()
    started = sorted((r.parameters["cluster"], r.parameters["unit"]) for r in runs)
    assert started == [("c1", "TVS"), ("c1", "tomcat"), ("c2", "TVS"), ("c2", "tomcat")]
    by_key = {(r.parameters["cluster"], r.parameters["unit"]): r for r in runs}
    assert by_key[("c2", "tomcat")].parameters["nodes"] == ["cucm-pub.c2.certops.test", "imp1.c2.certops.test"]
    assert "cluster:c1" in by_key[("c1", "TVS")].tags
    queued = sorted((s.cluster, s.unit, s.queued_behind) for s in result.started if s.queued_behind)
    assert queued == [("c1", "CallManager", "TVS"), ("c2", "CallManager", "TVS")]

    # artifacts in Prefect: the table sorted by days left, and the picture
    with get_client(sync_client=True) as client:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["certificate-scan"])))
        assert any("| days left | urgency |" in str(a.data) for a in arts)
        pics = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["certificate-expiry-timeline"]))
        )
        assert any("data:image/png;base64," in str(a.data) for a in pics)

    # Slack: one summary with the counts and the renewals
    assert result.slack is not None and result.slack.delivered
    [msg] = slack_server.messages
    text = msg.all_text()
    assert "1 nodes unreadable" in msg.text
    assert "cucm-sub1.c2.certops.test" in text
    assert "queued behind `TVS`" in text

    # a second scan the same day starts nothing new: the four are still in flight
    again = scan(str(inventory_path), output_dir=str(out), renewal_deployment=renew_deployment, notify=False)
    assert len(_renewal_runs()) == 4
    skipped = sorted(
        (s.cluster, s.unit) for s in again.started if s.skipped_reason and "already in flight" in s.skipped_reason
    )
    assert skipped == [("c1", "TVS"), ("c1", "tomcat"), ("c2", "TVS"), ("c2", "tomcat")]


def test_scan_without_renewals_starts_nothing_and_survives_a_slack_outage(
    fleet, inventory_path, renew_deployment, slack_server, tmp_path
):
    from flows.scan import scan

    slack_server.outage()
    result = scan(
        str(inventory_path), start_renewals=False, output_dir=str(tmp_path / "r"), renewal_deployment=renew_deployment
    )
    assert result.started == []
    assert _renewal_runs() == []
    assert result.slack is not None and not result.slack.delivered
    assert "HTTP 500" in (result.slack.error or "")
    assert result.counts["due"] > 0


def test_scan_with_a_missing_renewal_deployment_reports_then_fails_saying_what_to_do(
    fleet, inventory_path, slack_server, tmp_path, prefect_server
):
    from certops.errors import CertopsError
    from flows.scan import scan

    with pytest.raises(
        CertopsError,
        match=r"4 due renewal\(s\) could not be started \(c1 TVS, c2 TVS, c1 tomcat, c2 tomcat\): "
        r"deployment renew/absent does not exist",
    ):
        scan(str(inventory_path), output_dir=str(tmp_path / "r"), renewal_deployment="renew/absent")
    assert len(slack_server.messages) == 1
    assert "could not start: deployment renew/absent does not exist" in slack_server.messages[0].all_text()
    assert list((tmp_path / "r").glob("scan-*.json"))
