"""CallManager and TVS never at once on a cluster, whatever Prefect server each `certops renew` uses.

Black boxes: two real ``certops renew`` processes, started together, without ``PREFECT_API_URL``
(each starts its own embedded Prefect server, so the Prefect claim binds nothing between them),
one ``-u CallManager``, one ``-u TVS``, against the same simulated cluster (lab CA: no approval).
The only witness is the simulator's event log. Three ways engineers actually do it:

- two shells, one state directory: the host lock serialises them; the second waits, then runs;
- two shells, two state directories: the host lock still serialises them (here: the second refuses);
- two laptops (no shared state, no shared lock directory): only the look at the cluster's own
  state (pending CSRs, identities not served yet, recently issued identities) protects. Whoever
  finds another renewal in flight refuses; two that both made their first CSR and then see each
  other both back off. A renewal that backed off after its own first CSR changed nothing served
  (a pending CSR is not a certificate); it never uploaded, restarted or reset anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.flows.conftest import RenewalEnv

# each test starts embedded Prefect servers in child processes: slow on a busy machine
pytestmark = [pytest.mark.prefect, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
CERTOPS = Path(sys.executable).parent / "certops"
UNITS = ("CallManager", "TVS")
CLI_SETTINGS = {
    "lock_poll": 0.5,
    "lock_wait_timeout": 240,
    "restart_timeout": 20,
    "restart_poll": 0.2,
    "phone_batch_size": 10,
    "phone_batch_pause": 0.0,
    "registration_timeout": 30,
    "registration_interval": 0.5,
    "ca_poll_interval": 0.1,
    "ca_poll_timeout": 20,
}
DISRUPTIVE = (
    "trust_uploaded",
    "identity_uploaded",
    "ctl_updated",
    "service_restart_started",
    "phone_reset",
    "phone_auto_reset",  # the phones reset themselves after the owner's upload (automatic)
)


def _start(env: RenewalEnv, unit: str, where: Path, *, state: Path, locks: Path, on_busy: str) -> Any:
    where.mkdir(parents=True, exist_ok=True)
    child = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    child.update(
        {
            "CERTOPS_STATE_DIR": str(state),
            "CERTOPS_LOCK_DIR": str(locks),
            "CERTOPS_AUDIT_LOG": str(where / "audit.jsonl"),
            "PREFECT_HOME": str(where / "prefect-home"),
            "CERTOPS_RENEWAL_SETTINGS": json.dumps(CLI_SETTINGS),
            "PREFECT_LOGGING_LEVEL": "INFO",
        }
    )
    out = (where / "out.log").open("wb")
    cmd = [str(CERTOPS), "renew", "-i", str(env.inventory_path), "-c", "c1", "-u", unit, "--on-busy", on_busy]
    return subprocess.Popen(cmd, cwd=ROOT, env=child, stdout=out, stderr=subprocess.STDOUT), where / "out.log"


def _run_both(env: RenewalEnv, tmp: Path, *, shared_state: bool, shared_locks: bool, on_busy: str) -> dict[str, Any]:
    procs = {}
    for u in UNITS:
        state = tmp / ("state" if shared_state else f"state-{u}")
        locks = tmp / ("locks" if shared_locks else f"locks-{u}")
        procs[u] = _start(env, u, tmp / u, state=state, locks=locks, on_busy=on_busy)
    results = {}
    for u, (proc, log) in procs.items():
        try:
            rc = proc.wait(timeout=700)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        results[u] = {"rc": rc, "out": log.read_text(errors="replace")}
    return results


def _spans(env: RenewalEnv) -> dict[str, tuple[int, int]]:
    """Per unit that did anything disruptive: (index of its first CSR, index of its last disruptive event).

    Restarts and phone resets carry no unit in the log: they belong to the renewal whose uploads
    came last before them. A unit that only made a CSR (backed off) has no span.
    """
    events = env.fleet.events()
    # a trust upload names the trust store (CallManager-trust serves both units): it belongs to the
    # renewal whose identity upload comes next
    trust_owner: dict[int, str] = {}
    upcoming: str | None = None
    for i in range(len(events) - 1, -1, -1):
        if events[i]["operation"] == "identity_uploaded":
            upcoming = events[i]["unit"]
        elif events[i]["operation"] == "trust_uploaded" and upcoming is not None:
            trust_owner[i] = upcoming
    owner: str | None = None
    spans: dict[str, list[int]] = {}
    first_csr: dict[str, int] = {}
    for i, e in enumerate(events):
        if e["operation"] == "csr_generated":
            first_csr.setdefault(e["unit"], i)
        if e["operation"] == "identity_uploaded":
            owner = e["unit"]
        elif e["operation"] == "trust_uploaded":
            owner = trust_owner.get(i, owner)
        if e["operation"] in DISRUPTIVE or e["operation"] in ("phone_registered", "service_restart_finished"):
            assert owner is not None, f"{e['operation']} before any upload"
            spans.setdefault(owner, [first_csr[owner], i])[1] = i
    return {u: (s[0], s[1]) for u, s in spans.items()}


def _judge(env: RenewalEnv, results: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Assert no overlap; return (units that completed, units that refused)."""
    events = env.fleet.events()
    spans = _spans(env)
    completed = [u for u in UNITS if results[u]["rc"] == 0]
    refused = [u for u in UNITS if results[u]["rc"] != 0]
    assert set(spans) == set(completed), (spans, {u: r["out"][-1500:] for u, r in results.items()})
    if len(spans) == 2:
        (_, first_end), (second_start, _) = sorted(spans.values())
        assert first_end < second_start, "the second unit's first CSR came before the first one's last restart/reset"
    # every restart ran alone, and the last one finished before the next renewal's first CSR
    intervals = env.fleet.restart_intervals("c1")
    assert all(end is not None for *_, end in intervals)
    for u in refused:
        out = results[u]["out"]
        assert "renewal failed: cluster c1:" in out and "does not start" in out, out[-3000:]
        assert "host lock" in out or "looks in flight" in out, out[-3000:]
        assert not [e for e in events if e["unit"] == u and e["operation"] == "identity_uploaded"]
    phones = {p.name for p in env.fleet.cluster("c1").phones}
    assert env.fleet.cluster("c1").registered_count() == len(phones)
    return completed, refused


def test_two_shells_sharing_the_state_directory_run_one_after_the_other(make_env, tmp_path):
    env = make_env(ca="auto")
    results = _run_both(env, tmp_path, shared_state=True, shared_locks=True, on_busy="wait")
    completed, _ = _judge(env, results)
    assert sorted(completed) == sorted(UNITS), {u: r["out"][-2000:] for u, r in results.items()}
    assert any("waiting for the host lock" in r["out"] for r in results.values())


def test_two_shells_with_their_own_state_directories_never_overlap(make_env, tmp_path):
    env = make_env(ca="auto")
    results = _run_both(env, tmp_path, shared_state=False, shared_locks=True, on_busy="refuse")
    completed, refused = _judge(env, results)
    assert len(completed) == 1 and len(refused) == 1, {u: r["out"][-2000:] for u, r in results.items()}


def test_two_laptops_sharing_nothing_but_the_cluster_never_overlap(make_env, tmp_path):
    env = make_env(ca="auto")
    results = _run_both(env, tmp_path, shared_state=False, shared_locks=False, on_busy="refuse")
    completed, refused = _judge(env, results)
    assert len(completed) <= 1 and refused, {u: r["out"][-2000:] for u, r in results.items()}
    for u in refused:
        assert "looks in flight" in results[u]["out"]


def test_dry_run_shows_the_prefect_claim_the_host_lock_and_what_the_nodes_show_in_flight(make_env):
    from typer.testing import CliRunner

    from certops.cli import app
    from certops.hostlock import Holder, HostLock
    from flows.renew import renew
    from tests.flows.conftest import FAST, start_in_thread, wait_paused

    env = make_env(ca="person")
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "TVS", settings=FAST, return_state=True)
    run = wait_paused(env)  # its TVS CSRs are pending on the nodes; its claim is held while it waits
    other = HostLock("c1", "itl")
    assert other.try_acquire(Holder.this_process(run_id="run-on-this-host", unit="CallManager-ECDSA"))
    runner = CliRunner()
    try:
        mark = len(env.fleet.events())
        result = runner.invoke(
            app, ["renew", "-i", str(env.inventory_path), "-c", "c1", "-u", "CallManager", "--dry-run"]
        )
        assert result.exit_code == 1, result.output  # blocked: a no-go
        out = result.output
        assert f"Prefect claim held now by flow run {run.id} (TVS on" in out, out
        assert "run state Paused" in out or "run state Suspended" in out, out
        assert "[blocked] host lock" in out and "CallManager-ECDSA (run run-on-this-host)" in out
        assert "[blocked] in flight on the cluster" in out and f"{env.pub}: TVS: a CSR is pending" in out
        assert env.changes(since=mark) == []  # the dry run changed nothing (it may read)
    finally:
        other.release()
        runner.invoke(app, ["deny", str(run.id), "--reason", "test over", "--approver", "erin"])
        fut.result(timeout=60)
