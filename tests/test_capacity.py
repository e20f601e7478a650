"""`capacity` in config: the workload each pattern states, what the planner derives from it for the
program, and how a setting that contradicts the plan is reported in each environment."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import pytest

from cache_patterns import planning
from cache_patterns import stack as config
from cache_patterns.config.errors import ConfigError
from tests import test_external as ext
from tools import harness, plan as plan_tool

MI, GI = planning.MI, planning.GI
WORKLOAD = {"keys": 1_000_000, "keyBytes": 40, "valueBytes": 500}
AWS = {"region": "eu-west-1", "vpcId": "vpc-0aaaaaaaaaaaaaaa1",
       "subnetIds": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"], "clientSecurityGroupIds": ["sg-0aaaaaaaaaaaaaaa1"]}


def parse(cache: dict, environment: str = "development", **top) -> config.StackConfig:
    return config.parse({"environment": environment, "caches": {"c": cache}, **top}, "t")


def problems(cache: dict, environment: str = "development", **top) -> dict[str, str]:
    with pytest.raises(ConfigError) as err:
        parse(cache, environment, **top)
    return dict(err.value.problems)


# ---- the workload -----------------------------------------------------------------------------------

def test_sizes_are_a_quantity_or_a_range():
    c = parse({"pattern": "sidecar", "capacity": {
        "keys": 10, "keyBytes": "1Ki", "valueBytes": {"min": 100, "max": "4Ki", "shape": "log-uniform"}}}).caches["c"]
    assert c.capacity.key_bytes == planning.Size.fixed(1024)
    assert c.capacity.value_bytes == planning.Size(100, 4096, "log-uniform")
    assert parse({"pattern": "sidecar", "capacity": {"keys": 10, "valueBytes": {"min": 1, "max": 9}}}) \
        .caches["c"].capacity.value_bytes.shape == "uniform"


@pytest.mark.parametrize("value_bytes,key,fragment", [
    ({"min": 500, "max": 100}, "caches.c.capacity.valueBytes.max", "must be above min (500), got 100"),
    ({"min": 100, "max": 900, "shape": "normal"}, "caches.c.capacity.valueBytes.shape", "'normal' is not one of uniform, log-uniform"),
    ({"min": 100, "mean": 500}, "caches.c.capacity.valueBytes.mean", "unknown key 'mean'"),
    ("lots", "caches.c.capacity.valueBytes", "or {min, max, shape: uniform | log-uniform}"),
    (0, "caches.c.capacity.valueBytes", "at least 1"),
])
def test_bad_sizes_are_refused(value_bytes, key, fragment):
    got = problems({"pattern": "sidecar", "capacity": {"keys": 10, "valueBytes": value_bytes}})
    assert fragment in got[key], got


def test_persistence_replicas_and_ttl_come_from_the_pattern_and_default_ttl():
    sts = parse({"pattern": "statefulset", "persistence": "aof", "replicas": 2, "defaultTtl": "1h",
                 "capacity": WORKLOAD}).caches["c"]
    w = config.workload(sts)
    assert (w.persistence, w.replicas, w.ttl_share, w.evicts, w.forks) == ("aof", 2, 1.0, True, True)
    side = parse({"pattern": "sidecar", "maxmemoryPolicy": "noeviction", "capacity": {**WORKLOAD, "ttlPercent": 30}})
    w = config.workload(side.caches["c"], pods=7)
    assert (w.persistence, w.replicas, w.ttl_share, w.evicts, w.pods) == ("none", 0, 0.3, False, 7)
    op = parse({"pattern": "operator", "kind": "ot-cluster", "shards": 4, "replicas": 1, "storage": "1Gi",
                "capacity": {**WORKLOAD, "pods": 3}}).caches["c"]
    w = config.workload(op, pods=99)
    assert (w.persistence, w.replicas, w.shards, w.pods) == ("rdb", 1, 4, 3)
    rg = parse({"pattern": "external", "kind": "elasticache", "replicas": 2, "shards": 3, "capacity": WORKLOAD},
               aws=AWS).caches["c"]
    w = config.workload(rg)
    assert (w.persistence, w.replicas, w.shards) == ("none", 2, 3)
    assert config.workload(parse({"pattern": "sidecar"}).caches["c"]) is None


# ---- what the program gets ------------------------------------------------------------------------------

def test_in_cluster_caches_run_with_the_plan():
    c = parse({"pattern": "statefulset", "replicas": 1, "persistence": "rdb",
               "capacity": {**WORKLOAD, "writesPerSecond": 1000}}).caches["c"]
    plan = planning.plan_pod(config.workload(c), config.engine_of(c))
    assert (c.memory_limit, c.maxmemory, c.volume) == (plan.limit, plan.maxmemory, plan.pvc)
    assert c.pod.replica_buffer == plan.replica_buffer and c.pod.backlog == plan.backlog
    # Without `storage`, persistence gets the planned volume instead of an error.
    assert c.volume >= planning.GI


def test_explicit_settings_win():
    c = parse({"pattern": "statefulset", "memory": "8Gi", "storage": "20Gi", "capacity": WORKLOAD}).caches["c"]
    assert c.memory_limit == 8 * GI and c.volume == 20 * GI
    plan = planning.plan_pod(config.workload(c), config.engine_of(c))
    assert c.maxmemory > plan.maxmemory and plan.headroom.limit(c.maxmemory) <= 8 * GI
    pct = parse({"pattern": "statefulset", "memory": "8Gi", "maxmemoryPercent": 40, "capacity": WORKLOAD}).caches["c"]
    assert pct.maxmemory == 8 * GI * 40 // 100


def test_without_capacity_a_forking_cache_keeps_room_for_the_fork():
    """The defect the plan fixes: 80 % of the limit left 20 % for a fork that can copy everything."""
    c = parse({"pattern": "statefulset", "memory": "1Gi", "replicas": 1}).caches["c"]
    assert c.maxmemory == planning.default_headroom(forks=True, replicas=1).max_maxmemory(GI)
    assert c.maxmemory < GI // 2
    assert parse({"pattern": "sidecar", "memory": "1Gi"}).caches["c"].maxmemory == GI * 80 // 100


def test_a_limit_too_small_for_a_forking_cache_is_refused_in_every_environment():
    got = problems({"pattern": "statefulset", "memory": "64Mi", "replicas": 1})
    assert "leaves" in got["caches.c.memory"] and "give at least" in got["caches.c.memory"]


UNSAFE = {"pattern": "statefulset", "memory": "1Gi", "maxmemoryPercent": 90, "tls": {"issuer": "ca"},
          "capacity": {**WORKLOAD, "keys": 100_000}}


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_an_unsafe_setting_is_an_error_outside_development(environment):
    got = problems(UNSAFE, environment)
    assert "OOM-kills the pod" in got["caches.c.maxmemoryPercent"]


def test_an_unsafe_setting_is_a_warning_in_development():
    cfg = parse(UNSAFE)
    (key, message), = cfg.warnings
    assert key == "caches.c.maxmemoryPercent" and "OOM-kills the pod" in message


def test_an_evicting_cache_that_holds_less_than_its_workload_is_only_warned_about():
    cfg = parse({"pattern": "sidecar", "memory": "64Mi", "capacity": WORKLOAD}, "production")
    assert [k for k, _ in cfg.warnings] == ["caches.c.memory"] and "it evicts" in cfg.warnings[0][1]


def test_elasticache_node_type_is_planned_checked_and_rendered():
    planned = parse({"pattern": "external", "kind": "elasticache", "capacity": WORKLOAD}, aws=AWS).caches["c"]
    assert planned.node_type is None and planned.effective_node_type == planned.nodes.smallest.name
    small = {"pattern": "external", "kind": "elasticache", "nodeType": "cache.t4g.micro",
             "maxmemoryPolicy": "noeviction", "capacity": WORKLOAD}
    assert "cache.t4g.micro holds" in problems(small, "production", aws=AWS)["caches.c.nodeType"]
    huge = {"pattern": "external", "kind": "elasticache", "capacity": {**WORKLOAD, "keys": 10**10}}
    assert "set shards to at least" in problems(huge, aws=AWS)["caches.c.capacity"]
    # The reserved-memory-percent parameter shrinks what a node holds.
    reserved = parse({"pattern": "external", "kind": "elasticache", "parameters": {"reserved-memory-percent": "50"},
                      "capacity": WORKLOAD}, aws=AWS).caches["c"]
    assert reserved.nodes.reserved_percent == 50
    assert reserved.nodes.smallest.maxmemory >= planned.nodes.smallest.maxmemory
    run = ext.cached(ext.stack({"s": {"pattern": "external", "kind": "elasticache", "capacity": WORKLOAD}}))
    assert run.one(ext.RG).inputs["nodeType"] == planned.effective_node_type


def test_serverless_limits_are_checked_against_the_workload():
    cache = {"pattern": "external", "kind": "elasticache-serverless", "limits": {"dataStorageGb": 1, "ecpuPerSecond": 1000},
             "capacity": {**WORKLOAD, "keys": 3_000_000, "readsPerSecond": 5000, "writesPerSecond": 100}}
    cfg = parse(cache, aws=AWS)
    assert {k for k, _ in cfg.warnings} == {"caches.c.limits.dataStorageGb", "caches.c.limits.ecpuPerSecond"}
    store = problems({**cache, "maxmemoryPolicy": "noeviction"}, "production", aws=AWS)
    assert "writes are refused" in store["caches.c.limits.dataStorageGb"]


# ---- the shipped stacks and the CLI ---------------------------------------------------------------------

@pytest.mark.parametrize("stack", harness.list_stacks())
def test_every_shipped_cache_states_its_workload_and_fits_it(stack):
    cfg = plan_tool.load(stack)
    assert all(c.capacity is not None for c in cfg.caches.values())
    assert cfg.warnings == ()


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = plan_tool.main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_plan_all_prints_every_cache_of_every_stack_and_json_the_same():
    code, text, _ = run_cli("--all")
    assert code == 0
    caches = [(s, name) for s in harness.list_stacks() for name in plan_tool.load(s).caches]
    for stack, name in caches:
        assert f"== {stack} / {name}: " in text
    code, doc, _ = run_cli("--all", "--json")
    assert code == 0
    data = json.loads(doc)
    assert [(c["stack"], c["name"]) for c in data["caches"]] == caches
    for cache in data["caches"]:
        assert {r["rule"] for r in cache["derived"]} <= set(data["rules"])
        assert {o["pattern"] for o in cache["options"]} == {"sidecar", "statefulset", "elasticache",
                                                            "elasticache-serverless"}


def test_plan_with_a_price_file_and_with_a_bad_one(tmp_path):
    good = tmp_path / "prices.csv"
    good.write_text("type,region,usd_per_hour,source,date\nkubernetes-memory-gib,*,0.004445,Fargate page,2026-03\n")
    code, text, _ = run_cli("staging", "--prices", str(good))
    assert code == 0 and "source: Fargate page, 2026-03 (--prices)" in text
    bad = tmp_path / "bad.csv"
    bad.write_text("type,region,usd_per_hour,source,date\nkubernetes-memory-gib,*,free,,2026\n")
    code, _, err = run_cli("staging", "--prices", str(bad))
    assert code == 1 and "line 2: usd_per_hour" in err and "line 2: source" in err and "line 2: date" in err
    assert run_cli("nosuchstack")[0] == 2
