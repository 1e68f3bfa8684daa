"""A renewal killed while the node generated its CSR is unfinished: it keeps the other ITL units out."""

from __future__ import annotations

import pytest

from certops.errors import PolicyViolation
from certops.renewal.state import RenewalStore
from flows.renew import renew
from tests.flows.conftest import FAST
from tests.flows.killed_support import KillPoint, mark_crashed, running_run_of
from tests.flows.test_renew_killed import _kill_at

pytestmark = [pytest.mark.prefect]


def test_callmanager_killed_during_its_first_csr_blocks_tvs_until_the_callmanager_rerun_finished(
    make_env, prefect_server, tmp_path
):
    env = make_env(ca="auto")
    _kill_at(env, "CallManager", KillPoint("csr_generated"), prefect_server.child_env(), tmp_path)
    killed = running_run_of(env.inventory_path)
    mark_crashed(killed.id)
    state = RenewalStore().load("c1", "CallManager")
    assert state is not None and state.changed_anything  # the CSR it asked for is on the node

    refuse = FAST.model_copy(update={"on_busy": "refuse"})
    with pytest.raises(PolicyViolation, match="CallManager renewal is unfinished"):
        renew(str(env.inventory_path), "c1", "TVS", settings=refuse)
    assert [e for e in env.fleet.events() if e["unit"] == "TVS" and e["operation"] != "fleet_started"] == []

    assert renew(str(env.inventory_path), "c1", "CallManager", settings=refuse).status == "completed"
    assert renew(str(env.inventory_path), "c1", "TVS", settings=refuse).status == "completed"
    csrs = [e for e in env.fleet.events() if e["operation"] == "csr_generated"]
    first_tvs = min(i for i, e in enumerate(csrs) if e["unit"] == "TVS")
    assert all(e["unit"] == "CallManager" for e in csrs[:first_tvs])
