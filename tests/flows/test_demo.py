"""``certops demo`` shows the whole product: the scan and its picture, the renewals, the Slack messages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Run ``certops demo --quick`` once in a subprocess (its own embedded Prefect server)."""
    out_dir = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CERTOPS_", "CUCM_SIM_"))}
    env["PREFECT_HOME"] = str(out_dir / "prefect-home")
    proc = subprocess.run(
        [sys.executable, "-c", "from certops.cli import main; main()", "demo", "--quick", "--dir", str(out_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    return proc, out_dir


def test_demo_exits_zero_and_every_renewal_completes_without_overlap(demo):
    proc, _ = demo
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for unit in ("tomcat", "CallManager", "TVS"):
        assert f"{unit} on c1: completed" in out
    assert "overlap: none" in out and "overlap: YES" not in out


def test_demo_prints_the_scan_table_with_days_left_and_urgency(demo):
    proc, _ = demo
    out = proc.stdout
    assert "days left" in out and "urgency" in out
    rows = re.findall(r"│\s+(\d+) │ (\S+)\s+│ c1\s+│ (\S+)\s+│ (\S+)\s+│", out)
    assert ("cucm-pub.c1.certops.test", "tomcat") in {(r[2], r[3]) for r in rows}
    due = {r[3] for r in rows if r[1] == "due"}
    assert {"tomcat", "CallManager"} <= due
    assert re.search(r"due: c1 tomcat on .*\(\d+ days left\)", out)


def test_demo_writes_the_expiry_picture_as_png_and_svg_and_prints_where(demo):
    proc, out_dir = demo
    png = re.search(r"expiry timeline picture: (\S+\.png)", proc.stdout)
    svg = re.search(r"^\s+(\S+\.svg)$", proc.stdout, re.MULTILINE)
    assert png and svg
    png_path, svg_path = Path(png.group(1)), Path(svg.group(1))
    assert png_path.parent.parent == out_dir.resolve()
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg_path.read_text()[:2000]
    json_path = re.search(r"scan report \(JSON\):\s+(\S+)", proc.stdout)
    audit_path = re.search(r"audit log:\s+(\S+)", proc.stdout)
    assert json_path and Path(json_path.group(1)).is_file()
    assert audit_path and Path(audit_path.group(1)).stat().st_size > 0


def test_demo_prints_the_slack_messages_scan_summary_approvals_and_completions_in_threads(demo):
    proc, _ = demo
    out = proc.stdout
    slack = out[out.index("messages received by the local Slack server") :]
    top = [line for line in slack.splitlines() if line.startswith("  #uc-certs")]
    assert top[0].startswith("  #uc-certs  Certificate scan")
    approvals = [line for line in top if "Approval needed" in line]
    assert len(approvals) == 3 and any("tomcat on c1" in a for a in approvals)
    assert "certops approve" in approvals[0]
    replies = [line for line in slack.splitlines() if "└ in thread:" in line]
    assert any(".csr" in r for r in replies)
    for unit in ("tomcat", "CallManager", "TVS"):
        assert any(f"Renewed {unit} on c1" in r for r in replies)
    assert "xoxb-demo-" not in out and "xoxb-demo-" not in proc.stderr
