"""What pattern 1 is watched with: for ElastiCache, CloudWatch alarms and the SNS topic of their
actions and the replication group's events; for every kind with an L1, the two-tier clients' rules
and dashboard (the cache itself is scraped by no Prometheus of the cluster)."""
from __future__ import annotations

from typing import Callable, Sequence

import pulumi

from cache_patterns.core import naming
from cache_patterns.observability import cloudwatch
from cache_patterns.observability.settings import ObservabilityConfig
from cache_patterns.observability.target import CacheTarget, ClientTarget
from cache_patterns.patterns.external.settings import ExternalSettings


def alarm_topic(parent: pulumi.Resource, name: str, stack: str, s: ExternalSettings, obs: ObservabilityConfig,
                tags: Callable[[str], dict]) -> pulumi.Output[str] | None:
    """The ARN of the topic of the cache's alarms and events, or None without alarms. Serverless
    caches send no events to a topic, and all their alarms are unverified."""
    if not obs.cloudwatch or not (s.kind == "elasticache" or
                                  (s.kind == "elasticache-serverless" and obs.alarms.unverified)):
        return None
    return cloudwatch.topic(name, naming.aws_name(stack, name), obs.alarms.topic_arn, parent,
                            tags(naming.aws_name(stack, name, "alarms")))


def alarms(parent: pulumi.Resource, name: str, stack: str, s: ExternalSettings, obs: ObservabilityConfig,
           topic: pulumi.Output[str], tags: Callable[[str], dict], *, members: pulumi.Input[list] | None = None,
           serverless_name: pulumi.Input[str] | None = None) -> cloudwatch.CacheAlarms:
    """The alarms of a replication group (`members`: its member clusters) or of a serverless cache."""
    args: cloudwatch.CacheAlarmsArgs = {
        "physical": naming.aws_name(stack, name), "topic_arn": topic, "unverified": obs.alarms.unverified,
        "alarms": [], "tags": tags(naming.aws_name(stack, name, "alarms"))}
    if serverless_name is not None:
        limits = s.limits
        assert limits is not None  # config requires it for this kind
        args.update(alarms=cloudwatch.serverless_alarms(s.maxmemory_policy, limits.data_storage_gb,
                                                        limits.ecpu_per_second), serverless_name=serverless_name)
    else:
        args.update(alarms=cloudwatch.node_alarms(s.maxmemory_policy, s.replicas), members=members,
                    count=cloudwatch.member_count(s.replicas, s.shards))
    return cloudwatch.CacheAlarms(f"{name}-alarms", args, pulumi.ResourceOptions(parent=parent))


def monitoring_target(stack: str, name: str, s: ExternalSettings, namespaces: Sequence[str], namespace: str,
                      labels: dict) -> CacheTarget:
    """The monitoring of the two-tier clients, in `namespace` (the stack's)."""
    client = (ClientTarget(cache=name, namespaces=tuple(sorted(set(namespaces)))) if s.l1 is not None and namespaces
              else None)
    return CacheTarget(stack=stack, cache=name, pattern="external", kind=s.kind, namespace=namespace,
                       maxmemory_policy=s.maxmemory_policy, client=client,
                       labels={**labels, "app.kubernetes.io/component": "monitoring"})
