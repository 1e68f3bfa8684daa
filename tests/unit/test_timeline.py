"""The expiry timeline picture and the scan table."""

from __future__ import annotations

import re

from matplotlib import dates as mdates

from certops.due import select_due
from certops.models import NodeFailure
from certops.report.table import markdown_table, rich_table, rows, summary
from certops.report.timeline import render, timeline_figure, timeline_rows, write_timeline
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


def _shared_plan():
    """Two clusters of three nodes; the nodes of a unit expire on the same day; ipsec self-signed."""
    certs = [
        cert(
            cluster=c, node=f"{n}.{c}.example.com", unit=u, days=d + (40 if c == "c2" else 0), self_signed=u == "ipsec"
        )
        for c in ("c1", "c2")
        for n in ("pub", "sub1", "sub2")
        for u, d in (("tomcat", 20), ("CallManager", 300), ("ipsec", 700), ("TVS", 3650))
    ]
    return select_due(report(certs), inventory({"c1": 3, "c2": 3}))


def test_today_line_stays_clear_of_the_frame_and_is_labelled():
    plan = _shared_plan()
    fig = timeline_figure(plan)
    ax = fig.axes[0]
    left, right = ax.get_xlim()
    today = mdates.date2num(plan.generated_at)
    assert (today - left) / (right - left) > 0.02  # not hidden in the left edge of a ten-year span
    assert f"today {plan.generated_at:%Y-%m-%d}" in render(plan, "svg").decode()


def test_nodes_expiring_the_same_day_share_one_marker_labelled_with_count_and_days_left():
    plan = _shared_plan()
    ax = timeline_figure(plan).axes[0]
    markers = [line for line in ax.lines if line.get_marker() in ("o", "x")]
    assert len(markers) == 8  # 2 clusters x 4 units, not 24 markers on top of each other
    texts = {t.get_text() for t in ax.texts}
    assert {"3 nodes, 20 d", "3 nodes, 60 d", "3 nodes, 3650 d"} <= texts
    lone = select_due(report([cert(days=5), cert(unit="ipsec", days=400)]), inventory())
    assert "5 d" in {t.get_text() for t in timeline_figure(lone).axes[0].texts}


def test_legend_lists_only_what_is_drawn():
    ax = timeline_figure(_shared_plan()).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["due", "ok", "not counted", "today", "threshold (30 d)"]


def test_scan_summary_adds_up_and_says_what_is_not_counted():
    plan = _shared_plan()
    line = summary(plan)
    assert line.startswith("24 certificates read: 18 counted (expired: 0 · critical: 0 · due: 3 · ok: 15)")
    assert "6 not counted, in parentheses in the table (self-signed: 6)" in line
    assert line.endswith("nodes unreadable: 0")


def test_a_counted_and_an_uncounted_certificate_on_the_same_day_share_one_marker_that_says_so():
    plan = select_due(
        report([cert(unit="CAPF", days=299), cert(unit="CAPF", node="sub1.c1.example.com", days=299)]), inventory()
    )
    ax = timeline_figure(plan).axes[0]
    markers = [line for line in ax.lines if line.get_marker() in ("o", "x")]
    assert [m.get_marker() for m in markers] == ["o"]  # the counted one shows, not a grey x hidden under it
    assert "2 nodes, 299 d (1 not counted)" in {t.get_text() for t in ax.texts}
