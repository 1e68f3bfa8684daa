"""The simulator's phones reset themselves after a TVS/CAPF/CallManager upload when the parameter is automatic.

Cisco's Security Guides: "Phone Interaction on Certificate Update" (default automatic) makes the
phones reset when a TVS, CAPF or CallManager/TFTP certificate changes. The event log tells such a
reset (``phone_auto_reset``) from one somebody asked for over AXL (``phone_reset``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest

from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import SIM_OS_PASSWORD, SIM_OS_USER, SimTestCa, sim_https, sim_options

API = "/platformcom/api/v1/certmgr/config"
AUTH = (SIM_OS_USER, SIM_OS_PASSWORD)
PUB, SUB = "cucm-pub.c1.certops.test", "cucm-sub1.c1.certops.test"


@pytest.fixture()
def fleet(tmp_path) -> Iterator[SimulatedFleet]:
    opts = sim_options(
        nodes=3,
        version="15.0",
        phones_per_cluster=6,
        reregister_seconds=0.1,
        auto_reset_delay_seconds=0.05,
        sip_oauth_phones=2,
        state_dir=tmp_path,
    )
    with SimulatedFleet(opts) as f:
        yield f


@pytest.fixture(scope="module")
def ca() -> SimTestCa:
    return SimTestCa()


def _renew(fleet: SimulatedFleet, ca: SimTestCa, fqdn: str, unit: str) -> None:
    with sim_https(fleet, fleet.node(fqdn)) as c:
        r = c.post(
            f"{API}/trust/certificates",
            auth=AUTH,
            json={"service": [unit], "certificates": [ca.root_pem, ca.intermediate_pem], "description": "test CA"},
        )
        assert r.status_code == 200, r.text
        r = c.post(f"{API}/csr", auth=AUTH, json={"service": unit, "distribution": "this-server"})
        assert r.status_code == 200, r.text
        leaf = ca.sign(str(r.json()["csr"]), sans=[fqdn])
        r = c.post(
            f"{API}/identity/certificates",
            auth=AUTH,
            json={"service": unit, "certificates": [leaf, ca.intermediate_pem]},
        )
        assert r.status_code == 200, r.text


def _until(fn, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not fn():
        assert time.monotonic() < deadline, f"not reached within {timeout} s: {what}"
        time.sleep(0.05)


def _auto(fleet: SimulatedFleet) -> list[dict]:
    return fleet.events(operation="phone_auto_reset", cluster="c1")


def test_a_callmanager_upload_makes_every_phone_reset_itself_and_come_back(fleet, ca):
    c1 = fleet.cluster("c1")
    before = {p.name: p.timestamp for p in c1.phones}
    _renew(fleet, ca, PUB, "CallManager")
    _until(lambda: len(_auto(fleet)) == len(c1.phones), "every phone reset itself")
    _until(lambda: c1.registered_count() == len(c1.phones), "every phone registered again")
    assert {e["detail"]["unit"] for e in _auto(fleet)} == {"CallManager"}
    assert fleet.events(operation="phone_reset") == []  # nobody asked for a reset
    assert all(p.timestamp > before[p.name] for p in c1.phones)  # RisPort70 shows the re-registration


def test_a_tomcat_upload_or_a_manual_cluster_does_not_reset_the_phones(fleet, ca):
    c1 = fleet.cluster("c1")
    _renew(fleet, ca, PUB, "tomcat")
    c1.phone_interaction = "manual"
    _renew(fleet, ca, PUB, "TVS")
    c1.phone_interaction = "automatic"
    _renew(fleet, ca, SUB, "TVS")  # the only change that resets the phones
    _until(lambda: len(_auto(fleet)) == len(c1.phones), "every phone reset itself")
    _until(lambda: c1.registered_count() == len(c1.phones), "every phone registered again")
    assert Counter(e["detail"]["phone"] for e in _auto(fleet)) == Counter(p.name for p in c1.phones)
    assert {(e["detail"]["unit"], e["detail"]["changed_on"]) for e in _auto(fleet)} == {("TVS", SUB)}


def test_phones_not_back_stay_unregistered_until_a_requested_reset(fleet, ca):
    c1 = fleet.cluster("c1")
    fleet.set_fault("phones-not-back", cluster="c1", count=2)
    _renew(fleet, ca, PUB, "CAPF")
    stuck = sorted(p.name for p in c1.phones)[:2]
    _until(lambda: c1.registered_count() == len(c1.phones) - 2, "all but two phones back")
    assert sorted(p.name for p in c1.phones if p.status != "Registered") == stuck
    phone = c1.phone(stuck[0])
    assert phone is not None
    c1.reset_phone(phone)  # what certops does over AXL doDeviceReset
    _until(lambda: phone.status == "Registered", "the reset phone registered again")
    assert [e["detail"]["phone"] for e in fleet.events(operation="phone_reset")] == [stuck[0]]
    assert c1.phone(stuck[1]).status == "UnRegistered"  # type: ignore[union-attr]


def test_the_phones_that_use_sip_oauth_are_named_by_their_security_profile(fleet):
    from simulator.soap import run_sql

    cols, rows = run_sql(
        fleet.cluster("c1"),
        "select d.name from device d, securityprofile s where d.fksecurityprofile = s.pkid "
        "and s.enableoauthauthentication = 't' and d.tkclass = 1",
    )
    assert cols == ["name"]
    assert sorted(r[0] for r in rows) == sorted(p.name for p in fleet.cluster("c1").phones[:2])
