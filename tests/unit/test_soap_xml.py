"""SOAP envelope builders and response parsers (Control Center, RisPort70, AXL)."""
# ruff: noqa: E501  (samples are kept verbatim)

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from certops.cucm import soap_xml
from certops.models import ServiceState
from simulator.cisco_schemas import serviceability_wsdl
from tests.fixtures.cisco_schemas import validate_body

AST = "{http://schemas.cisco.com/ast/soap}"
ENV = "{http://schemas.xmlsoap.org/soap/envelope/}"


def _body_op(xml: bytes) -> ET.Element:
    root = ET.fromstring(xml)
    assert root.tag == f"{ENV}Envelope"
    body = root.find(f"{ENV}Body")
    assert body is not None
    return body[0]


def test_service_status_request_names_each_service_in_its_own_service_status() -> None:
    # Cisco's WSDL: <element maxOccurs="unbounded" name="ServiceStatus" type="xsd:string"/>
    op = _body_op(soap_xml.service_status_request(["Cisco CallManager", "Cisco Tftp"]))
    assert op.tag == f"{AST}soapGetServiceStatus"
    assert [(c.tag, c.text, len(c)) for c in op] == [
        (f"{AST}ServiceStatus", "Cisco CallManager", 0),
        (f"{AST}ServiceStatus", "Cisco Tftp", 0),
    ]
    assert list(op.iter(f"{AST}item")) == []


def test_service_status_request_without_names_asks_for_all_with_one_empty_service_status() -> None:
    empty: list[str] = []
    for names in (None, empty):
        op = _body_op(soap_xml.service_status_request(names))
        assert [(c.tag, c.text, len(c)) for c in op] == [(f"{AST}ServiceStatus", None, 0)]


def test_control_services_request_carries_node_type_and_services() -> None:
    op = _body_op(soap_xml.control_services_request("cucm-sub1", "Restart", ["Cisco Tftp"]))
    req = op.find(f"{AST}ControlServiceRequest")
    assert req is not None
    assert req.findtext(f"{AST}NodeName") == "cucm-sub1"
    assert req.findtext(f"{AST}ControlType") == "Restart"
    assert [i.text for i in req.iter(f"{AST}item")] == ["Cisco Tftp"]


def test_control_services_refuses_unknown_control_type() -> None:
    with pytest.raises(ValueError, match="Start, Stop or Restart"):
        soap_xml.control_services_request("n", "Reboot", ["Cisco Tftp"])


def test_select_cm_device_request_echoes_state_info_and_caps_page_size() -> None:
    op = _body_op(soap_xml.select_cm_device_request("cookie-1", max_devices=5000))
    assert op.tag == f"{AST}selectCmDevice"
    assert op.findtext(f"{AST}StateInfo") == "cookie-1"
    crit = op.find(f"{AST}CmSelectionCriteria")
    assert crit is not None
    assert crit.findtext(f"{AST}MaxReturnedDevices") == "1000"
    assert crit.findtext(f"{AST}DeviceClass") == "Phone"
    assert crit.findtext(f"{AST}Model") == "255"
    assert [i.text for i in crit.iter(f"{AST}Item")] == ["*"]


def test_axl_request_uses_the_cluster_version_namespace_and_soap_action() -> None:
    op = _body_op(soap_xml.execute_sql_query_request("15.0.1.11900-40", "select 1"))
    assert op.tag == "{http://www.cisco.com/AXL/API/15.0}executeSQLQuery"
    assert op.findtext("sql") == "select 1"
    assert soap_xml.axl_soap_action("12.5.1", "executeSQLQuery") == '"CUCM:DB ver=12.5 executeSQLQuery"'


def test_do_device_reset_is_a_hard_device_reset() -> None:
    op = _body_op(soap_xml.do_device_reset_request("14.0", "SEP001122334455"))
    assert op.tag.endswith("}doDeviceReset")
    assert op.findtext("deviceName") == "SEP001122334455"
    assert op.findtext("isHardReset") == "true"


def test_list_phone_request_pages_with_skip_and_first() -> None:
    op = _body_op(soap_xml.list_phone_request("15.0", skip=1000, first=500))
    assert op.findtext("searchCriteria/name") == "%"
    assert op.findtext("skip") == "1000" and op.findtext("first") == "500"


SERVICE_STATUS_RESPONSE = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
 <soapenv:Body>
  <ns1:soapGetServiceStatusResponse xmlns:ns1="http://schemas.cisco.com/ast/soap">
   <ns1:soapGetServiceStatusReturn>
    <ns1:ReturnCode>0</ns1:ReturnCode>
    <ns1:ServiceInfoList>
     <ns1:item><ns1:ServiceName>Cisco CallManager</ns1:ServiceName><ns1:ServiceStatus>Started</ns1:ServiceStatus>
      <ns1:ReasonCode>-1</ns1:ReasonCode><ns1:ReasonCodeString> </ns1:ReasonCodeString><ns1:StartTime>Thu Nov 26 10:00:00 2026</ns1:StartTime><ns1:UpTime>100</ns1:UpTime></ns1:item>
     <ns1:item><ns1:ServiceName>Cisco Tftp</ns1:ServiceName><ns1:ServiceStatus>Stopped</ns1:ServiceStatus>
      <ns1:ReasonCode>-1068</ns1:ReasonCode><ns1:ReasonCodeString>Service Not Activated</ns1:ReasonCodeString></ns1:item>
     <ns1:item><ns1:ServiceName>Cisco CTIManager</ns1:ServiceName><ns1:ServiceStatus>Stopped</ns1:ServiceStatus>
      <ns1:ReasonCode>-1019</ns1:ReasonCode><ns1:ReasonCodeString>Commanded Out of Service</ns1:ReasonCodeString></ns1:item>
    </ns1:ServiceInfoList>
   </ns1:soapGetServiceStatusReturn>
  </ns1:soapGetServiceStatusResponse>
 </soapenv:Body>
</soapenv:Envelope>"""


def test_service_info_list_is_parsed_with_any_prefix() -> None:
    services = {s.name: s for s in soap_xml.parse_service_info_list(SERVICE_STATUS_RESPONSE)}
    assert services["Cisco CallManager"].state is ServiceState.STARTED
    assert services["Cisco Tftp"].state is ServiceState.NOT_ACTIVATED
    assert services["Cisco CTIManager"].state is ServiceState.STOPPED
    assert services["Cisco CTIManager"].reason == "Commanded Out of Service"


UNQUALIFIED_STATUS_RESPONSE = """<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<ns:soapGetServiceStatusResponse xmlns:ns="http://schemas.cisco.com/ast/soap"><ns:soapGetServiceStatusReturn>
<ReturnCode>0</ReturnCode><ReasonCode>-1</ReasonCode><ReasonString/><ServiceInfoList>
<item><ServiceName>Cisco Tftp</ServiceName><ServiceStatus>Started</ServiceStatus><ReasonCode>-1</ReasonCode><ReasonCodeString> </ReasonCodeString><StartTime>Thu Nov 26 10:00:00 2026</StartTime><UpTime>5</UpTime></item>
</ServiceInfoList></ns:soapGetServiceStatusReturn></ns:soapGetServiceStatusResponse></soapenv:Body></soapenv:Envelope>"""

DEFAULT_NS_STATUS_RESPONSE = """<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<soapGetServiceStatusResponse xmlns="http://schemas.cisco.com/ast/soap"><soapGetServiceStatusReturn>
<ReturnCode>0</ReturnCode><ReasonCode>-1</ReasonCode><ReasonString xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true"/><ServiceInfoList>
<item><ServiceName>Cisco Tftp</ServiceName><ServiceStatus>Stopped</ServiceStatus><ReasonCode>-1019</ReasonCode><ReasonCodeString>Commanded Out of Service</ReasonCodeString><StartTime/><UpTime>-1</UpTime></item>
</ServiceInfoList></soapGetServiceStatusReturn></soapGetServiceStatusResponse></soapenv:Body></soapenv:Envelope>"""


def test_service_info_list_is_read_from_unqualified_and_default_namespace_children() -> None:
    # Cisco's schema is elementFormDefault="qualified"; older servers and samples send unqualified
    # children. Both are read.
    (unqualified,) = soap_xml.parse_service_info_list(UNQUALIFIED_STATUS_RESPONSE)
    (default_ns,) = soap_xml.parse_service_info_list(DEFAULT_NS_STATUS_RESPONSE)
    assert (unqualified.name, unqualified.state) == ("Cisco Tftp", ServiceState.STARTED)
    assert (default_ns.name, default_ns.state, default_ns.reason) == (
        "Cisco Tftp",
        ServiceState.STOPPED,
        "Commanded Out of Service",
    )


def test_service_info_list_missing_is_a_parse_error() -> None:
    with pytest.raises(soap_xml.SoapParseError):
        soap_xml.parse_service_info_list("<a/>")


RIS_RESPONSE = """<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
<soapenv:Body><ns1:selectCmDeviceResponse xmlns:ns1="http://schemas.cisco.com/ast/soap">
<ns1:selectCmDeviceReturn>
 <ns1:SelectCmDeviceResult>
  <ns1:TotalDevicesFound>3</ns1:TotalDevicesFound>
  <ns1:CmNodes>
   <ns1:item><ns1:ReturnCode>Ok</ns1:ReturnCode><ns1:Name>cucm-pub</ns1:Name>
    <ns1:CmDevices>
     <ns1:item><ns1:Name>SEP000000000001</ns1:Name><ns1:DirNumber>1001-Registered</ns1:DirNumber><ns1:DeviceClass>Phone</ns1:DeviceClass>
      <ns1:Status>Registered</ns1:Status><ns1:IPAddress><ns1:item><ns1:IP>10.0.0.1</ns1:IP></ns1:item></ns1:IPAddress><ns1:TimeStamp>1700000100</ns1:TimeStamp></ns1:item>
     <ns1:item><ns1:Name>SEP000000000002</ns1:Name><ns1:Status>UnRegistered</ns1:Status><ns1:TimeStamp>1700000050</ns1:TimeStamp></ns1:item>
    </ns1:CmDevices></ns1:item>
   <ns1:item><ns1:ReturnCode>NotFound</ns1:ReturnCode><ns1:Name>cucm-sub1</ns1:Name><ns1:CmDevices/></ns1:item>
  </ns1:CmNodes>
 </ns1:SelectCmDeviceResult>
 <ns1:StateInfo>&lt;StateInfo&gt;&lt;Node Name="cucm-pub"/&gt;&lt;/StateInfo&gt;</ns1:StateInfo>
</ns1:selectCmDeviceReturn></ns1:selectCmDeviceResponse></soapenv:Body></soapenv:Envelope>"""


def test_select_cm_device_response_gives_devices_per_node_and_state_info() -> None:
    page = soap_xml.parse_select_cm_device(RIS_RESPONSE)
    assert page.total_found == 3
    assert [(d.name, d.status, d.node, d.timestamp) for d in page.devices] == [
        ("SEP000000000001", "Registered", "cucm-pub", 1700000100),
        ("SEP000000000002", "UnRegistered", "cucm-pub", 1700000050),
    ]
    assert page.devices[0].ip == "10.0.0.1"
    assert page.state_info == '<StateInfo><Node Name="cucm-pub"/></StateInfo>'


# The shape Cisco's RISService70 WSDL requires: every CmDevice element, in sequence order.
RIS_FULL_DEVICE_RESPONSE = """<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><ns1:selectCmDeviceResponse xmlns:ns1="http://schemas.cisco.com/ast/soap"><ns1:selectCmDeviceReturn>
<ns1:SelectCmDeviceResult><ns1:TotalDevicesFound>1</ns1:TotalDevicesFound><ns1:CmNodes>
<ns1:item><ns1:ReturnCode>Ok</ns1:ReturnCode><ns1:Name>cucm-sub1</ns1:Name><ns1:NoChange>false</ns1:NoChange><ns1:CmDevices>
<ns1:item><ns1:Name>SEP000000000001</ns1:Name><ns1:DirNumber>1001-Registered</ns1:DirNumber><ns1:DeviceClass>Phone</ns1:DeviceClass>
<ns1:Model>36670</ns1:Model><ns1:Product>36670</ns1:Product><ns1:BoxProduct>0</ns1:BoxProduct><ns1:Httpd>Yes</ns1:Httpd>
<ns1:RegistrationAttempts>0</ns1:RegistrationAttempts><ns1:IsCtiControllable>true</ns1:IsCtiControllable><ns1:LoginUserId xsi:nil="true"/>
<ns1:Status>Registered</ns1:Status><ns1:StatusReason>0</ns1:StatusReason><ns1:PerfMonObject>2</ns1:PerfMonObject><ns1:DChannel>0</ns1:DChannel>
<ns1:Description>lobby</ns1:Description><ns1:H323Trunk>
<ns1:ConfigName xsi:nil="true"/><ns1:TechPrefix xsi:nil="true"/><ns1:Zone xsi:nil="true"/><ns1:RemoteCmServer1 xsi:nil="true"/><ns1:RemoteCmServer2 xsi:nil="true"/><ns1:RemoteCmServer3 xsi:nil="true"/><ns1:AltGkList xsi:nil="true"/><ns1:ActiveGk xsi:nil="true"/><ns1:CallSignalAddr xsi:nil="true"/><ns1:RasAddr xsi:nil="true"/></ns1:H323Trunk>
<ns1:TimeStamp>1700000200</ns1:TimeStamp>
<ns1:Protocol>SIP</ns1:Protocol><ns1:NumOfLines>1</ns1:NumOfLines>
<ns1:LinesStatus><ns1:item><ns1:DirectoryNumber>1001</ns1:DirectoryNumber><ns1:Status>UnRegistered</ns1:Status></ns1:item></ns1:LinesStatus>
<ns1:ActiveLoadID>sip88xx.14-2-1-0101-14</ns1:ActiveLoadID><ns1:InactiveLoadID>sip88xx.14-1-1-0001-136</ns1:InactiveLoadID>
<ns1:DownloadStatus>Unknown</ns1:DownloadStatus><ns1:DownloadFailureReason xsi:nil="true"/><ns1:DownloadServer xsi:nil="true"/>
<ns1:IPAddress><ns1:item><ns1:IP>10.0.0.9</ns1:IP><ns1:IPAddrType>ipv4</ns1:IPAddrType><ns1:Attribute>Unknown</ns1:Attribute></ns1:item></ns1:IPAddress>
</ns1:item></ns1:CmDevices></ns1:item></ns1:CmNodes></ns1:SelectCmDeviceResult>
<ns1:StateInfo/></ns1:selectCmDeviceReturn></ns1:selectCmDeviceResponse></soapenv:Body></soapenv:Envelope>"""


def test_full_cisco_shaped_device_is_read_by_its_own_status_not_a_line_status() -> None:
    validate_body(RIS_FULL_DEVICE_RESPONSE, serviceability_wsdl("RISService70"))  # the sample is Cisco's shape
    page = soap_xml.parse_select_cm_device(RIS_FULL_DEVICE_RESPONSE)
    assert [(d.name, d.status, d.node, d.timestamp, d.ip) for d in page.devices] == [
        ("SEP000000000001", "Registered", "cucm-sub1", 1700000200, "10.0.0.9")
    ]
    assert page.state_info == "" and page.total_found == 1


RATE_FAULT = """<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<soapenv:Fault><faultcode>soapenv:Server.RateControl</faultcode>
<faultstring>AxisFault: Exceeded allowed rate for Reatime information. Current allowed rate for realtime information is 15 requests per minute.</faultstring>
<detail/></soapenv:Fault></soapenv:Body></soapenv:Envelope>"""


def test_rate_control_fault_code_is_read_without_prefix() -> None:
    fault = soap_xml.parse_fault(RATE_FAULT)
    assert fault is not None
    assert fault.code == "Server.RateControl"
    assert "15 requests per minute" in fault.message


def test_non_fault_response_has_no_fault() -> None:
    assert soap_xml.parse_fault(RIS_RESPONSE) is None
    assert soap_xml.parse_fault(b"not xml") is None


SQL_RESPONSE = """<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<ns:executeSQLQueryResponse xmlns:ns="http://www.cisco.com/AXL/API/15.0"><return>
<row><name>cucm-pub.c1.certops.test</name><tkssomode>2</tkssomode></row>
<row><name>cucm-sub1.c1.certops.test</name><tkssomode>0</tkssomode></row>
</return></ns:executeSQLQueryResponse></soapenv:Body></soapenv:Envelope>"""


def test_sql_rows_become_dicts() -> None:
    assert soap_xml.parse_sql_rows(SQL_RESPONSE) == [
        {"name": "cucm-pub.c1.certops.test", "tkssomode": "2"},
        {"name": "cucm-sub1.c1.certops.test", "tkssomode": "0"},
    ]


def test_empty_sql_result_is_an_empty_list() -> None:
    xml = '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><x:executeSQLQueryResponse xmlns:x="urn:x"><return/></x:executeSQLQueryResponse></e:Body></e:Envelope>'
    assert soap_xml.parse_sql_rows(xml) == []


def test_list_phone_names_are_read() -> None:
    xml = """<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><ns:listPhoneResponse xmlns:ns="http://www.cisco.com/AXL/API/14.0">
<return><phone uuid="{1}"><name>SEP000000000001</name></phone><phone uuid="{2}"><name>SEP000000000002</name></phone></return>
</ns:listPhoneResponse></e:Body></e:Envelope>"""
    assert soap_xml.parse_list_phone_names(xml) == ["SEP000000000001", "SEP000000000002"]
