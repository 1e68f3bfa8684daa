"""Slack from the orchestration layer: approval reminders from the scan, renewal failure hooks, missing config."""

from __future__ import annotations

import contextvars
import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import yaml

from tests.unit.test_due_factories import inventory

pytestmark = pytest.mark.prefect


@pytest.fixture
def slack_inventory(tmp_path, slack_server, monkeypatch):
    monkeypatch.setenv("CERTOPS_TEST_SLACK_TOKEN", slack_server.token)
    monkeypatch.setenv("CERTOPS_STATE_DIR", str(tmp_path / "state"))
    inv = inventory(
        notifications={
            "slack": {"token_env": "CERTOPS_TEST_SLACK_TOKEN", "channel": "C-ops", "base_url": slack_server.api_url}
        }
    )
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inv.model_dump(mode="json", exclude_none=True), sort_keys=False))
    return path


def test_paused_renewal_near_its_deadline_gets_a_reminder_in_slack(prefect_server, slack_inventory, slack_server):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.flow_runs import pause_flow_run, resume_flow_run

    from tasks.scan import remind_pending_approvals

    @flow(name="remind-test")
    def remind(within_hours: float, now: dt.datetime | None = None) -> list:
        return remind_pending_approvals(str(slack_inventory), within_hours, "renew-reminder-test", now)

    @flow(name="renew-reminder-test")
    def waiting(inventory_path: str, cluster: str, unit: str) -> None:
        pause_flow_run(timeout=60, poll_interval=1)

    pool = ThreadPoolExecutor(max_workers=1)
    # copy the context: the test's Prefect settings (API URL) live in a context variable
    future = pool.submit(contextvars.copy_context().run, waiting, str(slack_inventory), "c1", "tomcat")
    pool.shutdown(wait=False)
    run = None
    with get_client(sync_client=True) as client:
        for _ in range(60):
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["renew-reminder-test"])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
                ),
            )
            if runs:
                run = runs[0]
                break
            if future.done():
                future.result()  # the flow ended before pausing: show why
            time.sleep(0.5)
    assert run is not None
    try:
        far = remind(48, dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
        assert far == []
        [sent] = remind(1)
        assert sent.delivered
        [msg] = slack_server.messages
        assert "Reminder:" in msg.text and "tomcat on c1" in msg.text
        assert f"certops approve {run.id}" in msg.text
    finally:
        resume_flow_run(run.id)
        future.result(timeout=30)


def test_failure_hook_posts_what_failed_where_and_what_next(slack_inventory, slack_server):
    from tasks.notify import renewal_crashed_hook, renewal_failed_hook

    run = SimpleNamespace(
        id="run-9", parameters={"inventory_path": str(slack_inventory), "cluster": "c1", "unit": "ipsec"}
    )
    renewal_failed_hook(
        None, run, SimpleNamespace(message="pub.c1.example.com [ipsec]: upload_identity: HTTP 500", name="Failed")
    )
    renewal_crashed_hook(None, run, SimpleNamespace(message="worker killed", name="Crashed"))
    first, second = slack_server.messages
    assert "Renewal of ipsec on c1 failed: pub.c1.example.com [ipsec]: upload_identity: HTTP 500" in first.text
    assert "rerun the renewal" in first.all_text()
    assert second.thread_ts == first.ts
    assert "stopped unexpectedly: worker killed" in second.text


def test_hook_without_slack_settings_does_nothing_and_does_not_raise(tmp_path):
    from tasks.notify import notifier_for, renewal_failed_hook

    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(inventory().model_dump(mode="json", exclude_none=True), sort_keys=False))
    renewal_failed_hook(
        None, SimpleNamespace(id="r", parameters={"inventory_path": str(path), "cluster": "c1", "unit": "TVS"}), None
    )
    result = notifier_for(str(path))
    assert result.error == "no notifications.slack in the inventory: nothing sent"


def test_missing_token_variable_is_reported_not_raised(tmp_path, monkeypatch):
    from tasks.notify import notifier_for

    monkeypatch.delenv("CERTOPS_TEST_NO_SUCH_TOKEN", raising=False)
    inv = inventory(notifications={"slack": {"token_env": "CERTOPS_TEST_NO_SUCH_TOKEN", "channel": "C"}})
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(inv.model_dump(mode="json", exclude_none=True), sort_keys=False))
    result = notifier_for(str(path))
    assert not result.delivered
    assert "$CERTOPS_TEST_NO_SUCH_TOKEN, which is not set" in result.error


def test_completion_hook_posts_before_and_after_per_node_and_the_approver(slack_inventory, slack_server):
    from certops.renewal.report import NodeReport, RenewalReport
    from certops.renewal.state import CertSummary
    from tasks.notify import renewal_completed_hook

    before = CertSummary(
        subject="CN=pub", not_after=dt.datetime(2026, 12, 1, tzinfo=dt.UTC), fingerprint_sha256="a" * 64
    )
    after = CertSummary(
        subject="CN=pub", not_after=dt.datetime(2027, 12, 1, tzinfo=dt.UTC), fingerprint_sha256="b" * 64
    )
    report = RenewalReport(
        cluster="c1",
        unit="tomcat",
        status="completed",
        nodes=[NodeReport(fqdn="pub.c1.example.com", role="publisher", before=before, after=after, verified=True)],
        approver="alice",
    )
    state = SimpleNamespace(result=lambda raise_on_failure=True: report)
    run = SimpleNamespace(
        id="run-5", parameters={"inventory_path": str(slack_inventory)}, total_run_time=dt.timedelta(minutes=3)
    )
    renewal_completed_hook(None, run, state)
    [msg] = slack_server.messages
    assert msg.text == "Renewed tomcat on c1: 1 node(s) in 3.0 min, approved by alice"
    assert "2026-12-01 00:00 UTC `aaaaaaaaaaaaaaaa…` → 2027-12-01 00:00 UTC `bbbbbbbbbbbbbbbb…`" in msg.all_text()


def test_completion_hook_posts_nothing_for_a_dry_run(slack_inventory, slack_server):
    from certops.renewal.report import RenewalReport
    from tasks.notify import renewal_completed_hook

    report = RenewalReport(cluster="c1", unit="tomcat", status="dry_run", plan="1. ...")
    state = SimpleNamespace(result=lambda raise_on_failure=True: report)
    renewal_completed_hook(None, SimpleNamespace(id="r", parameters={"inventory_path": str(slack_inventory)}), state)
    assert slack_server.messages == []


def test_hooks_on_a_real_flow_post_completion_and_failure(prefect_server, slack_inventory, slack_server):
    from prefect import flow

    from certops.errors import CucmApiError
    from certops.renewal.report import RenewalReport
    from tasks.notify import renewal_completed_hook, renewal_failed_hook

    @flow(name="renew-hooks-test", on_completion=[renewal_completed_hook], on_failure=[renewal_failed_hook])
    def fake_renew(inventory_path: str, cluster: str, unit: str, fail: bool = False) -> RenewalReport:
        if fail:
            raise CucmApiError(
                "Certificate Upload failed", node="pub.c1.example.com", operation="upload_identity", unit=unit
            )
        return RenewalReport(cluster=cluster, unit=unit, status="completed", approver="bob")

    fake_renew(str(slack_inventory), "c1", "ipsec")
    with pytest.raises(CucmApiError):
        fake_renew(str(slack_inventory), "c1", "ipsec", fail=True)
    done, failed = slack_server.messages
    assert done.text.startswith("Renewed ipsec on c1: 0 node(s) in ") and done.text.endswith("approved by bob")
    assert "pub.c1.example.com [ipsec]: upload_identity: Certificate Upload failed" in failed.text
