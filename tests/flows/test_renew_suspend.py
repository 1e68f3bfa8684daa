"""In a deployment the renewal suspends for approval (no process held) and, once approved, reruns
from the top on a worker and continues: same CSRs, each node uploaded once."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from flows.approval import approve_run, pending_approval
from tests.fixtures.postgres import WorkerProcess
from tests.flows.conftest import FAST, wait_paused

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.slow,
]

REPO = Path(__file__).resolve().parents[2]


def _wait(client, run_id, states, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.read_flow_run(run_id)
        if run.state and run.state.type.value in states:
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} not in {states} after {timeout:.0f} s: {run.state}")


def test_suspended_renewal_resumes_on_a_worker_without_new_csrs(make_env, prefect_server, tmp_path):
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments import run_deployment

    from flows.renew import renew

    env = make_env(ca="person")
    child = prefect_server.child_env()
    child.update(
        {
            k: os.environ[k]
            for k in ("CUCM_SIM_OS_PASSWORD", "CUCM_SIM_APP_PASSWORD", "CERTOPS_STATE_DIR", "CERTOPS_AUDIT_LOG")
        }
    )
    pool = f"suspend-{os.getpid()}-{int(time.time())}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    renew.from_source(source=str(REPO), entrypoint="flows/renew.py:renew").deploy(
        name=pool, work_pool_name=pool, print_next_steps=False, ignore_warnings=True
    )
    worker = WorkerProcess(child, pool, f"{pool}-w", tmp_path, limit=1)
    try:
        worker.wait_until_polling()
        settings = FAST.model_dump(mode="json")
        run = run_deployment(
            f"renew/{pool}",
            timeout=0,
            parameters={
                "inventory_path": str(env.inventory_path),
                "cluster": "c1",
                "unit": "tomcat",
                "settings": settings,
            },
        )
        paused = wait_paused(env, timeout=120)
        assert paused.id == run.id and paused.state.name == "Suspended", worker.log()[-2000:]
        pending = pending_approval(str(run.id))
        blobs = [env.ca.sign(pem, "tomcat").leaf_pem.encode() for pem in pending.csrs.values()]
        blobs += [p.encode() for p in env.ca.chain_pems]
        assert approve_run(str(run.id), blobs, [f"f{i}" for i in range(len(blobs))], approver="gina") == []
        with get_client(sync_client=True) as client:
            done = _wait(client, run.id, {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
        assert done.state.type.value == "COMPLETED", worker.log()[-3000:]
        assert len(worker.submitted_runs()) >= 2  # the run was submitted again after the resume
    finally:
        worker.stop()
    events = env.fleet.events()
    assert len([e for e in events if e["operation"] == "csr_generated"]) == 3
    assert len([e for e in events if e["operation"] == "identity_uploaded"]) == 3
