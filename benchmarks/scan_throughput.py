"""Scan throughput: read every certificate of a simulated fleet and print what it cost.

Default: 1,000 nodes (200 clusters of 5) with 50 ms injected latency per request, read with
``read_fleet_certificates`` at the scan's default concurrency (32 workers, 4 per cluster), then
judged with ``select_due``. Prints nodes per second, wall time, the ratio of the wall time to the
latency floor at that concurrency, and peak memory.

The latency floor is ``nodes x requests_per_node x latency / concurrency``, where
``concurrency = min(max_workers, clusters x per_cluster)`` and ``requests_per_node`` is measured
first (one node read sequentially with and without the latency). The simulator runs in this
process, so its CPU time competes with the client's (2 cores here); ``--sim-process`` runs it as
``certops sim`` in its own process instead. A ratio near 1 means the scan is latency-bound, well
above 1 means CPU-bound (TLS handshakes, parsing, the simulator).

    .venv/bin/python benchmarks/scan_throughput.py [--clusters 200] [--nodes 5] [--latency 0.05]
        [--max-workers 32] [--per-cluster 4] [--tracemalloc] [--sim-process]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from certops.due import select_due
from certops.fleet import read_fleet_certificates
from certops.inventory_file import load_inventory
from simulator.fleet import SimulatedFleet
from simulator.options import FleetOptions


def _one_node_seconds(inv, cluster: str, fqdn: str) -> float:
    sub = inv.model_copy(
        update={"clusters": [c.model_copy(update={"nodes": [c.node(fqdn)]}) for c in inv.clusters if c.name == cluster]}
    )
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        read_fleet_certificates(sub, max_workers=1, per_cluster=1)
        best = min(best, time.perf_counter() - t)
    return best


@contextlib.contextmanager
def _fleet(args: argparse.Namespace, tmp: Path) -> Iterator[tuple[Path, Callable[[float], None] | None, float]]:
    """Yield (inventory path, latency setter or None, start seconds) of a running simulated fleet."""
    os.environ["CUCM_SIM_OS_PASSWORD"] = os.environ["BENCH_OS"] = "bench-os-pw"
    os.environ["CUCM_SIM_APP_PASSWORD"] = os.environ["BENCH_APP"] = "bench-app-pw"
    t0 = time.perf_counter()
    if not args.sim_process:
        opts = FleetOptions(
            clusters=args.clusters,
            nodes=args.nodes,
            latency=0.0,
            state_dir=tmp / "sim",
            phones_per_cluster=5,
            password="bench-os-pw",
            app_password="bench-app-pw",
        )
        with SimulatedFleet(opts) as fleet:
            path = fleet.write_inventory(tmp / "inv.yaml", password_env="BENCH_OS", app_password_env="BENCH_APP")
            yield path, lambda seconds: fleet.set_fault("latency", seconds=seconds), time.perf_counter() - t0
        return
    path = tmp / "inv.yaml"
    certops = Path(sys.executable).parent / "certops"
    cmd = [str(certops), "sim", "--clusters", str(args.clusters), "--nodes", str(args.nodes), "--phones", "5"]
    cmd += ["--latency", str(args.latency * 1000), "--write-inventory", str(path), "--state-dir", str(tmp / "sim")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while not path.exists():
            if proc.poll() is not None:
                raise SystemExit(f"certops sim exited with {proc.returncode}")
            time.sleep(0.2)
        time.sleep(0.5)  # the file is written once every listener is ready; let the write finish
        yield path, None, time.perf_counter() - t0
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=200)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--max-workers", type=int, default=32)
    ap.add_argument("--per-cluster", type=int, default=4)
    ap.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations during the read (slower)")
    ap.add_argument("--sim-process", action="store_true", help="run the simulator as 'certops sim' in its own process")
    args = ap.parse_args()

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as tmp, _fleet(args, Path(tmp)) as (path, set_latency, started):
        inv = load_inventory(path)
        nodes = sum(len(c.nodes) for c in inv.clusters)
        first = inv.clusters[0]

        # latency-bound round trips per node, measured on one node read sequentially
        if set_latency is not None:
            bare = _one_node_seconds(inv, first.name, first.publisher.fqdn)
            set_latency(args.latency)
            slow = _one_node_seconds(inv, first.name, first.publisher.fqdn)
            per_node = max(1, round((slow - bare) / args.latency)) if args.latency > 0 else 1
        else:  # the simulator process has the latency from the start
            bare = None
            slow = _one_node_seconds(inv, first.name, first.publisher.fqdn)
            per_node = max(1, int(slow / args.latency)) if args.latency > 0 else 1

        concurrency = min(args.max_workers, len(inv.clusters) * args.per_cluster)
        floor = nodes * per_node * args.latency / concurrency
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cpu0 = os.times()
        if args.tracemalloc:
            tracemalloc.start()
        t = time.perf_counter()
        report = read_fleet_certificates(inv, max_workers=args.max_workers, per_cluster=args.per_cluster)
        wall = time.perf_counter() - t
        plan = select_due(report, inv)
        judged = time.perf_counter() - t - wall
        traced = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
        if args.tracemalloc:
            tracemalloc.stop()
        rss2 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cpu1 = os.times()

    where = "in a separate process" if args.sim_process else "in this process"
    print(
        f"fleet: {len(inv.clusters)} clusters x {args.nodes} nodes = {nodes} nodes; "
        f"simulator {where}, started in {started:.1f} s"
    )
    print(
        f"latency {args.latency * 1000:.0f} ms/request; measured {per_node} latency-bound round trip(s) per node "
        f"(one node sequentially: {slow * 1000:.0f} ms with latency"
        + (f", {bare * 1000:.0f} ms without)" if bare is not None else ")")
    )
    print(f"concurrency: max_workers={args.max_workers}, per_cluster={args.per_cluster} -> {concurrency} nodes at once")
    print(f"read: {len(report.certificates)} certificates, {len(report.failures)} failures")
    print(f"wall time: {wall:.2f} s  ->  {nodes / wall:.1f} nodes/s")
    print(f"latency floor at this concurrency: {floor:.2f} s  ->  wall / floor = {wall / floor:.2f}")
    print(
        f"due selection of {len(plan.statuses)} certificates: {judged * 1000:.0f} ms; "
        f"due renewals: {len(plan.start)} start, {len(plan.queued)} queued"
    )
    shared = "client only" if args.sim_process else "client and simulator share this process"
    print(
        f"peak RSS of this process: {rss2 / 1024:.0f} MB (at start {rss0 / 1024:.0f} MB, "
        f"before the read {rss1 / 1024:.0f} MB; {shared})"
    )
    if traced is not None:
        print(f"tracemalloc peak during the read: {traced / 1e6:.1f} MB")
    print(
        f"CPU of this process during the read: user {cpu1.user - cpu0.user:.1f} s, "
        f"system {cpu1.system - cpu0.system:.1f} s"
    )


if __name__ == "__main__":
    main()
