"""The capture's redactor: secrets never pass, names and addresses are replaced consistently."""

from __future__ import annotations

import pytest

from certops.doctor.redact import Redactor
from certops.doctor.verdicts import Check, CheckStatus, DoctorReport, InfStatus, InfVerdict


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"password": "hunter2-x"}', "hunter2-x"),
        ('{"accessToken": "tok-123456"}', "tok-123456"),
        ("Set-Cookie: JSESSIONID=ABCDEF0123456789; Path=/", "ABCDEF0123456789"),
        ("<sessionId>s-998877</sessionId>", "s-998877"),
        ("Authorization: Basic YWRtaW46cGFzcw==", "YWRtaW46cGFzcw=="),
        ("Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
        ("slack xoxb-1234-5678-abcdef", "xoxb-1234-5678-abcdef"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA"),
        ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBx (cut short", "MHcCAQEEIBx"),
    ],
)
def test_secrets_of_every_kind_are_redacted(text: str, secret: str) -> None:
    out = Redactor().text(text)
    assert secret not in out and "redacted" in out


def test_a_known_password_is_redacted_wherever_it_appears() -> None:
    out = Redactor(secrets=["S3cr3t!pw"]).text("login as admin/S3cr3t!pw failed; retry S3cr3t!pw")
    assert "S3cr3t!pw" not in out and out.count("<redacted>") == 2


def test_anonymizing_replaces_hosts_addresses_and_certificates_consistently() -> None:
    r = Redactor(hosts=["cucm-pub.c1.example.com", "cucm-sub1.c1.example.com"], anonymize=True)
    text = (
        "cucm-pub.c1.example.com at 10.1.2.3, CN=cucm-pub-EC.c1.example.com, ITLRECOVERY_cucm-pub, "
        "cucm-sub1.c1.example.com at 10.1.2.4, again 10.1.2.3; OID 1.3.6.1.5.5.7.3.1; build 15.0.1.11900-40\n"
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    )
    out = r.text(text)
    assert "example.com" not in out and "cucm-" not in out and "10.1.2" not in out and "MIIB" not in out
    assert out.startswith("node1.example.invalid at 192.0.2.1, CN=node1-EC.example.invalid, ITLRECOVERY_node1, ")
    assert "node2.example.invalid at 192.0.2.2, again 192.0.2.1" in out
    assert "1.3.6.1.5.5.7.3.1" in out and "15.0.1.11900-40" in out
    assert r.text("cucm-sub1.c1.example.com") == "node2.example.invalid"


def test_without_anonymize_names_stay() -> None:
    assert Redactor(hosts=["a.example.com"]).text("a.example.com 10.0.0.1") == "a.example.com 10.0.0.1"


def test_a_report_blocks_only_the_units_a_nodes_role_holds_and_a_refutation_wins() -> None:
    report = DoctorReport(cluster="c1", version="15.0", units=["tomcat", "CallManager", "ipsec"])
    report.roles = {"imp1": "imp", "pub": "publisher"}
    report.checks = [
        Check("ssh.login", "imp1", "SSH", CheckStatus.FAIL, fix="fix it", blocks=("*",)),
        Check("cli.sso", "pub", "SSO", CheckStatus.WARN, fix="know it", blocks=("tomcat",)),
    ]
    report.inf = [
        InfVerdict("x", InfStatus.CONFIRMED, "pub"),
        InfVerdict("x", InfStatus.REFUTED, "imp1", "other"),
        InfVerdict("x", InfStatus.NOT_REACHABLE),
    ]
    assert not report.ok
    assert report.blocked_units("imp1") == ["tomcat", "ipsec"]
    assert report.blocked_units("pub") == []  # a warning blocks nothing
    assert report.inf_summary()["x"].status is InfStatus.REFUTED


def test_docs_doctor_names_every_inf_id_once_under_what_settles_it() -> None:
    import re
    from pathlib import Path

    from certops.doctor.inf import INF_ITEMS

    text = (Path(__file__).resolve().parents[2] / "docs" / "doctor.md").read_text()
    settles = text.split("Items doctor can settle read-only:", 1)[1].split("Only by a change", 1)
    read_only = set(re.findall(r"`([a-z]+\.[a-z0-9_]+)`", settles[0]))
    rest = settles[1].split("## ", 1)[0].split("Not asked by doctor", 1)
    by_change = set(re.findall(r"`([a-z]+\.[a-z0-9_]+)`", rest[0]))
    not_asked = set(re.findall(r"`([a-z0-9]+\.[a-z0-9_]+)`", rest[1]))
    assert read_only == {i.id for i in INF_ITEMS.values() if i.observed_by}
    assert by_change == {i.id for i in INF_ITEMS.values() if not i.observed_by and i.why_not.startswith("needs")}
    assert not_asked == {i.id for i in INF_ITEMS.values() if not i.observed_by and not i.why_not.startswith("needs")}


ENVELOPE = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>{}'
    "</soapenv:Body></soapenv:Envelope>"
)


def test_without_cisco_schemas_the_verdict_is_not_available_and_says_how_to_get_them(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from certops.doctor.schemas import judge_soap

    monkeypatch.setenv("CERTOPS_CISCO_SCHEMAS", str(tmp_path))
    verdict = judge_soap(ENVELOPE.format("<x/>"), "controlcenter")
    assert verdict.status == "not available" and "fetch_cisco_schemas.py" in verdict.detail
    assert judge_soap("{}", "certmgr").status == "not available"


def test_cisco_schemas_judge_an_answer_that_breaks_them() -> None:
    from certops.doctor.schemas import judge_soap, schema_file

    assert schema_file("axl", "15.0").is_file()  # scripts/setup fetched them
    bad = ENVELOPE.format(
        '<ns:getCCMVersionResponse xmlns:ns="http://www.cisco.com/AXL/API/15.0"><nope/></ns:getCCMVersionResponse>'
    )
    verdict = judge_soap(bad, "axl", "15.0")
    assert verdict.status == "invalid" and "nope" in verdict.detail
    good = ENVELOPE.format(
        '<ns:getCCMVersionResponse xmlns:ns="http://www.cisco.com/AXL/API/15.0"><return><componentVersion>'
        "<version>15.0.1.11900-40</version></componentVersion></return></ns:getCCMVersionResponse>"
    )
    assert judge_soap(good, "axl", "15.0").status == "valid"


def test_an_answer_certops_cannot_read_is_one_failed_check_not_a_crash() -> None:
    from types import SimpleNamespace

    from certops.doctor.checks import attempt

    probe = SimpleNamespace(fqdn="pub.example.com")
    probe.check = lambda cid, title, status, detail="", fix="", blocks=(): Check(  # type: ignore[attr-defined]
        cid, probe.fqdn, title, status, detail, fix, blocks
    )

    def unreadable() -> Check:
        raise ValueError("no 'Active Master Version:' line")

    check = attempt(probe, "cli.version", "show version active", unreadable)  # type: ignore[arg-type]
    assert check.status is CheckStatus.FAIL and check.blocking
    assert "could not read the node's answer (ValueError: no 'Active Master Version:' line)" in check.fix
