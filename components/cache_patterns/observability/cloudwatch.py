"""ElastiCache: CloudWatch alarms per member cluster (or per serverless cache) and an SNS topic for
their actions and the replication group's events (failover complete, node replaced ...).

`alarms()` is pure: which alarms a cache gets, from its kind, replicas and eviction policy, mirroring
the in-cluster rules (a store alarms on memory and on any eviction, an evicting cache on churn).
Alarms whose metric, dimension or threshold could not be verified against AWS's documentation are
marked `verified=False` and only made with `observability.alarms.unverified: true`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NotRequired, Sequence, TypedDict

import pulumi
import pulumi_aws as aws

from cache_patterns.observability.target import EVICTING_POLICIES

NAMESPACE = "AWS/ElastiCache"
# Node-based: one alarm per member cluster (cloudposse/terraform-aws-elasticache-redis does the same).
NODE_DIMENSION = "CacheClusterId"
# Serverless: `clusterId` in open-constructs/aws-cdk-library (serverless-cache.ts metric()); an AWS
# sample uses ServerlessCacheName instead, so every serverless alarm is unverified.
SERVERLESS_DIMENSION = "clusterId"
# AWS "Which Metrics Should I Monitor" (ElastiCache user guide): SwapUsage should not exceed 50 MB.
SWAP_LIMIT_BYTES = 50 * 1024 * 1024
# ElastiCache's maxclients (65,000 per node) is not confirmed in a stored AWS document.
MAXCLIENTS = 65_000


@dataclass(frozen=True)
class Alarm:
    """One CloudWatch alarm of a member cluster (node-based) or of a serverless cache."""

    key: str                    # short name, part of the alarm's name
    metric: str                 # CloudWatch metric name (or the metric-math expression's label)
    statistic: str
    comparison: str
    threshold: float
    datapoints: int             # datapoints to alarm, out of as many evaluation periods
    meaning: str
    runbook: str
    period_s: int = 60
    treat_missing: str = "missing"
    verified: bool = True
    # Metric math instead of one metric: (id, metric, statistic) of the inputs and the expression.
    inputs: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)
    expression: str | None = None
    why_unverified: str = ""


def node_alarms(policy: str, replicas: int, lag_s: int = 30) -> list[Alarm]:
    """Alarms of each member cluster of a replication group."""
    out = []
    if policy not in EVICTING_POLICIES:
        out.append(Alarm("memory", "DatabaseMemoryUsagePercentage", "Average", "GreaterThanThreshold", 90, 5,
                         "Used memory above 90% of maxmemory for 5 minutes (a noeviction store then refuses writes).",
                         "Scale up the node type or shorten TTLs; see RedisMemoryNearMaxmemory."))
    if policy == "noeviction":
        out.append(Alarm("evictions", "Evictions", "Sum", "GreaterThanThreshold", 0, 1,
                         "A noeviction store evicted keys: its parameter group policy was changed; data is lost.",
                         "Restore maxmemory-policy noeviction in the parameter group; see RedisStoreEvictingKeys.",
                         treat_missing="notBreaching"))
    else:
        # Evictions per minute x 60 above the items held: the whole content turns over within an hour.
        out.append(Alarm("eviction-churn", "EvictionChurn", "", "GreaterThanThreshold", 0, 15,
                         "The cache evicts more keys per hour than it holds, for 15 minutes: it is too small.",
                         "Scale up the node type or add shards; see RedisCacheEvictionChurn.",
                         inputs=(("evictions", "Evictions", "Sum"), ("items", "CurrItems", "Average")),
                         expression="evictions * 60 - items", treat_missing="notBreaching"))
    if replicas > 0:
        out.append(Alarm("replication-lag", "ReplicationLag", "Maximum", "GreaterThanThreshold", lag_s, 5,
                         f"A replica lags the primary by more than {lag_s} s for 5 minutes (reported by replicas only).",
                         "Check the primary's write load and network throughput; see RedisReplicationLag.",
                         treat_missing="notBreaching"))
    out.append(Alarm("swap", "SwapUsage", "Average", "GreaterThanThreshold", SWAP_LIMIT_BYTES, 5,
                     "The node swaps more than 50 MB for 5 minutes (AWS: SwapUsage should not exceed 50 MB).",
                     "Raise reserved-memory-percent or scale up: the node runs out of memory outside the data set."))
    out += [
        Alarm("engine-cpu", "EngineCPUUtilization", "Average", "GreaterThanThreshold", 90, 5,
              "The Redis engine thread above 90% CPU for 5 minutes.",
              "Spread load (read replicas, shards) or scale up; look for slow commands (slow log).",
              verified=False, why_unverified="the 90% threshold is from CloudWatch's recommended-alarms page, "
                                             "which could not be read"),
        Alarm("connections", "CurrConnections", "Average", "GreaterThanThreshold", round(0.85 * MAXCLIENTS), 10,
              "More than 85% of maxclients connected for 10 minutes.",
              "Find the connection leak or oversized pools; see RedisTooManyConnections.",
              verified=False, why_unverified="ElastiCache's maxclients of 65,000 is not confirmed in a stored "
                                             "AWS document"),
    ]
    return out


def serverless_alarms(policy: str, data_storage_gb: int, ecpu_per_second: int) -> list[Alarm]:
    """Alarms of a serverless cache. All unverified: the dimension (`clusterId` in one source,
    `ServerlessCacheName` in another) is not confirmed."""
    why = "the serverless dimension name (clusterId or ServerlessCacheName) is not confirmed"
    out = [
        Alarm("throttled", "ThrottledCmds", "Sum", "GreaterThanThreshold", 0, 3,
              "Commands were throttled (the ECPU or data limit is reached) for 3 minutes.",
              "Raise `limits.ecpuPerSecond` / `limits.dataStorageGb`, or spread hot keys.",
              treat_missing="notBreaching", verified=False, why_unverified=why),
        Alarm("storage", "BytesUsedForCache", "Maximum", "GreaterThanThreshold",
              round(0.8 * data_storage_gb * 1_000_000_000), 5,
              f"Data above 80% of the {data_storage_gb} GB limit for 5 minutes.",
              "Raise `limits.dataStorageGb` or shorten TTLs.", verified=False, why_unverified=why),
        Alarm("ecpu", "ElastiCacheProcessingUnits", "Sum", "GreaterThanThreshold",
              round(0.8 * ecpu_per_second * 60), 5,
              f"ECPUs above 80% of the {ecpu_per_second}/s limit for 5 minutes.",
              "Raise `limits.ecpuPerSecond`; look for expensive commands.", verified=False,
              why_unverified=why + ", nor how the per-minute sum relates to the per-second limit"),
    ]
    if policy == "noeviction":
        out.append(Alarm("evictions", "Evictions", "Sum", "GreaterThanThreshold", 0, 1,
                         "A noeviction store evicted keys.", "See RedisStoreEvictingKeys.",
                         treat_missing="notBreaching", verified=False, why_unverified=why))
    return out


def member_count(replicas: int, shards: int | None) -> int:
    """Member clusters of a replication group: (1 + replicas) per shard."""
    return (1 + replicas) * (shards or 1)


class CacheAlarmsArgs(TypedDict):
    physical: str
    """`<stack>-<cache>`: the first part of every alarm's name and of the topic's."""
    alarms: Sequence[Alarm]
    """What to alarm on (node_alarms or serverless_alarms)."""
    unverified: bool
    """Also make the alarms marked verified=False."""
    topic_arn: pulumi.Input[str]
    """The SNS topic of the alarm and OK actions (see `topic`)."""
    members: NotRequired[pulumi.Input[list] | None]
    """Node-based: the replication group's member_clusters output."""
    count: NotRequired[int]
    """Node-based: how many member clusters the config asks for."""
    serverless_name: NotRequired[pulumi.Input[str] | None]
    """Serverless: the cache's name (the alarms' one dimension value)."""
    tags: NotRequired[dict]


def topic(name: str, physical: str, given: str | None, parent: pulumi.Resource,
          tags: dict | None = None) -> pulumi.Output[str]:
    """The ARN of the SNS topic for a cache's alarms and events: the one given, else a new one. No
    KMS key on purpose: CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed
    `alias/aws/sns` key (give an existing topic with a customer key and its policy instead)."""
    if given is not None:
        return pulumi.Output.from_input(given)
    made = aws.sns.Topic(f"{name}-alarm-topic", name=f"{physical}-alarms", tags=tags or {},
                         opts=pulumi.ResourceOptions(parent=parent))
    return made.arn


class CacheAlarms(pulumi.ComponentResource):
    """The alarms of one ElastiCache cache, acting on its SNS topic.

    Member cluster ids come from the replication group's `member_clusters` output (sorted), so the
    number of alarms follows the config while their dimension follows what AWS created."""

    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: CacheAlarmsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cache-patterns:index:CacheAlarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        physical, tags = args["physical"], args.get("tags") or {}
        serverless_name = args.get("serverless_name")
        dimension = SERVERLESS_DIMENSION if serverless_name is not None else NODE_DIMENSION
        self.topic_arn = pulumi.Output.from_input(args["topic_arn"])
        chosen = [a for a in args["alarms"] if a.verified or args["unverified"]]
        self.alarm_names: list[pulumi.Output[str]] = []
        targets: list[tuple[str, pulumi.Input[str]]]
        if serverless_name is not None:
            targets = [("cache", serverless_name)]
        else:
            members = pulumi.Output.from_input(args.get("members"))
            targets = [(f"{i + 1:03d}", members.apply(lambda ids, i=i: sorted(ids)[i])) for i in range(args.get("count", 1))]
        for suffix, member in targets:
            for a in chosen:
                alarm_name = pulumi.Output.concat(physical, " ", member, " ", a.key)
                common = dict(
                    name=alarm_name, alarm_description=f"{a.meaning} Runbook: {a.runbook}",
                    comparison_operator=a.comparison, threshold=a.threshold, evaluation_periods=a.datapoints,
                    datapoints_to_alarm=a.datapoints, treat_missing_data=a.treat_missing,
                    alarm_actions=[self.topic_arn], ok_actions=[self.topic_arn], tags=tags,
                )
                if a.expression is None:
                    alarm = aws.cloudwatch.MetricAlarm(
                        f"{name}-{suffix}-{a.key}", namespace=NAMESPACE, metric_name=a.metric, statistic=a.statistic,
                        period=a.period_s, dimensions={dimension: member}, **common, opts=child)
                else:
                    queries = [{"id": qid, "return_data": False,
                                "metric": {"namespace": NAMESPACE, "metric_name": metric, "stat": stat,
                                           "period": a.period_s, "dimensions": {dimension: member}}}
                               for qid, metric, stat in a.inputs]
                    queries.append({"id": "churn", "expression": a.expression, "label": a.metric, "return_data": True})
                    alarm = aws.cloudwatch.MetricAlarm(f"{name}-{suffix}-{a.key}", metric_queries=queries, **common,
                                                       opts=child)
                self.alarm_names.append(alarm.name)
        self.register_outputs({"topicArn": self.topic_arn})
