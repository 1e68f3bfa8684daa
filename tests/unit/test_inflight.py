"""What counts as another ITL-group renewal in flight on a cluster, from what the nodes show."""

from __future__ import annotations

import datetime as dt

from certops.renewal.inflight import ClusterLook, FinishedRenewal, NodeLook, find_inflight, refusal

AT = dt.datetime(2026, 12, 1, 22, 0, tzinfo=dt.UTC)
OLD = AT - dt.timedelta(days=300)
PUB, SUB = "cucm-pub.c1", "cucm-sub1.c1"
FP_TVS_CSR = "ab" * 32
FP_CM_NEW = "cd" * 32


def _node(fqdn: str, **over: object) -> NodeLook:
    base: dict[str, object] = {
        "fqdn": fqdn,
        "installed": {"CallManager": f"cm-{fqdn}", "TVS": f"tvs-{fqdn}"},
        "served": {"CallManager": f"cm-{fqdn}", "TVS": f"tvs-{fqdn}"},
        "issued": {"CallManager": OLD, "TVS": OLD},
    }
    base.update(over)
    return NodeLook.model_validate(base)


def _look(*nodes: NodeLook, phones: int | None = None) -> ClusterLook:
    return ClusterLook(cluster="c1", at=AT, nodes=list(nodes) or [_node(PUB), _node(SUB)], phones_registered=phones)


def test_a_quiet_cluster_shows_nothing_in_flight():
    assert find_inflight(_look(), unit="CallManager") == []


def test_a_pending_tvs_csr_is_a_tvs_renewal_in_flight_for_callmanager_but_not_for_tomcat():
    look = _look(_node(PUB, pending_csrs={"TVS": FP_TVS_CSR}), _node(SUB))
    found = find_inflight(look, unit="CallManager")
    assert [(f.node, f.unit, f.csr_fingerprint) for f in found] == [(PUB, "TVS", FP_TVS_CSR)]
    assert "a CSR is pending" in found[0].what
    assert find_inflight(look, unit="tomcat") == []  # not in the ITL group


def test_the_renewals_own_csrs_never_count():
    look = _look(_node(PUB, pending_csrs={"TVS": FP_TVS_CSR}))
    assert find_inflight(look, unit="TVS") == []  # its own unit is not looked at
    assert find_inflight(look, unit="CallManager", own_csrs={FP_TVS_CSR}) == []


def test_a_leftover_csr_is_ignored_only_when_the_operator_names_it_or_an_abandoned_renewal_left_it():
    look = _look(_node(PUB, pending_csrs={"TVS": FP_TVS_CSR}))
    assert find_inflight(look, unit="CallManager", ignore=[FP_TVS_CSR[:12]]) == []
    assert find_inflight(look, unit="CallManager", ignore=["tvs"]) == []
    assert find_inflight(look, unit="CallManager", ignore=[FP_TVS_CSR[:4]]) != []  # too short to name a CSR
    abandoned = FinishedRenewal(unit="TVS", status="abandoned", csrs={PUB: FP_TVS_CSR})
    assert find_inflight(look, unit="CallManager", finished=[abandoned]) == []
    other = FinishedRenewal(unit="TVS", status="abandoned", csrs={PUB: "ee" * 32})
    assert find_inflight(look, unit="CallManager", finished=[other]) != []


def test_an_identity_uploaded_but_not_served_yet_or_a_silent_listener_is_in_flight():
    look = _look(
        _node(PUB, installed={"CallManager": FP_CM_NEW, "TVS": f"tvs-{PUB}"}),
        _node(SUB, served={"CallManager": None, "TVS": f"tvs-{SUB}"}),
    )
    found = find_inflight(look, unit="TVS")
    assert [(f.node, f.unit) for f in found] == [(PUB, "CallManager"), (SUB, "CallManager")]
    assert "does not serve yet" in found[0].what and "does not answer" in found[1].what


def test_a_recently_issued_identity_counts_until_the_window_passed_unless_a_finished_renewal_installed_it():
    issued = {"CallManager": AT - dt.timedelta(seconds=30), "TVS": OLD}
    look = _look(_node(PUB, issued=issued), _node(SUB))
    found = find_inflight(look, unit="TVS", recent_window=600)
    assert [(f.node, f.unit) for f in found] == [(PUB, "CallManager")] and "issued 30 s ago" in found[0].what
    assert find_inflight(look, unit="TVS", recent_window=20) == []
    done = FinishedRenewal(unit="CallManager", status="done", leaves={PUB: f"cm-{PUB}"})
    assert find_inflight(look, unit="TVS", finished=[done]) == []


def test_phones_below_the_baseline_are_a_reset_in_flight():
    assert find_inflight(_look(phones=4), unit="TVS", phones_baseline=6)[0].what.startswith("only 4 phones")
    assert find_inflight(_look(phones=6), unit="TVS", phones_baseline=6) == []


def test_a_node_that_could_not_be_read_counts_as_in_flight():
    look = _look(NodeLook(fqdn=PUB, problems=["could not read the node: timeout"]))
    found = find_inflight(look, unit="CallManager")
    assert found and "fail closed" in found[0].what


def test_the_refusal_names_node_unit_what_and_how_to_settle_a_leftover_csr():
    look = _look(_node(PUB, pending_csrs={"TVS": FP_TVS_CSR}))
    err = refusal("c1", "CallManager", find_inflight(look, unit="CallManager"), after_own_csr=False)
    text = str(err)
    assert f"{PUB}: TVS: a CSR is pending" in text and "Nothing was changed" in text
    assert f"--ignore-pending-csr {FP_TVS_CSR[:16]}" in text
    after = str(refusal("c1", "CallManager", find_inflight(look, unit="CallManager"), after_own_csr=True))
    assert "backs off right after its own first CSR" in after
