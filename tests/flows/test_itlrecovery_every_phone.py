"""ITLRecovery is renewed only with every configured phone registered (Cisco's Security Guides)."""

from __future__ import annotations

import pytest

from certops.errors import PolicyViolation
from flows.renew import renew
from tests.flows.conftest import FAST

pytestmark = [pytest.mark.prefect]

CHANGES = ("csr_generated", "trust_uploaded", "identity_uploaded", "service_restart_started", "phone_reset")


def test_itlrecovery_with_a_phone_away_is_refused_naming_it_and_nothing_changes(make_env):
    env = make_env(ca="auto")
    away = sorted(env.fleet.cluster("c1").phones, key=lambda p: p.name)[0]
    away.status = "UnRegistered"  # the phone is configured but not registered (switched off, unplugged)
    mark = len(env.fleet.events())

    with pytest.raises(PolicyViolation) as refused:
        renew(str(env.inventory_path), "c1", "ITLRecovery", settings=FAST)

    text = str(refused.value)
    assert away.name in text and "every phone registered" in text and "Nothing was changed" in text
    assert [e for e in env.fleet.events()[mark:] if e["operation"] in CHANGES] == []


def test_itlrecovery_with_every_phone_registered_renews(make_env):
    env = make_env(ca="auto")
    assert renew(str(env.inventory_path), "c1", "ITLRecovery", settings=FAST).status == "completed"
    assert any(e["operation"] == "csr_generated" for e in env.fleet.events())
