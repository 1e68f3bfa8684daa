"""The fault suite's scenarios; each returns its :class:`~tests.blackbox.fault_suite.Figures`.

- :func:`concurrent_starts`: ``starts`` ``certops renew`` processes at once, CallManager and TVS
  of the same clusters (two per cluster), lab CA, mixed mode;
- :func:`killed_and_rerun`: renewals killed with SIGKILL at a trust/identity upload, a restart
  and a phone reset, marked Crashed (what zombie detection does), then rerun with ``certops renew``;
- :func:`bad_chains`: a renewal awaiting approval (manual CA) is offered five bad chains through
  ``certops approve`` and through the Prefect resume form, then the good one.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.blackbox.fault_suite import (
    Figures,
    KillAt,
    Killer,
    SuiteCa,
    World,
    bad_offers,
    build_world,
    count_overlaps,
    count_repeats,
    count_secrets,
    good_offer,
    mark_crashed_runs,
    pending_csrs,
    uploads_of,
    wait_for,
)


def _completed(world: World, cluster: str, unit: str) -> bool:
    """From the event log: every node holding ``unit`` got its new identity."""
    nodes = {n.fqdn for n in world.fleet.cluster(cluster).nodes if unit in n.units}
    got = {
        e["node"]
        for e in world.events()
        if e["operation"] == "identity_uploaded" and e["cluster"] == cluster and e["unit"] == unit
    }
    return bool(nodes) and nodes <= got


def _finish(world: World, figures: Figures) -> Figures:
    events = world.events()
    figures.overlaps, overlaps = count_overlaps(events)
    figures.repeated_disruptive_steps, repeats = count_repeats(events)
    figures.secrets_found, secrets = count_secrets(world)
    figures.notes += overlaps + repeats + secrets
    return figures


def concurrent_starts(
    root: Path, prefect_env: dict[str, str], prefect_home: Path, *, starts: int = 10, timeout: float = 600.0
) -> Figures:
    """``starts`` renewals at once: CallManager and TVS on ``starts / 2`` clusters."""
    clusters = math.ceil(starts / 2)
    world = build_world(root, prefect_env, prefect_home, clusters=clusters, nodes=2, phones=4)
    try:
        jobs = [(f"c{i // 2 + 1}", ("CallManager", "TVS")[i % 2]) for i in range(starts)]
        clis = [world.renew(c, u) for c, u in jobs]
        deadline = time.monotonic() + timeout
        failed = 0
        figures = Figures()
        for (c, u), cli in zip(jobs, clis, strict=True):
            rc = cli.wait(max(1.0, deadline - time.monotonic()))
            if rc != 0 or not _completed(world, c, u):
                failed += 1
                figures.notes.append(f"{c} {u}: exit {rc}: {cli.text()[-1500:]}")
        figures.runs_failed = failed
        return _finish(world, figures)
    finally:
        world.close()


KILL_POINTS = [
    ("CallManager", "identity_uploaded", 1, None),
    ("TVS", "service_restart_finished", 1, "pub"),
    ("CallManager", "phone_auto_reset", 2, None),  # the phones reset themselves (automatic)
    ("TVS", "trust_uploaded", 2, None),
]


def killed_and_rerun(root: Path, prefect_env: dict[str, str], prefect_home: Path, *, timeout: float = 300.0) -> Figures:
    """One renewal per cluster, each SIGKILLed at its own point, marked Crashed, then rerun."""
    world = build_world(root, prefect_env, prefect_home, clusters=len(KILL_POINTS), nodes=2, phones=4)
    killer = Killer(world.fleet)
    figures = Figures()
    try:
        jobs: list[tuple[str, str, Any]] = []
        for i, (unit, operation, nth, node) in enumerate(KILL_POINTS):
            cluster = f"c{i + 1}"
            fqdn = world.fleet.cluster(cluster).publisher.fqdn if node == "pub" else None
            cli = world.renew(cluster, unit, name=f"killed-{cluster}-{unit}")
            killer.arm(KillAt(cluster, operation, nth, fqdn), cli.proc.pid)
            jobs.append((cluster, unit, cli))
        for cluster, unit, cli in jobs:
            rc = cli.wait(timeout)
            if cluster not in killer.fired:
                figures.notes.append(f"{cluster} {unit}: ended (exit {rc}) before its kill point: {cli.text()[-1500:]}")
        killer.uninstall()
        mark_crashed_runs(prefect_env, {c for c, _, _ in jobs}, world.inventory)
        reruns = [(c, u, world.renew(c, u, name=f"rerun-{c}-{u}")) for c, u, _ in jobs]
        failed = 0
        for cluster, unit, cli in reruns:
            rc = cli.wait(timeout)
            if rc != 0 or not _completed(world, cluster, unit):
                failed += 1
                figures.notes.append(f"rerun {cluster} {unit}: exit {rc}: {cli.text()[-1500:]}")
        figures.runs_failed = failed + sum(1 for c, _, _ in jobs if c not in killer.fired)
        return _finish(world, figures)
    finally:
        world.close()


def _pending_run(world: World, cluster: str, unit: str, since: float) -> str | None:
    _, out = world.run("pending", "--json", name=f"pending-{time.monotonic_ns()}")
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        p = json.loads(line)
        started = p.get("since")
        if p["cluster"] == cluster and p["unit"] == unit and started and _epoch(started) >= since - 1:
            return str(p["run_id"])
    return None


def _epoch(iso: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(iso).timestamp()


def _pause_key(run_id: str) -> str | None:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)  # type: ignore[arg-type]
    if run.state is None or run.state.type.value != "PAUSED":
        return None
    return str(run.state.state_details.pause_key)


def bad_chains(root: Path, prefect_env: dict[str, str], prefect_home: Path, *, unit: str = "tomcat") -> Figures:
    """Five bad chains offered (``certops approve`` and the resume form), then the good one."""
    from prefect.flow_runs import resume_flow_run

    world = build_world(root, prefect_env, prefect_home, clusters=1, nodes=2, phones=4, ca="manual", mixed_mode=False)
    figures = Figures()
    try:
        since = time.time()
        renew = world.renew("c1", unit)

        def alive() -> None:
            if renew.proc.poll() is not None:
                raise AssertionError(f"certops renew ended (exit {renew.proc.returncode}):\n{renew.text()[-3000:]}")

        def csrs_made() -> bool:
            alive()
            return len(pending_csrs(world.fleet, "c1", unit)) == 2

        def waiting_run() -> str | None:
            alive()
            return _pending_run(world, "c1", unit, since)

        wait_for("the CSRs on every node", csrs_made, 120)
        run_id = wait_for("the run awaiting approval", waiting_run, 120, poll=1.0)
        csrs = pending_csrs(world.fleet, "c1", unit)
        good = SuiteCa("FS Corporate")
        with world.fleet.ca_bundle_path.open("a") as fh:  # certops trusts the corporate root (tls.ca_bundle)
            fh.write(good.chain_pems()[1])
        offers = bad_offers(good, csrs, unit)
        bad_serials: set[str] = set()
        offers_dir = root / "offers"
        offers_dir.mkdir()

        def paused_or_ended() -> str | bool:
            return _pause_key(run_id) or renew.proc.poll() is not None

        for i, offer in enumerate(offers):
            bad_serials |= offer.serials
            if offer.key_body:
                world.secrets[f"pasted private key ({offer.kind})"] = offer.key_body
            path = offers_dir / f"bad-{i}.pem"
            path.write_text(offer.text)
            key = wait_for("the run waiting for a chain", paused_or_ended, 60)
            if renew.proc.poll() is not None:
                figures.notes.append(f"the run ended before the {offer.kind} chain was offered")
                break
            rc, out = world.run(
                "approve", run_id, "--chain", str(path), "--approver", "mallory", name=f"approve-bad-{i}"
            )
            if rc == 0:
                figures.notes.append(f"certops approve accepted the {offer.kind} chain: {out[-800:]}")
                wait_for(
                    f"the run asking again after the {offer.kind} chain",
                    lambda k=key: _pause_key(run_id) not in (None, k) or renew.proc.poll() is not None,
                    120,
                )
        # the same inputs through the Prefect UI's resume form (the server checks only the input's shape)
        for offer in offers:
            key = wait_for("the run waiting for a chain", paused_or_ended, 60)
            if renew.proc.poll() is not None:
                figures.notes.append(f"the run ended before the {offer.kind} chain was offered in the form")
                break
            result = resume_flow_run(run_id, run_input={"chain_pem": offer.text, "approver": "mallory"})  # type: ignore[arg-type]
            if getattr(result, "status", None) is not None and str(result.status.value) == "ACCEPT":
                wait_for(
                    f"the run asking again after the {offer.kind} chain",
                    lambda k=key: _pause_key(run_id) not in (None, k) or renew.proc.poll() is not None,
                    120,
                )
        wait_for("the run waiting for a chain", paused_or_ended, 60)
        before_good = len(world.events())
        path = offers_dir / "good.pem"
        path.write_text(good_offer(good, csrs, unit))
        rc, out = world.run("approve", run_id, "--chain", str(path), "--approver", "alice", name="approve-good")
        if rc != 0:
            figures.notes.append(f"certops approve refused the good chain: {out[-1500:]}")
        rc = renew.wait(180)
        events = world.events()
        early = uploads_of(events[:before_good])
        from_bad = [e for e in uploads_of(events[before_good:]) if e["detail"].get("serial") in bad_serials]
        figures.uploads_from_bad_input = len(early) + len(from_bad)
        figures.notes += [f"upload before the good chain: {e}" for e in early]
        figures.notes += [f"upload of a bad chain's certificate: {e}" for e in from_bad]
        if rc != 0 or not _completed(world, "c1", unit):
            figures.runs_failed = 1
            figures.notes.append(f"renewal after the good chain: exit {rc}: {renew.text()[-1500:]}")
        figures.secrets_found, secrets = count_secrets(world)
        figures.notes += secrets
        figures.notes.append(f"uploads: {Counter(e['operation'] for e in uploads_of(events))}")
        return figures
    finally:
        world.close()
