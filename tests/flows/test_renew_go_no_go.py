"""``certops renew --dry-run`` is a go/no-go a script can act on; ``--abandon --dry-run`` changes nothing.

Every test runs ``certops`` as a process against the session Prefect server and the simulator,
and reads only what a person or a script sees: the exit code, stdout, stderr, the audit log and
``certops lock status``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.flows.conftest import FAST

pytestmark = [pytest.mark.prefect]

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from certops.cli import main; main()"]


def _env(prefect_server: Any, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = prefect_server.child_env()
    env["CERTOPS_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["CERTOPS_LOCK_DIR"] = str(tmp_path / "locks")
    env["CERTOPS_RENEWAL_SETTINGS"] = FAST.model_dump_json()
    env["PREFECT_LOGGING_LEVEL"] = "WARNING"
    env.update(extra)
    return env


def _certops(args: list[str], env: dict[str, str], timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _dry(env_: Any, unit: str, *more: str) -> list[str]:
    return ["renew", "-i", str(env_.inventory_path), "-c", "c1", "-u", unit, "--dry-run", *more]


def test_dry_run_of_a_renewal_nothing_stops_says_go_and_exits_0(make_env, prefect_server, tmp_path):
    env = make_env(ca="auto")
    done = _certops(_dry(env, "CAPF"), _env(prefect_server, tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GO: every rule is ok or applies, every node was read" in done.stdout


def test_dry_run_with_sso_enabled_says_no_go_naming_the_rule_and_exits_1(make_env, prefect_server, tmp_path):
    env = make_env(ca="auto")
    env.fleet.set_fault("sso", cluster="c1")
    done = _certops(_dry(env, "tomcat"), _env(prefect_server, tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NO-GO" in done.stdout and "rule 'sso' is blocked: SAML SSO must be disabled" in done.stdout


def test_dry_run_with_an_unreachable_node_says_no_go_naming_the_node_and_exits_1(make_env, prefect_server, tmp_path):
    env = make_env(ca="auto")
    sub = env.fleet.cluster("c1").nodes[1].fqdn
    env.fleet.set_fault("unreachable", node=sub)
    done = _certops(_dry(env, "tomcat", "--json"), _env(prefect_server, tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["verdict"] == "no-go" and verdict["changed"] is False
    by_node = {n["fqdn"]: n for n in verdict["nodes"]}
    assert by_node[sub]["status"] == "not read" and by_node[env.pub]["status"] == "read"
    assert any(r.startswith(f"node {sub} could not be read") for r in verdict["reasons"]), verdict["reasons"]
    assert {r["rule"] for r in verdict["plan"]["rules"]} >= {"exclusion", "window", "risk"}
    assert all({"rule", "text", "status"} <= set(r) for r in verdict["plan"]["rules"])
    assert verdict["plan"]["steps"] and "Traceback" not in done.stderr


def test_dry_run_whose_credentials_are_refused_says_no_go_and_exits_1(make_env, prefect_server, tmp_path):
    env = make_env(ca="auto")
    done = _certops(_dry(env, "CAPF"), _env(prefect_server, tmp_path, CUCM_SIM_OS_PASSWORD="not-the-password"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NO-GO" in done.stdout and f"node {env.pub} could not be read" in done.stdout


def test_dry_run_json_of_a_go_is_the_plan_rules_nodes_and_verdict(make_env, prefect_server, tmp_path):
    env = make_env(ca="auto")
    done = _certops(_dry(env, "CAPF", "--json"), _env(prefect_server, tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["verdict"] == "go" and verdict["reasons"] == []
    assert [n["status"] for n in verdict["nodes"]] == ["read"]
    assert verdict["plan"]["unit"] == "CAPF" and verdict["plan"]["cluster"] == "c1"


def test_dry_run_exclusion_rule_names_this_hosts_lock_holder(make_env, prefect_server, tmp_path, monkeypatch):
    from certops.hostlock import Holder, HostLock

    env = make_env(ca="auto")
    monkeypatch.setenv("CERTOPS_LOCK_DIR", str(tmp_path / "locks"))
    lock = HostLock("c1", "itl")
    assert lock.try_acquire(Holder.this_process(run_id="run-holding-itl", unit="TVS"))
    try:
        done = _certops(_dry(env, "CallManager"), _env(prefect_server, tmp_path))
    finally:
        lock.release()
    assert done.returncode == 1, done.stdout + done.stderr
    exclusion = next(line for line in done.stdout.splitlines() if "] exclusion:" in line)
    assert exclusion.startswith("  - [blocked] exclusion") and "this host's lock held now by" in exclusion
    assert "run-holding-itl" in exclusion


def test_offline_dry_run_is_no_go_because_the_cluster_was_not_looked_at(make_env, prefect_server, tmp_path):
    env = make_env(ca="auto")
    done = _certops(_dry(env, "CAPF", "--offline"), _env(prefect_server, tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the cluster was not looked at (--offline)" in done.stdout


def _audit_lines(env_: Any) -> list[str]:
    return env_.audit_path.read_text().splitlines() if env_.audit_path.exists() else []


def test_abandon_dry_run_frees_no_lock_and_writes_no_audit_record(make_env, prefect_server, tmp_path):
    from certops.errors import CucmApiError
    from flows.renew import renew

    env = make_env(ca="auto")
    env.fleet.set_fault("upload-error", node=env.pub, times=1)
    with pytest.raises(CucmApiError):
        renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    cli_env = _env(prefect_server, tmp_path)
    status_args = ["lock", "status", "-i", str(env.inventory_path), "-c", "c1", "-u", "CallManager"]
    before_status = _certops(status_args, cli_env)
    before_audit = _audit_lines(env)
    abandon = ["renew", "-i", str(env.inventory_path), "-c", "c1", "-u", "CallManager", "--abandon"]
    done = _certops([*abandon, "--dry-run"], cli_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "would abandon the CallManager renewal on c1" in done.stdout
    assert "Dry run: nothing was changed." in done.stdout
    assert _audit_lines(env) == before_audit
    assert _certops(status_args, cli_env).stdout == before_status.stdout
    # the unfinished renewal is still there: a real abandon finds it
    real = _certops(abandon, cli_env)
    assert real.returncode == 0 and "abandoned the CallManager renewal on c1" in real.stdout
    assert len(_audit_lines(env)) == len(before_audit) + 1


def test_abandon_with_nothing_unfinished_says_so_in_one_line_and_exits_0(make_env, prefect_server, tmp_path):
    env = make_env(ca="auto")
    done = _certops(
        ["renew", "-i", str(env.inventory_path), "-c", "c1", "-u", "TVS", "--abandon"], _env(prefect_server, tmp_path)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines() == [
        "nothing to abandon: no unfinished TVS renewal on c1 and no claim on its lock"
    ]
    assert _audit_lines(env) == []


def test_dry_run_of_tomcat_on_every_node_role_warns_of_nothing_a_node_does_not_run(make_env, prefect_server, tmp_path):
    env = make_env(ca="auto")  # publisher, subscriber, IM&P: not every node runs every service tomcat restarts
    done = _certops(_dry(env, "tomcat"), _env(prefect_server, tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in done.stderr.lower() and "Service not found" not in done.stdout + done.stderr
    assert "GO: every rule is ok or applies" in done.stdout


@pytest.mark.parametrize("run_id", ["not-a-run-id", "5b0c8f6e-0000-4000-8000-000000000000"])
def test_approve_deny_and_csr_of_a_run_that_does_not_exist_are_bad_input_exit_2(prefect_server, tmp_path, run_id):
    chain = tmp_path / "chain.pem"
    chain.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    env = _env(prefect_server, tmp_path)
    for args in (
        ["approve", run_id, "--chain", str(chain), "--approver", "erin"],
        ["deny", run_id, "--reason", "wrong run", "--approver", "erin"],
        ["csr", run_id, "--dir", str(tmp_path)],
    ):
        done = _certops(args, env)
        assert done.returncode == 2, (args, done.stdout + done.stderr)
        assert f"no flow run {run_id!r}" in done.stderr and "Traceback" not in done.stderr


def test_approve_with_an_unreadable_chain_file_is_bad_input_exit_2(prefect_server, tmp_path):
    missing = tmp_path / "nowhere.pem"
    done = _certops(
        ["approve", "5b0c8f6e-0000-4000-8000-000000000000", "--chain", str(missing), "--approver", "erin"],
        _env(prefect_server, tmp_path),
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot read" in done.stderr and "nothing was sent" in done.stderr
