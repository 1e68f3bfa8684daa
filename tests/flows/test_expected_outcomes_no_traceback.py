"""Expected outcomes of ``certops renew`` (SSO enabled, an unreachable node, a failed restart) as a person sees
them: one paragraph saying what, where and what next, and no Python traceback on the terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.flows.conftest import FAST

pytestmark = [pytest.mark.prefect]

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from certops.cli import main; main()"]


def _renew(env_: Any, prefect_server: Any, tmp_path: Path, unit: str, *more: str) -> subprocess.CompletedProcess[str]:
    env = prefect_server.child_env()
    env["CERTOPS_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["CERTOPS_LOCK_DIR"] = str(tmp_path / "locks")
    env["CERTOPS_RENEWAL_SETTINGS"] = FAST.model_dump_json()
    args = ["renew", "-i", str(env_.inventory_path), "-c", "c1", "-u", unit, *more]
    return subprocess.run([*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_sso_enabled_refusal_is_a_paragraph_without_traceback(make_env, prefect_server, tmp_path):
    env = make_env(ca="auto")
    env.fleet.set_fault("sso", cluster="c1")
    done = _renew(env, prefect_server, tmp_path, "tomcat")
    print(done.stdout, done.stderr)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "renewal failed:" in done.stderr and "SSO" in done.stderr


def test_unreachable_node_is_a_paragraph_without_traceback(make_env, prefect_server, tmp_path):
    env = make_env(ca="auto")
    env.fleet.set_fault("unreachable", node=env.fleet.cluster("c1").nodes[1].fqdn)
    done = _renew(env, prefect_server, tmp_path, "tomcat")
    print(done.stdout, done.stderr)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "Socket exception" not in done.stdout + done.stderr
    assert "renewal failed: cucm-sub1.c1.certops.test: " in done.stderr
    assert "Finished in state Failed" not in done.stdout + done.stderr  # the paragraph says it once


def test_failed_restart_says_the_nodes_reason_what_is_done_and_that_a_rerun_continues(
    make_env, prefect_server, tmp_path
):
    env = make_env(ca="auto")
    pub, sub = env.pub, env.fleet.cluster("c1").nodes[1].fqdn
    env.fleet.set_fault("restart-fails", node=sub, service="Cisco CallManager")
    done = _renew(env, prefect_server, tmp_path, "CallManager")
    assert done.returncode == 1, done.stdout + done.stderr
    err = " ".join(done.stderr.split())
    assert "Traceback" not in done.stdout + done.stderr
    assert f"{sub} [CallManager]: Cisco CallManager did not come back to Started" in err
    assert "the node says: [STOPPED] Service failed to start (simulated fault)" in err
    assert f"Done: the new CallManager certificate is uploaded on {pub}, {sub}; nodes restarted: {pub}" in err
    assert f"Not done: Cisco CallManager on {sub}" in err
    assert "A plain rerun of the same certops renew continues from there" in err
    uploads = [e for e in env.fleet.events() if e["operation"] == "identity_uploaded"]
    env.fleet.clear_faults()
    again = _renew(env, prefect_server, tmp_path, "CallManager")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [e for e in env.fleet.events() if e["operation"] == "identity_uploaded"] == uploads


def test_lock_held_refusal_is_a_paragraph_without_traceback(make_env, prefect_server, tmp_path, monkeypatch):
    from certops.hostlock import Holder, HostLock

    env = make_env(ca="auto")
    monkeypatch.setenv("CERTOPS_LOCK_DIR", str(tmp_path / "locks"))
    lock = HostLock("c1", "itl")
    assert lock.try_acquire(Holder.this_process(run_id="run-holding-itl", unit="TVS"))
    try:
        done = _renew(env, prefect_server, tmp_path, "CallManager", "--on-busy", "refuse")
    finally:
        lock.release()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "renewal failed: cluster c1: CallManager does not start" in done.stderr
    assert "holds the host lock" in done.stderr and "Nothing was changed" in done.stderr


def test_a_denial_ends_the_renewal_with_a_paragraph_without_traceback(make_env, prefect_server, tmp_path):
    from typer.testing import CliRunner

    from certops.cli import app
    from tests.flows.conftest import wait_paused

    env_ = make_env(ca="person")
    env = prefect_server.child_env()
    env["CERTOPS_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["CERTOPS_LOCK_DIR"] = str(tmp_path / "locks")
    env["CERTOPS_RENEWAL_SETTINGS"] = FAST.model_dump_json()
    args = ["renew", "-i", str(env_.inventory_path), "-c", "c1", "-u", "CAPF"]
    proc = subprocess.Popen([*CLI, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run = wait_paused(env_, timeout=180)
        denied = CliRunner().invoke(app, ["deny", str(run.id), "--reason", "change freeze", "--approver", "erin"])
        assert denied.exit_code == 0, denied.output
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 1, out + err
    assert "Traceback" not in out + err
    assert "renewal ended:" in err and "change freeze" in err
