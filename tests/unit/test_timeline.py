"""The expiry timeline picture and the scan table."""

from __future__ import annotations

import re

from certops.due import select_due
from certops.models import NodeFailure
from certops.report.table import markdown_table, rich_table, rows
from certops.report.timeline import render, timeline_rows, write_timeline
from tests.unit.test_due_factories import cert, inventory, report


def _plan(n_clusters: int = 3):
    inv = inventory({f"c{i}": 3 for i in range(n_clusters)})
    certs = [
        cert(
            cluster=f"c{i}",
            node=("pub" if j == 0 else f"sub{j}") + f".c{i}.example.com",
            unit=u,
            days=(i * 13 + j * 5 + k * 17) % 90 - 4,
        )
        for i in range(n_clusters)
        for j in range(3)
        for k, u in enumerate(["tomcat", "ipsec", "CallManager"])
    ]
    return select_due(report(certs), inv)


def test_picture_is_a_png_and_an_svg_and_identical_for_the_same_plan(tmp_path):
    plan = _plan()
    png, svg = render(plan, "png"), render(plan, "svg")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in svg
    assert render(plan, "png") == png
    assert render(plan, "svg") == svg
    paths = write_timeline(plan, tmp_path / "out" / "expiry.png")
    assert [p.name for p in paths] == ["expiry.png", "expiry.svg"]
    assert paths[0].read_bytes() == png


def test_picture_changes_when_a_certificate_changes():
    plan = _plan()
    other = select_due(report([cert(days=3)]), inventory())
    assert render(plan, "png") != render(other, "png")


def test_picture_has_one_row_per_cluster_and_unit_most_urgent_first_with_labels_in_the_svg():
    plan = _plan()
    trows = timeline_rows(plan)
    assert len(trows) == 9
    assert trows[0].earliest == min(s.certificate.not_after for s in plan.statuses)
    svg = render(plan, "svg").decode()
    for label in ("c0 · tomcat", "c2 · CallManager", "today", "threshold (30 d)", "expired", "critical"):
        assert label in svg


def test_picture_with_many_rows_draws_the_most_urgent_and_says_how_many_were_left_out():
    plan = _plan(n_clusters=30)
    svg = render(plan, "svg", max_rows=20).decode()
    assert "70 more not shown" in svg


def test_table_is_sorted_by_days_left_and_marks_uncounted_rows():
    plan = select_due(
        report(
            [cert(days=50), cert(node="sub1.c1.example.com", days=-1), cert(unit="ipsec", days=5, self_signed=True)]
        ),
        inventory(),
    )
    r = rows(plan)
    assert [x[0] for x in r] == ["-1", "5", "50"]
    assert r[0][1] == "expired"
    assert r[1][1] == "(critical)" and "self-signed" in r[1][7]


def test_markdown_table_has_counts_rows_failures_and_renewals():
    failure = NodeFailure(cluster="c1", node="sub2.c1.example.com", operation="read", reason="a | b", transient=False)
    md = markdown_table(
        select_due(
            report([cert(days=3), cert(unit="TVS", days=2), cert(unit="CallManager", days=4)], [failure]), inventory()
        )
    )
    assert "**critical**: 3" in md
    assert re.search(r"^\| 2 \| critical \| c1 \| pub.c1.example.com \| TVS \|", md, re.M)
    assert "| c1 | sub2.c1.example.com | read | a \\| b | no |" in md
    assert "- start **c1** `TVS`" in md
    assert "- queued **c1** `CallManager` behind `TVS`" in md


def test_markdown_table_cut_says_how_many_rows_are_left_out():
    md = markdown_table(_plan(), max_rows=5)
    assert "… 22 more certificates not shown" in md


def test_rich_table_has_a_row_per_certificate():
    plan = _plan()
    table = rich_table(plan)
    assert table.row_count == len(plan.statuses)
