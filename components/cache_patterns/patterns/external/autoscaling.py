"""ElastiCache auto scaling (issue 23): Application Auto Scaling targets and target-tracking policies on
a replication group's shards (`elasticache:replication-group:NodeGroups`) and replicas per shard
(`elasticache:replication-group:Replicas`), and the counts they own under `ignoreChanges`, so the
next `pulumi up` never reverts what the autoscaler did.

What AWS supports (ElastiCache user guide, "Auto Scaling Valkey and Redis OSS clusters" and "Defining a
scaling policy"): cluster mode enabled, Valkey 7.2+ or Redis OSS 6.0+, node families R7g, R6g, R6gd,
R5, M7g, M6g, M5, C7gn in sizes large, xlarge and 2xlarge; shards track the primaries' engine CPU or
memory, replicas the replicas' engine CPU, with a target of 35 to 70 %.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

import pulumi
from pydantic import Field

from cache_patterns.config.base import StrictModel
from cache_patterns.config.common import doc
from cache_patterns.config.types import Duration, Flag

NAMESPACE = "elasticache"
DIMENSIONS = {"shards": "elasticache:replication-group:NodeGroups",
              "replicas": "elasticache:replication-group:Replicas"}
# The replication group's input each dimension owns once autoscaled (ignored by the program).
OWNED_INPUT = {"shards": "numNodeGroups", "replicas": "replicasPerNodeGroup"}
METRICS = {
    "shards": ("ElastiCachePrimaryEngineCPUUtilization", "ElastiCacheDatabaseMemoryUsageCountedForEvictPercentage",
               "ElastiCacheDatabaseCapacityUsageCountedForEvictPercentage"),
    "replicas": ("ElastiCacheReplicaEngineCPUUtilization",),
}
DATA_TIERING_METRIC = "ElastiCacheDatabaseCapacityUsageCountedForEvictPercentage"
BOUNDS = {"shards": (1, 500), "replicas": (0, 5)}
TARGET_RANGE = (35, 70)
FAMILIES = ("r7g", "r6g", "r6gd", "r5", "m7g", "m6g", "m5", "c7gn")
SIZES = ("large", "xlarge", "2xlarge")
MIN_VERSION = {"valkey": (7, 2), "redis": (6, 0)}


class Scaling(StrictModel):
    """One autoscaled count: its bounds and the metric a target-tracking policy keeps at `target`."""

    TITLE = "an autoscaled count"
    min: Annotated[int, Field(strict=True, ge=0, le=500)] = doc(..., "The least count the autoscaler keeps.")
    max: Annotated[int, Field(strict=True, ge=0, le=500)] = doc(..., "The most count the autoscaler makes.")
    metric: Literal["ElastiCachePrimaryEngineCPUUtilization", "ElastiCacheDatabaseMemoryUsageCountedForEvictPercentage",
                    "ElastiCacheDatabaseCapacityUsageCountedForEvictPercentage",
                    "ElastiCacheReplicaEngineCPUUtilization"] | None = doc(None, "The predefined metric: shards ElastiCachePrimaryEngineCPUUtilization, "
                                   "ElastiCacheDatabaseMemoryUsageCountedForEvictPercentage or (data tiering) "
                                   "ElastiCacheDatabaseCapacityUsageCountedForEvictPercentage; replicas "
                                   "ElastiCacheReplicaEngineCPUUtilization.", "the engine CPU of the dimension")
    target: Annotated[int, Field(strict=True, ge=1, le=100)] = doc(60, "The metric's target value, percent (35-70).")
    scale_in_cooldown: Annotated[int, Duration(min_ms=0, max_ms=3_600_000, whole_seconds=True)] = doc(
        600_000, "Wait after a scale-in before the next.", "10m")
    scale_out_cooldown: Annotated[int, Duration(min_ms=0, max_ms=3_600_000, whole_seconds=True)] = doc(
        300_000, "Wait after a scale-out before the next.", "5m")
    disable_scale_in: Flag = doc(False, "Only ever add (a scale-in moves slots or drops replicas).")


class Autoscaling(StrictModel):
    """ElastiCache auto scaling of a cluster-mode replication group (docs/upgrades.md, "Autoscaling")."""

    TITLE = "ElastiCache auto scaling"
    shards: Scaling | None = doc(None, "Scale the shards (NodeGroups) between min and max.", "off")
    replicas: Scaling | None = doc(None, "Scale the replicas per shard between min and max.", "off")

    def dimensions(self) -> dict[str, Scaling]:
        return {d: getattr(self, d) for d in DIMENSIONS if getattr(self, d) is not None}


def problems(s: Any, env: str) -> list[tuple[str, str]]:
    """Every problem of `autoscaling` with the cache's other keys (AWS's prerequisites, the bounds)."""
    a: Autoscaling | None = s.autoscaling
    if a is None:
        return []
    if s.kind != "elasticache":
        return [("autoscaling", f"only applies to kind: elasticache, got kind: {s.kind}")]
    out = []
    if not a.dimensions():
        out.append(("autoscaling", "names neither shards nor replicas"))
    if s.shards is None:
        out.append(("autoscaling", "ElastiCache auto scales cluster-mode groups only: set `shards`"))
    major, minor = (int(p) for p in (s.engine_version.split(".") + ["0"])[:2])
    least = MIN_VERSION.get(s.engine)
    if least is not None and (major, minor) < least:
        out.append(("autoscaling", f"needs {s.engine} {least[0]}.{least[1]} or later, got version {s.engine_version}"))
    node = s.effective_node_type
    if node is not None:
        family, size = node.split(".")[1:3]
        if family not in FAMILIES or size not in SIZES:
            out.append(("autoscaling", f"AWS auto scales node families {', '.join(FAMILIES)} in sizes "
                                       f"{', '.join(SIZES)}; got nodeType {node}"))
    configured = {"shards": s.shards, "replicas": s.replicas}
    for dim, sc in a.dimensions().items():
        key, (low, high) = f"autoscaling.{dim}", BOUNDS[dim]
        if dim == "replicas" and env == "production":
            low = 1
        if not low <= sc.min <= sc.max <= high:
            out.append((key, f"needs {low} <= min <= max <= {high}, got min {sc.min}, max {sc.max}"))
        count = configured[dim]
        if count is not None and not sc.min <= count <= sc.max:
            out.append((key, f"the configured {dim} ({count}) must lie within min {sc.min} and max {sc.max} "
                             f"(the count the group is created with)"))
        metric = metric_of(dim, sc)
        if metric not in METRICS[dim]:
            out.append((f"{key}.metric", f"{dim} track one of {', '.join(METRICS[dim])}; got {metric}"))
        elif metric == DATA_TIERING_METRIC and ".r6gd." not in (node or ""):
            out.append((f"{key}.metric", f"{metric} needs data tiering (an r6gd node type), got nodeType {node}"))
        if not TARGET_RANGE[0] <= sc.target <= TARGET_RANGE[1]:
            out.append((f"{key}.target", f"AWS takes a target of {TARGET_RANGE[0]} to {TARGET_RANGE[1]} %, "
                                         f"got {sc.target}"))
    return out


def metric_of(dim: str, sc: Scaling) -> str:
    return sc.metric or METRICS[dim][0]


def owned_inputs(s: Any) -> list[str]:
    """The replication group's inputs the autoscaler owns: the program ignores their changes."""
    a: Autoscaling | None = s.autoscaling
    return [OWNED_INPUT[d] for d in a.dimensions()] if a is not None and s.kind == "elasticache" else []


def attach(cache: Any, name: str, group: Any, rg_id: str, s: Any) -> None:
    """A scalable target and a target-tracking policy per autoscaled dimension, after the group."""
    a: Autoscaling | None = s.autoscaling
    if a is None:
        return
    resource_id = pulumi.Output.concat("replication-group/", group.replication_group_id)
    for dim, sc in a.dimensions().items():
        target = _target(cache, name, dim, sc, resource_id, group)
        _policy(cache, name, dim, sc, target, rg_id)


def _target(cache: Any, name: str, dim: str, sc: Scaling, resource_id: Any, group: Any):
    import pulumi_aws as aws

    return aws.appautoscaling.Target(
        f"{name}-{dim}-scaling", service_namespace=NAMESPACE, scalable_dimension=DIMENSIONS[dim],
        resource_id=resource_id, min_capacity=sc.min, max_capacity=sc.max, tags=cache._tags(f"{name}-{dim}"),
        opts=pulumi.ResourceOptions(parent=cache, depends_on=[group]))


def _policy(cache: Any, name: str, dim: str, sc: Scaling, target: Any, rg_id: str):
    import pulumi_aws as aws

    return aws.appautoscaling.Policy(
        f"{name}-{dim}-policy", name=f"{rg_id}-{dim}", policy_type="TargetTrackingScaling",
        service_namespace=target.service_namespace, scalable_dimension=target.scalable_dimension,
        resource_id=target.resource_id,
        target_tracking_scaling_policy_configuration={
            "predefined_metric_specification": {"predefined_metric_type": metric_of(dim, sc)},
            "target_value": float(sc.target),
            "scale_in_cooldown": sc.scale_in_cooldown // 1000, "scale_out_cooldown": sc.scale_out_cooldown // 1000,
            "disable_scale_in": sc.disable_scale_in},
        opts=pulumi.ResourceOptions(parent=cache))
