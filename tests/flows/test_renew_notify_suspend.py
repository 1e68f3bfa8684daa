"""A deployed renewal suspends for approval and reruns from the top on resume: Slack hears of it once."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from flows.approval import approve_run, pending_approval
from tests.fixtures.postgres import WorkerProcess
from tests.flows.conftest import FAST, wait_paused
from tests.flows.test_renew_notify import TOKEN_ENV, _with_slack

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.slow,
]

REPO = Path(__file__).resolve().parents[2]


def _wait_final(client, run_id, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.read_flow_run(run_id)
        if run.state and run.state.is_final():
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish in {timeout:.0f} s")


def test_rerun_after_resume_does_not_post_the_approval_again_and_completes_in_its_thread(
    make_env, prefect_server, slack_server, monkeypatch, tmp_path
):
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments import run_deployment

    from flows.renew import renew

    env = _with_slack(make_env(ca="person"), slack_server, monkeypatch)
    child = prefect_server.child_env()
    child.update(
        {
            k: os.environ[k]
            for k in (
                "CUCM_SIM_OS_PASSWORD",
                "CUCM_SIM_APP_PASSWORD",
                "CERTOPS_STATE_DIR",
                "CERTOPS_AUDIT_LOG",
                TOKEN_ENV,
            )
        }
    )
    pool = f"notify-{os.getpid()}-{int(time.time())}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    renew.from_source(source=str(REPO), entrypoint="flows/renew.py:renew").deploy(
        name=pool, work_pool_name=pool, print_next_steps=False, ignore_warnings=True
    )
    worker = WorkerProcess(child, pool, f"{pool}-w", tmp_path, limit=1)
    try:
        worker.wait_until_polling()
        run = run_deployment(
            f"renew/{pool}",
            timeout=0,
            parameters={
                "inventory_path": str(env.inventory_path),
                "cluster": "c1",
                "unit": "tomcat",
                "settings": FAST.model_dump(mode="json"),
            },
        )
        paused = wait_paused(env, timeout=120)
        assert paused.state.name == "Suspended", worker.log()[-2000:]
        pending = pending_approval(str(run.id))
        blobs = [env.ca.sign(pem, "tomcat").leaf_pem.encode() for pem in pending.csrs.values()]
        blobs += [p.encode() for p in env.ca.chain_pems]
        assert approve_run(str(run.id), blobs, [f"f{i}" for i in range(len(blobs))], approver="gina") == []
        with get_client(sync_client=True) as client:
            done = _wait_final(client, run.id)
        assert done.state.type.value == "COMPLETED", worker.log()[-3000:]
        assert len(worker.submitted_runs()) >= 2  # it ran again from the top after the resume
    finally:
        worker.stop()
    texts = [m.all_text() for m in slack_server.messages]
    assert sum(f"certops approve {run.id}" in t for t in texts) == 1
    first = next(m for m in slack_server.messages if f"certops approve {run.id}" in m.all_text())
    completed = [m for m in slack_server.messages if "Renewed tomcat on c1" in m.all_text()]
    assert len(completed) == 1 and completed[0].thread_ts == first.ts
    assert "gina" in completed[0].all_text()
