"""Rule generation as a pure function of the CacheTarget: what the stack created decides which alerts
exist and their thresholds (primaries per shard, replicas, Sentinels, maxmemory, eviction policy)."""
from __future__ import annotations

import dataclasses

import pytest

from cache_patterns.observability import rules
from cache_patterns.observability.target import CacheTarget, ClientTarget, Scrape

DATA = Scrape(name="s-c-redis", namespace="ns", selector={"matchLabels": {"a": "b"}}, port="metrics", role="redis")
SENTINEL = dataclasses.replace(DATA, name="s-c-sentinel", role="sentinel")
BASE = CacheTarget(stack="s", cache="c", pattern="statefulset", namespace="ns", data=DATA, sentinel=SENTINEL,
                   replicas=2, sentinels=3, quorum=2, maxmemory=1000, maxmemory_policy="noeviction",
                   replication_lag_s=10)


def by_name(t: CacheTarget) -> dict[str, rules.Rule]:
    return {r.alert + ("/" + r.labels["component"]): r for r in rules.alerts(t)}


def names(t: CacheTarget) -> set[str]:
    return {r.alert for r in rules.alerts(t)}


def test_thresholds_come_from_what_the_stack_created():
    r = by_name(BASE)
    assert r["RedisMissingReplicas/redis"].expr.endswith("< 2")
    assert r["RedisReplicationLag/redis"].expr.endswith("> 10")
    assert r["RedisSentinelsMissing/sentinel"].expr.endswith("< 3")
    assert r["RedisMaxmemoryMismatch/redis"].expr.endswith("!= 1000")
    cluster = by_name(dataclasses.replace(BASE, shards=3, sentinel=None, replicas=1))
    assert cluster["RedisMissingPrimary/redis"].expr.endswith(">= 3)")
    assert cluster["RedisTooManyPrimaries/redis"].expr.endswith("> 3")
    assert cluster["RedisMissingReplicas/redis"].expr.endswith("< 1")


def test_no_replica_alerts_without_replicas_and_no_sentinel_alerts_without_sentinel_exporters():
    alone = names(dataclasses.replace(BASE, replicas=0, sentinel=None))
    assert not alone & {"RedisReplicaLinkDown", "RedisMissingReplicas", "RedisReplicationLag"}
    assert not {n for n in alone if n.startswith("RedisSentinel") or n == "RedisFailoverFlapping"}
    assert "RedisMaxmemoryMismatch" not in names(dataclasses.replace(BASE, maxmemory=None))


@pytest.mark.parametrize("policy,memory,store_evictions,churn", [
    ("noeviction", True, True, False),
    ("volatile-lru", True, False, True),
    ("allkeys-lru", False, False, True),
    ("allkeys-lfu", False, False, True),
])
def test_an_evicting_cache_and_a_store_get_different_eviction_alerts(policy, memory, store_evictions, churn):
    found = names(dataclasses.replace(BASE, maxmemory_policy=policy))
    assert ("RedisMemoryNearMaxmemory" in found) is memory
    assert ("RedisStoreEvictingKeys" in found) is store_evictions
    assert ("RedisCacheEvictionChurn" in found) is churn
    severity = {r.alert: r.labels["severity"] for r in rules.alerts(dataclasses.replace(BASE, maxmemory_policy=policy))}
    if store_evictions:
        assert severity["RedisStoreEvictingKeys"] == "critical"


def test_every_rule_carries_a_summary_description_and_runbook_and_routing_labels():
    t = dataclasses.replace(BASE, client=ClientTarget(cache="c", namespaces=("a", "b")))
    for r in rules.alerts(t):
        assert set(r.annotations) == {"summary", "description", "runbook"}
        assert r.annotations["runbook"] == rules.CATALOGUE[r.alert].runbook
        assert {"severity", "stack", "cache", "component"} <= set(r.labels)
        assert "s/c" in r.annotations["summary"]


def test_client_rules_select_the_cache_and_the_bound_namespaces_only():
    t = dataclasses.replace(BASE, data=None, sentinel=None, client=ClientTarget(cache="c", namespaces=("a", "b")))
    for r in rules.alerts(t):
        assert 'cache="c"' in r.expr and 'namespace=~"a|b"' in r.expr and "job=" not in r.expr
