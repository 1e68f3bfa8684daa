"""Who resets the phones after a certificate change (certops.renewal.phones), without a cluster."""

from __future__ import annotations

from typing import Any

import pytest

from certops.models import PhoneCount
from certops.notify import format as slack_format
from certops.notify.messages import RenewalCompleted
from certops.renewal import steps
from certops.renewal.phones import PhoneStep, not_back, outcome_text, phone_step, sip_oauth_due
from certops.units import unit


@pytest.mark.parametrize("name", ["CallManager", "CallManager-ECDSA", "TVS", "CAPF"])
def test_automatic_means_watch_for_the_units_whose_change_resets_the_phones(name):
    step, why = phone_step(unit(name), "automatic")
    assert step is PhoneStep.WATCH_AUTOMATIC
    assert "does not reset them again" in why and "resets only the phones that did not come back" in why


def test_manual_absent_or_unreadable_means_certops_resets_every_phone():
    assert phone_step(unit("CallManager"), "manual")[0] is PhoneStep.RESET_ALL
    assert phone_step(unit("CallManager"), "absent")[0] is PhoneStep.RESET_ALL
    step, why = phone_step(unit("TVS"), "unknown (HTTP 500)")
    assert step is PhoneStep.RESET_ALL and "unknown (HTTP 500)" in why


def test_itlrecovery_is_reset_by_certops_even_when_automatic_and_tomcat_needs_no_reset():
    step, why = phone_step(unit("ITLRecovery"), "automatic")
    assert step is PhoneStep.RESET_ALL and "do not reset themselves when ITLRecovery changes" in why
    assert phone_step(unit("tomcat"), "automatic")[0] is PhoneStep.NONE


def test_a_phone_is_back_only_when_registered_again_with_a_later_timestamp():
    baseline = {"SEP1": 100, "SEP2": 100, "SEP3": 100}
    now = {"SEP1": 130, "SEP2": 100}  # SEP2 never reset (old ITL), SEP3 is not registered
    assert not_back(baseline, now) == ["SEP2", "SEP3"]


def test_the_outcome_line_says_who_reset_the_phones_and_how_many_came_back():
    assert outcome_text(
        interaction="automatic", baseline=120, watched=True, stuck=["SEP1", "SEP2"], reset=2, registered=120
    ) == (
        "phones reset themselves (Phone Interaction on Certificate Update: automatic): 118/120 back; "
        "certops reset 2 that did not (SEP1, SEP2); 120 registered"
    )
    assert outcome_text(interaction="manual", baseline=6, watched=False, stuck=[], reset=6, registered=6) == (
        "certops reset 6 phones (Phone Interaction on Certificate Update: manual); 6/6 registered"
    )


class _Api:
    fqdn = "pub"

    def __init__(self, looks: list[dict[str, int]]) -> None:
        self.looks = looks
        self.reset: list[str] = []

    def registered_phones(self) -> PhoneCount:
        stamps = self.looks.pop(0) if len(self.looks) > 1 else self.looks[0]
        return PhoneCount(registered=len(stamps), total_seen=3, stamps=stamps)

    def list_phones(self) -> list[str]:
        return ["SEP1", "SEP2", "SEP3"]

    def reset_phone(self, name: str) -> None:
        self.reset.append(name)


def _watch(api: Any, timeout: float) -> list[str]:
    said: list[str] = []
    budget = steps.RateBudget(1000, window=60.0)
    return steps.watch_automatic_reset(
        api,
        cluster="c1",
        unit="CallManager",
        baseline={"SEP1": 100, "SEP2": 100, "SEP3": 100},
        timeout=timeout,
        interval=0.01,
        budget=budget,
        sleep=lambda _s: None,
        log=said.append,
    )


def test_the_watch_ends_when_every_phone_came_back_by_itself():
    api = _Api([{"SEP1": 100, "SEP2": 100, "SEP3": 100}, {"SEP1": 101}, {"SEP1": 101, "SEP2": 102, "SEP3": 103}])
    assert _watch(api, timeout=600) == []
    assert api.reset == []


def test_the_watch_returns_the_phones_not_back_at_the_timeout_and_only_those_are_reset():
    api = _Api([{"SEP1": 101, "SEP3": 100}])
    missing = _watch(api, timeout=0)
    assert missing == ["SEP2", "SEP3"]
    assert steps.reset_phones(api, batch_size=10, batch_pause=0, only=missing) == 2
    assert api.reset == ["SEP2", "SEP3"]


def test_sip_oauth_phones_are_due_after_a_tomcat_restart_on_14_only():
    assert sip_oauth_due(unit("tomcat"), [(14, 0, 2)])
    assert sip_oauth_due(unit("tomcat-ECDSA"), [(12, 5, 1), (15, 0)])
    assert not sip_oauth_due(unit("tomcat"), [(12, 5, 1)])
    assert not sip_oauth_due(unit("CallManager"), [(15, 0, 0)])


def test_the_slack_completion_message_says_what_happened_to_the_phones():
    done = RenewalCompleted(
        run_id="r1",
        cluster="c1",
        unit="CallManager",
        nodes=[],
        duration_s=60,
        phones="phones reset themselves (Phone Interaction on Certificate Update: automatic): 118/120 back; "
        "certops reset 2 that did not (SEP1, SEP2); 120 registered",
    )
    msg = slack_format.renewal_completed(done)
    text = str(msg)
    assert "118/120 back; certops reset 2 that did not" in text


def test_the_dry_run_shows_which_phone_behaviour_applies_and_why():
    from certops.planning import ClusterState, plan_renewal
    from tests.unit.test_planning import _inventory

    def phones(interaction: str | None) -> str:
        plan = plan_renewal(_inventory(), "lab", "CallManager", state=ClusterState(phone_interaction=interaction))
        return plan.render()

    auto = phones("automatic")
    assert "no reset by certops: the phones reset themselves" in auto
    assert "'Phone Interaction on Certificate Update' is automatic" in auto
    manual = phones("manual")
    assert "reset all phones in throttled batches" in manual and "is manual: the phones wait for a reset" in manual
    assert "is read from the publisher before the phone step" in phones(None)
