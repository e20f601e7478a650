"""Partition benchmark of the StatefulSet pattern: the staging stack's cache as it ships, on a pod network.

The plan comes from stacks/Pulumi.staging.yaml (testbed.plans.stack_plan; only addresses and file
paths are local). Every member is a pod: a Linux network namespace with its own address, on three
"nodes" (testbed/netns.py): node k holds redis-k, sentinel-k, haproxy-k and a client pod. Staging
runs 2 HAProxy pods; here there are 3, so that one always sits beside whichever node is cut off.
Each trial cuts the node of the current primary off from the other two for `--partition` seconds
(policy-routing blackhole rules: packets vanish, as in a real partition), heals it, and counts the
acknowledged writes that were lost on each client path (testbed/partition.py). Needs root.

The bound for a client pinned to the old primary follows from the config: the old primary refuses
writes (NOREPLICAS) once no replica has acknowledged for more than `min-replicas-max-lag` seconds
(minReplicasMaxLag, whole seconds). Replicas acknowledge once a second and the primary re-counts its
good replicas once a second, in whole seconds of its clock, so its last acknowledged write is at
most lag + 2 s after the partition began; every lost write lies in that window.

    .venv/bin/python benchmarks/partition.py [--rows shipped,lag-2s] [--trials 5] [--partition 20]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testbed import netns, partition  # noqa: E402
from benchmarks.rows import add_rows_option, chosen_rows  # noqa: E402
from testbed.plans import stack_plan  # noqa: E402
from testbed.statefulset import LocalStatefulSet  # noqa: E402
from testbed.support import engine_versions, missing_binaries, new_root, which  # noqa: E402

STACK, CACHE = "staging", "sessions"


@dataclass(frozen=True)
class Row:
    key: str
    differs: str
    changes: dict


ROWS = [
    Row("shipped", "-", {}),
    Row("lag-2s", "minReplicasMaxLag 2s", {"minReplicasMaxLag": "2s"}),
]


def run_row(row: Row, trials: int, partition_s: float, busybox: bool) -> tuple[list[partition.Trial], int]:
    plan = stack_plan(STACK, CACHE, row.changes)
    lag = -(-plan.server.min_replicas_max_lag_ms // 1000)
    net = netns.PodNetwork()
    root = new_root(f"cp-partition-{row.key}-")
    out: list[partition.Trial] = []
    try:
        cluster = LocalStatefulSet(root, plan=plan, network=net, haproxies=3, busybox=busybox)
        for node in range(3):
            net.add(f"client-{node}", node)
        cluster.start_all()
        try:
            for n in range(trials):
                t = partition.trial(cluster, partition_s=partition_s)
                out.append(t)
                p = t.paths
                print(f"  {row.key} trial {n + 1}: redis-{t.old} -> redis-{t.new}; majority names it at "
                      f"{t.switch_s:.2f}s; minority HAProxy refuses from {t.detected_s or float('nan'):.2f}s "
                      f"(new connections to the old primary {t.probes['to the old primary']}, refused "
                      f"{t.probes['refused']})", flush=True)
                for name, path in p.items():
                    print(f"      {name}: acknowledged {path.acked}, lost {len(path.lost)} (acknowledged at "
                          f"{path.window}), longest without a write {path.no_write_s:.2f}s", flush=True)
        finally:
            cluster.stop_all()
            if any(t is None for t in out):
                print(cluster.logs(tail=20))
    finally:
        net.close()
        shutil.rmtree(root, ignore_errors=True)
    return out, lag


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_rows_option(ap, ROWS)
    ap.add_argument("--trials", type=int, default=5, help="partitions per row (default 5)")
    ap.add_argument("--partition", type=float, default=20.0, help="seconds each partition lasts (default 20)")
    args = ap.parse_args()
    chosen = chosen_rows(ap, args.rows, ROWS)
    why = netns.available()
    missing = missing_binaries()
    if why or missing:
        print(why or f"missing: {', '.join(missing)}", file=sys.stderr)
        return 2
    busybox = which("busybox") is not None
    loads = [os.getloadavg()[0]]
    results = []
    for row in chosen:
        print(f"{row.key}: {row.differs}", flush=True)
        results.append((row, *run_row(row, args.trials, args.partition, busybox)))
        loads.append(os.getloadavg()[0])

    shipped = stack_plan(STACK, CACHE)
    print()
    print(f"{engine_versions()}; 3 nodes of pods (network namespaces), 3 Redis + 3 Sentinels + 3 HAProxy, scripts under "
          f"{'busybox sh' if busybox else 'dash'}, {os.cpu_count()} CPUs, 1-min load {min(loads):.2f}-{max(loads):.2f}")
    print(f"staging as shipped: downAfter {shipped.sentinel.down_after_ms} ms, HAProxy checks every "
          f"{shipped.endpoint.check_interval_ms} ms (Sentinel connect timeout {shipped.endpoint.sentinel_connect_timeout_ms}"
          f" ms), TLS {'on' if shipped.server.tls else 'off'}, persistence {shipped.server.persistence}, "
          f"minReplicasToWrite {shipped.server.min_replicas_to_write}, minReplicasMaxLag "
          f"{shipped.server.min_replicas_max_lag_ms // 1000} s; partitions of {args.partition:.0f} s")
    print()
    print("| row: differs from staging | n | majority names a new primary | minority HAProxy: new connections "
          "to the old primary / refused | lost via the minority-side HAProxy (acknowledged at) | ... with `WAIT 1` "
          "| lost via a majority-side HAProxy | lost by a client pinned to the old primary (acknowledged at) "
          "| bound lag + 2 s |")
    print("|---|---|---|---|---|---|---|---|---|")
    ok = True
    for row, trials, lag in results:
        def lost(name: str) -> tuple[int, int, list[float]]:
            paths = [t.paths[name] for t in trials]
            return sum(len(p.lost) for p in paths), sum(p.acked for p in paths), [a for p in paths for a in p.lost]
        def window(at: list[float]) -> str:
            return f"{min(at):.2f}-{max(at):.2f} s" if at else "-"
        hmin, hwait, hmaj, pin = (lost(n) for n in ("via the minority-side HAProxy", "via the minority-side HAProxy, "
                                                    "WAIT 1", "via a majority-side HAProxy", "pinned to the old primary"))
        holds = all(a <= lag + 2 for a in pin[2])
        ok &= holds and hmaj[0] == 0 and hwait[0] == 0
        print(f"| {row.key}: {row.differs} | {len(trials)} | {partition.summary([t.switch_s or float('nan') for t in trials])} s "
              f"| {sum(t.probes['to the old primary'] for t in trials)} / {sum(t.probes['refused'] for t in trials)} "
              f"(refused from {partition.summary([t.detected_s or float('nan') for t in trials])} s) "
              f"| {hmin[0]:,} of {hmin[1]:,} ({window(hmin[2])}) | {hwait[0]:,} of {hwait[1]:,} "
              f"| {hmaj[0]:,} of {hmaj[1]:,} | {pin[0]:,} of {pin[1]:,} ({window(pin[2])}) "
              f"| {lag + 2} s: {'holds' if holds else 'BROKEN'} |")
    print("(times in seconds after the partition began; min / median / max over the trials)")
    print(f"goals: nothing lost through a majority-side HAProxy or by a WAIT 1 client, pinned loss within the "
          f"bound: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
