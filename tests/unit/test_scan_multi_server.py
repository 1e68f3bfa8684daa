"""The scan recognises a multi-server certificate on the nodes and names the nodes it does not cover."""

from __future__ import annotations

import json

from certops.due import select_due
from certops.report.table import markdown_table, rows
from tests.unit.test_due_factories import cert, inventory, report

PUB, SUB1, SUB2 = "pub.c1.example.com", "sub1.c1.example.com", "sub2.c1.example.com"


def _multi(node: str, sans: list[str], fp: str = "ab" * 32):
    return cert(node=node, days=200).model_copy(
        update={"sans_dns": sans, "fingerprint_sha256": fp, "subject_cn": "pub-ms.c1.example.com"}
    )


def test_scan_names_the_node_added_after_the_multi_server_certificate_was_issued():
    # pub and sub1 hold one certificate naming both; sub2 (added later) holds its own per-node one
    certs = [_multi(PUB, [PUB, SUB1]), _multi(SUB1, [PUB, SUB1]), cert(node=SUB2, days=300)]
    plan = select_due(report(certs), inventory())
    (m,) = plan.multi_server
    assert (m.unit, m.nodes, m.uncovered, m.configured) == ("tomcat", [PUB, SUB1], [SUB2], False)
    data = json.loads(plan.model_dump_json())
    assert data["multi_server"][0]["uncovered"] == [SUB2]
    md = markdown_table(plan)
    assert "## Multi-server certificates" in md and f"does not cover {SUB2}" in md
    notes = {r[3]: r[-1] for r in rows(plan)}
    assert notes[PUB].startswith("multi-server (2 nodes); does not cover sub2") and notes[SUB2] == ""


def test_per_node_certificates_are_not_taken_for_multi_server():
    plan = select_due(report([cert(node=PUB), cert(node=SUB1), cert(node=SUB2)]), inventory())
    assert plan.multi_server == [] and "Multi-server" not in markdown_table(plan)


def test_a_multi_server_certificate_covering_every_node_has_nothing_uncovered_and_knows_the_inventory_lists_it():
    every = [PUB, SUB1, SUB2]
    inv = inventory()
    data = inv.model_dump()
    data["clusters"][0]["multi_server"] = ["tomcat"]
    inv = type(inv).model_validate(data)
    plan = select_due(report([_multi(n, every) for n in every]), inv)
    (m,) = plan.multi_server
    assert m.uncovered == [] and m.elsewhere == [] and m.configured
