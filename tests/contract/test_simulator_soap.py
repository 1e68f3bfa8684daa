"""Contract: Control Center Services, RisPort70 and AXL of the simulator, with raw httpx and raw XML."""

from __future__ import annotations

import datetime as dt
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator

import httpx
import pytest

from simulator.fleet import SimulatedFleet, SimulatedNode
from tests.fixtures.simulator import (
    SIM_APP_PASSWORD,
    SIM_APP_USER,
    SIM_OS_PASSWORD,
    SIM_OS_USER,
    restarts_ended,
    sim_https,
    sim_options,
    wait_restart_ended,
)

CC = "/controlcenterservice2/services/ControlCenterServices"
RIS = "/realtimeservice2/services/RISService70"
AST = "http://schemas.cisco.com/ast/soap"
APP = (SIM_APP_USER, SIM_APP_PASSWORD)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    opts = sim_options(
        nodes=4,
        phones_per_cluster=25,
        state_dir=tmp_path_factory.mktemp("soap"),
        ris_rate_limit=1000,
        restart_seconds=1.0,
    )
    with SimulatedFleet(opts) as f:
        yield f


def envelope(body: str, ns: str = AST) -> str:
    return (
        f'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns="{ns}">'
        f"<soapenv:Header/><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )


def post(
    fleet: SimulatedFleet, node: SimulatedNode, path: str, body: str, action: str, auth: tuple[str, str] = APP
) -> httpx.Response:
    with sim_https(fleet, node) as c:
        return c.post(
            f"https://127.0.0.1:{node.soap_port}{path}",
            content=envelope(body) if "AXL" not in action else body,
            headers={"SOAPAction": action, "Content-Type": "text/xml; charset=utf-8"},
            auth=auth,
        )


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def find_all(xml: str, name: str) -> list[ET.Element]:
    return [e for e in ET.fromstring(xml).iter() if local(e.tag) == name]


def text_of(el: ET.Element, name: str) -> str:
    return next(((c.text or "") for c in el.iter() if local(c.tag) == name), "")


def fault_string(r: httpx.Response) -> str:
    return text_of(ET.fromstring(r.text), "faultstring")


# --------------------------------------------------------------------------------------------- Control Center


def status(fleet: SimulatedFleet, node: SimulatedNode, *services: str) -> dict[str, tuple[str, str]]:
    # Cisco's WSDL: one plain-string ServiceStatus per service; one empty ServiceStatus for all.
    names = "".join(f"<ns:ServiceStatus>{s}</ns:ServiceStatus>" for s in services) or "<ns:ServiceStatus/>"
    r = post(fleet, node, CC, f"<ns:soapGetServiceStatus>{names}</ns:soapGetServiceStatus>", "soapGetServiceStatus")
    assert r.status_code == 200, r.text
    return {
        text_of(i, "ServiceName"): (text_of(i, "ServiceStatus"), text_of(i, "ReasonCodeString").strip())
        for i in find_all(r.text, "item")
        if text_of(i, "ServiceName")
    }


def control(
    fleet: SimulatedFleet, node: SimulatedNode, action: str, *services: str, node_name: str | None = None
) -> httpx.Response:
    items = "".join(f"<ns:item>{s}</ns:item>" for s in services)
    body = (
        "<ns:soapDoControlServices><ns:ControlServiceRequest>"
        f"<ns:NodeName>{node_name or node.fqdn}</ns:NodeName><ns:ControlType>{action}</ns:ControlType>"
        f"<ns:ServiceList>{items}</ns:ServiceList></ns:ControlServiceRequest></ns:soapDoControlServices>"
    )
    return post(fleet, node, CC, body, "soapDoControlServices")


def test_service_status_lists_realistic_services_per_role(fleet: SimulatedFleet) -> None:
    pub = status(fleet, fleet.node("cucm-pub.c1.certops.test"))
    imp = status(fleet, fleet.node("imp1.c1.certops.test"))
    sub2 = status(fleet, fleet.node("cucm-sub2.c1.certops.test"))
    assert pub["Cisco CallManager"] == ("Started", "")
    assert pub["Cisco DirSync"] == ("Stopped", "Service Not Activated")
    assert "Cisco DRF Master" in pub and "Cisco DRF Master" not in sub2
    assert "Cisco CallManager" not in imp and "Cisco Tftp" not in imp and "Cisco Trust Verification Service" not in imp
    assert sub2["Cisco CTIManager"] == ("Stopped", "Service Not Activated")
    assert "Cisco HAProxy" not in pub  # platform service: CLI only [INF]


def test_service_status_for_named_services_answers_exactly_those(fleet: SimulatedFleet) -> None:
    node = fleet.node("cucm-pub.c1.certops.test")
    assert status(fleet, node, "Cisco Tftp", "Cisco DirSync") == {
        "Cisco Tftp": ("Started", ""),
        "Cisco DirSync": ("Stopped", "Service Not Activated"),
    }


def test_control_center_wants_the_application_user_not_the_os_admin(fleet: SimulatedFleet) -> None:
    node = fleet.node("cucm-pub.c1.certops.test")
    r = post(fleet, node, CC, "<ns:soapGetServiceStatus/>", "soapGetServiceStatus", auth=(SIM_OS_USER, SIM_OS_PASSWORD))
    assert r.status_code == 401


def test_soap_restart_goes_stopped_then_started(fleet: SimulatedFleet) -> None:
    node = fleet.node("cucm-sub1.c1.certops.test")
    r = control(fleet, node, "Restart", "Cisco Tftp")
    assert r.status_code == 200, r.text
    # the answer's own status is the first seen: a later look may come after the restart on a busy machine
    seen = [text_of(find_all(r.text, "item")[0], "ServiceStatus")]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        seen.append(status(fleet, node, "Cisco Tftp")["Cisco Tftp"][0])
        if seen[-1] == "Started":
            break
        time.sleep(0.03)
    assert seen[0] in ("Stopped", "Starting")
    assert seen[-1] == "Started"
    ops = [(e["operation"], e["service"]) for e in fleet.events() if e["node"] == node.fqdn]
    assert ops.index(("service_restart_started", "Cisco Tftp")) < ops.index(("service_restart_finished", "Cisco Tftp"))


def test_tomcat_cannot_be_restarted_through_control_center(fleet: SimulatedFleet) -> None:
    r = control(fleet, fleet.node("cucm-pub.c1.certops.test"), "Restart", "Cisco Tomcat")
    assert r.status_code == 500
    assert "utils service restart Cisco Tomcat" in fault_string(r)


def test_haproxy_is_not_in_the_control_center_list(fleet: SimulatedFleet) -> None:
    r = control(fleet, fleet.node("cucm-pub.c1.certops.test"), "Restart", "Cisco HAProxy")
    assert r.status_code == 500
    assert "Cisco HAProxy" in fault_string(r)


def test_not_activated_service_cannot_be_restarted(fleet: SimulatedFleet) -> None:
    r = control(fleet, fleet.node("cucm-sub2.c1.certops.test"), "Restart", "Cisco CTIManager")
    assert r.status_code == 500
    assert "Not Activated" in fault_string(r)


def test_control_refused_for_another_nodes_name(fleet: SimulatedFleet) -> None:
    r = control(
        fleet, fleet.node("cucm-sub1.c1.certops.test"), "Restart", "Cisco Tftp", node_name="cucm-pub.c1.certops.test"
    )
    assert r.status_code == 500
    assert "local node" in fault_string(r)


def test_restart_fails_fault_leaves_the_service_stopped_with_a_reason(fleet: SimulatedFleet) -> None:
    node = fleet.node("cucm-pub.c1.certops.test")
    tvs = "Cisco Trust Verification Service"
    fleet.set_fault("restart-fails", node=node.fqdn, service=tvs, reason="TVS failed to start")
    try:
        before = len(restarts_ended(fleet, node.fqdn, tvs))
        assert control(fleet, node, "Restart", tvs).status_code == 200
        wait_restart_ended(fleet, node.fqdn, tvs, before)
        assert status(fleet, node, "Cisco Trust Verification Service")["Cisco Trust Verification Service"] == (
            "Stopped",
            "TVS failed to start",
        )
        time.sleep(0.5)  # and it stays so
        assert (
            status(fleet, node, "Cisco Trust Verification Service")["Cisco Trust Verification Service"][0] == "Stopped"
        )
    finally:
        fleet.clear_faults()
    before = len(restarts_ended(fleet, node.fqdn, tvs))
    assert control(fleet, node, "Restart", tvs).status_code == 200
    wait_restart_ended(fleet, node.fqdn, tvs, before)
    assert status(fleet, node, tvs)[tvs][0] == "Started"


# --------------------------------------------------------------------------------------------- RisPort70


def select_cm_device(
    fleet: SimulatedFleet, node: SimulatedNode, *, max_devices: int = 1000, state: str = "", status: str = "Any"
) -> httpx.Response:
    body = (
        f"<ns:selectCmDevice><ns:StateInfo>{state}</ns:StateInfo><ns:CmSelectionCriteria>"
        f"<ns:MaxReturnedDevices>{max_devices}</ns:MaxReturnedDevices><ns:DeviceClass>Phone</ns:DeviceClass>"
        f"<ns:Model>255</ns:Model><ns:Status>{status}</ns:Status><ns:NodeName></ns:NodeName><ns:SelectBy>Name</ns:SelectBy>"
        "<ns:SelectItems><ns:item><ns:Item>*</ns:Item></ns:item></ns:SelectItems>"
        "<ns:Protocol>Any</ns:Protocol><ns:DownloadStatus>Any</ns:DownloadStatus></ns:CmSelectionCriteria></ns:selectCmDevice>"
    )
    return post(fleet, node, RIS, body, "selectCmDevice")


def devices(xml: str) -> list[tuple[str, str, str, int]]:
    out = []
    for cm in find_all(xml, "CmNodes")[0]:
        node_name = next(c.text for c in cm if local(c.tag) == "Name")
        for dev_list in (c for c in cm if local(c.tag) == "CmDevices"):
            for d in dev_list:
                out.append((node_name or "", text_of(d, "Name"), text_of(d, "Status"), int(text_of(d, "TimeStamp"))))
    return out


def all_pages(
    fleet: SimulatedFleet, node: SimulatedNode, page: int
) -> tuple[list[tuple[str, str, str, int]], int, int]:
    state, got, calls, total = "", [], 0, -1
    while True:
        r = select_cm_device(fleet, node, max_devices=page, state=state)
        assert r.status_code == 200, r.text
        calls += 1
        got += devices(r.text)
        total = int(text_of(ET.fromstring(r.text), "TotalDevicesFound"))
        state = text_of(ET.fromstring(r.text), "StateInfo")
        if not state:
            return got, total, calls


def test_ris_pages_with_state_info_and_includes_failover_duplicates(fleet: SimulatedFleet) -> None:
    node = fleet.node("cucm-sub1.c1.certops.test")
    got, total, calls = all_pages(fleet, node, page=10)
    assert len(got) == total and calls == -(-total // 10)
    names = [g[1] for g in got]
    duplicated = {n for n in names if names.count(n) > 1}
    assert duplicated, "some phones must appear under two CM nodes (old failover record)"
    for name in duplicated:
        entries = sorted((g for g in got if g[1] == name), key=lambda g: g[3])
        assert entries[-1][2] == "Registered" and entries[0][2] == "UnRegistered"
    assert len(set(names)) == 25


def test_ris_max_returned_devices_is_capped_at_1000(fleet: SimulatedFleet) -> None:
    r = select_cm_device(fleet, fleet.node("cucm-pub.c1.certops.test"), max_devices=5000)
    assert r.status_code == 200
    assert len(devices(r.text)) == int(text_of(ET.fromstring(r.text), "TotalDevicesFound"))


def test_ris_rate_limit_is_cluster_wide_and_answers_ratecontrol(sim_factory: Callable[..., SimulatedFleet]) -> None:
    # a 6 s window: the four requests fall into it however busy the machine (a 3 s one was close)
    small = sim_factory(nodes=3, ris_rate_limit=3, ris_rate_window=6.0, phones_per_cluster=5)
    pub, sub = small.node("cucm-pub.c1.certops.test"), small.node("cucm-sub1.c1.certops.test")
    codes = [select_cm_device(small, n).status_code for n in (pub, sub, pub)]
    over = select_cm_device(small, sub)
    assert codes == [200, 200, 200]
    assert over.status_code == 500
    assert text_of(ET.fromstring(over.text), "faultcode").endswith("Server.RateControl")
    assert "Current allowed rate for realtime information is 3 requests per minute" in fault_string(over)
    time.sleep(6.05)  # the window has passed, however long the requests took: room again
    assert select_cm_device(small, sub).status_code == 200


def test_ris_is_not_served_on_imp(fleet: SimulatedFleet) -> None:
    assert select_cm_device(fleet, fleet.node("imp1.c1.certops.test")).status_code == 404


# --------------------------------------------------------------------------------------------- AXL


def axl(
    fleet: SimulatedFleet,
    node: SimulatedNode,
    op: str,
    inner: str,
    version: str = "15.0",
    ns_version: str | None = None,
) -> httpx.Response:
    ns = f"http://www.cisco.com/AXL/API/{ns_version or version}"
    body = (
        f'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns="{ns}">'
        f"<soapenv:Body><ns:{op}>{inner}</ns:{op}></soapenv:Body></soapenv:Envelope>"
    )
    with sim_https(fleet, node) as c:
        return c.post(
            f"https://127.0.0.1:{node.soap_port}/axl/",
            content=body,
            headers={"SOAPAction": f'"CUCM:DB ver={version} {op}"', "Content-Type": "text/xml"},
            auth=APP,
        )


def sql(fleet: SimulatedFleet, query: str) -> list[dict[str, str]]:
    r = axl(fleet, fleet.node("cucm-pub.c1.certops.test"), "executeSQLQuery", f"<sql>{query}</sql>")
    assert r.status_code == 200, r.text
    return [{local(c.tag): c.text or "" for c in row} for row in find_all(r.text, "row")]


def test_axl_security_mode_query_follows_mixed_mode(fleet: SimulatedFleet) -> None:
    q = "select paramname, paramvalue from processconfig where paramname = 'ClusterSecurityMode'"
    assert sql(fleet, q) == [{"paramname": "ClusterSecurityMode", "paramvalue": "0"}]
    fleet.set_fault("mixed-mode")
    try:
        assert sql(fleet, q) == [{"paramname": "ClusterSecurityMode", "paramvalue": "1"}]
    finally:
        fleet.clear_faults()


def test_axl_sso_query_lists_every_node(fleet: SimulatedFleet) -> None:
    fleet.set_fault("sso")
    try:
        rows = sql(fleet, "select name, tkssomode from processnode")
    finally:
        fleet.clear_faults()
    nodes = {r["name"]: r["tkssomode"] for r in rows if r["name"] != "EnterpriseWideData"}
    assert set(nodes) == {n.fqdn for n in fleet.cluster("c1").nodes}
    assert set(nodes.values()) == {"2"}
    assert {r["tkssomode"] for r in sql(fleet, "select name, tkssomode from processnode")} == {"0"}


def test_axl_older_supported_version_is_answered_and_unsupported_one_refused_with_599(fleet: SimulatedFleet) -> None:
    # Cisco's AXL versioning: CUCM 15 also accepts the 14.0 and 12.x schemas.
    r = axl(
        fleet,
        fleet.node("cucm-pub.c1.certops.test"),
        "executeSQLQuery",
        "<sql>select name from device</sql>",
        version="14.0",
    )
    assert r.status_code == 200, r.text
    assert (
        find_all(r.text, "executeSQLQueryResponse")[0].tag
        == "{http://www.cisco.com/AXL/API/14.0}executeSQLQueryResponse"
    )
    r = axl(
        fleet,
        fleet.node("cucm-pub.c1.certops.test"),
        "executeSQLQuery",
        "<sql>select name from device</sql>",
        version="11.0",
    )
    assert r.status_code == 599
    assert "Incorrect axl version. Supported axl versions are 12.x, 14.0 and 15.0" in r.text
    # SOAPAction and body namespace naming different versions: a fault.
    r = axl(
        fleet,
        fleet.node("cucm-pub.c1.certops.test"),
        "executeSQLQuery",
        "<sql>select name from device</sql>",
        ns_version="12.5",
    )
    assert r.status_code == 500


def test_axl_is_served_by_the_publisher_only(fleet: SimulatedFleet) -> None:
    r = axl(fleet, fleet.node("cucm-sub1.c1.certops.test"), "executeSQLQuery", "<sql>select name from device</sql>")
    assert r.status_code == 404


def test_axl_lists_phones_by_sql_and_listphone(fleet: SimulatedFleet) -> None:
    by_sql = [r["name"] for r in sql(fleet, "select name, description from device where tkclass = 1")]
    r = axl(
        fleet,
        fleet.node("cucm-pub.c1.certops.test"),
        "listPhone",
        "<searchCriteria><name>%</name></searchCriteria><returnedTags><name/><model/></returnedTags><skip>5</skip><first>10</first>",
    )
    assert r.status_code == 200
    listed = [text_of(p, "name") for p in find_all(r.text, "phone")]
    assert len(by_sql) == 25
    assert listed == by_sql[5:15]


def registered(fleet: SimulatedFleet, name: str) -> str:
    phone = fleet.cluster("c1").phone(name)
    assert phone is not None
    return phone.status


def test_reset_phone_unregisters_then_reregisters(fleet: SimulatedFleet) -> None:
    name = fleet.cluster("c1").phones[0].name
    r = axl(
        fleet,
        fleet.node("cucm-pub.c1.certops.test"),
        "doDeviceReset",
        f"<deviceName>{name}</deviceName><isHardReset>true</isHardReset>",
    )
    assert r.status_code == 200, r.text
    # judged by the simulator's record: a look at the phone's status could come after its 0.5 s away
    deadline = time.monotonic() + 60  # a bound on a hang, not a measure
    while registered(fleet, name) != "Registered" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert registered(fleet, name) == "Registered"
    mine = [e for e in fleet.events() if (e["detail"] or {}).get("phone") == name]
    assert [e["operation"] for e in mine[-2:]] == ["phone_reset", "phone_registered"]
    reset, back = (dt.datetime.fromisoformat(e["time"].replace("Z", "+00:00")) for e in mine[-2:])
    assert (back - reset).total_seconds() >= fleet.options.reregister_seconds - 0.01, "it was away, then back"


def test_phones_never_reregister_fault(fleet: SimulatedFleet) -> None:
    name = fleet.cluster("c1").phones[1].name
    fleet.set_fault("phones-never-reregister")
    try:
        assert (
            axl(fleet, fleet.node("cucm-pub.c1.certops.test"), "resetPhone", f"<name>{name}</name>").status_code == 200
        )
        time.sleep(fleet.options.reregister_seconds + 0.4)
        assert registered(fleet, name) == "UnRegistered"
        r = select_cm_device(fleet, fleet.node("cucm-pub.c1.certops.test"), status="UnRegistered")
        assert name in [d[1] for d in devices(r.text)]
    finally:
        fleet.clear_faults()


def test_reset_of_unknown_phone_is_an_axl_fault(fleet: SimulatedFleet) -> None:
    r = axl(fleet, fleet.node("cucm-pub.c1.certops.test"), "doDeviceReset", "<deviceName>SEPDEADBEEF0000</deviceName>")
    assert r.status_code == 500
    assert "was not found" in fault_string(r)


def test_static_service_list_and_product_information(fleet: SimulatedFleet) -> None:
    node = fleet.node("cucm-pub.c1.certops.test")
    r = post(fleet, node, CC, "<ns:soapGetStaticServiceList/>", "soapGetStaticServiceList")
    names = [text_of(i, "ServiceName") for i in find_all(r.text, "item")]
    assert "Cisco Tomcat" in names and "Cisco HAProxy" not in names
    r = post(fleet, node, CC, "<ns:getProductInformationList/>", "getProductInformationList")
    assert text_of(ET.fromstring(r.text), "ActiveServerVersion") == "15.0.1.11900-40"


def test_select_cm_device_ext_returns_no_duplicates(fleet: SimulatedFleet) -> None:
    names = " ".join(f"<ns:item><ns:Item>{p.name}</ns:Item></ns:item>" for p in fleet.cluster("c1").phones[:12])
    body = (
        "<ns:selectCmDeviceExt><ns:StateInfo/><ns:CmSelectionCriteria><ns:MaxReturnedDevices>100</ns:MaxReturnedDevices>"
        "<ns:DeviceClass>Phone</ns:DeviceClass><ns:Status>Any</ns:Status><ns:SelectBy>Name</ns:SelectBy>"
        f"<ns:SelectItems>{names}</ns:SelectItems></ns:CmSelectionCriteria></ns:selectCmDeviceExt>"
    )
    r = post(fleet, fleet.node("cucm-pub.c1.certops.test"), RIS, body, "selectCmDeviceExt")
    assert r.status_code == 200, r.text
    got = [d[1] for d in devices(r.text)]
    assert sorted(got) == sorted(p.name for p in fleet.cluster("c1").phones[:12])


def test_axl_get_ccm_version(fleet: SimulatedFleet) -> None:
    r = axl(fleet, fleet.node("cucm-pub.c1.certops.test"), "getCCMVersion", "")
    assert text_of(ET.fromstring(r.text), "version") == "15.0.1.11900-40"


def test_device_pool_reset_resets_every_phone(sim_factory: Callable[..., SimulatedFleet]) -> None:
    small = sim_factory(nodes=2, phones_per_cluster=6, reregister_seconds=0.3)
    pub = small.node("cucm-pub.c1.certops.test")
    r = axl(small, pub, "resetDevicePool", "<name>Default</name>")
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 15
    while small.cluster("c1").registered_count() < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert small.cluster("c1").registered_count() == 6
    # judged by the simulator's record, not by a look timed inside the 0.3 s the phones stay away
    seen = [(e["operation"], e["detail"]["phone"]) for e in small.events() if (e["detail"] or {}).get("phone")]
    reset = {p for op, p in seen if op == "phone_reset"}
    assert len(reset) == 6 and len(small.events(operation="phone_reset")) == 6
    for phone in reset:  # each phone registered again after its reset
        assert ("phone_registered", phone) in seen[seen.index(("phone_reset", phone)) :]
    assert axl(small, pub, "resetDevicePool", "<name>Nope</name>").status_code == 500


def test_enterprise_parameters_reset_is_recorded_as_the_dangerous_call(
    sim_factory: Callable[..., SimulatedFleet],
) -> None:
    small = sim_factory(nodes=1, phones_per_cluster=2)
    assert axl(small, small.node("cucm-pub.c1.certops.test"), "doEnterpriseParametersReset", "").status_code == 200
    assert [e["operation"] for e in small.events(cluster="c1")][-1] == "enterprise_parameters_set_to_default"
    assert small.cluster("c1").registered_count() == 2  # it is not a phone reset
