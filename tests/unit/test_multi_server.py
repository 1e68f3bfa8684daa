"""Multi-server (Multi-SAN) certificates: the inventory, the unit table, the dry run and the refusals."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from certops.errors import ConfigError, PolicyViolation
from certops.inventory import Inventory
from certops.planning import StepKind, plan_renewal
from certops.renewal import multi_server
from certops.units import UNITS, unit


def _inventory(multi: list[str], version: str = "15.0.1.11900-40", imp: bool = True) -> Inventory:
    nodes: list[dict[str, Any]] = [
        {"fqdn": "pub.lab.example", "role": "publisher"},
        {"fqdn": "sub1.lab.example", "role": "subscriber"},
        {"fqdn": "sub2.lab.example", "role": "subscriber"},
    ]
    if imp:
        nodes += [
            {"fqdn": "imp1.lab.example", "role": "imp-publisher", "federation": True},
            {"fqdn": "imp2.lab.example", "role": "imp"},
        ]
    return Inventory.model_validate(
        {
            "defaults": {
                "os_admin": {"username": "admin", "password_env": "CUCM_OS_PW"},
                "app_user": {"username": "app", "password_env": "CUCM_APP_PW"},
            },
            "clusters": [{"name": "lab", "version": version, "multi_server": multi, "nodes": nodes}],
        }
    )


def test_inventory_refuses_a_unit_that_cannot_be_multi_server_and_names_those_that_can():
    with pytest.raises(ValidationError) as err:
        _inventory(["ipsec", "Tomcat"])
    text = str(err.value)
    assert "ipsec cannot be multi-server" in text and "unknown unit(s) Tomcat" in text
    for name in ("tomcat", "CallManager", "TVS", "cup-xmpp", "cup-xmpp-s2s"):
        assert name in text


def test_dry_run_says_one_csr_on_the_publisher_distributed_to_the_other_nodes():
    plan = plan_renewal(_inventory(["tomcat"]), "lab", "tomcat")
    text = plan.render()
    assert "multi-server: one CSR on pub.lab.example, distributed to 4 nodes" in text
    csr_steps = [s for s in plan.steps if s.kind is StepKind.GENERATE_CSR]
    assert [s.node for s in csr_steps] == ["pub.lab.example"] and "distribution multi-server" in csr_steps[0].text
    assert [s.node for s in plan.steps if s.kind is StepKind.SIGN] == ["pub.lab.example"]
    # restarts and verification stay on every node
    assert {s.node for s in plan.steps if s.kind is StepKind.VERIFY} == {n.fqdn for n in plan.nodes}


def test_a_unit_left_out_of_multi_server_stays_per_node():
    plan = plan_renewal(_inventory(["CallManager"]), "lab", "tomcat")
    assert plan.multi_server is None
    assert len([s for s in plan.steps if s.kind is StepKind.GENERATE_CSR]) == len(plan.nodes)


def test_imp_units_make_their_multi_server_csr_on_the_imp_database_publisher():
    plan = plan_renewal(_inventory(["cup-xmpp"]), "lab", "cup-xmpp")
    assert plan.csr_node == "imp1.lab.example"
    assert "one CSR on imp1.lab.example, distributed to 1 node (imp2.lab.example)" in plan.render()


def test_multi_server_asked_for_some_nodes_renews_every_node_and_says_so():
    plan = plan_renewal(_inventory(["tomcat"]), "lab", "tomcat", ["sub1.lab.example"])
    assert len(plan.nodes) == 5 and plan.csr_node == "pub.lab.example"
    assert "asked for sub1.lab.example: the one certificate is renewed on every node it names" in plan.render()
    with pytest.raises(ConfigError, match="does not hold the CallManager"):  # the nodes asked are still checked
        plan_renewal(_inventory(["CallManager"]), "lab", "CallManager", ["imp1.lab.example"])


def test_multi_server_on_12_5_is_refused_before_anything_with_what_to_do():
    with pytest.raises(ConfigError) as err:
        plan_renewal(_inventory(["tomcat"], version="12.5.1.17900-64", imp=False), "lab", "tomcat")
    assert "from 14.0" in str(err.value) and "take tomcat out of multi_server" in str(err.value)


@pytest.mark.parametrize(
    ("release", "refused"), [((14, 0, 2), True), ((15, 0, 1), True), ((14, 0), True), ((14, 0, 1), False)]
)
def test_a_multi_server_upload_over_the_cli_is_refused_from_14su2(release, refused):
    args = ("lab", unit("tomcat"), "pub.lab.example", release, "CLI")
    if refused:
        with pytest.raises(PolicyViolation, match="cannot be uploaded over the CLI"):
            multi_server.refuse_cli_upload(*args)
    else:
        multi_server.refuse_cli_upload(*args)
    multi_server.refuse_cli_upload("lab", unit("tomcat"), "pub.lab.example", release, "REST")  # REST: always fine


def test_callmanager_multi_server_cn_is_the_publisher_host_ms_and_tomcat_keeps_the_fqdn():
    cl = _inventory(["tomcat", "CallManager"]).cluster("lab")
    nodes = [n.fqdn for n in cl.nodes]
    cm = multi_server.csr_request(unit("CallManager"), cl.publisher, nodes[:3], None)
    assert cm.common_name == "pub-ms.lab.example" and cm.distribution == "multi-server"
    assert cm.alt_names == nodes[:3]
    assert multi_server.csr_request(unit("tomcat"), cl.publisher, nodes, None).common_name == "pub.lab.example"


def test_uncovered_names_the_nodes_a_leaf_lacks():
    assert multi_server.uncovered(["PUB.lab.example", "sub1.lab.example"], ["pub.lab.example", "sub2.lab.example"]) == [
        "sub2.lab.example"
    ]


def test_certops_units_lists_every_multi_server_unit_with_its_release_and_source():
    from certops.cli import app

    out = CliRunner().invoke(app, ["units", "--markdown"]).output
    section = out[out.index("## Multi-server") :]
    listed = [
        line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ") and "---" not in line
    ]
    assert listed[1:] == [n for n, s in UNITS.items() if s.multi_server is not None]
    assert "| TVS | 14.0 |" in section and "[GUIDE 14SU2]" in section
