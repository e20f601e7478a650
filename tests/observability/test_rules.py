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


def test_every_rule_carries_a_summary_description_and_runbook_url_and_routing_labels():
    t = dataclasses.replace(BASE, client=ClientTarget(cache="c", namespaces=("a", "b")))
    for r in rules.alerts(t, "https://wiki.example/cache-alerts"):
        assert set(r.annotations) == {"summary", "description", "runbook_url"}
        doc = rules.CATALOGUE[r.alert]
        assert r.annotations["runbook_url"] == f"https://wiki.example/cache-alerts#{r.alert.lower()}"
        assert r.annotations["description"].endswith(f"What to do: {doc.runbook}")
        assert {"severity", "stack", "cache", "component"} <= set(r.labels)
        assert "s/c" in r.annotations["summary"]
        # Data and Sentinel rules name the cache's namespace (their aggregations drop the series'
        # own); client rules keep the apps' namespaces, which their expressions group by.
        if r.labels["component"] != "client":
            assert r.labels["namespace"] == "ns"
        else:
            assert "namespace" not in r.labels and "namespace" in r.expr


def test_the_runbook_url_defaults_to_the_page_in_this_repository():
    for r in rules.alerts(BASE):
        assert r.annotations["runbook_url"] == f"docs/observability.md#{r.alert.lower()}"


def test_a_failed_background_save_pages_unless_the_stack_has_no_save_points():
    severity = {rdb: {r.alert: r.labels["severity"] for r in rules.alerts(dataclasses.replace(BASE, rdb_saves=rdb))}
                ["RedisBackgroundSaveFailed"] for rdb in (True, False, None)}
    assert severity == {True: "critical", False: "warning", None: "critical"}


def test_a_lost_replica_is_a_warning_that_waits_five_minutes():
    r = by_name(BASE)
    for alert in ("RedisDown/redis", "RedisReplicaLinkDown/redis", "RedisMissingReplicas/redis"):
        assert (r[alert].labels["severity"], r[alert].for_) == ("warning", "5m"), alert


def test_client_rules_select_the_cache_and_the_bound_namespaces_only():
    t = dataclasses.replace(BASE, data=None, sentinel=None, client=ClientTarget(cache="c", namespaces=("a", "b")))
    for r in rules.alerts(t):
        assert 'cache="c"' in r.expr and 'namespace=~"a|b"' in r.expr and "job=" not in r.expr
