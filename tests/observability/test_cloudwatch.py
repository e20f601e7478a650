"""ElastiCache under Pulumi's mocks: CloudWatch alarms per member cluster (from the replication group's
member_clusters), their SNS topic also receiving the group's events, the eviction alarm chosen by the
policy, unverified alarms only on request, and a given topic used instead of a new one."""
from __future__ import annotations

import copy

import pytest

from cache_patterns.observability import cloudwatch
from tests.conftest import stack_run
from tools import harness

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
GIVEN = "arn:aws:sns:eu-west-1:111122223333:platform-alerts"


def prod(observability: dict | None = None, **sessions) -> harness.Run:
    cfg = copy.deepcopy(harness.load_stack_config("prod"))
    cfg["cache-patterns:caches"]["sessions"].update(sessions)
    if observability is not None:
        cfg["cache-patterns:observability"] = observability
    return harness.run("prod", cfg)


def alarms(run: harness.Run, cache: str = "sessions") -> list[harness.Registered]:
    return [r for r in run.of_type(ALARM) if r.name.startswith(f"{cache}-alarms-")]


def test_prod_has_the_verified_alarms_on_every_member_cluster_and_a_topic_for_events():
    run = stack_run("prod")
    group = run.one(GROUP, "sessions-replication-group")
    members = sorted(group.outputs["memberClusters"])
    assert members == ["prod-sessions-001", "prod-sessions-002", "prod-sessions-003"]
    (topic,) = [r for r in run.of_type(TOPIC) if r.name == "sessions-alarm-topic"]
    assert topic.inputs["name"] == "prod-sessions-alarms"
    assert group.inputs["notificationTopicArn"] == topic.outputs["arn"]
    found = alarms(run)
    by_member: dict[str, set[str]] = {}
    for a in found:
        assert a.inputs["namespace"] == "AWS/ElastiCache"
        assert set(a.inputs["dimensions"]) == {"CacheClusterId"}
        assert a.inputs["alarmActions"] == a.inputs["okActions"] == [topic.outputs["arn"]]
        assert a.inputs["evaluationPeriods"] == a.inputs["datapointsToAlarm"]
        by_member.setdefault(a.inputs["dimensions"]["CacheClusterId"], set()).add(a.inputs["metricName"])
    # sessions is a noeviction store with replicas: memory and any eviction, lag, swap; nothing unverified.
    expected = {"DatabaseMemoryUsagePercentage", "Evictions", "ReplicationLag", "SwapUsage"}
    assert by_member == {m: expected for m in members}
    evictions = next(a for a in found if a.inputs["metricName"] == "Evictions")
    assert (evictions.inputs["comparisonOperator"], evictions.inputs["threshold"]) == ("GreaterThanThreshold", 0)
    swap = next(a for a in found if a.inputs["metricName"] == "SwapUsage")
    assert swap.inputs["threshold"] == 50 * 1024 * 1024
    lag = next(a for a in found if a.inputs["metricName"] == "ReplicationLag")
    assert lag.inputs["treatMissingData"] == "notBreaching" and lag.inputs["statistic"] == "Maximum"
    # The serverless catalog: every alarm of it is unverified, so none, and no topic (it sends no events).
    assert not alarms(run, "catalog") and not [r for r in run.of_type(TOPIC) if r.name.startswith("catalog")]


def test_an_evicting_cache_alarms_on_churn_not_on_memory():
    run = prod(maxmemoryPolicy="allkeys-lru")
    found = alarms(run)
    assert not [a for a in found if a.inputs.get("metricName") in ("DatabaseMemoryUsagePercentage", "Evictions")]
    churn = [a for a in found if a.inputs.get("metricQueries")]
    assert len(churn) == 3
    queries = churn[0].inputs["metricQueries"]
    inputs = {q["metric"]["metricName"]: q["metric"] for q in queries if "metric" in q}
    assert set(inputs) == {"Evictions", "CurrItems"}
    assert all(set(m["dimensions"]) == {"CacheClusterId"} for m in inputs.values())
    (expression,) = [q for q in queries if "expression" in q]
    assert expression["returnData"] is True and expression["expression"] == "evictions * 60 - items"


def test_unverified_alarms_only_on_request():
    run = prod({"alarms": {"unverified": True}})
    metrics = {a.inputs.get("metricName") for a in alarms(run)}
    assert {"EngineCPUUtilization", "CurrConnections"} <= metrics
    serverless = alarms(run, "catalog")
    assert {a.inputs["metricName"] for a in serverless} == {"ThrottledCmds", "BytesUsedForCache",
                                                             "ElastiCacheProcessingUnits"}
    assert all(a.inputs["dimensions"] == {"clusterId": "prod-catalog"} for a in serverless)
    storage = next(a for a in serverless if a.inputs["metricName"] == "BytesUsedForCache")
    assert storage.inputs["threshold"] == 0.8 * 20 * 1_000_000_000


def test_a_given_topic_is_used_and_none_is_created():
    run = prod({"alarms": {"topicArn": GIVEN}})
    assert not run.of_type(TOPIC)
    assert run.one(GROUP, "sessions-replication-group").inputs["notificationTopicArn"] == GIVEN
    assert all(a.inputs["alarmActions"] == [GIVEN] for a in alarms(run))


def test_cluster_mode_alarms_every_node_group_member():
    run = prod(shards=2, replicas=1)
    members = {a.inputs["dimensions"]["CacheClusterId"] for a in alarms(run)}
    assert members == {f"prod-sessions-{s:04d}-{n:03d}" for s in (1, 2) for n in (1, 2)}
    assert cloudwatch.member_count(1, 2) == 4


@pytest.mark.parametrize("observability", [{"enabled": False}, {"alarms": {"enabled": False}}])
def test_alarms_off_means_no_alarm_no_topic_and_no_event_target(observability):
    run = prod(observability)
    assert not run.of_type(ALARM) and not run.of_type(TOPIC)
    assert run.one(GROUP, "sessions-replication-group").inputs.get("notificationTopicArn") is None


def test_every_alarm_names_its_meaning_and_runbook():
    for alarm in cloudwatch.node_alarms("noeviction", 2) + cloudwatch.serverless_alarms("noeviction", 1, 1000):
        assert alarm.meaning and alarm.runbook
        assert alarm.verified or alarm.why_unverified, f"{alarm.key}: unverified without saying why"
