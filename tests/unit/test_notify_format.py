"""Slack message formatting: content a person needs, and Slack's size limits."""

from __future__ import annotations

import datetime as dt
import json

from certops.due import select_due
from certops.models import NodeFailure
from certops.notify import format as fmt
from certops.notify.messages import (
    ApprovalReminder,
    ApprovalRequest,
    NodeChange,
    RenewalCompleted,
    RenewalFailed,
    RenewalStarted,
)
from tests.unit.test_due_factories import NOW, cert, inventory, report

CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIICijCCAXICAQAwRTELMAkGA1UEBhMCQVUx\n-----END CERTIFICATE REQUEST-----\n"


def _all_text(msg) -> str:
    return msg.text + "\n" + json.dumps(msg.blocks, ensure_ascii=False)


def _assert_within_slack_limits(msg) -> None:
    assert len(msg.blocks) <= 50
    assert len(msg.text) <= 40000
    for b in msg.blocks:
        if b["type"] == "section":
            assert len(b["text"]["text"]) <= 3000
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150


def test_scan_summary_counts_by_urgency_and_lists_the_most_urgent_first():
    certs = [
        cert(node="pub.c1.example.com", days=-3),
        cert(node="sub1.c1.example.com", days=5),
        cert(node="sub2.c1.example.com", unit="ipsec", days=20),
        cert(node="pub.c1.example.com", unit="ipsec", days=300),
    ]
    msg = fmt.scan_summary(select_due(report(certs), inventory()))
    assert "1 expired, 1 critical, 1 due" in msg.text
    body = msg.blocks[2]["text"]["text"]
    assert body.index("expired 3 days ago") < body.index("5 days left") < body.index("20 days left")
    assert "300 days" not in body
    _assert_within_slack_limits(msg)


def test_scan_summary_cuts_long_lists_and_says_how_many_were_left_out():
    inv = inventory({f"c{i}": 5 for i in range(40)})
    certs = [
        cert(cluster=f"c{i}", node=("pub" if j == 0 else f"sub{j}") + f".c{i}.example.com", days=j + 1)
        for i in range(40)
        for j in range(5)
    ]
    msg = fmt.scan_summary(select_due(report(certs), inv), max_rows=15)
    assert "… and 185 more certificates not shown" in msg.blocks[2]["text"]["text"]
    _assert_within_slack_limits(msg)


def test_scan_summary_names_unreadable_nodes_with_their_reason():
    failure = NodeFailure(
        cluster="c1",
        node="sub2.c1.example.com",
        operation="read_certificates",
        reason="connection refused",
        transient=True,
    )
    msg = fmt.scan_summary(select_due(report([cert(days=200)], [failure]), inventory()))
    assert "1 nodes unreadable" in msg.text
    assert "sub2.c1.example.com: read_certificates — connection refused" in _all_text(msg)
    assert "Nothing is due" in _all_text(msg)


def test_scan_summary_lists_started_queued_and_skipped_renewals():
    started = [
        RenewalStarted(cluster="c1", unit="CallManager", nodes=["a"], days_left=3, run_id="r-1"),
        RenewalStarted(cluster="c1", unit="TVS", nodes=["a"], days_left=9, queued_behind="CallManager"),
        RenewalStarted(
            cluster="c2", unit="tomcat", nodes=["b"], days_left=9, skipped_reason="already in flight: run r-0"
        ),
    ]
    text = _all_text(fmt.scan_summary(select_due(report([]), inventory()), started=started))
    assert "renewal started (run `r-1`)" in text
    assert "queued behind `CallManager`" in text
    assert "not started, already in flight: run r-0" in text


def test_approval_message_has_cluster_unit_nodes_csr_command_link_and_deadline():
    req = ApprovalRequest(
        run_id="6f1c",
        cluster="c1",
        unit="tomcat",
        nodes=["pub.c1.example.com", "sub1.c1.example.com"],
        csr_pem=CSR,
        deadline=dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC),
        ui_url="http://prefect.local:4200/runs/flow-run/6f1c",
    )
    msg = fmt.approval_needed(req, mention="<!here>")
    text = _all_text(msg)
    for expected in (
        "c1",
        "`tomcat`",
        "pub.c1.example.com, sub1.c1.example.com",
        "MIICijCCAXICAQAwRTELMAkGA1UEBhMCQVUx",
        "certops approve 6f1c --chain signed-chain.pem --approver YOUR_NAME",
        "<http://prefect.local:4200/runs/flow-run/6f1c|Prefect UI>",
        "2026-12-03 09:00 UTC",
    ):
        assert expected in text
    assert msg.text.startswith("<!here> Approval needed: tomcat on c1")
    _assert_within_slack_limits(msg)


def test_approval_with_many_csrs_stays_within_fifty_blocks():
    csrs = {f"node{i}.example.com": CSR for i in range(80)}
    req = ApprovalRequest(run_id="r", cluster="c1", unit="tomcat", nodes=list(csrs), csr_pems=csrs)
    msg = fmt.approval_needed(req)
    _assert_within_slack_limits(msg)
    assert "more CSRs not shown" in _all_text(msg)


def test_text_with_angle_brackets_cannot_mention_or_link():
    fail = RenewalFailed(run_id="r", cluster="c1", unit="tomcat", what="node said <!channel> & <http://x|y>")
    text = _all_text(fmt.renewal_failed(fail))
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &amp; &lt;http://x|y&gt;" in text


def test_completed_message_shows_before_and_after_expiry_fingerprints_duration_and_approver():
    done = RenewalCompleted(
        run_id="r",
        cluster="c1",
        unit="tomcat",
        nodes=[
            NodeChange(
                node="pub.c1.example.com",
                before_not_after=NOW,
                after_not_after=NOW + dt.timedelta(days=365),
                before_fingerprint="aa" * 32,
                after_fingerprint="bb" * 32,
            )
        ],
        duration_s=754,
        approver="alice",
    )
    text = _all_text(fmt.renewal_completed(done))
    assert "2026-11-26 21:00 UTC `aaaaaaaaaaaaaaaa…` → 2027-11-26 21:00 UTC `bbbbbbbbbbbbbbbb…`" in text
    assert "12.6 min" in text
    assert "approved by alice" in text


def test_blocked_message_says_what_where_and_what_next():
    fail = RenewalFailed(
        run_id="r",
        cluster="c1",
        unit="ipsec",
        node="pub.c1.example.com",
        what="a DRF backup is running",
        next_step="wait for the backup to finish; the next scan starts the renewal again",
        blocked=True,
    )
    msg = fmt.renewal_failed(fail)
    assert msg.text == (
        "Renewal of ipsec on c1 / pub.c1.example.com blocked: a DRF backup is running "
        "Next: wait for the backup to finish; the next scan starts the renewal again"
    )


def test_reminder_says_hours_left_and_the_command():
    rem = ApprovalReminder(
        run_id="r9", cluster="c1", unit="TVS", deadline=NOW + dt.timedelta(hours=20, minutes=30), now=NOW
    )
    msg = fmt.approval_reminder(rem)
    assert "20 h left" in msg.text
    assert "certops approve r9" in msg.text


def test_huge_section_text_is_cut_with_a_note():
    block = fmt.section("x" * 10000)
    assert len(block["text"]["text"]) <= 3000
    assert "more characters not shown" in block["text"]["text"]
