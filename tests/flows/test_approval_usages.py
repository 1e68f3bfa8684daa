"""A person asked to get a CSR signed is told the exact key usages to ask the CA for."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from certops.cli import app
from flows.renew import renew
from tests.flows.conftest import FAST, start_in_thread, wait_paused
from tests.unit import x509_factory as f
from tests.unit.test_key_usages import ASKED, _csr_asking


@pytest.mark.prefect
def test_pending_names_the_usages_for_capf_and_a_pathlen_0_issuer_is_warned_in_the_report(make_env, tmp_path):
    from flows.approval import pending_approval

    env = make_env(ca="person")
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "CAPF", settings=FAST)
    run = wait_paused(env)
    runner = CliRunner()
    listed = runner.invoke(app, ["pending"])
    assert listed.exit_code == 0, listed.output
    line = next(x for x in listed.output.splitlines() if "ask the CA for:" in x)
    assert "Key Usage: Digital Signature, Certificate Sign" in line
    assert "serverAuth (TLS Web Server Authentication, 1.3.6.1.5.5.7.3.1)" in line
    assert "Basic Constraints: CA:TRUE" in line
    # the test CA's issuing CA has pathlen:0: CAPF verifies, but could not issue valid LSCs
    deadline = time.monotonic() + 30  # Prefect sets the pause before the form (with the CSRs) is saved
    while not (csrs := pending_approval(str(run.id)).csrs) and time.monotonic() < deadline:
        time.sleep(0.3)
    csr = next(iter(csrs.values()))
    chain = tmp_path / "signed.pem"
    chain.write_text(env.ca.sign(csr, "CAPF").leaf_pem + "".join(env.ca.chain_pems))
    approved = runner.invoke(app, ["approve", str(run.id), "--chain", str(chain), "--approver", "erin"])
    assert approved.exit_code == 0, approved.output
    report = fut.result(timeout=120)
    assert report.status == "completed"
    assert any("pathlen:0" in w and "LSCs" in w for w in report.warnings)
    assert any("take a DRF backup" in w for w in report.warnings)
    assert "**Warnings** (Cisco's Security Guides):" in report.to_markdown()


def test_prefect_approval_form_names_the_exact_usages_to_ask_for():
    import datetime as dt

    from certops.renewal.state import RenewalState
    from certops.renewal.steps import csr_artifact
    from flows.approval import approval_description

    state = RenewalState(cluster="c1", unit="CallManager")
    p = state.node("pub.example", "publisher")
    k = f.key("rsa", 2048, 20)
    p.csr = csr_artifact("c1", "pub.example", "CallManager", _csr_asking(k, ASKED).decode())
    text = approval_description(state, instructions="", deadline=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    assert "Exactly: Key Usage: Digital Signature, Key Encipherment, Data Encipherment (the CSR asks for it" in text
    assert "clientAuth (TLS Web Client Authentication, 1.3.6.1.5.5.7.3.2)" in text
