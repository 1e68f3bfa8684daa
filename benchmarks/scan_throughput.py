"""Scan throughput: read every certificate of a simulated fleet and print what it cost, beside a minimal scanner.

Default: 1,000 nodes (200 clusters of 5) with 50 ms injected latency per request, read at the
scan's default concurrency (32 nodes at once, 4 per cluster). The simulator is warmed first (it
builds each node's TLS context at its first connection, about 5 ms a node): one full read, not
timed. Then:

1. the library: ``read_fleet_certificates`` and ``select_due`` in this process (wall, CPU, peak
   memory);
2. side by side, whole processes (start-up, inventory, reading, printing): the minimal scanner
   written for this benchmark (``benchmarks/minimal_scanner.py``: one shared SSLContext, one TLS
   connection per node, the certmgr snapshot, ``cryptography`` per certificate, the same number
   of nodes at once), ``certops certificates`` and ``certops scan --no-renew`` (certops's
   modules compiled, as installed, and the self-signed verdicts of the warm-up read kept, as a
   daily scan keeps the day before's), and ``certops certificates`` from an empty cache
   directory ("first"); each ``--repeat`` times, the best run shown, with its client CPU per
   node, peak RSS and the simulator's CPU during it;
3. with ``--sweep 100,500,1000,2000``: the library's client CPU per node at each fleet size
   (the first N nodes of the fleet; best of ``--repeat``, each after a full garbage collection), to show
   the cost is linear in nodes.

The floor is stated honestly: the latency floor (``nodes x round trips x latency /
concurrency``, round trips measured on one node) and the simulator's own CPU during the run —
the simulator serves every node from one Python process, so its CPU seconds bound the wall time
from below whatever the client does. ``--sim-process`` runs the simulator as ``certops sim`` in
its own process (client-only CPU and memory, its CPU read from /proc); without it the simulator
shares this process (library figures then include its CPU).

    .venv/bin/python benchmarks/scan_throughput.py --sim-process [--clusters 200] [--nodes 5]
        [--latency 0.05] [--max-workers 32] [--per-cluster 4] [--repeat 3] [--sweep 100,500,1000,2000]
        [--tracemalloc]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.sim_process import certops_sim
from certops.due import select_due
from certops.fleet import read_fleet_certificates
from certops.inventory import Inventory
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


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _self_cpu() -> float:
    t = os.times()
    return t.user + t.system


@contextlib.contextmanager
def _fleet(
    args: argparse.Namespace, tmp: Path
) -> Iterator[tuple[Path, Callable[[float], None] | None, float, Callable[[], float]]]:
    """Yield (inventory path, latency setter or None, start seconds, simulator CPU so far) of a running fleet."""
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
            yield path, lambda seconds: fleet.set_fault("latency", seconds=seconds), time.perf_counter() - t0, _self_cpu
        return
    path = tmp / "inv.yaml"
    options = ["--clusters", str(args.clusters), "--nodes", str(args.nodes), "--phones", "5"]
    with certops_sim([*options, "--latency", str(args.latency * 1000)], path, tmp / "sim") as proc:
        yield path, None, time.perf_counter() - t0, lambda: _proc_cpu(proc.pid)


def _first_nodes(inv: Inventory, count: int) -> Inventory:
    """The inventory cut to its first ``count`` nodes (whole clusters, then part of the last one)."""
    clusters = []
    left = count
    for c in inv.clusters:
        if left <= 0:
            break
        clusters.append(c if len(c.nodes) <= left else c.model_copy(update={"nodes": c.nodes[:left]}))
        left -= len(clusters[-1].nodes)
    return inv.model_copy(update={"clusters": clusters})


ROOT = Path(__file__).resolve().parents[1]
FIRST = "certops certificates, first"
"""The whole-process row run with an empty cache directory: no self-signed verdict kept from a scan before."""


class Run:
    """One whole-process run: wall, client CPU, peak RSS, simulator CPU meanwhile, exit code."""

    def __init__(self, wall: float, cpu: float, rss_mb: float, sim_cpu: float, code: int) -> None:
        self.wall, self.cpu, self.rss_mb, self.sim_cpu, self.code = wall, cpu, rss_mb, sim_cpu, code


def _run_process(cmd: list[str], sim_cpu: Callable[[], float], env: dict[str, str]) -> Run:
    """Run ``cmd`` in ``env`` to its end; its CPU from wait4, its peak RSS from /proc (VmHWM, read while it runs).

    wait4's ``ru_maxrss`` would count the memory of this process, which the child had before exec.
    """
    s0 = sim_cpu()
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    peak_kb = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        time.sleep(0.05)  # sampling the child's high-water mark, not synchronising with it
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(wall, usage.ru_utime + usage.ru_stime, peak_kb / 1024, sim_cpu() - s0, proc.returncode)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=200)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--max-workers", type=int, default=32)
    ap.add_argument("--per-cluster", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3, help="whole-process runs of each scanner (the best is shown)")
    ap.add_argument("--sweep", default="", help="fleet sizes for the linearity check, e.g. 100,500,1000,2000")
    ap.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations during the read (slower)")
    ap.add_argument("--sim-process", action="store_true", help="run the simulator as 'certops sim' in its own process")
    args = ap.parse_args()

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, _fleet(args, Path(tmp)) as (path, set_latency, started, sim_cpu):
        # the self-signed verdicts (certops.x509.verdicts) of the warm-up read are kept for the runs
        # after it, as a daily scan keeps the day before's; "first scan" runs start from none
        os.environ["CERTOPS_CACHE_DIR"] = str(Path(tmp) / "cache")
        inv = load_inventory(path)
        nodes = sum(len(c.nodes) for c in inv.clusters)
        first = inv.clusters[0]

        # warm the simulator: every node builds its TLS context at its first connection
        w = time.perf_counter()
        warm = read_fleet_certificates(inv, max_workers=args.max_workers, per_cluster=args.per_cluster)
        warmed = time.perf_counter() - w

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
        cpu0, s0 = os.times(), sim_cpu()
        if args.tracemalloc:
            tracemalloc.start()
        t = time.perf_counter()
        report = read_fleet_certificates(inv, max_workers=args.max_workers, per_cluster=args.per_cluster)
        wall = time.perf_counter() - t
        sim_during_read = sim_cpu() - s0
        plan = select_due(report, inv)
        judged = time.perf_counter() - t - wall
        traced = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
        if args.tracemalloc:
            tracemalloc.stop()
        rss2 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cpu1 = os.times()

        bin_dir = Path(sys.executable).parent
        scanners = {
            "minimal scanner": [
                *(sys.executable, str(Path(__file__).with_name("minimal_scanner.py")), str(path)),
                *("--concurrency", str(concurrency)),
            ],
            "certops certificates": [str(bin_dir / "certops"), "certificates", "-i", str(path)],
            "certops scan --no-renew": [str(bin_dir / "certops"), "scan", "--no-renew", "-i", str(path)],
            FIRST: [str(bin_dir / "certops"), "certificates", "-i", str(path)],
        }
        # as an installed certops: its modules compiled once (an editable install under
        # PYTHONDONTWRITEBYTECODE=1 compiles them at every start, about 0.1-0.15 s of CPU)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "certops")], env=env, check=False)
        side: dict[str, list[Run]] = {name: [] for name in scanners}
        for i in range(args.repeat):  # interleaved, so a busy moment of the machine hits each alike
            for name, cmd in scanners.items():
                empty = {**env, "CERTOPS_CACHE_DIR": str(Path(tmp) / f"empty-cache-{i}")}
                side[name].append(_run_process(cmd, sim_cpu, empty if name == FIRST else env))

        sweep: list[tuple[int, float, float]] = []
        for size in [int(x) for x in args.sweep.split(",") if x.strip()]:
            if size > nodes:
                print(f"sweep: {size} nodes skipped (the fleet has {nodes}; use --clusters/--nodes)")
                continue
            sub = _first_nodes(inv, size)
            runs: list[tuple[float, float]] = []
            for _ in range(args.repeat):  # best of --repeat, each after a full collection: a garbage
                gc.collect()  # collection of the earlier reports must not land in a small fleet's figure
                c0, t0 = time.process_time(), time.perf_counter()
                read_fleet_certificates(sub, max_workers=args.max_workers, per_cluster=args.per_cluster)
                runs.append((time.process_time() - c0, time.perf_counter() - t0))
            cpu_s, wall_s = min(runs)
            sweep.append((size, cpu_s / size * 1000, wall_s))

    where = "in a separate process" if args.sim_process else "in this process"
    load_after = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs; load average (1, 5, 15 min) "
        f"{' '.join(f'{x:.2f}' for x in load_before)} at the start, "
        f"{' '.join(f'{x:.2f}' for x in load_after)} at the end (the benchmark's own client and simulator count in it)"
    )
    print(
        f"fleet: {len(inv.clusters)} clusters x {args.nodes} nodes = {nodes} nodes; "
        f"simulator {where}, started in {started:.1f} s; warmed by one untimed read ({warmed:.1f} s, "
        f"{len(warm.failures)} failures)"
    )
    print(
        f"latency {args.latency * 1000:.0f} ms/request; measured {per_node} latency-bound round trip(s) per node "
        f"(one node sequentially: {slow * 1000:.0f} ms with latency"
        + (f", {bare * 1000:.0f} ms without)" if bare is not None else ")")
    )
    print(f"concurrency: max_workers={args.max_workers}, per_cluster={args.per_cluster} -> {concurrency} nodes at once")
    print("")
    print("library (read_fleet_certificates in this process):")
    print(f"  read: {len(report.certificates)} certificates, {len(report.failures)} failures")
    print(f"  wall time: {wall:.2f} s  ->  {nodes / wall:.1f} nodes/s")
    client_cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    if args.sim_process:
        print(
            f"  floor: latency {floor:.2f} s, simulator CPU during the read {sim_during_read:.2f} s "
            f"(one process) -> wall / floor = {wall / max(floor, sim_during_read):.2f}"
        )
        print(f"  client CPU during the read: {client_cpu:.2f} s = {client_cpu / nodes * 1000:.2f} ms/node")
    else:
        print(f"  latency floor at this concurrency: {floor:.2f} s  ->  wall / floor = {wall / floor:.2f}")
        print(
            f"  CPU of this process during the read (client and simulator): user {cpu1.user - cpu0.user:.1f} s, "
            f"system {cpu1.system - cpu0.system:.1f} s"
        )
    print(
        f"  due selection of {len(plan.statuses)} certificates: {judged * 1000:.0f} ms; "
        f"due renewals: {len(plan.start)} start, {len(plan.queued)} queued"
    )
    shared = "client only" if args.sim_process else "client and simulator share this process"
    print(
        f"  peak RSS of this process: {rss2 / 1024:.0f} MB (at start {rss0 / 1024:.0f} MB, "
        f"before the read {rss1 / 1024:.0f} MB; {shared})"
    )
    if traced is not None:
        print(f"  tracemalloc peak during the read: {traced / 1e6:.1f} MB")
    print("")
    print(f"side by side, whole processes, best of {args.repeat} (same warm simulator, {concurrency} nodes at once):")
    print(f"  {'scanner':<30}{'wall s':>8}{'client CPU s':>14}{'ms/node':>9}{'peak RSS MB':>13}{'sim CPU s':>11}  exit")
    best = {name: min(runs, key=lambda r: r.wall) for name, runs in side.items()}
    for name, r in best.items():
        print(
            f"  {name:<30}{r.wall:>8.2f}{r.cpu:>14.2f}{r.cpu / nodes * 1000:>9.2f}{r.rss_mb:>13.0f}{r.sim_cpu:>11.2f}"
            f"  {r.code}"
        )
    yardstick = best["minimal scanner"]
    for name in ("certops certificates", "certops scan --no-renew", FIRST):
        r = best[name]
        print(
            f"  {name}: {r.wall / yardstick.wall:.2f}x the minimal scanner's wall time, "
            f"{r.cpu / yardstick.cpu:.2f}x its client CPU"
        )
    all_walls = {name: ", ".join(f"{r.wall:.1f}" for r in runs) for name, runs in side.items()}
    print("  every run's wall time: " + "; ".join(f"{name} {walls}" for name, walls in all_walls.items()))
    print(
        "  certops runs with its modules compiled (as installed) and the self-signed verdicts of the warm-up "
        f"read kept in its cache directory, as a daily scan has the day before's; '{FIRST}' starts from "
        "an empty cache directory (every self-signed certificate without key identifiers is checked)"
    )
    if sweep:
        print("")
        print(f"linearity (library, client CPU per node by fleet size, best of {args.repeat}; simulator {where}):")
        for size, ms, seconds in sweep:
            print(f"  {size:>6} nodes: {ms:.2f} ms/node CPU, {seconds:.2f} s wall")


if __name__ == "__main__":
    main()
