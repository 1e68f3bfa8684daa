"""The renewal flow tells Slack: approval needed (with the CSRs), then completed or failed, in one thread."""

from __future__ import annotations

import pytest
import yaml
from prefect.flow_runs import resume_flow_run

from certops.errors import CertopsError, PolicyViolation
from certops.renewal.steps import RenewalStopped
from flows.approval import pending_approval
from flows.renew import renew
from tests.flows.conftest import FAST, start_in_thread, wait_paused

TOKEN_ENV = "CERTOPS_TEST_SLACK_TOKEN"


def _with_slack(env, slack_server, monkeypatch):
    """Add ``notifications.slack`` (bot token from the environment, the local Slack server) to the inventory."""
    monkeypatch.setenv(TOKEN_ENV, slack_server.token)
    inv = yaml.safe_load(env.inventory_path.read_text())
    inv["notifications"] = {"slack": {"token_env": TOKEN_ENV, "channel": "#uc-certs", "base_url": slack_server.api_url}}
    env.inventory_path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return env


def _chain_for(run_id, env, unit, **kw):
    pending = pending_approval(str(run_id))
    leaves = [env.ca.sign(pem, unit, **kw).leaf_pem for pem in pending.csrs.values()]
    return "".join(leaves) + "".join(env.ca.chain_pems)


def _no_secret(slack_server):
    for m in slack_server.messages:
        text = m.all_text()
        assert slack_server.token not in text
        assert "admin-pw" not in text and "app-pw" not in text


def test_manual_ca_renewal_posts_approval_with_csrs_and_command_then_completed_in_the_same_thread(
    make_env, slack_server, monkeypatch
):
    env = _with_slack(make_env(ca="person"), slack_server, monkeypatch)
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "tomcat", settings=FAST)
    run = wait_paused(env)

    first = slack_server.messages[0]
    text = first.all_text()
    assert first.channel == "#uc-certs" and first.thread_ts is None
    assert f"certops approve {run.id} --chain" in text and "--approver" in text
    assert "c1" in text and "tomcat" in text and env.pub in text
    assert "deadline" in text.lower()
    csr_files = [f for f in slack_server.files.values() if f.thread_ts == first.ts]
    assert len(csr_files) == len(env.node_names())
    assert all(b"BEGIN CERTIFICATE REQUEST" in f.content for f in csr_files)

    # a refused chain asks again (a new pause) without a second approval request
    bad = _chain_for(run.id, env, "tomcat", extra_san="not-requested.example.com")
    resume_flow_run(run.id, run_input={"chain_pem": bad, "approver": "alice"})
    wait_paused(env, not_key=run.state.state_details.pause_key)
    resume_flow_run(run.id, run_input={"chain_pem": _chain_for(run.id, env, "tomcat"), "approver": "alice"})
    report = fut.result(timeout=120)

    assert report.status == "completed"
    approvals = [m for m in slack_server.messages if f"certops approve {run.id}" in m.all_text()]
    assert len(approvals) == 1
    done = slack_server.messages[-1]
    assert done.thread_ts == first.ts
    done_text = done.all_text()
    assert "renewed tomcat on c1" in done_text.lower() and "alice" in done_text
    assert report.nodes[0].after is not None and report.nodes[0].after.fingerprint_sha256[:12] in done_text
    # Cisco's guides: a DRF backup after every regeneration — the morning reader is told to take it
    assert "To do now" in done_text and "take a DRF backup of cluster c1 now" in done_text
    assert [(n.what, n.delivered) for n in report.notifications] == [
        ("approval_needed", True),
        ("renewal_completed", True),
    ]
    _no_secret(slack_server)


def test_failed_restart_is_posted_naming_the_node_and_the_service(make_env, slack_server, monkeypatch):
    env = _with_slack(make_env(ca="auto"), slack_server, monkeypatch)
    env.fleet.set_fault("restart-fails", node=env.pub, service="Cisco Tftp")
    with pytest.raises(RenewalStopped):
        renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    assert len(slack_server.messages) == 1
    text = slack_server.messages[0].all_text()
    assert "failed" in text.lower()
    assert env.pub in text and "Cisco Tftp" in text and "CallManager" in text
    _no_secret(slack_server)


def test_a_blocked_renewal_is_posted_with_the_rule_and_what_to_do(make_env, slack_server, monkeypatch):
    env = _with_slack(make_env(ca="auto"), slack_server, monkeypatch)
    env.fleet.set_fault("sso", cluster="c1")
    with pytest.raises(PolicyViolation):
        renew(str(env.inventory_path), "c1", "tomcat", settings=FAST)
    assert len(slack_server.messages) == 1
    text = slack_server.messages[0].all_text()
    assert "blocked" in text.lower() and "SSO" in text and "c1" in text and "tomcat" in text
    assert "disable SAML SSO" in text  # what to do next


def test_lock_refused_is_posted_as_blocked_naming_the_run_that_holds_the_cluster(make_env, slack_server, monkeypatch):
    env = _with_slack(make_env(ca="person"), slack_server, monkeypatch)
    holder = start_in_thread(renew, str(env.inventory_path), "c1", "CallManager", settings=FAST, return_state=True)
    run = wait_paused(env)
    mark = len(slack_server.messages)
    refuse = FAST.model_copy(update={"on_busy": "refuse"})
    with pytest.raises(PolicyViolation):
        renew(str(env.inventory_path), "c1", "TVS", settings=refuse)
    resume_flow_run(run.id, run_input={"decision": "deny", "approver": "carol", "comment": "test over"})
    assert holder.result(timeout=60).is_cancelled()
    blocked = slack_server.messages[mark].all_text()
    assert "blocked" in blocked.lower() and "TVS" in blocked and str(run.id) in blocked
    denied = slack_server.messages[-1].all_text()
    assert "carol" in denied and "test over" in denied


def test_approval_deadline_is_posted_in_the_approval_thread(make_env, slack_server, monkeypatch):
    env = _with_slack(make_env(ca="person"), slack_server, monkeypatch)
    with pytest.raises(CertopsError):
        renew(str(env.inventory_path), "c1", "ipsec", settings=FAST, approval_timeout_days=3 / 86400)
    first, last = slack_server.messages[0], slack_server.messages[-1]
    assert "Approval needed" in first.all_text()
    assert last.thread_ts == first.ts
    assert "deadline" in last.all_text() and "failed" in last.all_text().lower()


def test_slack_outage_does_not_stop_the_renewal_and_the_report_says_not_delivered(make_env, slack_server, monkeypatch):
    env = _with_slack(make_env(ca="auto"), slack_server, monkeypatch)
    slack_server.outage()
    report = renew(str(env.inventory_path), "c1", "tomcat", nodes=[env.pub], settings=FAST)
    assert report.status == "completed" and all(n.verified for n in report.nodes)
    assert [(n.what, n.delivered) for n in report.notifications] == [("renewal_completed", False)]
    assert "500" in (report.notifications[0].error or "")
    assert "NOT delivered" in report.to_text()
    assert slack_server.messages == []
