"""The DRF backup after a regeneration, against the simulator's CLI: started, followed, bounded, refused plainly."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from certops.cucm.node import CucmNode
from certops.inventory import DrfBackupConfig, Inventory
from certops.renewal.drf_backup import backup_due, take_backup
from simulator.fleet import FleetOptions, SimulatedFleet

OS_PW = "drf-Os-pw-3"
APP_PW = "drf-App-pw-3"


@pytest.fixture()
def fleet(tmp_path) -> Iterator[SimulatedFleet]:
    opts = FleetOptions(
        clusters=1,
        nodes=2,
        username="certops",
        password=OS_PW,
        app_username="app",
        app_password=APP_PW,
        version="15.0",
        cli_banner_seconds=0.0,
        drf_backup_seconds=1.5,
        state_dir=tmp_path / "sim",
    )
    with SimulatedFleet(opts) as f:
        yield f


@pytest.fixture()
def inventory(fleet: SimulatedFleet, monkeypatch: pytest.MonkeyPatch) -> Inventory:
    monkeypatch.setenv("CUCM_SIM_OS_PASSWORD", OS_PW)
    monkeypatch.setenv("CUCM_SIM_APP_PASSWORD", APP_PW)
    return Inventory.model_validate(fleet.inventory_dict())


def _take(fleet: SimulatedFleet, inventory: Inventory, on_said: Callable[[str], None] | None = None, **cfg: object):
    pub = fleet.cluster("c1").publisher.fqdn
    said: list[str] = []

    def log(line: str) -> None:
        said.append(line)
        if on_said is not None:
            on_said(line)

    with CucmNode.from_inventory(inventory, "c1", pub) as node:
        out = take_backup(
            node,
            cluster="c1",
            units=["TVS", "CallManager"],
            cfg=DrfBackupConfig(**{"device": "NETWORK_BACKUP", "poll_seconds": 0.1, **cfg}),
            log=log,
        )
    return out, said


def test_a_backup_to_the_configured_device_is_started_over_the_cli_and_followed_until_success(fleet, inventory):
    out, said = _take(fleet, inventory, features=["UCM", "CDR_CAR"])
    assert out.status == "taken" and not out.needs_person
    (job,) = fleet.cluster("c1").drf_backups
    assert job.device == "NETWORK_BACKUP" and job.features == ("UCM", "CDR_CAR") and not job.running
    assert out.tar == job.tar and out.tar in out.text and "Status SUCCESS" in out.text
    assert any("utils disaster_recovery backup network UCM,CDR_CAR NETWORK_BACKUP" in s for s in said)
    assert any("waiting for the DRF backup to NETWORK_BACKUP" in s for s in said)


def test_an_unknown_backup_device_is_a_plain_failure_that_says_to_take_one_by_hand(fleet, inventory):
    out, _ = _take(fleet, inventory, device="NO_SUCH_NAS")
    assert out.status == "failed" and out.needs_person
    assert "NO_SUCH_NAS does not exist" in out.text and "Take one by hand now" in out.text
    assert "unlocking every phone by hand" in out.text
    assert fleet.cluster("c1").drf_backups == []


def test_a_backup_that_ends_in_error_is_not_reported_as_taken(fleet, inventory):
    fleet.cluster("c1").drf_backup_result = "ERROR"
    out, _ = _take(fleet, inventory)
    assert out.status == "failed"
    assert "ended with Status ERROR" in out.text


def test_a_backup_still_running_at_the_bound_is_a_failure_that_says_it_may_still_end_well(fleet, inventory):
    fleet.options.drf_backup_seconds = 600.0
    try:
        out, _ = _take(fleet, inventory, timeout_minutes=0.02)
    finally:
        fleet.cluster("c1").stop_drf()
    assert out.status == "failed"
    assert "still running after" in out.text and "utils disaster_recovery status backup" in out.text


def test_a_restore_already_running_is_waited_out_before_the_backup_starts(fleet, inventory):
    # the restore runs until the take has said it waits for it: however slow the machine, it is seen running
    fleet.set_fault("drf-restore", cluster="c1", seconds=3600.0)

    def end_restore_once_waited_for(line: str) -> None:
        if "waiting for the DRF job already running to end" in line:
            fleet.cluster("c1").stop_drf()

    out, said = _take(fleet, inventory, on_said=end_restore_once_waited_for)
    assert out.status == "taken"
    events = [e["operation"] for e in fleet.events()]
    assert events.index("drf_restore_finished") < events.index("drf_backup_requested")
    assert any("waiting for the DRF job already running to end" in s for s in said)


def test_without_a_device_the_notice_says_a_backup_is_due_now_and_why():
    out = backup_due("c1", ["tomcat"])
    assert out.status == "due" and out.needs_person
    assert "A DRF backup of cluster c1 is due NOW" in out.text and "unlocking every phone by hand" in out.text
    assert "clusters[].drf_backup.device" in out.text
