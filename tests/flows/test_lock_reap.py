"""A holder killed with kill -9 can be proven dead and its run marked Crashed; a live one is never reaped."""

from __future__ import annotations

import uuid

import pytest
from prefect import flow, get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.states import Running
from typer.testing import CliRunner

from certops.cli import app
from certops.errors import PolicyViolation
from flows import _locks
from flows.renew import renew
from tests.flows.conftest import FAST, read_run
from tests.flows.killed_support import KillPoint, running_run_of
from tests.flows.test_renew_killed import _kill_at

pytestmark = [pytest.mark.prefect]


def test_a_callmanager_run_killed_with_sigkill_is_reaped_then_still_blocks_tvs_until_its_rerun(
    make_env, prefect_server, tmp_path
):
    env = make_env(ca="auto")
    _kill_at(env, "CallManager", KillPoint("identity_uploaded"), prefect_server.child_env(), tmp_path)
    killed = running_run_of(env.inventory_path)  # RUNNING: no process reports it any more
    refuse = FAST.model_copy(update={"on_busy": "refuse"})
    with pytest.raises(PolicyViolation) as err:
        renew(str(env.inventory_path), "c1", "TVS", settings=refuse)
    text = str(err.value)
    assert str(killed.id) in text and "RUNNING" in text and "certops lock reap" in text
    assert "wait for that run to finish (certops pending" not in text  # the old, garbled advice

    runner = CliRunner()
    inv = str(env.inventory_path)
    status = runner.invoke(app, ["lock", "status", "-i", inv, "-c", "c1", "-u", "CallManager"])
    assert status.exit_code == 0, status.output
    assert str(killed.id) in status.output and "GONE: the process is dead" in status.output

    reaped = runner.invoke(app, ["lock", "reap", "-i", inv, "-c", "c1", "-u", "TVS"])
    assert reaped.exit_code == 0, reaped.output
    assert "marked flow run" in reaped.output and "no longer exists" in reaped.output
    assert read_run(killed.id).state.is_crashed()

    # the stale-claim rule: its CallManager renewal is unfinished, so TVS is still refused ...
    with pytest.raises(PolicyViolation, match="CallManager renewal is unfinished"):
        renew(str(env.inventory_path), "c1", "TVS", settings=refuse)
    again = runner.invoke(app, ["lock", "reap", "-i", inv, "-c", "c1", "-u", "TVS"])
    assert again.exit_code == 0 and "already ended" in again.output
    # ... until the CallManager rerun finished it
    assert renew(str(env.inventory_path), "c1", "CallManager", settings=refuse).status == "completed"
    assert renew(str(env.inventory_path), "c1", "TVS", settings=refuse).status == "completed"


@flow(name="lock-holder")
def _holder() -> None:
    """Stands in for a renewal run."""


def _limits(cluster: str) -> None:
    with get_client(sync_client=True) as client:
        for key in _locks.lock_keys():
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=_locks.limit_name(cluster, key), limit=1)
            )


def _inventory(tmp_path, cluster: str):
    path = tmp_path / "inv.yaml"
    path.write_text(
        "defaults:\n  os_admin: {username: a, password_env: X}\n  app_user: {username: b, password_env: Y}\n"
        f"clusters:\n  - name: {cluster}\n    version: '15.0'\n    nodes:\n"
        f"      - {{fqdn: pub.{cluster}.example, role: publisher}}\n"
    )
    return str(path)


def test_reap_refuses_while_the_holder_process_lives_or_another_host_was_active_recently(prefect_server, tmp_path):
    cluster = f"rp{uuid.uuid4().hex[:8]}"
    _limits(cluster)
    inv = _inventory(tmp_path, cluster)
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(_holder, state=Running())
    _locks.acquire_claim(cluster=cluster, unit="CallManager", run_id=str(run.id), nodes=[])  # this process holds it
    runner = CliRunner()
    alive = runner.invoke(app, ["lock", "reap", "-i", inv, "-c", cluster, "-u", "CallManager"])
    assert alive.exit_code == 1
    assert "is alive; it is not reaped" in alive.output
    assert read_run(run.id).state.is_running()
    # the same claim as recorded by a process on another machine: only a long silence proves it dead
    held = _locks.read_claim(cluster, "itl")
    assert held is not None
    from prefect.variables import Variable

    Variable.set(
        _locks.claim_name(cluster, "itl"),
        held.model_copy(update={"host": "laptop-of-someone-else"}).model_dump(mode="json"),
        overwrite=True,
    )
    elsewhere = runner.invoke(app, ["lock", "reap", "-i", inv, "-c", cluster, "-u", "TVS"])
    assert elsewhere.exit_code == 1
    assert "laptop-of-someone-else" in elsewhere.output and "may be alive" in elsewhere.output
    assert read_run(run.id).state.is_running()
