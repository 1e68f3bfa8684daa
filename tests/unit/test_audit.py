"""The audit log: append-only JSON lines, configurable path, no secrets."""

from __future__ import annotations

import json

import pytest

from certops import audit
from certops.audit import AuditRecord


def test_records_are_appended_as_json_lines_in_order(tmp_path):
    log = tmp_path / "a" / "audit.jsonl"
    audit.append(
        AuditRecord(
            who="certops run r1",
            run_id="r1",
            cluster="lab",
            node="pub",
            unit="tomcat",
            operation="upload_identity",
            fingerprint_before="aa",
            fingerprint_after="bb",
        ),
        log,
    )
    audit.append(AuditRecord(who="alice", cluster="lab", unit="tomcat", operation="approve", approver="alice"), log)
    lines = log.read_text().splitlines()
    assert [json.loads(x)["operation"] for x in lines] == ["upload_identity", "approve"]
    assert json.loads(lines[0])["fingerprint_after"] == "bb"
    assert [r.who for r in audit.read(log)] == ["certops run r1", "alice"]


def test_path_comes_from_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTOPS_AUDIT_LOG", str(tmp_path / "x.jsonl"))
    written = audit.append(AuditRecord(who="bob", cluster="lab", operation="deny", detail="wrong CA"))
    assert written == tmp_path / "x.jsonl"
    assert audit.read()[0].detail == "wrong CA"


def test_a_record_carrying_a_private_key_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no secrets"):
        audit.append(
            AuditRecord(who="x", cluster="lab", operation="note", detail="-----BEGIN PRIVATE KEY-----abc"),
            tmp_path / "a.jsonl",
        )
    assert not (tmp_path / "a.jsonl").exists()
