"""Benchmark: the planner's model against real servers, for docs/planning.md.

Run as root (memory cgroups): `./run bench planning` takes about 4 minutes per engine and prints
markdown tables: bytes per key measured against the model (9 data sets of 100k keys), and BGSAVE
under writes in a cgroup of the planned limit (copy measured, planned, and modelled at the measured
fork lifetime). Engines: the machine's redis-server and the toolchain's valkey-server where built.
The servers run exactly as the live tests start them (no persistence until BGSAVE, allkeys-lru for the
fork runs); a stack's pods differ in what the kernel and the node give them (CPU, disk).
"""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cache_patterns import planning  # noqa: E402
from cache_patterns.planning import headroom as hr, memory  # noqa: E402
from cache_patterns.planning.memory import Engine, Size  # noqa: E402
from cache_patterns.planning.plan import Workload  # noqa: E402
from testbed import memory_probe as probe  # noqa: E402
from testbed.memory_probe import DATASETS, FORKS, KEYS  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def per_key(binary: str) -> None:
    server = probe.start(binary)
    try:
        name, version, allocator = server.engine()
        quantum = server.quantum()
        print(f"\n#### Bytes per key: {name} {version} ({allocator}, quantum {quantum}), {KEYS} keys per set, "
              f"load {load()}\n")
        print("| key | value | TTL share | measured B/key | model | model error |")
        print("|---|---|---|---|---|---|")
        for key, value, ttl in DATASETS:
            measured = probe.bytes_per_key(server, KEYS, key, value, ttl)
            model = memory.key_cost(KEYS, key, value, ttl, quantum).total
            print(f"| {key.describe()} | {value.describe()} | {ttl:.0%} | {measured:.2f} | {model:.2f} | "
                  f"{(model - measured) / measured:+.2%} |")
    finally:
        server.stop()


def forks(binary: str) -> None:
    server = probe.start(binary)
    name, version, allocator = server.engine()
    quantum = server.quantum()
    server.stop()
    print(f"\n#### BGSAVE under writes in a cgroup of the planned limit: {name} {version} ({allocator}), "
          f"load {load()}\n")
    print("| run | maxmemory | limit | writes/s | fork s (planned) | copied | planned fork headroom | "
          "model at measured fork | peak / limit | OOM kills |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    fmt = planning.fmt
    for what, keys, value_bytes, rate in FORKS:
        w = Workload(keys, Size(5, 11, "uniform"), Size.fixed(value_bytes), 0.0, rate, None, "rdb", 0)
        plan = planning.plan_pod(w, Engine(name, ".".join(version.split(".")[:2]), quantum))
        run = probe.fork_under_writes(binary, plan.maxmemory, plan.limit, keys, value_bytes, rate)
        regions = memory.regions(run.keys, w.key_bytes, w.value_bytes, 0.0, quantum)
        modelled = hr.cow_fraction(run.writes_per_second, regions, run.fork_seconds) * run.anon_before
        print(f"| {what} | {fmt(plan.maxmemory)} | {fmt(plan.limit)} | {run.writes_per_second:,.0f} | "
              f"{run.fork_seconds:.1f} ({hr.fork_seconds(keys, plan.maxmemory):.1f}) | {fmt(run.copied)} | "
              f"{fmt(plan.headroom.parts(plan.maxmemory)['fork'])} (c = {plan.headroom.cow:.2f}) | {fmt(modelled)} | "
              f"{run.anon_peak / plan.limit:.2f} | {run.oom_kills} |")


def main() -> int:
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, kernel {platform.release()}, load {load()}")
    for engine, binary, why in probe.engines_here():
        if binary is None:
            print(f"\n{engine}: skipped ({why})")
            continue
        per_key(binary)
        forks(binary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
