"""The fault suite's figures count what they say, from an event log (pure, no servers)."""

from __future__ import annotations

from typing import Any

from tests.blackbox.fault_suite import count_overlaps, count_repeats

PHONES = ("SEP1", "SEP2")


def _e(
    op: str,
    *,
    unit: str | None = None,
    node: str = "pub",
    service: str | None = None,
    cluster: str = "c1",
    **detail: Any,
) -> dict:
    return {
        "time": "t",
        "cluster": cluster,
        "node": node,
        "operation": op,
        "unit": unit,
        "service": service,
        "detail": detail,
    }


def _renewal(unit: str, *, reregister: bool = True, cluster: str = "c1") -> list[dict]:
    c = {"cluster": cluster, "node": f"pub.{cluster}"}
    events = [_e("csr_generated", unit=unit, **c), _e("identity_uploaded", unit=unit, serial=unit, **c)]
    events += [_e("service_restart_started", service=f"svc-{unit}", **c)]
    events += [_e("phone_reset", phone=f"{cluster}-{p}", **c) for p in PHONES]
    if reregister:
        events += [_e("phone_registered", phone=f"{cluster}-{p}", **c) for p in PHONES]
    return events


def test_renewals_one_after_the_other_with_phones_back_do_not_overlap():
    assert count_overlaps(_renewal("CallManager") + _renewal("TVS"))[0] == 0


def test_a_phone_registered_before_the_last_reset_of_its_batch_still_counts_as_back():
    events = _renewal("TVS", reregister=False)
    events.insert(-1, _e("phone_registered", phone="c1-SEP1", node="pub.c1"))  # back before SEP2's reset
    events.append(_e("phone_registered", phone="c1-SEP2", node="pub.c1"))
    assert count_overlaps(events + _renewal("CallManager"))[0] == 0


def test_a_csr_before_the_other_units_last_upload_is_an_overlap():
    a, b = _renewal("CallManager"), _renewal("TVS")
    assert count_overlaps([a[0], b[0], *a[1:], *b[1:]])[0] == 1


def test_starting_before_the_phones_registered_again_is_an_overlap():
    assert count_overlaps(_renewal("CallManager", reregister=False) + _renewal("TVS"))[0] == 1


def test_units_outside_the_itl_group_never_count_as_overlaps():
    a, b = _renewal("CallManager"), _renewal("tomcat")
    assert count_overlaps([a[0], b[0], *a[1:], *b[1:]])[0] == 0


def test_a_restart_or_reset_done_twice_within_one_renewal_is_a_repeat_but_across_renewals_is_not():
    events = _renewal("CallManager") + _renewal("TVS")
    assert count_repeats(events)[0] == 0
    twice = _renewal("CallManager")
    twice.insert(3, _e("service_restart_started", service="svc-CallManager", node="pub.c1"))
    twice.append(_e("phone_reset", phone="c1-SEP1", node="pub.c1"))
    assert count_repeats(twice)[0] == 2


def test_other_clusters_renewals_inside_a_long_renewal_are_neither_repeats_nor_its_phones():
    long_one = _renewal("CallManager", reregister=False)
    others = _renewal("CallManager", cluster="c2") + _renewal("TVS", cluster="c2")
    events = (
        long_one[:-2]
        + others
        + long_one[-2:]
        + [_e("phone_registered", phone=f"c1-{p}", node="pub.c1") for p in PHONES]
    )
    assert count_repeats(events)[0] == 0
    assert count_overlaps(events)[0] == 0
    # c1's TVS starting before c1's phones are back is an overlap, whatever c2's phones did meanwhile
    late = long_one + others + _renewal("TVS")
    assert count_overlaps(late)[0] == 1


def test_phones_that_reset_themselves_count_as_reset_and_must_be_back_before_the_next_unit():
    def automatic(events: list[dict]) -> list[dict]:  # Phone Interaction on Certificate Update: automatic
        return [dict(e, operation="phone_auto_reset") if e["operation"] == "phone_reset" else e for e in events]

    assert count_overlaps(automatic(_renewal("CallManager")) + _renewal("TVS"))[0] == 0
    assert count_overlaps(automatic(_renewal("CallManager", reregister=False)) + _renewal("TVS"))[0] == 1
