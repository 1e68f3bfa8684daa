"""``certops renew --cluster C --due``: every due unit in Cisco's order in one plan, then the DRF backup.

Judged from what a UC engineer sees: the dry run's order and reasons, the simulator's event log
(which unit's CSRs and uploads came when, the phones back before the next ITL-group unit), the
plan's report, and the DRF backup job on the simulated publisher.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from typer.testing import CliRunner

from certops.cli import app
from flows.renew_cluster import PlanStopped, renew_cluster
from simulator.options import DEFAULT_EXPIRY_DAYS
from tests.flows.conftest import FAST

CHANGES = ("csr_generated", "trust_uploaded", "identity_uploaded", "service_restart_started", "ctl_updated")


def _expiry(**days: int) -> dict[str, Any]:
    """Fleet options: every unit far from expiry except ``days`` (unit name -> days left)."""
    far = {u: 400 for u in DEFAULT_EXPIRY_DAYS}
    far.update({k.replace("_", "-"): v for k, v in days.items()})
    return {"expiry_days": far}


def _times(env: Any, unit: str, operations: tuple[str, ...] = CHANGES) -> list[dt.datetime]:
    return [
        dt.datetime.fromisoformat(e["time"])
        for e in env.fleet.events()
        if e["operation"] in operations and e.get("unit") == unit
    ]


@pytest.mark.prefect
def test_the_dry_run_with_tomcat_tvs_and_callmanager_due_prints_that_order_why_and_what_is_not_due(make_env):
    env = make_env(fleet=_expiry(tomcat=5, TVS=12, CallManager=20, ipsec=200))
    mark = len(env.fleet.events())
    result = CliRunner().invoke(app, ["renew", "-i", str(env.inventory_path), "-c", "c1", "--due", "--dry-run"])
    assert result.exit_code == 0, result.output
    out = result.output
    order = [ln.strip().split(" on ")[0] for ln in out.splitlines() if ln[:5] in ("  1. ", "  2. ", "  3. ", "  4. ")]
    assert order == ["1. tomcat", "2. TVS", "3. CallManager"]
    assert "TVS before CallManager" in out and "TFTP certificate goes last" in out
    assert "starts: as soon as the TVS renewal completed (its phones re-registered)" in out
    assert re.search(r"^  - ipsec: (199|200) days left, due at 30 days$", out, re.M), out
    assert "a DRF backup of cluster c1 is due" in out
    assert "Dry run: nothing was changed." in out
    assert [e for e in env.fleet.events()[mark:] if e["operation"] in CHANGES] == []


def test_due_together_with_unit_is_bad_input_with_one_paragraph(tmp_path):
    result = CliRunner().invoke(app, ["renew", "-i", str(tmp_path / "x.yaml"), "-c", "c1", "--due", "-u", "TVS"])
    assert result.exit_code == 2
    assert "give either --unit U" in result.output and "Traceback" not in result.output


@pytest.mark.prefect
def test_a_plan_renews_tomcat_then_tvs_then_callmanager_after_tvs_phones_are_back_then_takes_the_backup(make_env):
    env = make_env(
        fleet=_expiry(tomcat=5, TVS=12, CallManager=20),
        cluster={"drf_backup": {"device": "NETWORK_BACKUP", "poll_seconds": 0.2, "timeout_minutes": 3}},
    )
    report = renew_cluster(str(env.inventory_path), "c1", settings=FAST, notify=False)

    assert report.status == "completed"
    assert [(o.unit, o.status) for o in report.outcomes] == [
        ("tomcat", "completed"),
        ("TVS", "completed"),
        ("CallManager", "completed"),
    ]
    tomcat, tvs, cm = (_times(env, u) for u in ("tomcat", "TVS", "CallManager"))
    assert tomcat and tvs and cm
    assert max(tomcat) <= min(tvs) and max(tvs) <= min(cm)  # one unit after the other, in Cisco's order
    back = [dt.datetime.fromisoformat(e["time"]) for e in env.fleet.events() if e["operation"] == "phone_registered"]
    tvs_back = [t for t in back if max(_times(env, "TVS", ("identity_uploaded",))) <= t <= min(cm)]
    assert tvs_back, "TVS's phones re-registered before the first CallManager change"
    (job,) = env.fleet.cluster("c1").drf_backups
    asked = [
        dt.datetime.fromisoformat(e["time"]) for e in env.fleet.events() if e["operation"] == "drf_backup_requested"
    ]
    assert min(asked) >= max(cm)  # after the last regeneration
    assert report.drf_backup is not None and report.drf_backup.status == "taken"
    assert job.tar in report.to_text() and "DRF backup" in report.to_text()


@pytest.mark.prefect
def test_tomcat_refused_by_sso_is_skipped_and_the_plan_goes_on_and_says_the_backup_is_due(make_env):
    env = make_env(fleet=_expiry(tomcat=5, TVS=12))
    env.fleet.set_fault("sso", cluster="c1")
    report = renew_cluster(str(env.inventory_path), "c1", settings=FAST, notify=False)

    assert [(o.unit, o.status) for o in report.outcomes] == [("tomcat", "skipped"), ("TVS", "completed")]
    assert "SSO" in report.outcomes[0].detail
    assert _times(env, "tomcat") == []  # nothing of tomcat was changed
    assert report.drf_backup is not None and report.drf_backup.status == "due"
    text = report.to_text()
    assert "DRF BACKUP DUE NOW" in text and "unlocking every phone by hand" in text
    slack = report.slack_message()
    assert "DRF backup due NOW" in str(slack.blocks) and "due now" in slack.text
    assert env.fleet.cluster("c1").drf_backups == []


@pytest.mark.prefect
def test_a_failure_stops_the_plan_and_says_what_was_done_and_what_was_not(make_env):
    env = make_env(fleet=_expiry(TVS=12, CallManager=20))
    pub = env.fleet.cluster("c1").publisher.fqdn
    env.fleet.set_fault("restart-fails", node=pub, service="Cisco Trust Verification Service")

    with pytest.raises(PlanStopped) as info:
        renew_cluster(str(env.inventory_path), "c1", settings=FAST, notify=False)

    message = str(info.value)
    assert "the plan stopped at TVS (failed" in message
    assert "Not done: TVS, CallManager." in message
    assert _times(env, "CallManager") == []  # CallManager never started while TVS was unfinished


@pytest.mark.prefect
def test_a_single_renewal_that_completed_takes_the_backup_when_the_inventory_names_a_device(make_env):
    env = make_env(
        fleet=_expiry(ipsec=5),
        cluster={"drf_backup": {"device": "NETWORK_BACKUP", "poll_seconds": 0.2, "timeout_minutes": 3}},
    )
    result = CliRunner().invoke(app, ["renew", "-i", str(env.inventory_path), "-c", "c1", "-u", "ipsec"])

    assert result.exit_code == 0, result.output
    (job,) = env.fleet.cluster("c1").drf_backups
    assert f"DRF backup: DRF backup of cluster c1 taken after the renewal of ipsec: {job.tar}" in result.output
    asked = [
        dt.datetime.fromisoformat(e["time"]) for e in env.fleet.events() if e["operation"] == "drf_backup_requested"
    ]
    assert min(asked) >= max(_times(env, "ipsec"))


@pytest.mark.prefect
def test_with_the_manual_ca_a_unit_of_the_plan_pauses_for_its_chain_and_the_plan_goes_on_once_approved(make_env):
    from prefect.flow_runs import resume_flow_run

    from tests.flows.conftest import start_in_thread

    env = make_env(ca="person", fleet=_expiry(ipsec=5, tomcat=9))
    fut = start_in_thread(renew_cluster, str(env.inventory_path), "c1", settings=FAST, notify=False)
    for unit in ("ipsec", "tomcat"):
        run = _paused(env, unit)
        if unit == "ipsec":
            assert not _times(env, "tomcat")  # one unit at a time, in the plan's order: tomcat not begun
        pending = [n.csrs[unit].pem for n in env.fleet.cluster("c1").nodes if unit in n.csrs]
        chain = "".join(env.ca.sign(pem, unit).leaf_pem for pem in pending) + "".join(env.ca.chain_pems)
        resume_flow_run(run.id, run_input={"chain_pem": chain, "approver": "alice"})
    report = fut.result(timeout=600)
    assert [(o.unit, o.status) for o in report.outcomes] == [("ipsec", "completed"), ("tomcat", "completed")]
    assert max(_times(env, "ipsec")) <= min(_times(env, "tomcat"))


def _paused(env: Any, unit: str, timeout: float = 240.0) -> Any:
    """The renew run of ``unit`` (this test's inventory) once it is Paused for its chain."""
    import time

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    deadline = time.monotonic() + timeout
    flt = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            for run in client.read_flow_runs(flow_run_filter=flt):
                params = run.parameters
                if params.get("inventory_path") == str(env.inventory_path) and params.get("unit") == unit:
                    return run
        time.sleep(0.3)
    raise AssertionError(f"the {unit} renewal of the plan did not pause for approval in time")
