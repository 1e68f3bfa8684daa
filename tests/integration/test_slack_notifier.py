"""SlackNotifier against the local Slack server: what lands in the channel, threads, files, failures."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from certops.due import select_due
from certops.errors import ConfigError
from certops.inventory import SlackConfig
from certops.notify.messages import ApprovalRequest, RenewalCompleted, RenewalFailed
from certops.notify.slack import FileThreadStore, SlackNotifier
from tests.unit.test_due_factories import cert, inventory, report

CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIICijCCAXICAQAw\n-----END CERTIFICATE REQUEST-----\n"


def _bot(server, **kw) -> SlackNotifier:
    return SlackNotifier(token=SecretStr(server.token), channel="C-certs", base_url=server.api_url, **kw)


def test_scan_summary_is_posted_to_the_channel(slack_server):
    result = _bot(slack_server).scan_summary(select_due(report([cert(days=2)]), inventory()))
    assert result.delivered and result.error is None
    [msg] = slack_server.messages
    assert msg.channel == "C-certs"
    assert "1 critical" in msg.text
    assert result.ts == msg.ts


def test_approval_starts_a_thread_and_later_messages_of_the_renewal_reply_in_it(slack_server):
    notifier = _bot(slack_server, ui_url="http://prefect.local:4200/")
    req = ApprovalRequest(run_id="run-1", cluster="c1", unit="tomcat", nodes=["pub.c1.example.com"], csr_pem=CSR)
    first = notifier.approval_needed(req)
    done = notifier.renewal_completed(
        RenewalCompleted(run_id="run-1", cluster="c1", unit="tomcat", nodes=[], duration_s=60, approver="bob")
    )
    other = notifier.renewal_failed(RenewalFailed(run_id="run-2", cluster="c2", unit="ipsec", what="boom"))
    assert first.delivered and done.delivered and other.delivered
    top = [m for m in slack_server.messages if m.thread_ts is None]
    assert [m.ts for m in top] == [first.ts, other.ts]
    replies = slack_server.messages_in_thread(first.ts)
    assert [r.via for r in replies] == ["files.completeUploadExternal", "chat.postMessage"]
    assert "approved by bob" in replies[1].all_text()
    assert "http://prefect.local:4200/runs/flow-run/run-1" in slack_server.messages[0].all_text()


def test_csr_is_uploaded_as_a_file_in_the_thread(slack_server):
    notifier = _bot(slack_server)
    result = notifier.approval_needed(
        ApprovalRequest(run_id="r", cluster="c1", unit="CallManager", nodes=["pub"], csr_pems={"pub": CSR})
    )
    [f] = slack_server.files.values()
    assert f.completed and f.content.decode() == CSR
    assert f.filename == "c1-CallManager-pub.csr"
    assert f.thread_ts == result.ts


def test_thread_survives_a_new_process_through_the_file_store(slack_server, tmp_path):
    store = tmp_path / "threads.json"
    first = _bot(slack_server, threads=FileThreadStore(store)).renewal_failed(
        RenewalFailed(run_id="r7", cluster="c1", unit="TVS", what="first")
    )
    again = _bot(slack_server, threads=FileThreadStore(store)).renewal_failed(
        RenewalFailed(run_id="r7", cluster="c1", unit="TVS", what="second")
    )
    assert again.delivered
    assert slack_server.messages[-1].thread_ts == first.ts


def test_rate_limit_is_retried_after_retry_after(slack_server):
    slack_server.rate_limit(2, retry_after=0)
    result = _bot(slack_server).renewal_failed(RenewalFailed(run_id="r", cluster="c1", unit="TVS", what="x"))
    assert result.delivered
    assert [s for _, s in slack_server.requests] == [429, 429, 200]


def test_outage_is_reported_not_raised_and_hides_the_token(slack_server):
    slack_server.outage()
    notifier = _bot(slack_server)
    started = time.monotonic()
    result = notifier.renewal_failed(RenewalFailed(run_id="r", cluster="c1", unit="TVS", what="x"))
    assert not result.delivered
    assert "HTTP 500" in (result.error or "")
    assert slack_server.token not in (result.error or "")
    assert time.monotonic() - started < 10
    assert slack_server.messages == []


def test_wrong_token_is_reported_as_invalid_auth(slack_server):
    notifier = SlackNotifier(token=SecretStr("xoxb-wrong"), channel="C", base_url=slack_server.api_url)
    result = notifier.scan_summary(select_due(report([]), inventory()))
    assert not result.delivered
    assert result.error == "Slack chat.postMessage failed: Slack answered invalid_auth"


def test_unreachable_slack_is_reported_not_raised():
    notifier = SlackNotifier(token=SecretStr("xoxb-t"), channel="C", base_url="http://127.0.0.1:9/api/", timeout=2)
    result = notifier.scan_summary(select_due(report([]), inventory()))
    assert not result.delivered
    assert "URLError" in (result.error or "") or "Connection" in (result.error or "")


def test_webhook_posts_messages_and_errors_never_show_the_url(slack_server, monkeypatch):
    monkeypatch.setenv("CERTOPS_TEST_HOOK", slack_server.webhook_url)
    notifier = SlackNotifier.from_config(SlackConfig(webhook_url_env="CERTOPS_TEST_HOOK"))
    ok = notifier.renewal_failed(RenewalFailed(run_id="r", cluster="c1", unit="TVS", what="boom"))
    assert ok.delivered
    assert slack_server.messages[0].via == "webhook"
    assert "boom" in slack_server.messages[0].text
    slack_server.outage()
    bad = notifier.renewal_failed(RenewalFailed(run_id="r", cluster="c1", unit="TVS", what="boom"))
    assert not bad.delivered
    assert "/services/" not in (bad.error or "")


def test_webhook_cannot_upload_a_file_and_says_so(slack_server):
    notifier = SlackNotifier(webhook_url=SecretStr(slack_server.webhook_url))
    result = notifier.upload_text("x", filename="a.csr", title="t")
    assert result.error == "an incoming webhook cannot upload files (use a bot token)"


def test_token_from_the_inventory_reference(slack_server, monkeypatch):
    monkeypatch.setenv("CERTOPS_TEST_SLACK", slack_server.token)
    inv = inventory(
        notifications={"slack": {"token_env": "CERTOPS_TEST_SLACK", "channel": "C9", "base_url": slack_server.api_url}}
    )
    notifier = SlackNotifier.from_inventory(inv)
    assert notifier is not None
    assert notifier.scan_summary(select_due(report([]), inv)).delivered
    assert slack_server.messages[0].channel == "C9"


def test_missing_token_variable_is_a_config_error_naming_it(monkeypatch):
    monkeypatch.delenv("CERTOPS_TEST_SLACK_MISSING", raising=False)
    with pytest.raises(ConfigError, match=r"\$CERTOPS_TEST_SLACK_MISSING, which is not set"):
        SlackNotifier.from_config(SlackConfig(token_env="CERTOPS_TEST_SLACK_MISSING", channel="C"))
