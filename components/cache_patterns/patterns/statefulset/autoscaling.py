"""Read replicas added by a HorizontalPodAutoscaler (autoscaling/v2) where a statefulset cache asks for
it (`autoscaling:`), and never taken away by it (issue 23).

The HPA scales the Redis StatefulSet between 1 + `replicas` and 1 + `autoscaling.maxReplicas` pods on
the Redis pods' CPU use (the read load HAProxy's read backend spreads over the replicas). What the
program does about Sentinel:

- **Scale-up only.** `behavior.scaleDown.selectPolicy: Disabled`: Kubernetes removes the highest
  ordinals first, and after any failover the primary can be on one of them; an HPA scale-down would
  delete its pod without the rollout driver's preparation (retire the removed replicas, hand the
  primary over to a kept one, then make each Sentinel forget them). A scale-down stays the driver's:
  `rollout ... scale-down N`, then `kubectl scale statefulset ... --replicas N`, then `forget N`.
- **One pod per `scaleUpPeriod`**: each new replica full-syncs from the primary (a fork there) and
  stays at `replica-priority 0`, never promoted, until its first sync is done (probe.sh ready).
- Every ordinal up to the maximum is rendered as a peer (HAProxy's servers, `PEERS`): a pod the HPA adds
  is routed to as soon as it is up; the ones not there are `init-addr none` (down) until they are.
- The StatefulSet's `spec.replicas` is under `ignoreChanges`: after the HPA changes the count,
  `pulumi preview --expect-no-changes` passes and `pulumi up` keeps the live count (pulumi-kubernetes
  sends the live value, or leaves the field to the HPA's field manager).
"""
from __future__ import annotations

from typing import Annotated, Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field

from cache_patterns.config.base import StrictModel
from cache_patterns.config.common import doc
from cache_patterns.config.types import Duration

REPLICAS_FIELD = "spec.replicas"


class ReadScaling(StrictModel):
    """Read replicas added by a HorizontalPodAutoscaler on the Redis pods' CPU use (scale-up only)."""

    TITLE = "read-replica autoscaling"
    max_replicas: Annotated[int, Field(strict=True, ge=1, le=8)] = doc(
        ..., "The most read replicas the HorizontalPodAutoscaler adds up to (pods = 1 + this); `replicas` is its floor.")
    target_cpu: Annotated[int, Field(strict=True, ge=10, le=100)] = doc(
        70, "The Redis pods' average CPU use the HPA keeps, percent of their `cpu` request.")
    scale_up_period: Annotated[int, Duration(min_ms=15_000, max_ms=1_800_000, whole_seconds=True)] = doc(
        60_000, "At most one replica added per period: each syncs from the primary before the next.", "60s")


def problems(s: Any) -> list[tuple[str, str]]:
    a: ReadScaling | None = s.autoscaling
    if a is None:
        return []
    if a.max_replicas <= s.replicas:
        return [("autoscaling.maxReplicas", f"must be above replicas ({s.replicas}, the autoscaler's floor), "
                                            f"got {a.max_replicas}")]
    return []


def server_slots(s: Any) -> int:
    """Redis pods the rendered peers and HAProxy know: up to the autoscaler's maximum."""
    return 1 + (s.autoscaling.max_replicas if s.autoscaling is not None else s.replicas)


def owned_fields(s: Any) -> list[str]:
    """The StatefulSet's fields the HPA owns: the program ignores their changes."""
    return [REPLICAS_FIELD] if s.autoscaling is not None else []


def hpa(parent: Any, name: str, s: Any, sts_name: str, namespace: str, labels: dict, statefulset: Any) -> Any:
    """The HorizontalPodAutoscaler of the Redis StatefulSet, or None without `autoscaling`."""
    a: ReadScaling | None = s.autoscaling
    if a is None:
        return None
    period = a.scale_up_period // 1000
    return k8s.autoscaling.v2.HorizontalPodAutoscaler(
        f"{name}-redis-hpa",
        metadata={"name": sts_name, "namespace": namespace, "labels": labels},
        spec={"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": sts_name},
              "minReplicas": s.replicas + 1, "maxReplicas": a.max_replicas + 1,
              "metrics": [{"type": "Resource", "resource": {
                  "name": "cpu", "target": {"type": "Utilization", "averageUtilization": a.target_cpu}}}],
              "behavior": {
                  "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                              "policies": [{"type": "Pods", "value": 1, "periodSeconds": period}]},
                  # Never: a scale-down is the rollout driver's (the primary may be on a removed ordinal).
                  "scaleDown": {"selectPolicy": "Disabled"}}},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[statefulset]))
