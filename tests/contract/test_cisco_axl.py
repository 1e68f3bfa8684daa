"""Contract: Cisco's AXL schemas (AXLSoap.xsd 12.5, 14.0, 15.0) judge both sides of AXL.

- every AXL request the certops client sends validates against ``AXLSoap.xsd`` of each version
  it may speak (the requests are captured from ``AxlClient`` itself, so a new operation is
  covered the day it is added);
- every AXL response the simulator sends validates against the schema of the version the
  request used, faults included (their ``detail/axlError`` against the ``AXLError`` type);
- AXL versioning as Cisco documents it: a node accepts its own release's schemas and those of
  the two previous major releases, refuses others with HTTP 599 "Incorrect axl version" listing
  what it accepts;
- ``/axl/?wsdl`` serves Cisco's ``AXLAPI.wsdl`` of the node's version with its own address.

The schema files come from ``simulator.cisco_schemas``: a missing file fails, never skips.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import httpx
import pytest
from lxml import etree
from pydantic import SecretStr

from certops.cucm import soap_xml
from certops.cucm.soap import AXL_CHECKED_VERSIONS, AxlClient
from simulator import cisco_schemas
from simulator.fleet import SimulatedFleet, SimulatedNode
from tests.fixtures.simulator import SIM_APP_PASSWORD, SIM_APP_USER, sim_https, sim_options

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
VERSIONS = ("12.5", "14.0", "15.0")
APP = (SIM_APP_USER, SIM_APP_PASSWORD)


def axl_ns(version: str) -> str:
    return f"http://www.cisco.com/AXL/API/{version}"


@lru_cache(maxsize=4)
def axl_schema(version: str) -> etree.XMLSchema:
    """Cisco's AXLSoap.xsd of ``version`` (its targetNamespace checked: it must be that version's)."""
    path = cisco_schemas.axl_file(version, "AXLSoap.xsd")
    doc = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    assert doc.getroot().get("targetNamespace") == axl_ns(version), f"{path} is not the {version} schema"
    return etree.XMLSchema(doc)


def body_element(envelope: bytes | str) -> etree._Element:
    data = envelope.encode() if isinstance(envelope, str) else envelope
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    assert root.tag == f"{{{SOAPENV}}}Envelope", root.tag
    body = root.find(f"{{{SOAPENV}}}Body")
    assert body is not None, "no soapenv:Body"
    elements = [c for c in body if isinstance(c.tag, str)]
    assert len(elements) == 1, [c.tag for c in elements]
    return elements[0]


def schema_errors(element: etree._Element, version: str) -> list[str]:
    schema = axl_schema(version)
    if schema.validate(etree.ElementTree(copy.deepcopy(element))):
        return []
    return [e.message for e in schema.error_log]


def assert_valid(envelope: bytes | str, version: str) -> etree._Element:
    """The Body's operation element, asserted valid against AXLSoap.xsd ``version``."""
    element = body_element(envelope)
    assert element.tag.startswith(f"{{{axl_ns(version)}}}"), f"{element.tag} is not in the {version} namespace"
    errors = schema_errors(element, version)
    text = envelope.decode() if isinstance(envelope, bytes) else envelope
    assert not errors, f"not valid against Cisco's AXLSoap.xsd {version}: {errors}\n{text[:2000]}"
    return element


def assert_valid_fault(envelope: bytes | str, version: str, *, request: str) -> etree._Element:
    """A SOAP fault whose ``detail/axlError`` follows the schema's ``AXLError`` type; returns axlError.

    Real nodes send ``axlError`` unqualified although the WSDL's fault part names the
    AXL-namespace element; its content is validated as that element.
    """
    fault = body_element(envelope)
    assert fault.tag == f"{{{SOAPENV}}}Fault", fault.tag
    detail = fault.find("detail")
    assert detail is not None, "the fault has no detail"
    (error,) = list(detail)
    assert etree.QName(error).localname == "axlError"
    qualified = copy.deepcopy(error)
    qualified.tag = f"{{{axl_ns(version)}}}axlError"
    errors = schema_errors(qualified, version)
    assert not errors, f"axlError not valid against AXLSoap.xsd {version}: {errors}"
    assert error.findtext("request") == request
    return error


# ------------------------------------------------------------------------------------------------
# requests: everything AxlClient sends
# ------------------------------------------------------------------------------------------------

_CANNED = {
    "executeSQLQuery": "<return><row><paramname>ClusterSecurityMode</paramname><paramvalue>0</paramvalue>"
    "<name>cucm-pub</name><tkssomode>0</tkssomode></row></return>",
    "listPhone": '<return><phone uuid="{00000000-0000-0000-0000-000000000001}"><name>SEP000000000001</name></phone>'
    "</return>",
    "doDeviceReset": "<return>{00000000-0000-0000-0000-000000000001}</return>",
    "getCCMVersion": "<return><componentVersion><version>15.0.1.11900-40</version></componentVersion></return>",
}


def _captured_requests(version: str) -> list[tuple[str, bytes]]:
    """(SOAPAction, body) of every request AxlClient sends for each of its operations."""
    sent: list[tuple[str, bytes]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append((request.headers["SOAPAction"], request.content))
        op = etree.QName(body_element(request.content)).localname
        body = f'<ns:{op}Response xmlns:ns="{axl_ns(version)}">{_CANNED[op]}</ns:{op}Response>'
        return httpx.Response(
            200,
            text=f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>',
        )

    client = AxlClient(
        version=version,
        fqdn=f"schema-check-{version}.certops.test",
        address="127.0.0.1",
        username="app",
        password=SecretStr("unused"),
        transport=httpx.MockTransport(answer),
    )
    with client:
        client.cluster_security_mode()
        client.sso_modes()
        client.list_phones(page_size=1, max_pages=2)
        client.ccm_version()
        client.reset_device("SEP000000000001")
    return sent


@pytest.mark.parametrize("version", VERSIONS)
def test_every_axl_request_certops_sends_is_valid_against_ciscos_schema(version: str) -> None:
    sent = _captured_requests(version)
    ops = []
    for action, body in sent:
        element = assert_valid(body, version)
        op = etree.QName(element).localname
        ops.append(op)
        assert action == f'"CUCM:DB ver={version} {op}"'
    assert set(ops) == {"executeSQLQuery", "listPhone", "getCCMVersion", "doDeviceReset"}


def test_certops_checks_its_requests_against_the_versions_it_falls_back_to() -> None:
    assert set(AXL_CHECKED_VERSIONS) == set(VERSIONS)


def test_list_phone_request_orders_search_returned_tags_skip_first_as_the_schema_does() -> None:
    # ListPhoneReq is a sequence: searchCriteria, returnedTags (required), skip, first.
    element = assert_valid(soap_xml.list_phone_request("15.0", skip=2000, first=1000), "15.0")
    assert [c.tag for c in element] == ["searchCriteria", "returnedTags", "skip", "first"]


def test_a_request_breaking_the_schema_is_caught_by_the_check() -> None:
    # The judge itself: isHardReset before deviceName, and an unknown child, are both refused.
    bad = soap_xml.axl_request("15.0", "doDeviceReset", {"isHardReset": True, "deviceName": "SEP1"})
    assert schema_errors(body_element(bad), "15.0")
    bad = soap_xml.axl_request("15.0", "executeSQLQuery", {"sql": "select 1", "limit": 5})
    assert schema_errors(body_element(bad), "15.0")


# ------------------------------------------------------------------------------------------------
# simulator responses
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    """c1 runs CUCM 15.0, c2 14.0, c3 12.5; one publisher each."""
    opts = sim_options(
        clusters=3,
        nodes=1,
        version=["15.0", "14.0", "12.5"],
        phones_per_cluster=12,
        state_dir=tmp_path_factory.mktemp("cisco-axl"),
    )
    with SimulatedFleet(opts) as f:
        yield f


def pub(fleet: SimulatedFleet, cluster: str = "c1") -> SimulatedNode:
    return fleet.node(f"cucm-pub.{cluster}.certops.test")


def post_axl(fleet: SimulatedFleet, node: SimulatedNode, body: bytes, action: str | None) -> httpx.Response:
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if action is not None:
        headers["SOAPAction"] = action
    with sim_https(fleet, node) as c:
        return c.post(f"https://127.0.0.1:{node.soap_port}/axl/", content=body, headers=headers, auth=APP)


def call(fleet: SimulatedFleet, version: str, op: str, body: bytes, cluster: str = "c1") -> httpx.Response:
    return post_axl(fleet, pub(fleet, cluster), body, soap_xml.axl_soap_action(version, op))


def rows(element: etree._Element) -> list[dict[str, str]]:
    ret = element.find("return")
    assert ret is not None
    return [{c.tag: c.text or "" for c in row} for row in ret.findall("row")]


@pytest.mark.parametrize("version", VERSIONS)
def test_sql_answers_are_valid_for_the_requests_version(fleet: SimulatedFleet, version: str) -> None:
    for sql, expect_rows in (
        ("select paramname, paramvalue from processconfig where paramname = 'ClusterSecurityMode'", 1),
        ("select name, tkssomode from processnode", 2),
        ("select name, description from device where tkclass = 1", 12),
    ):
        r = call(fleet, version, "executeSQLQuery", soap_xml.execute_sql_query_request(version, sql))
        assert r.status_code == 200, r.text
        element = assert_valid(r.content, version)
        assert etree.QName(element).localname == "executeSQLQueryResponse"
        assert len(rows(element)) == expect_rows


@pytest.mark.parametrize("version", VERSIONS)
def test_list_phone_answers_are_valid_with_every_returned_tag_asked(fleet: SimulatedFleet, version: str) -> None:
    # returnedTags is an LPhone too, so a valid request names them in the schema's order; two of
    # them (callingSearchSpaceName, loadInformation) are not modelled by the simulator.
    tags = ["name", "description", "product", "model", "class", "protocol", "protocolSide"]
    tags += ["callingSearchSpaceName", "devicePoolName", "loadInformation", "securityProfileName"]
    fields: dict[str, object] = {"searchCriteria": {"name": "SEP%"}, "returnedTags": dict.fromkeys(tags, "")}
    fields.update(skip=2, first=5)
    body = soap_xml.axl_request(version, "listPhone", fields)
    assert not schema_errors(body_element(body), version)
    r = call(fleet, version, "listPhone", body)
    assert r.status_code == 200, r.text
    element = assert_valid(r.content, version)
    phones = element.findall("return/phone")
    assert [p.findtext("name") for p in phones] == [p.name for p in fleet.cluster("c1").phones[2:7]]
    assert {p.findtext("devicePoolName") for p in phones} == {"Default"}


@pytest.mark.parametrize("version", VERSIONS)
def test_reset_and_version_answers_are_valid(fleet: SimulatedFleet, version: str) -> None:
    phone = fleet.cluster("c1").phones[0].name
    before = len(fleet.events(operation="phone_reset"))
    r = call(fleet, version, "doDeviceReset", soap_xml.do_device_reset_request(version, phone))
    assert r.status_code == 200, r.text
    assert etree.QName(assert_valid(r.content, version)).localname == "doDeviceResetResponse"
    assert len(fleet.events(operation="phone_reset")) == before + 1
    r = call(fleet, version, "getCCMVersion", soap_xml.get_ccm_version_request(version))
    assert r.status_code == 200, r.text
    element = assert_valid(r.content, version)
    assert element.findtext("return/componentVersion/version") == "15.0.1.11900-40"


@pytest.mark.parametrize("version", VERSIONS)
def test_axl_faults_carry_an_axl_error_of_the_schemas_shape(fleet: SimulatedFleet, version: str) -> None:
    r = call(fleet, version, "doDeviceReset", soap_xml.do_device_reset_request(version, "SEPDEADBEEF0000"))
    assert r.status_code == 500
    error = assert_valid_fault(r.content, version, request="doDeviceReset")
    assert error.findtext("axlcode") == "5007"
    assert "was not found" in (error.findtext("axlmessage") or "")
    r = call(fleet, version, "executeSQLQuery", soap_xml.execute_sql_query_request(version, "drop table device"))
    assert r.status_code == 500
    assert_valid_fault(r.content, version, request="executeSQLQuery")


# ------------------------------------------------------------------------------------------------
# versioning
# ------------------------------------------------------------------------------------------------


def _sql_with(fleet: SimulatedFleet, cluster: str, version: str) -> httpx.Response:
    return call(
        fleet,
        version,
        "executeSQLQuery",
        soap_xml.execute_sql_query_request(version, "select name from device"),
        cluster,
    )


@pytest.mark.parametrize(
    ("cluster", "accepted", "refused", "listed"),
    [
        ("c1", ["12.0", "12.5", "14.0", "15.0"], ["11.5", "11.0", "10.5", "16.0"], "12.x, 14.0 and 15.0"),
        ("c2", ["11.0", "11.5", "12.0", "12.5", "14.0"], ["10.5", "15.0"], "11.x, 12.x and 14.0"),
        ("c3", ["10.0", "11.5", "12.0", "12.5"], ["9.1", "14.0", "15.0"], "10.x, 11.x, 12.0 and 12.5"),
    ],
)
def test_a_node_accepts_its_own_and_the_two_previous_major_releases_schemas(
    fleet: SimulatedFleet, cluster: str, accepted: list[str], refused: list[str], listed: str
) -> None:
    for version in accepted:
        r = _sql_with(fleet, cluster, version)
        assert r.status_code == 200, (version, r.text[:300])
        assert etree.QName(body_element(r.content)).namespace == axl_ns(version)
        if version in VERSIONS:
            assert_valid(r.content, version)
    for version in refused:
        r = _sql_with(fleet, cluster, version)
        assert r.status_code == 599, (version, r.status_code)
        assert r.headers["content-type"].startswith("text/html")
        assert f"Incorrect axl version. Supported axl versions are {listed}" in r.text


def test_without_a_version_in_soap_action_the_oldest_supported_schema_is_used(fleet: SimulatedFleet) -> None:
    node = pub(fleet, "c1")
    r = post_axl(fleet, node, soap_xml.execute_sql_query_request("12.0", "select name from device"), None)
    assert r.status_code == 200, r.text
    assert etree.QName(body_element(r.content)).namespace == axl_ns("12.0")
    r = post_axl(fleet, node, soap_xml.execute_sql_query_request("15.0", "select name from device"), '"CUCM:DB"')
    assert r.status_code == 500  # a 15.0 body read with the oldest (12.0) schema
    assert "ver=15.0" in ET.fromstring(r.text).findtext(".//faultstring", "")


def test_soap_action_and_namespace_naming_different_versions_is_a_fault(fleet: SimulatedFleet) -> None:
    body = soap_xml.execute_sql_query_request("14.0", "select name from device")
    r = post_axl(fleet, pub(fleet), body, soap_xml.axl_soap_action("15.0", "executeSQLQuery"))
    assert r.status_code == 500
    assert_valid_fault(r.content, "15.0", request="executeSQLQuery")


# ------------------------------------------------------------------------------------------------
# the WSDL at /axl/?wsdl
# ------------------------------------------------------------------------------------------------


def _get(fleet: SimulatedFleet, node: SimulatedNode, path: str, auth: tuple[str, str] | None = APP) -> httpx.Response:
    with sim_https(fleet, node) as c:
        return c.get(f"https://127.0.0.1:{node.soap_port}{path}", auth=auth)


@pytest.mark.parametrize(("cluster", "version"), [("c1", "15.0"), ("c2", "14.0"), ("c3", "12.5")])
def test_axl_wsdl_is_ciscos_file_of_the_nodes_version_with_its_own_address(
    fleet: SimulatedFleet, cluster: str, version: str
) -> None:
    node = pub(fleet, cluster)
    r = _get(fleet, node, "/axl/?wsdl")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].startswith("text/xml")
    cisco = cisco_schemas.axl_file(version, "AXLAPI.wsdl").read_text(encoding="utf-8")
    own = f"https://{node.fqdn}:{node.soap_port}/axl/"
    assert r.text == cisco.replace("https://CCMSERVERNAME:8443/axl/", own)
    root = etree.fromstring(r.content)
    ns = {"w": "http://schemas.xmlsoap.org/wsdl/", "soap": "http://schemas.xmlsoap.org/wsdl/soap/"}
    assert [a.get("location") for a in root.iterfind(".//w:port/soap:address", ns)] == [own]
    assert root.find("w:import", ns).get("namespace") == axl_ns(version)  # type: ignore[union-attr]
    # the schema the WSDL imports by its relative location, next to it
    xsd = _get(fleet, node, "/axl/AXLSoap.xsd")
    assert xsd.status_code == 200
    assert xsd.content == Path(cisco_schemas.axl_file(version, "AXLSoap.xsd")).read_bytes()


def test_axl_wsdl_needs_the_application_user(fleet: SimulatedFleet) -> None:
    assert _get(fleet, pub(fleet), "/axl/?wsdl", auth=None).status_code == 401
    assert _get(fleet, pub(fleet), "/axl/AXLSoap.xsd", auth=("ccmadmin", "wrong")).status_code == 401


def test_a_missing_cisco_schema_is_an_error_that_names_the_fetch_script(
    fleet: SimulatedFleet, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from simulator import soap

    monkeypatch.setenv("CERTOPS_CISCO_SCHEMAS", str(tmp_path))
    soap._axl_file_text.cache_clear()
    try:
        r = _get(fleet, pub(fleet), "/axl/?wsdl")
    finally:
        monkeypatch.undo()  # back to the real schema folder, whatever $CERTOPS_CISCO_SCHEMAS was
        soap._axl_file_text.cache_clear()
    assert r.status_code == 500
    assert "fetch_cisco_schemas.py" in r.text
