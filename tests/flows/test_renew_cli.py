"""``certops renew --dry-run``, ``pending``, ``approve`` and ``deny`` as a user runs them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from certops.cli import app
from flows.renew import renew
from tests.flows.conftest import FAST, start_in_thread, wait_paused


def _changes(env, since):
    # an SSH login and a RisPort70 query (or its refusal) are recorded by the simulator but change nothing
    return env.changes(since=since)


@pytest.mark.prefect
def test_dry_run_prints_every_step_per_node_and_changes_nothing_on_the_cluster(make_env):
    env = make_env(ca="auto")
    env.fleet.set_fault("mixed-mode", cluster="c1")
    mark = len(env.fleet.events())
    result = CliRunner().invoke(
        app, ["renew", "-i", str(env.inventory_path), "-c", "c1", "-u", "CallManager", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "[cucm-pub.c1.certops.test] generate a RSA CSR for CallManager" in out
    assert "[cucm-sub1.c1.certops.test] restart Cisco CallManager via Control Center SOAP" in out
    assert "utils ctl update CTLFile on the publisher, before any restart" in out  # mixed mode was read
    assert "imp1" not in out.split("Steps:")[1].split("Rules:")[0]
    assert "Dry run: nothing was changed." in out
    assert _changes(env, mark) == []


@pytest.mark.prefect
def test_dry_run_shows_sso_blocking_a_tomcat_renewal(make_env):
    env = make_env(ca="auto")
    env.fleet.set_fault("sso", cluster="c1")
    result = CliRunner().invoke(app, ["renew", "-i", str(env.inventory_path), "-c", "c1", "-u", "tomcat", "--dry-run"])
    assert result.exit_code == 1  # a go/no-go: a blocked rule is a no-go
    assert "[blocked] sso" in result.output and "BLOCKED" in result.output


def test_dry_run_naming_a_node_without_the_unit_exits_2_with_the_reason(tmp_path):
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "defaults:\n  os_admin: {username: a, password_env: X}\n  app_user: {username: b, password_env: Y}\n"
        "clusters:\n  - name: lab\n    version: '15.0'\n    nodes:\n"
        "      - {fqdn: pub.lab.example, role: publisher}\n      - {fqdn: imp.lab.example, role: imp}\n"
    )
    result = CliRunner().invoke(
        app, ["renew", "-i", str(inv), "-c", "lab", "-u", "TVS", "-n", "imp.lab.example", "--dry-run", "--offline"]
    )
    assert result.exit_code == 2
    assert "imp.lab.example (imp) does not hold the TVS certificate" in result.output


@pytest.mark.prefect
def test_pending_lists_the_run_and_approve_refuses_a_wrong_chain_then_deny_ends_it(make_env, tmp_path):
    env = make_env(ca="person")
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "CAPF", settings=FAST, return_state=True)
    run = wait_paused(env)
    runner = CliRunner()
    listed = runner.invoke(app, ["pending"])
    assert listed.exit_code == 0 and str(run.id) in listed.output
    assert "CAPF" in listed.output and "cucm-pub.c1.certops.test" in listed.output
    # a chain signed for another CSR: refused locally, the run is not resumed
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cucm-pub.c1.certops.test")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    wrong = tmp_path / "wrong.pem"
    wrong.write_text(env.ca.sign(other, "CAPF").leaf_pem + "".join(env.ca.chain_pems))
    refused = runner.invoke(app, ["approve", str(run.id), "--chain", str(wrong), "--approver", "erin"])
    assert refused.exit_code == 1
    assert "none of the certificates given matches this node's CSR" in refused.output
    denied = runner.invoke(app, ["deny", str(run.id), "--reason", "change freeze", "--approver", "erin"])
    assert denied.exit_code == 0, denied.output
    state = fut.result(timeout=60)
    assert state.is_cancelled() and "change freeze" in state.message
    assert [e for e in env.fleet.events() if e["operation"] == "identity_uploaded"] == []


@pytest.mark.prefect
def test_unfinished_callmanager_blocks_tvs_until_abandoned(make_env):
    from certops.errors import CucmApiError, PolicyViolation

    env = make_env(ca="auto")
    env.fleet.set_fault("upload-error", node=env.pub, times=1)
    with pytest.raises(CucmApiError):
        renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    refuse = FAST.model_copy(update={"on_busy": "refuse"})
    with pytest.raises(PolicyViolation, match="CallManager renewal is unfinished"):
        renew(str(env.inventory_path), "c1", "TVS", settings=refuse)
    result = CliRunner().invoke(
        app, ["renew", "-i", str(env.inventory_path), "-c", "c1", "-u", "CallManager", "--abandon"]
    )
    assert result.exit_code == 0, result.output
    assert "abandoned the CallManager renewal on c1" in result.output
    assert renew(str(env.inventory_path), "c1", "TVS", settings=refuse).status == "completed"


@pytest.mark.prefect
def test_renew_runs_the_flow_and_prints_the_report_as_json(make_env):
    import json

    env = make_env(ca="auto")
    result = CliRunner().invoke(app, ["renew", "-i", str(env.inventory_path), "-c", "c1", "-u", "CAPF", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["status"] == "completed" and report["unit"] == "CAPF"
    assert [n["fqdn"] for n in report["nodes"]] == [env.pub] and report["nodes"][0]["verified"]
    assert report["phones_reset"] is True  # the phone step is done
    assert report["phones_outcome"].startswith("phones reset themselves (Phone Interaction on Certificate Update")


@pytest.mark.prefect
def test_approve_takes_the_leaf_and_its_chain_as_separate_files_after_one_chain_option(make_env, tmp_path):
    env = make_env(ca="person")
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "CAPF", settings=FAST, return_state=True)
    run = wait_paused(env)
    pub = env.fleet.cluster("c1").nodes[0]
    signed = env.ca.sign(pub.csrs["CAPF"].pem, "CAPF")
    files = [tmp_path / "leaf.pem"]
    files[0].write_text(signed.leaf_pem)
    for i, pem in enumerate(signed.chain_pems):
        files.append(tmp_path / f"ca{i}.pem")
        files[-1].write_text(pem)
    result = CliRunner().invoke(
        app, ["approve", str(run.id), "--chain", *map(str, files), "--approver", "frank", "--comment", "INC-42"]
    )
    assert result.exit_code == 0, result.output
    assert f"approved: run {run.id} resumes" in result.output
    state = fut.result(timeout=120)
    assert state.is_completed(), state.message
    assert state.result().approver == "frank"
    assert [e["node"] for e in env.fleet.events() if e["operation"] == "identity_uploaded"] == [pub.fqdn]
