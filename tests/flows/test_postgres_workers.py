"""PostgreSQL-backed Prefect server, two workers in separate processes, the CallManager/TVS exclusion.

CallManager and TVS renewals of one cluster are started at the same moment through a deployment;
two process workers (one run each at a time) pick them up. The simulator's event log must show
one renewal entirely before the other: the cluster lock holds across processes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from certops.ca.local import LabCa
from simulator.fleet import SimulatedFleet
from simulator.options import FleetOptions
from tests.fixtures.postgres import WorkerProcess

pytestmark = [pytest.mark.postgres, pytest.mark.prefect, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
FAST = {
    "lock_wait_timeout": 180,
    "lock_poll": 0.3,
    "restart_timeout": 10,
    "restart_poll": 0.1,
    "phone_batch_size": 10,
    "phone_batch_pause": 0.0,
    "registration_timeout": 10,
    "registration_interval": 0.4,
    "ca_poll_interval": 0.05,
    "ca_poll_timeout": 10,
}


def _wait_final(client, run_ids, timeout=240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [client.read_flow_run(i) for i in run_ids]
        if all(r.state and r.state.type.value in FINAL for r in runs):
            return runs
        time.sleep(1)
    raise AssertionError(f"runs not finished after {timeout:.0f} s: {[(str(r.id), r.state_name) for r in runs]}")


def test_callmanager_and_tvs_on_two_workers_never_overlap(prefect_server_pg, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments import run_deployment

    from flows.renew import renew

    opts = FleetOptions(
        nodes=3,
        state_dir=tmp_path / "sim",
        restart_seconds=0.2,
        tomcat_restart_seconds=0.3,
        phones_per_cluster=6,
        reregister_seconds=0.3,
        cli_banner_seconds=0.0,
    )
    workers: list[WorkerProcess] = []
    with SimulatedFleet(opts) as fleet:
        lab = LabCa(tmp_path / "lab-ca")
        with fleet.ca_bundle_path.open("a") as fh:  # the nodes will serve lab-CA certificates afterwards
            fh.write(lab.root_pem + lab.intermediate_pem)
        inv = fleet.inventory_dict()
        inv["ca_backends"] = {"lab": {"type": "lab", "directory": str(tmp_path / "lab-ca")}}
        inv["defaults"]["ca"] = "lab"
        inventory = tmp_path / "inventory.yaml"
        inventory.write_text(yaml.safe_dump(inv, sort_keys=False))
        env = prefect_server_pg.child_env(
            CUCM_SIM_OS_PASSWORD=opts.password,
            CUCM_SIM_APP_PASSWORD=opts.app_password,
            CERTOPS_STATE_DIR=str(tmp_path / "state"),
            CERTOPS_AUDIT_LOG=str(tmp_path / "audit.jsonl"),
        )
        try:
            with prefect_server_pg.settings(), get_client(sync_client=True) as client:
                client.create_work_pool(WorkPoolCreate(name="pg-pool", type="process"))
                renew.from_source(source=str(REPO), entrypoint="flows/renew.py:renew").deploy(
                    name="pg-renew", work_pool_name="pg-pool", print_next_steps=False, ignore_warnings=True
                )
                for name in ("worker-a", "worker-b"):
                    workers.append(WorkerProcess(env, "pg-pool", name, tmp_path, limit=1))
                for w in workers:
                    w.wait_until_polling()
                runs = [
                    run_deployment(
                        "renew/pg-renew",
                        parameters={"inventory_path": str(inventory), "cluster": "c1", "unit": unit, "settings": FAST},
                        timeout=0,
                    )
                    for unit in ("CallManager", "TVS")
                ]
                ids = [r.id for r in runs]
                finished = _wait_final(client, ids)
                logs = {w.name: w.log()[-3000:] for w in workers}
                submitted = {w.name: w.submitted_runs() for w in workers}
                states = [r.state.type.value for r in finished]
                assert states == ["COMPLETED", "COMPLETED"], (states, logs)
        finally:
            for w in workers:
                w.stop()

        # each worker ran one of the two renewals: two processes really competed for the cluster
        assert sorted(len(v) for v in submitted.values()) == [1, 1], logs
        assert sorted(r for v in submitted.values() for r in v) == sorted(str(i) for i in ids)

        # the simulator saw one renewal entirely before the other: its CSRs and uploads form one
        # block, and the second block starts only after every phone re-registered from the first's reset
        events = fleet.events()
        owned = [
            (i, e["unit"]) for i, e in enumerate(events) if e["operation"] in ("csr_generated", "identity_uploaded")
        ]
        starts = [i for n, (i, u) in enumerate(owned) if n == 0 or owned[n - 1][1] != u]
        assert len(starts) == 2, [(events[i]["operation"], u) for i, u in owned]
        between = events[starts[0] : starts[1]]
        # the phones reset themselves (automatic, the simulator's default): certops reset none
        assert not any(e["operation"] == "phone_reset" for e in between)
        reset_at = max(i for i, e in enumerate(between) if e["operation"] == "phone_auto_reset")
        registered = {e["detail"]["phone"] for e in between[reset_at:] if e["operation"] == "phone_registered"}
        assert len(registered) == len(fleet.cluster("c1").phones)
