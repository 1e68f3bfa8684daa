"""One cluster, several units: the plan renews every due unit in Cisco's order and says why."""

from __future__ import annotations

import re

import pytest

from certops.due import select_due
from certops.errors import ConfigError
from certops.inventory import Inventory
from certops.planning import DueUnit, due_units, plan_cluster
from certops.units import UNITS, units_in_plan_order, units_markdown
from tests.unit.test_due_factories import cert, inventory, report

NODES = ["pub.c1.example.com", "sub1.c1.example.com"]


def _due(*units: str, days: int = 10) -> list[DueUnit]:
    return [DueUnit(unit=u, nodes=NODES, days_left=days, urgency="due") for u in units]


def test_every_unit_of_the_table_has_a_place_in_a_cluster_plan():
    assert all(spec.plan_order is not None for spec in UNITS.values())
    order = [s.name for s in units_in_plan_order()]
    assert order.index("TVS") < order.index("CallManager")
    assert order[-2:] == ["CallManager", "ITLRecovery"]


def test_tomcat_tvs_and_callmanager_due_together_go_tomcat_then_tvs_then_callmanager():
    plan = plan_cluster(inventory(), "c1", _due("CallManager", "TVS", "tomcat"))
    assert plan.units == ["tomcat", "TVS", "CallManager"]
    tvs, cm = plan.positions[1], plan.positions[2]
    assert "TVS before CallManager" in tvs.why and "[GUIDE 12.5SU2]" in tvs.sources
    assert "TFTP certificate goes last" in cm.why
    assert cm.starts == "as soon as the TVS renewal completed (its phones re-registered)"


def test_ipsec_goes_first_and_capf_before_the_itl_group():
    plan = plan_cluster(inventory(), "c1", _due("CallManager", "CAPF", "ipsec", "CallManager-ECDSA", "tomcat"))
    assert plan.units == ["ipsec", "tomcat", "CAPF", "CallManager-ECDSA", "CallManager"]
    assert [p.independent for p in plan.positions] == [True, True, False, False, False]


def test_itlrecovery_due_with_others_is_left_out_and_said_to_go_alone_later():
    plan = plan_cluster(inventory(), "c1", _due("ITLRecovery", "TVS"))
    assert plan.units == ["TVS"]
    (left,) = plan.deferred
    assert left.unit == "ITLRecovery"
    assert "only alone" in left.why and "every phone registered" in left.why
    assert "--unit ITLRecovery" in left.why


def test_itlrecovery_due_alone_is_a_plan_of_its_own():
    plan = plan_cluster(inventory(), "c1", _due("ITLRecovery"))
    assert plan.units == ["ITLRecovery"] and not plan.deferred


def test_the_dry_run_text_prints_the_order_why_and_the_units_not_due_with_days_left():
    inv = inventory()
    certs = [
        cert(unit="tomcat", days=5),
        cert(unit="TVS", days=12),
        cert(unit="CallManager", days=20),
        cert(unit="ipsec", days=200),
        cert(unit="ipsec", node="sub1.c1.example.com", days=150),
    ]
    due, not_due = due_units(select_due(report(certs), inv), "c1")
    text = plan_cluster(inv, "c1", due, not_due).render()
    lines = text.splitlines()
    order = [
        ln.split(" on ")[0].strip() for ln in lines if ln.startswith("  ") and ln.strip()[:2] in ("1.", "2.", "3.")
    ]
    assert order == ["1. tomcat", "2. TVS", "3. CallManager"]
    assert "TVS before CallManager" in text
    assert "  - ipsec: 150 days left, due at 30 days" in lines
    assert "a DRF backup of cluster c1 is due" in text and "unlocking every phone by hand" in text
    assert text.endswith("Dry run: nothing was changed.")


def test_with_a_backup_device_the_plan_says_certops_takes_the_backup():
    inv = inventory()
    data = inv.model_dump(mode="json", exclude_none=True)
    data["clusters"][0]["drf_backup"] = {"device": "NAS1", "features": ["UCM", "CDR_CAR"]}
    plan = plan_cluster(Inventory.model_validate(data), "c1", _due("tomcat"))
    assert "to device NAS1 (features UCM,CDR_CAR) and waits for it" in plan.drf_backup


def test_a_backup_device_with_a_space_is_refused_by_the_inventory():
    data = inventory().model_dump(mode="json", exclude_none=True)
    data["clusters"][0]["drf_backup"] = {"device": "my nas"}
    with pytest.raises(ValueError, match="drf_backup"):
        Inventory.model_validate(data)


def test_nothing_due_says_so():
    assert "Nothing is due" in plan_cluster(inventory(), "c1", []).render()


def test_an_unknown_cluster_is_a_config_error():
    with pytest.raises(ConfigError, match="nope"):
        plan_cluster(inventory(), "nope", _due("tomcat"))


def test_the_unit_page_shows_the_order_with_its_sources():
    md = units_markdown()
    assert "## Order in a cluster plan" in md
    assert re.search(r"^\| \d+ \| TVS \| TVS before CallManager.*\| \[GUIDE 12.5SU2\] \[GUIDE 14SU2\] \|$", md, re.M)


def test_an_imp_unit_goes_with_the_early_units_before_the_itl_group():
    plan = plan_cluster(inventory(), "c1", _due("CallManager", "cup-xmpp", "tomcat"))
    assert plan.units == ["tomcat", "cup-xmpp", "CallManager"]
    assert plan.positions[1].independent and "[GUIDE IM&P]" in plan.positions[1].sources
