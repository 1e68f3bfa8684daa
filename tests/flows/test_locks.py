"""The cluster lock fails closed and names who holds it (real Prefect server)."""

from __future__ import annotations

import uuid

import pytest
from prefect import flow, get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.states import Crashed

from certops.errors import PolicyViolation
from flows import _locks

pytestmark = [pytest.mark.prefect]


@flow(name="lock-holder")
def _holder() -> None:
    """A flow whose runs stand in for a renewal holding a cluster."""


def _new_run(state=None) -> str:
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(_holder, state=state)
    return str(run.id)


def _cluster() -> str:
    return f"lk{uuid.uuid4().hex[:8]}"


def test_missing_limit_fails_closed(prefect_server):
    with pytest.raises(PolicyViolation, match="does not exist"):
        _locks.acquire_claim(cluster=_cluster(), unit="TVS", run_id=str(uuid.uuid4()), nodes=[], on_busy="refuse")


def test_disabled_limit_fails_closed_because_it_would_lock_nothing(prefect_server):
    cluster = _cluster()
    name = _locks.limit_name(cluster, "itl")
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1, active=False))
    with pytest.raises(PolicyViolation, match="DISABLED"):
        _locks.acquire_claim(cluster=cluster, unit="CallManager", run_id=str(uuid.uuid4()), nodes=[])
    with get_client(sync_client=True) as client:
        client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active=True, limit=1))
    claim = _locks.acquire_claim(cluster=cluster, unit="CallManager", run_id=str(uuid.uuid4()), nodes=[])
    assert claim.unit == "CallManager"


def _setup(cluster: str) -> None:
    with get_client(sync_client=True) as client:
        for key in _locks.lock_keys():
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=_locks.limit_name(cluster, key), limit=1)
            )


def test_tvs_is_refused_while_a_live_callmanager_run_holds_the_cluster_and_the_message_names_it(prefect_server):
    cluster = _cluster()
    _setup(cluster)
    holder = _new_run()  # Scheduled: not final, like a run suspended for approval
    _locks.acquire_claim(cluster=cluster, unit="CallManager", run_id=holder, nodes=["pub"])
    with pytest.raises(PolicyViolation) as err:
        _locks.acquire_claim(cluster=cluster, unit="TVS", run_id=str(uuid.uuid4()), nodes=[], on_busy="refuse")
    assert holder in str(err.value) and "CallManager" in str(err.value)
    with pytest.raises(PolicyViolation, match="waited 1 s"):
        _locks.acquire_claim(cluster=cluster, unit="TVS", run_id=str(uuid.uuid4()), nodes=[], wait_timeout=1, poll=0.3)


def test_a_run_that_finds_the_cluster_held_lets_its_cli_sessions_go_once_before_it_waits(prefect_server):
    cluster = _cluster()
    _setup(cluster)
    told: list[str] = []
    mine = _locks.acquire_claim(
        cluster=cluster, unit="CallManager", run_id=_new_run(), nodes=[], on_held=lambda: told.append("free")
    )
    assert mine.unit == "CallManager" and told == []  # a free cluster: the logins made ahead are kept
    with pytest.raises(PolicyViolation, match="waited 1 s"):
        _locks.acquire_claim(
            cluster=cluster,
            unit="TVS",
            run_id=str(uuid.uuid4()),
            nodes=[],
            wait_timeout=1,
            poll=0.3,
            on_held=lambda: told.append("held"),
        )
    assert told == ["held"]  # once, at the first look, not at every look of the wait


def test_claim_of_a_crashed_run_blocks_other_units_while_its_renewal_is_unfinished(prefect_server):
    cluster = _cluster()
    _setup(cluster)
    dead = _new_run(state=Crashed(message="killed"))
    _locks.acquire_claim(cluster=cluster, unit="CallManager", run_id=dead, nodes=[])
    with pytest.raises(PolicyViolation, match="unfinished"):
        _locks.acquire_claim(
            cluster=cluster,
            unit="TVS",
            run_id=str(uuid.uuid4()),
            nodes=[],
            on_busy="refuse",
            unfinished=lambda c, u: u == "CallManager",
        )
    # a rerun of the same unit takes the cluster over and continues
    rerun = str(uuid.uuid4())
    assert (
        _locks.acquire_claim(cluster=cluster, unit="CallManager", run_id=rerun, nodes=[], on_busy="refuse").run_id
        == rerun
    )
    # once released, TVS may start
    assert _locks.release_claim(cluster=cluster, unit="CallManager", run_id=rerun)
    assert _locks.acquire_claim(cluster=cluster, unit="TVS", run_id=str(uuid.uuid4()), nodes=[]).unit == "TVS"


def test_a_claim_whose_critical_section_ran_out_of_time_writes_nothing_and_says_so(prefect_server, monkeypatch):
    # The section's slot is not renewed: a write that would start after its budget (a Prefect server
    # too slow to answer) is not sent, so it can never land after the slot's lease expired.
    cluster = _cluster()
    _setup(cluster)
    monkeypatch.setattr(_locks, "SECTION_WRITE_BUDGET", 0.0)
    with pytest.raises(_locks.SectionExpired, match=f"cluster {cluster}: the 'itl' lock's critical section") as err:
        _locks.acquire_claim(cluster=cluster, unit="TVS", run_id=str(uuid.uuid4()), nodes=[], wait_timeout=0.0)
    assert "nothing was written" in str(err.value) and err.value.hint
    assert _locks.read_claim(cluster, "itl") is None
    with get_client(sync_client=True) as client:  # the slot was given back all the same
        assert client.read_global_concurrency_limit_by_name(_locks.limit_name(cluster, "itl")).active_slots == 0
    monkeypatch.setattr(_locks, "SECTION_WRITE_BUDGET", 60.0)
    assert _locks.acquire_claim(cluster=cluster, unit="TVS", run_id=str(uuid.uuid4()), nodes=[]).unit == "TVS"
