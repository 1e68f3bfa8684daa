"""``certops demo`` shows the whole product: the scan and its picture, the renewals, the Slack messages."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

# a child of a test keeps its pytest process's own host-lock and server-discovery folders (tests/conftest.py):
# the shared /tmp defaults would let parallel workers see each other's locks
HOST_WIDE = {"CERTOPS_LOCK_DIR", "CERTOPS_RUNTIME_DIR", "CERTOPS_CACHE_DIR", "CERTOPS_PREFECT_STARTUP_TIMEOUT"}

ROOT = Path(__file__).resolve().parents[2]


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Run ``certops demo --quick --keep`` once in a subprocess (its own embedded Prefect server).

    When it says the server keeps running, its processes are noted and it gets SIGTERM (what a
    service manager or ``kill`` sends): the result carries what was left behind.
    """
    out_dir = tmp_path_factory.mktemp("demo")
    tmp = tmp_path_factory.mktemp("demo-tmp")  # the demo's scratch folder goes here
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CERTOPS_", "CUCM_SIM_")) or k in HOST_WIDE
    }
    env["PREFECT_HOME"] = str(out_dir / "prefect-home")
    env["TMPDIR"] = str(tmp)
    stderr = (out_dir / "stderr.txt").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from certops.cli import main; main()",
            "demo",
            "--quick",
            "--keep",
            "--dir",
            str(out_dir),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    killer = threading.Timer(240, proc.kill)  # a hung demo fails the tests instead of hanging them
    killer.start()
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "Ctrl-C to stop" in line:
            break
    scratch = sorted(p.name for p in tmp.iterdir())
    ui = re.search(r"Prefect UI (http://127\.0\.0\.1:(\d+))", "".join(lines))
    processes = _descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    rest = proc.stdout.read()
    proc.wait()
    killer.cancel()
    stderr.close()
    return Demo(
        returncode=proc.returncode,
        stdout="".join(lines) + rest,
        stderr=(out_dir / "stderr.txt").read_text(),
        out_dir=out_dir,
        scratch_while_running=scratch,
        scratch_after=sorted(p.name for p in tmp.iterdir()),
        port=int(ui.group(2)) if ui else None,
        processes=processes,
    )


@dataclasses.dataclass
class Demo:
    returncode: int | None
    stdout: str
    stderr: str
    out_dir: Path
    scratch_while_running: list[str]
    scratch_after: list[str]
    port: int | None
    processes: set[int]


def test_demo_exits_zero_and_every_renewal_completes_without_overlap(demo):
    proc = demo
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for unit in ("tomcat", "CallManager", "TVS"):
        assert f"{unit} on c1: completed" in out
    assert "overlap: none" in out and "overlap: YES" not in out


def test_demo_prints_the_scan_table_with_days_left_and_urgency(demo):
    proc = demo
    out = proc.stdout
    assert "days left" in out and "urgency" in out
    rows = re.findall(r"│\s+(\d+) │ (\S+)\s+│ c1\s+│ (\S+)\s+│ (\S+)\s+│", out)
    assert ("cucm-pub.c1.certops.test", "tomcat") in {(r[2], r[3]) for r in rows}
    due = {r[3] for r in rows if r[1] == "due"}
    assert {"tomcat", "CallManager"} <= due
    assert re.search(r"due: c1 tomcat on .*\(\d+ days left\)", out)


def test_demo_writes_the_expiry_picture_as_png_and_svg_and_prints_where(demo):
    proc, out_dir = demo, demo.out_dir
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
    proc = demo
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


def test_demo_kept_running_and_stopped_with_sigterm_leaves_no_server_and_no_scratch_folder(demo):
    assert demo.scratch_while_running and all(n.startswith("certops-demo-run-") for n in demo.scratch_while_running)
    assert demo.processes, "the demo should have started a Prefect server process"
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "stopping the Prefect server" in demo.stdout
    assert demo.scratch_after == []
    assert [pid for pid in demo.processes if _alive(pid)] == []
    assert demo.port is not None
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", demo.port), timeout=2):
        pass


def test_demo_inventory_kept_in_dir_still_passes_config_check_after_the_demo(demo):
    inventory = demo.out_dir / "inventory.yaml"
    text = inventory.read_text()
    assert "certops-demo-run-" not in text
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "certops"), "config", "check", str(inventory)],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith(("CERTOPS_", "CUCM_SIM_")) or k in HOST_WIDE},
    )
    assert proc.returncode == 0, proc.stderr
    assert "does not exist" not in proc.stderr
