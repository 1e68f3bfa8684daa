"""The phone step follows "Phone Interaction on Certificate Update" (Cisco's Security Guides).

Automatic (Cisco's default): the phones reset themselves after the upload; certops does not reset
them again, it watches them come back and resets only those that did not. Manual, or a release
without the parameter: certops resets every phone, as the seed procedure says.
"""

from __future__ import annotations

from collections import Counter

import pytest

from flows.renew import renew
from tests.flows.conftest import FAST

pytestmark = [pytest.mark.prefect]


def _phones(env, operation: str) -> Counter[str]:
    return Counter(e["detail"]["phone"] for e in env.fleet.events(operation=operation, cluster="c1"))


def test_automatic_phones_reset_themselves_and_certops_resets_none(make_env):
    env = make_env(ca="auto", fleet={"version": "15.0", "nodes": 2})
    phones = [p.name for p in env.fleet.cluster("c1").phones]
    report = renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    assert report.status == "completed"
    assert _phones(env, "phone_reset") == Counter()  # certops asked for no reset
    assert set(_phones(env, "phone_auto_reset")) == set(phones)
    assert report.phones_outcome == (
        f"phones reset themselves (Phone Interaction on Certificate Update: automatic): {len(phones)}/{len(phones)} "
        "back; certops reset none"
    )
    assert f"Phones: {report.phones_outcome}." in report.to_markdown()
    assert env.fleet.cluster("c1").registered_count() == len(phones)


def test_automatic_with_two_phones_stuck_certops_resets_exactly_those_two(make_env):
    env = make_env(ca="auto", fleet={"version": "14SU2", "nodes": 2})
    env.fleet.set_fault("phones-not-back", cluster="c1", count=2)
    phones = sorted(p.name for p in env.fleet.cluster("c1").phones)
    stuck = phones[:2]  # the fault keeps the first two (by name) down
    report = renew(str(env.inventory_path), "c1", "TVS", settings=FAST)
    assert report.status == "completed"
    assert _phones(env, "phone_reset") == Counter(stuck)
    assert set(_phones(env, "phone_auto_reset")) == set(phones)
    n = len(phones)
    assert report.phones_outcome is not None
    assert report.phones_outcome.startswith(
        f"phones reset themselves (Phone Interaction on Certificate Update: automatic): {n - 2}/{n} back; "
        f"certops reset 2 that did not ({', '.join(stuck)})"
    )
    assert env.fleet.cluster("c1").registered_count() == n


def test_manual_certops_resets_every_phone_and_none_resets_itself(make_env):
    env = make_env(ca="auto", fleet={"version": "15.0", "nodes": 2, "phone_interaction": "manual"})
    phones = [p.name for p in env.fleet.cluster("c1").phones]
    report = renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    assert report.status == "completed"
    assert _phones(env, "phone_reset") == Counter(phones)
    assert _phones(env, "phone_auto_reset") == Counter()
    assert report.phones_interaction == "manual"
    assert report.phones_outcome == (
        f"certops reset {len(phones)} phones (Phone Interaction on Certificate Update: manual); "
        f"{len(phones)}/{len(phones)} registered"
    )


def test_on_12_5_without_the_parameter_certops_resets_every_phone(make_env):
    env = make_env(ca="auto", fleet={"version": "12.5", "nodes": 2})
    phones = [p.name for p in env.fleet.cluster("c1").phones]
    report = renew(str(env.inventory_path), "c1", "CAPF", settings=FAST)
    assert report.status == "completed"
    assert report.phones_interaction == "absent"
    assert _phones(env, "phone_reset") == Counter(phones)
    assert _phones(env, "phone_auto_reset") == Counter()


def test_tomcat_on_14_resets_the_phones_that_use_sip_oauth_after_the_tomcat_restart(make_env):
    env = make_env(ca="auto", fleet={"version": "14.0", "nodes": 2, "sip_oauth_phones": 2})
    oauth = sorted(p.name for p in env.fleet.cluster("c1").phones if p.sip_oauth)
    assert len(oauth) == 2
    report = renew(str(env.inventory_path), "c1", "tomcat", settings=FAST)
    assert report.status == "completed"
    assert _phones(env, "phone_reset") == Counter(oauth)
    events = env.fleet.events(cluster="c1")
    tomcat_restarts = [i for i, e in enumerate(events) if e["operation"] == "service_restart_finished"]
    resets = [i for i, e in enumerate(events) if e["operation"] == "phone_reset"]
    assert min(resets) > max(tomcat_restarts)  # after every restart, the Tomcat ones included
    assert report.phones_outcome == (
        "certops reset the 2 phones that use SIP OAuth after the Tomcat restart on CUCM 14+ "
        f"(Cisco Security Guide 14SU2): {', '.join(oauth)}"
    )


def test_tomcat_sip_oauth_phones_are_only_listed_when_the_inventory_says_so(make_env):
    env = make_env(
        ca="auto", fleet={"version": "15.0", "nodes": 2, "sip_oauth_phones": 1}, policy={"sip_oauth_phones": "list"}
    )
    oauth = [p.name for p in env.fleet.cluster("c1").phones if p.sip_oauth]
    report = renew(str(env.inventory_path), "c1", "tomcat", settings=FAST)
    assert report.status == "completed"
    assert _phones(env, "phone_reset") == Counter()
    assert any("must be reset by hand after the Tomcat restart" in w and oauth[0] in w for w in report.warnings)
