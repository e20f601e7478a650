"""Pattern 5's pods, through the fields of its custom resources: where the operator's pods run
(placement), which images they pull (the stack's `images`), their pull Secrets and the resources of
the containers beside Redis. Each operator takes these in its own fields, and some not at all:

| | OT RedisReplication | OT RedisCluster | Spotahome RedisFailover |
|---|---|---|---|
| Redis pods | `spec.*` | `spec.redisLeader.*`, `spec.redisFollower.*` | `spec.redis.*` |
| Sentinel pods | `spec.sentinel.*` | (none) | `spec.sentinel.*` |
| priorityClassName | `spec` and `spec.sentinel` | `spec` (every pod) | `spec.redis`, `spec.sentinel` |
| terminationGracePeriodSeconds | `spec` (Redis) | `redisLeader`, `redisFollower` | `spec.redis.terminationGracePeriod` |
| pull Secrets | `kubernetesConfig`, `sentinel` | `kubernetesConfig` | `redis`, `sentinel` |
| pod labels | the resource's labels (every pod) | the same | the same |
| pod annotations | the resource's annotations (Redis pods only) | the same (every pod) | `redis`, `sentinel` `podAnnotations` |

Read from the CRDs in ../shared/schemas/crds and the operators' sources (OT v0.26.0
internal/k8sutils/statefulset.go and internal/controller/redisreplication/redisreplication_sentinel.go,
which copies the resource's labels to the Sentinel pods but not its annotations; Spotahome v1.3.0-rc1
operator/redisfailover/handler.go, getLabels).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from cache_patterns.core import images as facts
from cache_patterns.core import placement as placing
from cache_patterns.core.image_set import ImageSet
from cache_patterns.patterns.operator.specs import KINDS

# Labels the operators put on their pods and select by (a pod label of the same key would break them).
OPERATOR_LABELS = {"ot-container-kit": ("app", "redis_setup_type", "role"),
                   "spotahome": ("app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of")}


@dataclass(frozen=True)
class Pods:
    """What the component decides for the operator's pods: the images and the merged placement of each
    component (redis, sentinel)."""

    images: ImageSet
    placed: Mapping[str, placing.Placed]
    image_keys: Mapping[str, tuple[str | None, str]]    # redis, sentinel, exporter -> (image given, catalogue key)


def selectors(kind: str, name: str) -> dict[str, dict]:
    """The labels of the pods the operator makes for resource `name`, by component: what a pod affinity
    term or spread constraint without labelSelector selects."""
    if kind == "spotahome-failover":
        base = {"app.kubernetes.io/part-of": "redis-failover", "app.kubernetes.io/name": name}
        return {role: {**base, "app.kubernetes.io/component": role} for role in ("redis", "sentinel")}
    if kind == "ot-cluster":
        return {role: {"app": f"{name}-{role}", "redis_setup_type": "cluster", "role": role}
                for role in ("leader", "follower")}
    return {"redis": {"app": name, "redis_setup_type": "replication", "role": "replication"},
            "sentinel": {"app": f"{name}-s", "redis_setup_type": "sentinel", "role": "sentinel"}}


def _get(spec: dict, path: tuple[str, ...]) -> Any:
    node: Any = spec
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _set_images(spec: dict, kind: str, pods: Pods) -> None:
    """Every container's image (the table of core/images.py says where each is) and pull policy."""
    for c in facts.OPERATOR_CONTAINERS:
        if c.kind != KINDS[kind] or (c.enabled is not None and not _get(spec, c.enabled)):
            continue
        parent = _get(spec, c.image[:-1])
        if parent is None:
            continue
        given, key = pods.image_keys[c.role if c.role in ("sentinel", "exporter") else "redis"]
        parent.update(pods.images.pick(given, key))


def _placement(placed: placing.Placed, selector: dict, grace_key: str | None) -> dict:
    """Placement fields a pod-template-like object of a CRD takes (all of them, where it has them)."""
    out: dict = {}
    if placed.node_selector:
        out["nodeSelector"] = dict(placed.node_selector)
    if placed.tolerations:
        out["tolerations"] = placed.k8s_tolerations()
    affinity = placing.affinity(placed, selector)
    if affinity:
        out["affinity"] = affinity
    spread = placing.spread(placed, selector)
    if spread:
        out["topologySpreadConstraints"] = spread
    if placed.priority_class_name:
        out["priorityClassName"] = placed.priority_class_name
    if grace_key and placed.termination_grace_period_seconds is not None:
        out[grace_key] = placed.termination_grace_period_seconds
    return out


def decorate(spec: dict, kind: str, name: str, pods: Pods) -> dict:
    """`spec` (a kind's custom resource spec) with the images, pull Secrets and placement."""
    _set_images(spec, kind, pods)
    secrets = pods.images.secret_refs()
    sel = selectors(kind, name)
    if kind == "ot-replication":
        spec.update(_placement(pods.placed["redis"], sel["redis"], "terminationGracePeriodSeconds"))
        spec["sentinel"].update(_placement(pods.placed["sentinel"], sel["sentinel"], None))
        if secrets:
            spec["kubernetesConfig"]["imagePullSecrets"] = secrets
            spec["sentinel"]["imagePullSecrets"] = secrets
    elif kind == "ot-cluster":
        for role in ("leader", "follower"):
            fields = _placement(pods.placed["redis"], sel[role], "terminationGracePeriodSeconds")
            priority = fields.pop("priorityClassName", None)
            spec[f"redis{role.title()}"].update(fields)
            if priority:
                spec["priorityClassName"] = priority
        if secrets:
            spec["kubernetesConfig"]["imagePullSecrets"] = secrets
    else:
        for role, grace in (("redis", "terminationGracePeriod"), ("sentinel", None)):
            spec[role].update(_placement(pods.placed[role], sel[role], grace))
            if pods.placed[role].pod_annotations:
                spec[role]["podAnnotations"] = dict(pods.placed[role].pod_annotations)
            if secrets:
                spec[role]["imagePullSecrets"] = secrets
    return spec


def resource_metadata(kind: str, placed: placing.Placed) -> dict:
    """What goes on the custom resource's own metadata for its pods: the pod labels (every operator
    copies the resource's labels to its pods) and, for OT, the pod annotations (its Redis pods get the
    resource's annotations)."""
    out: dict = {}
    if placed.pod_labels:
        out["labels"] = dict(placed.pod_labels)
    if kind != "spotahome-failover" and placed.pod_annotations:
        out["annotations"] = dict(placed.pod_annotations)
    return out
