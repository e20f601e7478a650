"""The planner against real servers: bytes per key against used_memory across key and value sizes,
with and without a TTL; a cache filled to its planned maxmemory under churn, then BGSAVE while
writing, inside a memory cgroup whose limit is the planned limit; a full sync to a replica under writes
with the planned replica buffer. Results are labelled by engine, version and allocator.

Runtime here (2 cores, shared, load average 12): 126 s for both engines (Redis 7.0.15 and the
toolchain's Valkey 8.1.1): 40-50 s for the nine per-key sets of one engine, 3-7 s per fork run, 7 s for
the full sync.
"""
from __future__ import annotations

import time

import pytest

from cache_patterns import planning
from cache_patterns.planning import headroom as hr, memory
from cache_patterns.planning.memory import Engine, Size
from cache_patterns.planning.plan import Workload
from tests.conftest import skip_or_fail

from testbed import memory_probe as probe
from testbed.memory_probe import DATASETS, ENGINE_SHAPES, FORKS, KEYS

pytestmark = pytest.mark.live

ENGINES = {name: (binary, why) for name, binary, why in probe.engines_here()}


def server_binary(engine: str) -> str:
    binary, why = ENGINES[engine]
    if binary is None:
        skip_or_fail(why)
    return binary


@pytest.fixture(scope="module", params=sorted(ENGINES))
def server(request):
    s = probe.start(server_binary(request.param))
    try:
        yield s
    finally:
        s.stop()


def test_bytes_per_key_against_used_memory(server, record_property):
    """Every engine the stacks ship, each with its layout's model (Redis 7.x: dict; Valkey 8.1 and 9.1:
    hashtable): within 2 % of every data set."""
    name, version, allocator = server.engine()
    quantum = server.quantum()
    engine = Engine(name, ".".join(version.split(".")[:2]), quantum)
    results = []
    for key, value, ttl in DATASETS + ENGINE_SHAPES:
        keys = ttl[1] if isinstance(ttl, tuple) else KEYS
        ttl = ttl[0] if isinstance(ttl, tuple) else ttl
        measured = probe.bytes_per_key(server, keys, key, value, ttl)
        model = memory.key_cost(keys, key, value, ttl, engine).total
        results.append((key.describe(), value.describe(), ttl, round(measured, 2), round(model, 2),
                        round((model - measured) / measured * 100, 2)))
    label = f"{name} {version} ({allocator}, quantum {quantum})"
    record_property("bytes_per_key", {"engine": label, "keys": KEYS, "results": results})
    print(f"\n{label}, {KEYS} keys: key, value, ttl share, measured B/key, model, error %")
    for row in results:
        print("  ", *row)
    assert engine.coverage == "measured", label
    for row in results:
        assert abs(row[-1]) < 2, f"{label}: {row}"


@pytest.mark.parametrize("what,keys,value_bytes,rate", FORKS, ids=[f[0] for f in FORKS])
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_bgsave_under_writes_fits_the_planned_limit(engine, what, keys, value_bytes, rate, record_property):
    """A cache at its planned maxmemory, forked while written, inside a cgroup of its planned limit:
    no OOM kill, the dump succeeds, and the copy is within the estimate for the write rate used.
    Tolerance: the copy measured (cgroup anonymous memory, peak minus before) is at most the planned
    fork headroom (c x 1.15 x maxmemory), and the region model evaluated at the measured child lifetime,
    write rate and resident heap is 0-100 % above it (an upper bound; 5-36 % above the runs behind the rule,
    and up to 70 % above when the child lives under half a second: few writes, docs/planning.md)."""
    binary = server_binary(engine)
    probe_server = probe.start(binary)
    try:
        quantum = probe_server.quantum()
        name, version, allocator = probe_server.engine()
    finally:
        probe_server.stop()
    # DEBUG POPULATE's keys are `key:<n>`: 5 to 11 bytes, one size class.
    w = Workload(keys, Size(5, 11, "uniform"), Size.fixed(value_bytes), 0.0, rate, None, "rdb", 0)
    plan = planning.plan_pod(w, Engine(name, ".".join(version.split(".")[:2]), quantum))
    try:
        run = probe.fork_under_writes(binary, plan.maxmemory, plan.limit, keys, value_bytes, rate)
    except probe.Unavailable as exc:
        skip_or_fail(str(exc))
    estimate = plan.headroom.parts(plan.maxmemory)["fork"]
    regions = memory.regions(run.keys, w.key_bytes, w.value_bytes, 0.0, quantum)
    at_measured = hr.cow_fraction(run.writes_per_second, regions, run.fork_seconds) * run.anon_before
    facts = {"engine": f"{name} {version} ({allocator}, quantum {quantum})", "maxmemory": plan.maxmemory,
             "limit": plan.limit, "planned_c": round(plan.headroom.cow, 3), "fork_s": round(run.fork_seconds, 2),
             "planned_fork_s": round(hr.fork_seconds(keys, plan.maxmemory), 1),
             "writes_per_s": round(run.writes_per_second), "copied": run.copied, "estimate": round(estimate),
             "model_at_measured": round(at_measured), "peak": run.anon_peak, "evicted": run.evicted}
    record_property("fork", facts)
    print(f"\n{what}: {facts}")
    assert run.alive and run.oom_kills == 0, f"OOM-killed at the planned limit: {facts}"
    assert run.status == "ok", facts
    assert run.used_before >= plan.maxmemory * 0.98 and run.evicted > 0, f"not filled under churn: {facts}"
    assert run.anon_peak <= plan.limit, facts
    assert run.copied <= estimate, f"the copy exceeded the estimate for {run.writes_per_second:.0f} writes/s: {facts}"
    if rate is not None:
        assert run.copied <= at_measured <= 2.0 * run.copied, facts


def test_full_sync_under_writes_finishes_with_the_planned_replica_buffer(record_property):
    """A primary in a cgroup of its planned limit (1 replica, no persistence: the sync forks), written at
    the planned rate while a new replica syncs: one full sync, no loop, no OOM kill."""
    binary = server_binary("redis")
    keys, value_bytes, rate = 100_000, 1000, 5000
    w = Workload(keys, Size(5, 11, "uniform"), Size.fixed(value_bytes), 0.0, rate, None, "none", 1)
    probe_server = probe.start(binary)
    quantum = probe_server.quantum()
    probe_server.stop()
    plan = planning.plan_pod(w, Engine("redis", "7.0", quantum))
    try:
        cgroup = probe.Cgroup.create(plan.limit)
    except probe.Unavailable as exc:
        skip_or_fail(str(exc))
    primary = probe.start(binary, "--maxmemory", str(plan.maxmemory), "--maxmemory-policy", "allkeys-lru",
                          "--client-output-buffer-limit", f"replica {plan.replica_buffer} 0 0",
                          "--repl-backlog-size", str(plan.backlog), "--repl-diskless-sync", "yes",
                          "--repl-diskless-sync-delay", "1", cgroup=cgroup)
    replica = None
    writer = probe.Writer(primary.port, int(keys * 1.4), value_bytes, rate)
    try:
        primary.client.execute_command("DEBUG", "POPULATE", int(keys * 1.2), "key", value_bytes)
        primary.client.set("warm", "1")  # evicts down to maxmemory
        writer.start()
        time.sleep(1)
        replica = probe.start(binary, "--repl-diskless-load", "on-empty-db")
        replica.client.replicaof("127.0.0.1", primary.port)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if replica.info("replication").get("master_link_status") == "up":
                break
            time.sleep(0.2)
        time.sleep(3)  # a looping sync would start again within this
        stats = primary.info("stats")
        facts = {"replica_buffer": plan.replica_buffer, "backlog": plan.backlog, "limit": plan.limit,
                 "sync_full": stats["sync_full"], "link": replica.info("replication").get("master_link_status"),
                 "oom_kills": cgroup.oom_kills(), "writes": writer.count}
        record_property("full_sync", facts)
        print(f"\nfull sync: {facts}")
        assert primary.alive and facts["oom_kills"] == 0, facts
        assert facts["link"] == "up" and facts["sync_full"] == 1, f"the full sync did not finish once: {facts}"
    finally:
        writer.stop_flag = True
        writer.join(timeout=30)
        if replica is not None:
            replica.stop()
        primary.stop()
