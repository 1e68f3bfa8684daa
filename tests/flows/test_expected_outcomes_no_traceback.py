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


def _renew(env_: Any, prefect_server: Any, tmp_path: Path, unit: str) -> subprocess.CompletedProcess[str]:
    env = prefect_server.child_env()
    env["CERTOPS_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["CERTOPS_LOCK_DIR"] = str(tmp_path / "locks")
    env["CERTOPS_RENEWAL_SETTINGS"] = FAST.model_dump_json()
    args = ["renew", "-i", str(env_.inventory_path), "-c", "c1", "-u", unit]
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
