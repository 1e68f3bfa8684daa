"""Waiting for the cluster lock says what it waits for, since when and for how long at most (real Prefect server)."""

from __future__ import annotations

import uuid

import pytest
from prefect import flow, get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.states import Running

from certops.errors import PolicyViolation
from flows import _locks

pytestmark = [pytest.mark.prefect]


@flow(name="lock-holder-speaks")
def _holder() -> None:
    """A flow whose run stands in for a renewal holding the cluster."""


def test_a_run_waiting_for_the_lock_says_at_once_what_since_when_and_at_most_how_long(prefect_server):
    cluster = f"lw{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        for key in _locks.lock_keys():
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=_locks.limit_name(cluster, key), limit=1)
            )
        holder = str(client.create_flow_run(_holder, state=Running()).id)
    _locks.acquire_claim(cluster=cluster, unit="TVS", run_id=holder, nodes=["pub"])
    said: list[str] = []
    with pytest.raises(PolicyViolation):
        _locks.acquire_claim(
            cluster=cluster,
            unit="CallManager",
            run_id=str(uuid.uuid4()),
            nodes=["pub"],
            wait_timeout=1.0,
            poll=0.3,
            log=said.append,
        )
    first = next(s for s in said if "waiting for" in s)
    assert first.startswith(f"cluster {cluster} [CallManager]: waiting for the 'itl' lock: held by flow run {holder}")
    assert "(since " in first and "UTC); at most 1 s (lock_wait_timeout)" in first
