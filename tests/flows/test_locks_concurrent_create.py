"""Many renewals starting at once create the cluster's concurrency limits without tripping over each other."""

from __future__ import annotations

import contextvars
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from prefect import get_client

from certops.inventory import Inventory
from flows import _locks

pytestmark = [pytest.mark.prefect]


def _inventory(clusters: list[str]) -> Inventory:
    return Inventory.model_validate(
        {
            "defaults": {
                "os_admin": {"username": "a", "password_env": "X"},
                "app_user": {"username": "b", "password_env": "Y"},
            },
            "clusters": [
                {"name": c, "version": "15.0", "nodes": [{"fqdn": f"pub.{c}.example", "role": "publisher"}]}
                for c in clusters
            ],
        }
    )


def test_twelve_renewals_creating_the_limits_at_once_all_succeed_and_leave_one_active_limit_each(prefect_server):
    clusters = [f"race{uuid.uuid4().hex[:8]}" for _ in range(3)]
    inv = _inventory(clusters)
    with ThreadPoolExecutor(max_workers=12) as pool:
        futures = [pool.submit(contextvars.copy_context().run, _locks.ensure_limits, inv) for _ in range(12)]
        results = [f.result(timeout=120) for f in futures]  # ObjectAlreadyExists here on the old code
    names = {_locks.limit_name(c, k) for c in clusters for k in _locks.lock_keys()}
    created = [n for r in results for n in r]
    assert sorted(created) == sorted(names)  # each limit created exactly once, by one of them
    with get_client(sync_client=True) as client:
        for name in names:
            limit = client.read_global_concurrency_limit_by_name(name)
            assert limit.active and limit.limit == 1
    for c in clusters:
        for k in _locks.lock_keys():
            assert _locks.verify_limit(c, k) == _locks.limit_name(c, k)


def test_a_renewal_makes_and_reads_only_its_own_clusters_lock_not_the_whole_fleets(prefect_server):
    from prefect.exceptions import ObjectNotFound

    mine, *others = [f"fleet{uuid.uuid4().hex[:8]}" for _ in range(3)]
    created = _locks.ensure_limits(_inventory([mine, *others]), clusters=[mine], keys=["itl"])
    assert created == [_locks.limit_name(mine, "itl")]
    with get_client(sync_client=True) as client:
        # a fleet of hundreds of clusters, and the other ten lock keys, cost a renewal nothing
        for c, k in [(c, k) for c in [mine, *others] for k in _locks.lock_keys() if (c, k) != (mine, "itl")]:
            with pytest.raises(ObjectNotFound):
                client.read_global_concurrency_limit_by_name(_locks.limit_name(c, k))
