"""Which in-flight renewal stops the scan from starting another one."""

from __future__ import annotations

import datetime as dt

from certops.due import RenewalCandidate, Urgency
from tasks.scan import InFlight, blocking_run

NA = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _cand(unit: str, cluster: str = "c1", group: str | None = None) -> RenewalCandidate:
    return RenewalCandidate(
        cluster=cluster,
        unit=unit,
        nodes=["pub"],
        days_left=5,
        urgency=Urgency.CRITICAL,
        earliest_not_after=NA,
        exclusion_group=group,
    )


def test_same_cluster_and_unit_in_flight_blocks_a_second_renewal():
    run = InFlight(run_id="r1", cluster="c1", unit="tomcat", state="Paused")
    blocked = blocking_run(_cand("tomcat"), [run])
    assert blocked is not None
    assert blocked[1] == "already in flight: run r1 (Paused)"


def test_callmanager_in_flight_blocks_tvs_on_the_same_cluster_only():
    run = InFlight(run_id="r2", cluster="c1", unit="CallManager", state="Running")
    blocked = blocking_run(_cand("TVS", group="itl"), [run])
    assert blocked is not None and "never run together" in blocked[1]
    assert blocking_run(_cand("TVS", cluster="c2", group="itl"), [run]) is None


def test_other_units_in_flight_do_not_block():
    runs = [InFlight(run_id="r3", cluster="c1", unit="ipsec", state="Running")]
    assert blocking_run(_cand("tomcat"), runs) is None
    assert blocking_run(_cand("CallManager", group="itl"), runs) is None
