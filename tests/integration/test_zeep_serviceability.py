"""A client generated from Cisco's WSDL (zeep, strict) works against the simulator unchanged.

What a user of a WSDL-generated tool would do: build zeep from Cisco's ControlCenterServices /
RISService70 WSDL file, point the service at a simulated node over verified HTTPS with the
application user, and read service states and phone registrations. zeep in strict mode refuses
any response element out of Cisco's sequence, so these tests fail on a simulator answer that only
looks right.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zeep
from zeep.proxy import ServiceProxy

from simulator.cisco_schemas import serviceability_wsdl
from simulator.fleet import SimulatedFleet, SimulatedNode
from tests.fixtures.cisco_schemas import cisco_zeep_service
from tests.fixtures.simulator import sim_options

PHONES = 26
ZeepFactory = Callable[..., ServiceProxy]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    opts = sim_options(
        nodes=3,
        phones_per_cluster=PHONES,
        state_dir=tmp_path_factory.mktemp("zeep-svc"),
        ris_rate_limit=1000,
        restart_seconds=1.0,  # still under way when the restart answer is built, even on a busy machine
    )
    with SimulatedFleet(opts) as f:
        yield f


def node(fleet: SimulatedFleet, name: str = "cucm-pub") -> SimulatedNode:
    return fleet.node(f"{name}.c1.certops.test")


def control_center(cisco_zeep: ZeepFactory, fleet: SimulatedFleet, name: str = "cucm-pub") -> ServiceProxy:
    return cisco_zeep(fleet, node(fleet, name), serviceability_wsdl("ControlCenterServices"))


def risport(cisco_zeep: ZeepFactory, fleet: SimulatedFleet, name: str = "cucm-pub") -> ServiceProxy:
    return cisco_zeep(fleet, node(fleet, name), serviceability_wsdl("RISService70"))


def criteria(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "MaxReturnedDevices": 1000,
        "DeviceClass": "Phone",
        "Model": 255,
        "Status": "Any",
        "NodeName": "",
        "SelectBy": "Name",
        "SelectItems": {"item": [{"Item": "*"}]},
        "Protocol": "Any",
        "DownloadStatus": "Any",
    }
    base.update(overrides)
    return base


def devices(result: Any) -> list[tuple[str, Any]]:
    """(CM node, device) pairs of a selectCmDevice result, as zeep objects."""
    nodes = result.SelectCmDeviceResult.CmNodes
    out = []
    for cm in nodes.item if nodes is not None else []:
        for dev in cm.CmDevices.item if cm.CmDevices is not None else []:
            out.append((cm.Name, dev))
    return out


# ------------------------------------------------------------------------------------- Control Center


def test_zeep_reads_the_status_of_named_services(cisco_zeep: ZeepFactory, fleet: SimulatedFleet) -> None:
    cc = control_center(cisco_zeep, fleet)
    reply = cc.soapGetServiceStatus(ServiceStatus=["Cisco CallManager", "Cisco DirSync"])
    states = {i.ServiceName: (i.ServiceStatus, (i.ReasonCodeString or "").strip()) for i in reply.ServiceInfoList.item}
    assert states == {
        "Cisco CallManager": ("Started", ""),
        "Cisco DirSync": ("Stopped", "Service Not Activated"),
    }
    assert reply.ReturnCode._value_1 == "0"


def test_zeep_lists_every_service_with_one_empty_service_status(cisco_zeep: ZeepFactory, fleet: SimulatedFleet) -> None:
    reply = control_center(cisco_zeep, fleet, "imp1").soapGetServiceStatus(ServiceStatus=[""])
    names = {i.ServiceName for i in reply.ServiceInfoList.item}
    assert {"Cisco Tomcat", "Cisco Presence Engine", "Cisco XCP Router"} <= names
    assert "Cisco CallManager" not in names  # an IM&P node
    started = [i for i in reply.ServiceInfoList.item if i.ServiceStatus == "Started"]
    assert started and all(i.UpTime >= 0 and i.StartTime for i in started)


def test_zeep_restarts_a_service_and_sees_it_come_back(cisco_zeep: ZeepFactory, fleet: SimulatedFleet) -> None:
    sub = node(fleet, "cucm-sub1")
    cc = control_center(cisco_zeep, fleet, "cucm-sub1")
    reply = cc.soapDoControlServices(
        ControlServiceRequest={"NodeName": sub.fqdn, "ControlType": "Restart", "ServiceList": {"item": ["Cisco Tftp"]}}
    )
    (item,) = reply.ServiceInfoList.item
    assert item.ServiceName == "Cisco Tftp"
    assert item.ServiceStatus in ("Stopped", "Starting")
    assert item.ReasonCodeString == "Commanded Out of Service"
    # the restart ends on the simulator's own clock; wait for it as a user's script would
    deadline = time.monotonic() + 60  # a bound on a hang, not a measure
    seen = [item.ServiceStatus]
    while seen[-1] != "Started" and time.monotonic() < deadline:
        time.sleep(0.05)
        seen.append(cc.soapGetServiceStatus(ServiceStatus=["Cisco Tftp"]).ServiceInfoList.item[0].ServiceStatus)
    assert seen[-1] == "Started"
    finished = [e for e in fleet.events(operation="service_restart_finished") if e["node"] == sub.fqdn]
    assert [e["service"] for e in finished] == ["Cisco Tftp"]


def test_zeep_sees_a_refused_restart_as_a_soap_fault(cisco_zeep: ZeepFactory, fleet: SimulatedFleet) -> None:
    pub = node(fleet)
    cc = control_center(cisco_zeep, fleet)
    with pytest.raises(zeep.exceptions.Fault, match="utils service restart Cisco Tomcat"):
        cc.soapDoControlServices(
            ControlServiceRequest={
                "NodeName": pub.fqdn,
                "ControlType": "Restart",
                "ServiceList": {"item": ["Cisco Tomcat"]},
            }
        )


def test_zeep_reads_the_product_information(cisco_zeep: ZeepFactory, fleet: SimulatedFleet) -> None:
    info = control_center(cisco_zeep, fleet).getProductInformationList(ServiceInfo="")
    assert info.ActiveServerVersion == fleet.cluster("c1").full_version
    assert info.PrimaryNode == "cucm-pub.c1.certops.test"
    (product,) = info.Products.item
    assert (product.ProductName, product.ProductVersion) == (
        "Cisco Unified Communications Manager",
        fleet.cluster("c1").full_version,
    )
    assert "Cisco CallManager" in {s.ServiceName for s in info.Services.item}


def test_zeep_reads_the_static_service_list(cisco_zeep: ZeepFactory, fleet: SimulatedFleet) -> None:
    # soapGetStaticServiceListReturn has one child, Services: zeep hands back that array itself.
    services = control_center(cisco_zeep, fleet).soapGetStaticServiceList(ServiceInformationResponse="")
    by_name = {s.ServiceName: s for s in services.item}
    assert by_name["Cisco Tomcat"].Deployable is False
    assert by_name["Cisco Tftp"].Deployable is True and by_name["Cisco Tftp"].ServiceType == "Service"
    assert "Cisco HAProxy" not in by_name


# ------------------------------------------------------------------------------------- RisPort70


def test_zeep_counts_registered_phones_over_every_page(cisco_zeep: ZeepFactory, fleet: SimulatedFleet) -> None:
    ris = risport(cisco_zeep, fleet, "cucm-sub1")
    state, pages = "", 0
    latest: dict[str, Any] = {}
    while True:
        result = ris.selectCmDevice(StateInfo=state, CmSelectionCriteria=criteria(MaxReturnedDevices=10))
        pages += 1
        for _cm, dev in devices(result):
            seen = latest.get(dev.Name)
            if seen is None or dev.TimeStamp >= seen.TimeStamp:
                latest[dev.Name] = dev
        state = result.StateInfo
        if not state:
            break
    assert pages == -(-result.SelectCmDeviceResult.TotalDevicesFound // 10)
    assert len(latest) == PHONES
    assert sum(1 for d in latest.values() if d.Status == "Registered") == fleet.cluster("c1").registered_count()
    sample = next(iter(latest.values()))
    assert isinstance(sample.Model, int) and isinstance(sample.Product, int)
    assert sample.IPAddress.item[0].IP.startswith("10.")
    assert sample.LinesStatus.item[0].DirectoryNumber == sample.DirNumber.split("-")[0]


def test_zeep_filters_phones_by_status(cisco_zeep: ZeepFactory, fleet: SimulatedFleet) -> None:
    result = risport(cisco_zeep, fleet).selectCmDevice(
        StateInfo="", CmSelectionCriteria=criteria(Status="UnRegistered")
    )
    stale = devices(result)
    assert stale, "old failover records are UnRegistered"
    assert {d.Status for _cm, d in stale} == {"UnRegistered"}


def test_zeep_select_cm_device_ext_returns_each_named_phone_once(
    cisco_zeep: ZeepFactory, fleet: SimulatedFleet
) -> None:
    names = [p.name for p in fleet.cluster("c1").phones[:12]]
    result = risport(cisco_zeep, fleet).selectCmDeviceExt(
        StateInfo="",
        CmSelectionCriteria=criteria(MaxReturnedDevices=100, SelectItems={"item": [{"Item": n} for n in names]}),
    )
    got = [d.Name for _cm, d in devices(result)]
    assert sorted(got) == sorted(names)  # duplicates under other CM nodes are gone
    assert {d.Status for _cm, d in devices(result)} == {"Registered"}


def test_zeep_built_from_the_served_wsdl_works_too(fleet: SimulatedFleet) -> None:
    # A user may point zeep at https://<node>:8443/...?wsdl instead of a file.
    sub = node(fleet, "cucm-sub1")
    client, _service, session = cisco_zeep_service(fleet, sub, serviceability_wsdl("RISService70"))
    try:
        served = zeep.Client(  # type: ignore[no-untyped-call]
            f"https://127.0.0.1:{sub.soap_port}/realtimeservice2/services/RISService70?wsdl",
            settings=zeep.Settings(strict=True),
            transport=client.transport,
        )
        (port,) = [p for s in served.wsdl.services.values() for p in s.ports.values()]
        assert (
            port.binding_options["address"]
            == f"https://{sub.fqdn}:{sub.soap_port}/realtimeservice2/services/RISService70"
        )
        ris = served.create_service(  # type: ignore[no-untyped-call]
            next(iter(served.wsdl.bindings)),
            f"https://127.0.0.1:{sub.soap_port}/realtimeservice2/services/RISService70",
        )
        result = ris.selectCmDevice(StateInfo="", CmSelectionCriteria=criteria(MaxReturnedDevices=5))
    finally:
        session.close()
    assert len(devices(result)) == 5 and result.StateInfo
