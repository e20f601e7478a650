"""The generated alert rules under promtool: every PrometheusRule of the committed stacks (and of
variants for an evicting cache with two-tier clients, an OT replication and a Spotahome failover)
passes `promtool check rules --lint=all --lint-fatal`, and every alert has a unit test that fires
and one that must not, run by `promtool test rules` on the rules exactly as the program renders them.

Two cases guard the upstream mistakes the rules avoid: a primary present, where `count(...) or
vector(0)` fires; and failovers that change `master_address`, where `changes()` on the raw series
undercounts. Both are also run against those mistaken expressions, which must fail them.
"""
from __future__ import annotations

import copy

import pytest

from cache_patterns.observability import rules
from tests.conftest import stack_run
from tools import harness

from . import promtool as pt
from .test_backup_rules import backup_cases

MI = 1024 * 1024


def staging_variant() -> harness.Run:
    """The staging stack with an evicting cache and two-tier clients (an L1 in the apps)."""
    cfg = copy.deepcopy(harness.load_stack_config("staging"))
    cache = cfg["cache-patterns:caches"]["sessions"]
    cache.update(maxmemoryPolicy="allkeys-lru", l1={"memory": "64Mi", "ttlCap": "30s"}, defaultTtl="1h")
    return harness.run("staging", cfg)


@pytest.fixture(scope="module")
def store():
    run = stack_run("staging")
    (groups,) = pt.prometheus_rules(run).values()
    return run, groups, pt.jobs(run)


@pytest.fixture(scope="module")
def evicting():
    """The cache's rules and its two-tier clients' rules (two PrometheusRules), in one rule file."""
    run = staging_variant()
    groups = [g for gs in pt.prometheus_rules(run).values() for g in gs]
    assert len(groups) == 2
    return run, groups, pt.jobs(run)


def sample(metric: str, job: str, i: int, **labels: str) -> str:
    """A series as a PodMonitor scrape labels it (job, instance, namespace, pod, container, endpoint)
    plus the metric's own labels."""
    inner = ",".join(f'{k}="{v}"' for k, v in (target(job, i) | labels).items())
    return f"{metric}{{{inner}}}"


def target(job: str, i: int) -> dict:
    """The labels the Prometheus Operator gives a PodMonitor's target (pkg/prometheus/promcfg.go):
    `job` is `<namespace>/<PodMonitor name>`, and the pod's namespace, name, container and port name."""
    namespace, name = job.split("/")
    return {"job": job, "instance": f"10.0.0.{i}:9121", "namespace": namespace, "pod": f"{name.rsplit('-', 1)[0]}-{i}",
            "container": "exporter", "endpoint": "metrics"}


def info(job: str, i: int, role: str) -> tuple[str, str]:
    return sample("redis_instance_info", job, i, role=role, maxmemory_policy="noeviction"), "1x20"


def healthy_set(job: str, primary: int = 0) -> list[tuple[str, str]]:
    """Three servers answering, one primary."""
    out = [(sample("redis_up", job, i), "1x20") for i in range(3)]
    out += [info(job, i, "master" if i == primary else "slave") for i in range(3)]
    return out


def data_cases(groups: list[dict], j: str, s: str) -> list[pt.Case]:
    maxmemory = int(next(r for g in groups for r in g["rules"] if r["alert"] == "RedisMaxmemoryMismatch")
                    ["expr"].rsplit("!=", 1)[1])
    C = pt.Case
    return [
        C("exporter down fires", "RedisExporterDown", [(sample("up", j, 0), "1 1 0x10")], "9m",
          [target(j, 0) | {"value": 0}]),
        C("exporter up is quiet", "RedisExporterDown", [(sample("up", j, 0), "1x10")], "9m"),
        # absent() keeps only the job: the namespace comes from the rule (namespace-routed Alertmanagers).
        C("no target of the job fires", "RedisMetricsAbsent", [(sample("up", s, 0), "1x15")], "12m",
          [{"job": j, "namespace": j.split("/")[0]}]),
        C("a scraped target is quiet", "RedisMetricsAbsent", [(sample("up", j, 0), "1x15"), (sample("up", s, 0), "1x15")],
          "12m"),
        C("redis down fires", "RedisDown", [(sample("redis_up", j, 1), "1 0x8")], "7m", [target(j, 1) | {"value": 0}]),
        # A replica lost for three minutes (a restart, a reschedule) is no alert yet: the mixin's 5 minutes.
        C("redis down for three minutes is quiet", "RedisDown", [(sample("redis_up", j, 1), "1 0 0 0 0 1")], "4m"),
        C("no server reports role:master fires", "RedisMissingPrimary",
          [(sample("redis_up", j, i), "1x5") for i in range(3)] + [info(j, i, "slave") for i in range(3)],
          "3m", [{"job": j, "namespace": j.split("/")[0], "value": 3}]),
        # The case an `or vector(0)` version gets wrong: a primary exists, nothing must fire.
        C("a primary present is quiet", "RedisMissingPrimary", healthy_set(j), "5m"),
        C("two primaries fire", "RedisTooManyPrimaries",
          [(sample("redis_up", j, i), "1x5") for i in range(3)] + [info(j, 0, "master"), info(j, 1, "master"),
                                                                   info(j, 2, "slave")],
          "3m", [{"job": j, "namespace": j.split("/")[0], "value": 2}]),
        C("one primary is quiet", "RedisTooManyPrimaries", healthy_set(j), "3m"),
        C("replica link down fires", "RedisReplicaLinkDown",
          [(sample("redis_master_link_up", j, 1, master_host="p", master_port="6379"), "1 0x8")], "7m",
          [target(j, 1) | {"master_host": "p", "master_port": "6379", "value": 0}]),
        C("replica link down for three minutes is quiet", "RedisReplicaLinkDown",
          [(sample("redis_master_link_up", j, 1, master_host="p", master_port="6379"), "1 0 0 0 0 1")], "4m"),
        C("replica link up is quiet", "RedisReplicaLinkDown",
          [(sample("redis_master_link_up", j, 1, master_host="p", master_port="6379"), "1x5")], "4m"),
        C("a primary with one of two replicas fires", "RedisMissingReplicas",
          healthy_set(j) + [(sample("redis_connected_slaves", j, 0), "1x10"),
                            (sample("redis_connected_slaves", j, 1), "0x10"),
                            (sample("redis_connected_slaves", j, 2), "0x10")],
          "7m", [target(j, 0) | {"value": 1}]),
        # Replicas report 0 connected replicas of their own: only the primary counts.
        C("a primary with both replicas is quiet", "RedisMissingReplicas",
          healthy_set(j) + [(sample("redis_connected_slaves", j, 0), "2x10"),
                            (sample("redis_connected_slaves", j, 1), "0x10"),
                            (sample("redis_connected_slaves", j, 2), "0x10")], "7m"),
        C("lag above the stack's bound fires", "RedisReplicationLag",
          [(sample("redis_connected_slave_lag_seconds", j, 0, slave_ip="10.0.0.1", slave_port="6379",
                   slave_state="online"), "0 60x5")], "4m",
          [target(j, 0) | {"slave_ip": "10.0.0.1", "slave_port": "6379", "slave_state": "online", "value": 60}]),
        C("no lag is quiet", "RedisReplicationLag",
          [(sample("redis_connected_slave_lag_seconds", j, 0, slave_ip="10.0.0.1", slave_port="6379",
                   slave_state="online"), "0x5")], "4m"),
        C("memory at 95% of maxmemory fires", "RedisMemoryNearMaxmemory",
          [(sample("redis_memory_used_bytes", j, 0), "950x10"), (sample("redis_memory_max_bytes", j, 0), "1000x10")],
          "7m", [target(j, 0) | {"value": 0.95}]),
        # maxmemory 0 means no limit: a division by it must not fire.
        C("no maxmemory is quiet", "RedisMemoryNearMaxmemory",
          [(sample("redis_memory_used_bytes", j, 0), "950x10"), (sample("redis_memory_max_bytes", j, 0), "0x10")],
          "7m"),
        C("a store evicting fires", "RedisStoreEvictingKeys",
          [(sample("redis_evicted_keys_total", j, 0), "0 0 5 5 5")], "3m", [target(j, 0) | {"value": 5}]),
        C("a store not evicting is quiet", "RedisStoreEvictingKeys",
          [(sample("redis_evicted_keys_total", j, 0), "0x5")], "3m"),
        C("rejected connections fire", "RedisRejectedConnections",
          [(sample("redis_rejected_connections_total", j, 0), "0 0 2 2 2")], "3m", [target(j, 0) | {"value": 2}]),
        C("no rejected connection is quiet", "RedisRejectedConnections",
          [(sample("redis_rejected_connections_total", j, 0), "7x5")], "3m"),
        C("connections at 90% of maxclients fire", "RedisTooManyConnections",
          [(sample("redis_connected_clients", j, 0), "9000x10"), (sample("redis_max_clients", j, 0), "10000x10")],
          "7m", [target(j, 0) | {"value": 0.9}]),
        C("few connections are quiet", "RedisTooManyConnections",
          [(sample("redis_connected_clients", j, 0), "100x10"), (sample("redis_max_clients", j, 0), "10000x10")],
          "7m"),
        C("maxmemory 0 (not applied) fires", "RedisMaxmemoryMismatch",
          [(sample("redis_memory_max_bytes", j, 0), "0x15")], "12m", [target(j, 0) | {"value": 0}]),
        C("the planned maxmemory is quiet", "RedisMaxmemoryMismatch",
          [(sample("redis_memory_max_bytes", j, 0), f"{maxmemory}x15")], "12m"),
    ] + gone_cases(j) + persistence_cases(j) + memory_limit_cases(j)


def gone_cases(j: str) -> list[pt.Case]:
    """Every pod of the job deleted or unschedulable: its targets vanish from discovery, and
    Prometheus marks every series of them stale (up included), which a scrape failure does not do to
    `up`."""
    C = pt.Case
    ns = j.split("/")[0]
    roles = ("master", "slave", "slave")

    def until(values: str) -> list[tuple[str, str]]:
        return ([(sample("up", j, i), values) for i in range(3)] + [(sample("redis_up", j, i), values) for i in range(3)]
                + [(info(j, i, roles[i])[0], values) for i in range(3)])
    failing = ([(sample("up", j, i), "1x5 0x10") for i in range(3)] + [(sample("redis_up", j, i), "1x5 stale")
               for i in range(3)] + [(info(j, i, roles[i])[0], "1x5 stale") for i in range(3)])
    return [
        C("every pod of the job gone fires", "RedisMissingPrimary", until("1x10 stale"), "14m",
          [{"job": j, "namespace": ns, "value": 3}]),
        # Pods there but unscrapeable (a NetworkPolicy, the exporter): RedisExporterDown's warning, no page.
        C("every exporter unscrapeable is not a missing primary", "RedisMissingPrimary", failing, "14m"),
        C("a job never scraped is quiet", "RedisMissingPrimary", [(sample("up", "other/x-redis", 0), "1x15")], "14m"),
    ]


def persistence_cases(j: str) -> list[pt.Case]:
    C = pt.Case
    return [
        C("a failed background save fires", "RedisBackgroundSaveFailed",
          [(sample("redis_rdb_last_bgsave_status", j, 0), "1 1 0x5")], "4m", [target(j, 0) | {"value": 0}]),
        # Redis retries a failed save; one that succeeds within the minute is no alert.
        C("a save failure cured by the retry is quiet", "RedisBackgroundSaveFailed",
          [(sample("redis_rdb_last_bgsave_status", j, 0), "1 1 0 1 1 1")], "4m"),
        C("an AOF write error fires", "RedisAofWriteFailed",
          [(sample("redis_aof_last_write_status", j, 1), "1 0x5")], "4m", [target(j, 1) | {"value": 0}]),
        C("AOF writes that succeed are quiet", "RedisAofWriteFailed",
          [(sample("redis_aof_last_write_status", j, 1), "1x5")], "4m"),
    ]


def kubelet(metric: str, pod: str, container: str, namespace: str = "cache", **labels: str) -> str:
    """A series of the kubelet's cAdvisor endpoint or of kube-state-metrics, as kube-prometheus-stack
    scrapes them (their own job, instance and service labels, the pod's namespace/pod/container)."""
    if metric.startswith("kube_"):
        own = {"job": "kube-state-metrics", "instance": "10.0.2.9:8080", "endpoint": "http", "node": "n1",
               "service": "kube-prometheus-stack-kube-state-metrics", "uid": f"uid-{pod}"}
    else:
        own = {"job": "kubelet", "instance": "10.0.1.5:10250", "endpoint": "https-metrics", "node": "n1",
               "metrics_path": "/metrics/cadvisor", "service": "kube-prometheus-stack-kubelet",
               "id": f"/kubepods/burstable/pod-{pod}/{container}", "image": "valkey/valkey:8.1-alpine",
               "name": f"k8s_{container}_{pod}"}
    inner = ",".join(f'{k}="{v}"' for k, v in ({**own, "namespace": namespace, "pod": pod, "container": container}
                                               | labels).items())
    return f"{metric}{{{inner}}}"


def memory_limit_cases(j: str) -> list[pt.Case]:
    C = pt.Case
    pod = target(j, 0)["pod"]
    limit = [(kubelet("kube_pod_container_resource_limits", pod, "redis", resource="memory", unit="byte"),
              "1000000000x10"),
             (kubelet("kube_pod_container_resource_limits", pod, "redis", resource="cpu", unit="core"), "1x10")]
    scraped = [(sample("up", j, 0), "1x10")]
    return [
        C("a redis container at 95% of its limit fires", "RedisMemoryNearLimit",
          limit + scraped + [(kubelet("container_memory_working_set_bytes", pod, "redis"), "950000000x10")], "7m",
          [{"namespace": "cache", "pod": pod, "container": "redis", "value": 0.95}]),
        C("half the limit is quiet", "RedisMemoryNearLimit",
          limit + scraped + [(kubelet("container_memory_working_set_bytes", pod, "redis"), "500000000x10")], "7m"),
        # A pod of the namespace that is no target of this job is some other workload's business.
        C("another pod near its limit is quiet", "RedisMemoryNearLimit",
          limit + [(kubelet("container_memory_working_set_bytes", pod, "redis"), "950000000x10")], "7m"),
    ]


def sentinel_cases(s: str, j: str) -> list[pt.Case]:
    C = pt.Case

    def m(metric: str, i: int, **labels: str) -> str:
        return sample(metric, s, i, **labels)

    addr_a, addr_b = "10.0.0.10:6379", "10.0.0.11:6379"
    status = {"master_name": "staging-sessions"}
    ns = {"namespace": s.split("/")[0]}
    return [
        C("sentinel down fires", "RedisSentinelDown", [(m("redis_up", 0), "1 0x5")], "4m",
          [target(s, 0) | {"value": 0}]),
        # Jobs never mix: a Sentinel's redis_up 0 is not a Redis down, a Redis down not a Sentinel down.
        C("a sentinel down is not a redis down", "RedisDown", [(m("redis_up", 0), "0x8")], "7m"),
        C("a redis down is not a sentinel down", "RedisSentinelDown", [(sample("redis_up", j, 0), "0x5")], "4m"),
        C("sentinel up is quiet", "RedisSentinelDown", [(m("redis_up", 0), "1x5")], "4m"),
        C("master odown fires", "RedisSentinelMasterNotOk",
          [(m("redis_sentinel_master_status", 0, master_address=addr_a, master_status="odown", **status), "0x5")],
          "3m", [target(s, 0) | {"master_address": addr_a, "master_status": "odown", **status, "value": 0}]),
        # A failover: the old address's series stops (stale), the new one is ok; nothing fires.
        C("a completed failover is quiet", "RedisSentinelMasterNotOk",
          [(m("redis_sentinel_master_status", 0, master_address=addr_a, master_status="ok", **status), "1 1 stale"),
           (m("redis_sentinel_master_status", 0, master_address=addr_b, master_status="ok", **status),
            "_ _ 1x5")], "5m"),
        C("no sentinel can authorize a failover fires", "RedisSentinelQuorumLost",
          [(m("redis_sentinel_master_ckquorum_status", i, message=msg, **status), vals)
           for i in range(3) for msg, vals in (("OK 3 usable Sentinels", "1 stale"),
                                               ("NOQUORUM 1 usable Sentinels", "_ 0x5"))],
          "4m", [{"job": s, **ns, **status, "value": 0}]),
        C("one sentinel without quorum is quiet", "RedisSentinelQuorumLost",
          [(m("redis_sentinel_master_ckquorum_status", 0, message="NOQUORUM 1 usable Sentinels", **status), "0x5"),
           (m("redis_sentinel_master_ckquorum_status", 1, message="OK 2 usable Sentinels", **status), "1x5")] +
          [(m(metric, i), "1x5") for metric in ("up", "redis_up") for i in range(2)], "4m"),
        C("a sentinel missing fires", "RedisSentinelsMissing",
          [(m("redis_sentinel_master_ok_sentinels", i, master_address=addr_a, **status), "2x10") for i in range(2)],
          "7m", [{"job": s, **ns, **status, "value": 2}]),
        C("all sentinels healthy is quiet", "RedisSentinelsMissing",
          [(m("redis_sentinel_master_ok_sentinels", i, master_address=addr_a, **status), "3x10") for i in range(3)],
          "7m"),
        # Three failovers in an hour, each changing master_address (a new series): fires.
        C("three failovers across address changes fire", "RedisFailoverFlapping",
          [(m("redis_sentinel_master_config_epoch", 0, master_address=addr_a, **status), "0x5 stale _x15 2x5 stale"),
           (m("redis_sentinel_master_config_epoch", 0, master_address=addr_b, **status), "_x5 1x15 stale _x5 3x10")],
          "35m", [{"job": s, **ns, **status, "value": 3}]),
        # One failover that changes master_address: must not fire.
        C("one failover is quiet", "RedisFailoverFlapping",
          [(m("redis_sentinel_master_config_epoch", 0, master_address=addr_a, **status), "0x5 stale"),
           (m("redis_sentinel_master_config_epoch", 0, master_address=addr_b, **status), "_x5 1x30")], "35m"),
        C("tilt fires", "RedisSentinelTilt", [(m("redis_sentinel_tilt", 0), "0 1x5")], "4m",
          [target(s, 0) | {"value": 1}]),
        C("no tilt is quiet", "RedisSentinelTilt", [(m("redis_sentinel_tilt", 0), "0x5")], "4m"),
    ] + sentinels_gone_cases(s)


def sentinels_gone_cases(s: str) -> list[pt.Case]:
    """No Sentinel left to ask: their pods gone (every series stale), or, behind a standalone exporter
    (OT's Sentinels), the exporter answering while no Sentinel does."""
    C = pt.Case
    status = {"master_name": "staging-sessions"}
    quorum = "OK 3 usable Sentinels. Quorum and failover authorization can be reached"

    def series(up: str, redis_up: str, ckquorum: str) -> list[tuple[str, str]]:
        return [x for i in range(3) for x in ((sample("up", s, i), up), (sample("redis_up", s, i), redis_up),
                                              (sample("redis_sentinel_master_ckquorum_status", s, i, message=quorum,
                                                      **status), ckquorum))]
    lost = [{"job": s, "namespace": s.split("/")[0], **status, "value": 0}]
    return [
        C("every sentinel gone fires", "RedisSentinelQuorumLost", series("1x5 stale", "1x5 stale", "1x5 stale"),
          "10m", lost),
        C("no sentinel answering its standalone exporter fires", "RedisSentinelQuorumLost",
          series("1x12", "1x5 0x7", "1x5 stale"), "10m", lost),
        C("sentinel exporters unscrapeable is not a lost quorum", "RedisSentinelQuorumLost",
          series("1x5 0x7", "1x5 stale", "1x5 stale"), "10m"),
    ]


def churn_cases(j: str) -> list[pt.Case]:
    C = pt.Case
    keys = sample("redis_db_keys", j, 0, db="db0")
    return [
        # 600 evictions a minute is 36,000 an hour, against 1,000 keys held.
        C("an evicting cache turning over within the hour fires", "RedisCacheEvictionChurn",
          [(sample("redis_evicted_keys_total", j, 0), "0+600x40"), (keys, "1000x40")], "35m",
          [target(j, 0) | {"value": 36000}]),
        C("a few evictions in a large cache are quiet", "RedisCacheEvictionChurn",
          [(sample("redis_evicted_keys_total", j, 0), "0+6x40"), (keys, "100000x40")], "35m"),
    ]


def client_cases() -> list[pt.Case]:
    C = pt.Case

    def c(metric: str, ns: str, pod: str, **labels: str) -> str:
        inner = ",".join([f'job="{ns}/storefront"', f'namespace="{ns}"', f'pod="{pod}"', 'cache="sessions"'] +
                         [f'{k}="{v}"' for k, v in labels.items()])
        return f"{metric}{{{inner}}}"

    day = 24 * 60
    hits, misses = c(rules.CLIENT_HITS, "shop", "a", tier="l1"), c(rules.CLIENT_MISSES, "shop", "a", tier="l1")
    # A day at 90% L1 hits (100 reads a minute), then 10%.
    collapsed = [(hits, f"0+90x{day} {90 * day}+10x60"), (misses, f"0+10x{day} {10 * day}+90x60")]
    steady = [(hits, f"0+90x{day + 60}"), (misses, f"0+10x{day + 60}")]
    other_cache = [(s.replace('cache="sessions"', 'cache="other"'), v) for s, v in collapsed]
    return [
        C("an L1 hit ratio falling to a ninth of its day fires", "CacheL1HitRatioCollapsed", collapsed,
          f"{day + 50}m", [{"namespace": "shop", "cache": "sessions", "value": 0.1}]),
        C("a steady L1 hit ratio is quiet", "CacheL1HitRatioCollapsed", steady, f"{day + 50}m"),
        C("another cache's collapse is not this cache's", "CacheL1HitRatioCollapsed", other_cache, f"{day + 50}m"),
        C("a lost subscription fires", "CacheInvalidationSubscriptionLost",
          [(c(rules.CLIENT_SUBSCRIBED, "identity", "b"), "1 0x5")], "4m",
          [{"job": "identity/storefront", "namespace": "identity", "pod": "b", "cache": "sessions", "value": 0}]),
        C("a subscription back within two minutes is quiet", "CacheInvalidationSubscriptionLost",
          [(c(rules.CLIENT_SUBSCRIBED, "identity", "b"), "1 0 0 1 1 1")], "5m"),
        C("a pod of an unrelated namespace is not watched", "CacheInvalidationSubscriptionLost",
          [(c(rules.CLIENT_SUBSCRIBED, "elsewhere", "b"), "0x5")], "4m"),
    ]


def _run(tmp_path, groups: list[dict], cases: list[pt.Case]):
    rule_file = pt.write_rules(groups, tmp_path / "rules.yaml")
    test = pt.test_file(rule_file, groups, cases, tmp_path / "test.yaml")
    return pt.run_tests(test)


# ---- lint ---------------------------------------------------------------------------------------

def lint_targets() -> list[tuple[str, harness.Run]]:
    from tests.observability.variants import variant_runs
    return [(s, stack_run(s)) for s in harness.list_stacks()] + list(variant_runs().items())


@pytest.mark.parametrize("name,run", lint_targets(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_generated_rule_file_passes_promtool_lint(tmp_path, name, run):
    for where, groups in pt.prometheus_rules(run).items():
        result = pt.check(pt.write_rules(groups, tmp_path / "rules.yaml"))
        assert result.returncode == 0, f"{name} {where}:\n{result.stdout}{result.stderr}"
        n = sum(len(g["rules"]) for g in groups)
        assert f"SUCCESS: {n} rules found" in result.stdout, result.stdout


def test_promtool_lint_fails_a_broken_rule(tmp_path, store):
    _, groups, _ = store
    broken = copy.deepcopy(groups)
    broken[0]["rules"][0]["expr"] = "count by (job) (redis_up"
    assert pt.check(pt.write_rules(broken, tmp_path / "rules.yaml")).returncode != 0
    duplicated = copy.deepcopy(groups)
    duplicated[0]["rules"].append(duplicated[0]["rules"][2])
    assert pt.check(pt.write_rules(duplicated, tmp_path / "rules.yaml")).returncode == 3


# ---- unit tests: every alert fires, and stays quiet where it must ------------------------------

def assert_covered(groups: list[dict], cases: list[pt.Case]) -> None:
    generated = {r["alert"] for g in groups for r in g["rules"]}
    tested = {c.alert for c in cases}
    assert generated <= tested, f"alerts without a test: {generated - tested}"
    for alert in generated:
        assert any(c.alert == alert and c.expect for c in cases), f"{alert}: no case where it fires"
        assert any(c.alert == alert and not c.expect for c in cases), f"{alert}: no case where it must not fire"


def stack_backup_cases(groups: list[dict]) -> list[pt.Case]:
    """The backup alerts' cases (test_backup_rules.py) for the staging cache, whose `backup.schedule`
    runs every 6 hours: the rule's limit must be twice that."""
    too_old = [r for g in groups for r in g["rules"] if r["alert"] == "CacheBackupTooOld"]
    if not too_old:
        return []
    assert too_old[0]["expr"].endswith(f"> {2 * 6 * 3600}"), too_old[0]["expr"]
    return backup_cases("staging-sessions", 6)


def test_every_alert_of_a_store_fires_and_stays_quiet_where_it_must(tmp_path, store):
    _, groups, jobs = store
    cases = data_cases(groups, jobs["redis"], jobs["sentinel"]) + sentinel_cases(jobs["sentinel"], jobs["redis"]) + \
        stack_backup_cases(groups)
    assert_covered(groups, cases)
    result = _run(tmp_path, groups, cases)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_of_an_evicting_two_tier_cache_fires_and_stays_quiet(tmp_path, evicting):
    _, groups, jobs = evicting
    generated = {r["alert"] for g in groups for r in g["rules"]}
    assert "RedisStoreEvictingKeys" not in generated and "RedisMemoryNearMaxmemory" not in generated
    assert {"RedisCacheEvictionChurn", "CacheL1HitRatioCollapsed", "CacheInvalidationSubscriptionLost"} <= generated
    cases = [c for c in data_cases(groups, jobs["redis"], jobs["sentinel"]) + sentinel_cases(jobs["sentinel"], jobs["redis"])
             if c.alert in generated] + churn_cases(jobs["redis"]) + client_cases() + stack_backup_cases(groups)
    assert_covered(groups, cases)
    result = _run(tmp_path, groups, cases)
    assert result.returncode == 0, result.stdout + result.stderr


def _mutate(groups: list[dict], alert: str, expr: str) -> list[dict]:
    out = copy.deepcopy(groups)
    for g in out:
        for r in g["rules"]:
            if r.get("alert") == alert:
                r["expr"] = expr
    return out


def test_the_or_vector_0_mistake_fails_the_primary_present_case(tmp_path, store):
    """Upstream's `(count(...) or vector(0)) < 1`, with `by (job)`: vector(0) matches no group, so
    it fires while a primary exists. The quiet case catches it; the generated rule passes it."""
    _, groups, jobs = store
    j = jobs["redis"]
    case = [c for c in data_cases(groups, j, jobs["sentinel"]) if c.name == "a primary present is quiet"]
    mistaken = _mutate(groups, "RedisMissingPrimary",
                       f'(count by (job) (redis_instance_info{{job="{j}",role="master"}}) or vector(0)) < 1')
    assert _run(tmp_path, groups, case).returncode == 0
    result = _run(tmp_path, mistaken, case)
    out = result.stdout + result.stderr
    assert result.returncode != 0 and "a primary present is quiet" in out and "RedisMissingPrimary" in out, out


def test_changes_on_the_raw_epoch_misses_failovers_that_change_master_address(tmp_path, store):
    """`changes()` per series sees at most one change of each master_address series: three
    failovers read as fewer, and the alert never fires. The generated rule aggregates first."""
    _, groups, jobs = store
    s = jobs["sentinel"]
    case = [c for c in sentinel_cases(s, jobs["redis"]) if c.name == "three failovers across address changes fire"]
    naive = _mutate(groups, "RedisFailoverFlapping", f'changes(redis_sentinel_master_config_epoch{{job="{s}"}}[1h]) > 2')
    assert _run(tmp_path, groups, case).returncode == 0
    assert _run(tmp_path, naive, case).returncode != 0


def test_unscoped_rules_would_mix_sentinel_and_redis_exporters(tmp_path, store):
    """Without the job matcher, a Sentinel's `redis_up 0` reads as a Redis down."""
    _, groups, jobs = store
    case = [c for c in sentinel_cases(jobs["sentinel"], jobs["redis"]) if c.name == "a sentinel down is not a redis down"]
    unscoped = _mutate(groups, "RedisDown", "redis_up == 0")
    assert _run(tmp_path, groups, case).returncode == 0
    assert _run(tmp_path, unscoped, case).returncode != 0


# ---- issue 18.16: each case below failed against the rules as they were before its fix -----------

def _change(groups: list[dict], alert: str | None = None, **fields) -> list[dict]:
    """The groups with `fields` of `alert`'s rule (every rule for None) replaced; a field of None
    deleted; `labels` merged (a label of None deleted)."""
    out = copy.deepcopy(groups)
    for r in (r for g in out for r in g["rules"] if alert is None or r.get("alert") == alert):
        for key, value in fields.items():
            if key == "labels":
                r["labels"] = {k: v for k, v in {**r["labels"], **value}.items() if v is not None}
            elif value is None:
                r.pop(key, None)
            else:
                r[key] = value
    return out


def _before_and_after(tmp_path, groups, before, cases: list[pt.Case], names: list[str]) -> None:
    chosen = [c for c in cases if c.name in names]
    assert len(chosen) == len(names)
    fixed = _run(tmp_path, groups, chosen)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    old = _run(tmp_path, before, chosen)
    out = old.stdout + old.stderr
    assert old.returncode != 0 and all(n in out for n in names), out


def test_every_pod_gone_pages_where_the_old_missing_primary_rule_stayed_silent(tmp_path, store):
    """The old rule counted `redis_up` series: with every pod gone there were none, and nothing paged
    (only RedisMetricsAbsent, a warning, 13 minutes later)."""
    _, groups, jobs = store
    j = jobs["redis"]
    old = _change(groups, "RedisMissingPrimary", expr=f'count by (job) (redis_up{{job="{j}"}}) unless on (job) '
                                                       f'(count by (job) (redis_instance_info{{job="{j}",role="master"}}) >= 1)')
    _before_and_after(tmp_path, groups, old, gone_cases(j), ["every pod of the job gone fires"])


def test_every_sentinel_gone_is_a_lost_quorum_where_the_old_rule_stayed_silent(tmp_path, store):
    _, groups, jobs = store
    s = jobs["sentinel"]
    old = _change(groups, "RedisSentinelQuorumLost",
                  expr=f'max by (job, master_name) (redis_sentinel_master_ckquorum_status{{job="{s}"}}) == 0')
    _before_and_after(tmp_path, groups, old, sentinels_gone_cases(s),
                      ["every sentinel gone fires", "no sentinel answering its standalone exporter fires"])


def test_every_alert_carries_the_namespace_where_absent_and_aggregations_dropped_it(tmp_path, store):
    _, groups, jobs = store
    old = _change(groups, labels={"namespace": None})
    cases = data_cases(groups, jobs["redis"], jobs["sentinel"]) + sentinel_cases(jobs["sentinel"], jobs["redis"])
    _before_and_after(tmp_path, groups, old, cases, ["no target of the job fires", "no server reports role:master fires",
                                                     "every sentinel gone fires"])


def test_a_replica_lost_for_three_minutes_no_longer_pages(tmp_path, store):
    """Before: RedisDown and RedisReplicaLinkDown were critical after one and two minutes."""
    _, groups, jobs = store
    old = _change(_change(groups, "RedisDown", **{"for": "1m"}, labels={"severity": "critical"}),
                  "RedisReplicaLinkDown", **{"for": "2m"}, labels={"severity": "critical"})
    cases = data_cases(groups, jobs["redis"], jobs["sentinel"])
    _before_and_after(tmp_path, groups, old, cases, ["redis down for three minutes is quiet",
                                                     "replica link down for three minutes is quiet"])
