"""ElastiCache auto scaling (issue 23, patterns/external/autoscaling.py): Application Auto Scaling targets
and target-tracking policies on the replication group, the counts they own ignored by the group (so the
next `pulumi up` never reverts the autoscaler), and every config problem at once, under mocks."""
from __future__ import annotations

from tests.test_external import RG, RG_CACHE, cached, problems, stack

TARGET = "aws:appautoscaling/target:Target"
POLICY = "aws:appautoscaling/policy:Policy"
SCALED = {**RG_CACHE, "shards": 3, "replicas": 2,
          "autoscaling": {"shards": {"min": 2, "max": 6, "target": 60},
                          "replicas": {"min": 1, "max": 4, "target": 50, "disableScaleIn": True}}}


def test_targets_and_policies_on_the_replication_group_and_the_counts_ignored():
    r = cached(stack({"feed": SCALED}))
    rg = r.one(RG)
    assert sorted(rg.ignore_changes) == ["numNodeGroups", "replicasPerNodeGroup"]
    targets = {t.inputs["scalableDimension"]: t for t in r.of_type(TARGET)}
    assert set(targets) == {"elasticache:replication-group:NodeGroups", "elasticache:replication-group:Replicas"}
    for dim, (low, high) in {"NodeGroups": (2, 6), "Replicas": (1, 4)}.items():
        t = targets[f"elasticache:replication-group:{dim}"]
        assert t.inputs["serviceNamespace"] == "elasticache"
        assert t.inputs["resourceId"] == "replication-group/prod-feed"
        assert (t.inputs["minCapacity"], t.inputs["maxCapacity"]) == (low, high)
        assert rg.urn in t.dependencies and t.parent == rg.parent
    policies = {p.inputs["scalableDimension"]: p.inputs for p in r.of_type(POLICY)}
    shards = policies["elasticache:replication-group:NodeGroups"]
    assert shards["policyType"] == "TargetTrackingScaling" and shards["resourceId"] == "replication-group/prod-feed"
    conf = shards["targetTrackingScalingPolicyConfiguration"]
    assert conf["predefinedMetricSpecification"]["predefinedMetricType"] == "ElastiCachePrimaryEngineCPUUtilization"
    assert (conf["targetValue"], conf["scaleInCooldown"], conf["scaleOutCooldown"], conf["disableScaleIn"]) == \
           (60, 600, 300, False)
    replicas = policies["elasticache:replication-group:Replicas"]["targetTrackingScalingPolicyConfiguration"]
    assert replicas["predefinedMetricSpecification"]["predefinedMetricType"] == "ElastiCacheReplicaEngineCPUUtilization"
    assert (replicas["targetValue"], replicas["disableScaleIn"]) == (50, True)


def test_only_the_autoscaled_count_is_ignored_and_none_without_autoscaling():
    only_replicas = {**SCALED, "autoscaling": {"replicas": {"min": 1, "max": 3}}}
    r = cached(stack({"feed": only_replicas}))
    assert list(r.one(RG).ignore_changes) == ["replicasPerNodeGroup"]
    assert [t.inputs["scalableDimension"] for t in r.of_type(TARGET)] == ["elasticache:replication-group:Replicas"]
    plain = cached(stack({"feed": {**RG_CACHE, "shards": 3, "replicas": 2}}))
    assert list(plain.one(RG).ignore_changes) == [] and plain.of_type(TARGET) == plain.of_type(POLICY) == []


def test_every_problem_at_once_naming_key_value_and_what_is_allowed():
    bad = {**RG_CACHE, "nodeType": "cache.t4g.medium", "replicas": 2,
           "autoscaling": {"shards": {"min": 4, "max": 2, "metric": "ElastiCacheReplicaEngineCPUUtilization",
                                      "target": 90},
                           "replicas": {"min": 0, "max": 6}}}
    found = dict.fromkeys(f"{k}: {m}" for k, m in problems(caches={"feed": bad}))
    text = "\n".join(found)
    for expected in (
        "caches.feed.autoscaling: ElastiCache auto scales cluster-mode groups only: set `shards`",
        "caches.feed.autoscaling: AWS auto scales node families r7g, r6g, r6gd, r5, m7g, m6g, m5, c7gn in sizes "
        "large, xlarge, 2xlarge; got nodeType cache.t4g.medium",
        "caches.feed.autoscaling.shards: needs 1 <= min <= max <= 500, got min 4, max 2",
        "caches.feed.autoscaling.shards.metric: shards track one of ElastiCachePrimaryEngineCPUUtilization",
        "caches.feed.autoscaling.shards.target: AWS takes a target of 35 to 70 %, got 90",
        "caches.feed.autoscaling.replicas: needs 1 <= min <= max <= 5, got min 0, max 6",
    ):
        assert expected in text, f"missing: {expected}\nin:\n{text}"


def test_the_configured_count_must_lie_within_the_bounds():
    cache = {**SCALED, "shards": 8, "autoscaling": {"shards": {"min": 2, "max": 6}}}
    assert ("caches.feed.autoscaling.shards", "the configured shards (8) must lie within min 2 and max 6 (the count "
            "the group is created with)") in problems(caches={"feed": cache})


def test_autoscaling_needs_kind_elasticache_a_new_enough_engine_and_data_tiering_for_capacity():
    serverless = {"pattern": "external", "kind": "elasticache-serverless",
                  "limits": {"dataStorageGb": 10, "ecpuPerSecond": 5000},
                  "autoscaling": {"shards": {"min": 1, "max": 2}}}
    assert ("caches.feed.autoscaling", "only applies to kind: elasticache, got kind: elasticache-serverless") in \
        problems(caches={"feed": serverless})
    tiering = {**SCALED, "autoscaling": {"shards": {
        "min": 2, "max": 6, "metric": "ElastiCacheDatabaseCapacityUsageCountedForEvictPercentage"}}}
    assert any(k == "caches.feed.autoscaling.shards.metric" and "needs data tiering" in m
               for k, m in problems(caches={"feed": tiering}))
    old = {**SCALED, "engine": "redis", "version": "5.0"}
    found = problems(caches={"feed": old})
    assert any(k == "caches.feed.autoscaling" and "needs redis 6.0 or later" in m for k, m in found), found
