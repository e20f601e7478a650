"""Day-2 operations of the StatefulSet pattern on the staging stack's cache as it ships (TLS, RDB
persistence, minReplicasToWrite 1, its timings), in real processes through the pod scripts: engine
upgrades along Redis 7.0.15 -> Valkey 8.1.1 -> Valkey 9.1.2 (Sentinels, endpoints, then the Redis pods
through the rollout driver), a scale 2 -> 4 -> 1 replicas with the primary on the highest ordinal, a
live maxmemory change and a memory-limit roll. A writer (SET + WAIT 1 through the write endpoints)
and a reader (the read endpoints) run throughout; each row reports acknowledged writes lost, the time
writes and reads were refused or held (gaps over 0.5 s between successes), the number of such write
gaps (client-visible switches) and the operation's wall time.

    .venv/bin/python benchmarks/day2.py [--rows upgrade,scale,memory] [--trials 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.rows import add_rows_option, chosen_rows  # noqa: E402
from cache_patterns.patterns.statefulset.rollout import Driver  # noqa: E402
from testbed import rolling  # noqa: E402
from testbed.plans import stack_plan  # noqa: E402
from testbed.scaling import SEEN, move_primary, sentinels_count, start_pods  # noqa: E402
from testbed.statefulset import LocalStatefulSet  # noqa: E402
from testbed.support import engine_versions, missing_binaries, new_root  # noqa: E402

CHAIN = ("redis-7.0", "valkey-8.1", "valkey-9.1")


class Row:
    def __init__(self, key: str, what: str) -> None:
        self.key, self.differs = key, what


ROWS = [Row("upgrade", "Redis 7.0.15 -> Valkey 8.1.1 -> Valkey 9.1.2"),
        Row("scale", "replicas 2 -> 4 -> 1, primary on the highest ordinal"),
        Row("memory", "maxmemory live, then a memory-limit roll")]


def cluster_of(plan, engine: str, haproxies: int = 2, skip: tuple[str, ...] = ()) -> LocalStatefulSet:
    c = LocalStatefulSet(new_root("cp-day2-"), plan=plan, busybox=False, haproxies=haproxies)
    for name in c.members:
        rolling.use_engine(c, name, engine)
    start_pods(c, [n for n in c.members if not n.endswith("-tls-reload") and n not in skip])
    return c


def upgrades(trial: int) -> list[tuple[str, dict]]:
    c = cluster_of(stack_plan("staging", "sessions"), CHAIN[0])
    out = []
    try:
        c.settle(timeout=180)
        pods = rolling.ProcessPods(c, engine_of={"r0": CHAIN[0]}, target="r0",
                                   revisions={f"redis-{i}": "r0" for i in range(c.servers)})
        for step in (1, 2):
            c.settle(timeout=120)
            t0 = time.monotonic()
            with rolling.Load(c, f"t{trial}u{step}") as load:
                result = rolling.upgrade(c, pods, CHAIN[step], f"r{step}")
                seen = load.finish()
            row = seen.row() | {"handovers": result["report"].handovers, "op_s": time.monotonic() - t0,
                                "prestop_s": max(pods.prestop_s.values())}
            out.append((f"upgrade {CHAIN[step - 1]} -> {CHAIN[step]} (Sentinels, then Redis pods)", row))
        c.settle(timeout=120)
        t0 = time.monotonic()
        with rolling.Load(c, f"t{trial}ep") as load:
            rolling.roll_endpoints(c)
            seen = load.finish()
        out.append(("HAProxy Deployment rolled (2 pods, one at a time)",
                    seen.row() | {"handovers": 0, "op_s": time.monotonic() - t0}))
    finally:
        c.stop_all()
        shutil.rmtree(c.root, ignore_errors=True)
    return out


def scaling(trial: int) -> list[tuple[str, dict]]:
    c = cluster_of(stack_plan("staging", "sessions", {"replicas": 4}), "valkey-8.1", haproxies=1,
                   skip=("redis-3", "redis-4"))
    out = []
    try:
        pods = rolling.ProcessPods(c, engine_of={"r0": "valkey-8.1"}, target="r0", active=3)
        driver = Driver(pods, timeout_s=120, poll_s=0.2)
        driver.wait_joined()
        move_primary(c, driver, "redis-2")
        t0 = time.monotonic()
        with rolling.Load(c, f"t{trial}up") as load:
            pods.active = 5
            start_pods(c, ["redis-3", "redis-4"])
            driver.wait_joined()
            seen = load.finish()
        out.append(("scale 2 -> 4 replicas", seen.row() | {"handovers": 0, "op_s": time.monotonic() - t0}))
        move_primary(c, driver, "redis-4")
        t0 = time.monotonic()
        with rolling.Load(c, f"t{trial}down") as load:
            removed = driver.prepare_scale_down(2)
            for pod in reversed(removed):
                c.run_script(pod, "redis-prestop.sh")
                for name in rolling.pod_members(c, pod):
                    c.stop(name)
            pods.active = 2
            driver.forget_removed(2)
            try:
                rolling.wait_until("Sentinels count 1 replica", lambda: sentinels_count(c, 1), 60)
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {SEEN}") from None
            seen = load.finish()
        out.append(("scale 4 -> 1 replicas, primary on the highest ordinal",
                    seen.row() | {"handovers": 1, "op_s": time.monotonic() - t0}))
    finally:
        c.stop_all()
        shutil.rmtree(c.root, ignore_errors=True)
    return out


def memory(trial: int) -> list[tuple[str, dict]]:
    c = cluster_of(stack_plan("staging", "sessions"), "valkey-8.1")
    out = []
    try:
        c.settle(timeout=180)
        pods = rolling.ProcessPods(c, engine_of={"r0": "valkey-8.1"}, target="r0",
                                   revisions={f"redis-{i}": "r0" for i in range(c.servers)})
        driver = Driver(pods, timeout_s=180, poll_s=0.2)
        current = max(s.maxmemory for s in driver.states().values())
        t0 = time.monotonic()
        with rolling.Load(c, f"t{trial}mm") as load:
            driver.set_maxmemory(current // 2)
            seen = load.finish()
        out.append(("maxmemory halved, live (CONFIG SET)", seen.row() | {"handovers": 0, "op_s": time.monotonic() - t0}))
        t0 = time.monotonic()
        with rolling.Load(c, f"t{trial}lim") as load:
            pods.engine_of["r1"] = "valkey-8.1"
            pods.target = "r1"
            report = driver.roll()
            seen = load.finish()
        out.append(("memory limit changed (pods rolled)", seen.row() | {"handovers": report.handovers,
                                                                          "op_s": time.monotonic() - t0,
                                                                          "prestop_s": max(pods.prestop_s.values())}))
    finally:
        c.stop_all()
        shutil.rmtree(c.root, ignore_errors=True)
    return out


def summary(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_rows_option(ap, ROWS)
    ap.add_argument("--trials", type=int, default=3)
    args = ap.parse_args()
    chosen = chosen_rows(ap, args.rows, ROWS)
    missing = missing_binaries() + rolling.missing_engines(*CHAIN)
    if missing:
        print(f"missing: {', '.join(missing)}", file=sys.stderr)
        return 2
    runs = {"upgrade": upgrades, "scale": scaling, "memory": memory}
    loads = [os.getloadavg()[0]]
    results: dict[str, list[dict]] = {}
    for row in chosen:
        for trial in range(args.trials):
            for op, r in runs[row.key](trial):
                results.setdefault(op, []).append(r)
                print(f"  {op} #{trial + 1}: {({k: round(v, 2) for k, v in r.items()})}", flush=True)
            loads.append(os.getloadavg()[0])
    print(f"\n{engine_versions()} (+ Redis 7.0.15, Valkey 9.1.2 for the upgrades); staging's `sessions` cache as "
          f"shipped (TLS, RDB persistence, minReplicasToWrite 1, downAfter 5 s), 3 Sentinels, HAProxy; scripts "
          f"under dash; {os.cpu_count()} CPUs, 1-min load {min(loads):.1f}-{max(loads):.1f}\n")
    print("| operation | n | hand-overs | acknowledged writes lost | write-refused s (gaps > 0.5 s) | write gaps "
          "| read-refused s | preStop s | operation wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    ok = True
    for op, rs in results.items():
        ok &= all(r["lost"] == 0 for r in rs)
        prestop = [r["prestop_s"] for r in rs if "prestop_s" in r]
        print(f"| {op} | {len(rs)} | {summary([r['handovers'] for r in rs])} | {sum(r['lost'] for r in rs):.0f} of "
              f"{sum(r['acked'] for r in rs):,.0f} | {summary([r['write_refused_s'] for r in rs])} "
              f"| {summary([r['write_switches'] for r in rs])} | {summary([r['read_refused_s'] for r in rs])} "
              f"| {summary(prestop) if prestop else '-'} | {summary([r['op_s'] for r in rs])} |")
    print("(min / median / max)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
