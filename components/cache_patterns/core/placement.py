"""Where a component's pods run, on its pod template: the placement levels of config merged in one
order, the component's defaults where config gives none, and the image pull Secrets. Every pod
template the program builds goes through `place()` (a test walks every rendered pod to hold it to
that), so a new component (a backup CronJob) calls it with its own selector and defaults.

The order, least specific first: the component's defaults, the stack's `placement`, the cache's
`placement`, the cache's `placement.<component>`. Maps (`nodeSelector`, `podLabels`,
`podAnnotations`) merge key by key, the more specific level winning a key; everything else
(`tolerations`, `affinity`, `topologySpreadConstraints`, `priorityClassName`,
`terminationGracePeriodSeconds`) is taken whole from the most specific level that sets it, so a
level can replace a default (`affinity: {}` and `topologySpreadConstraints: []` turn it off).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from cache_patterns.config.placement import Placement, k8s

SINGLE = ("tolerations", "affinity", "topology_spread_constraints", "priority_class_name",
          "termination_grace_period_seconds")
MAPS = ("node_selector", "pod_labels", "pod_annotations")


@dataclass(frozen=True)
class Placed:
    """The placement of one component's pods, the levels merged (None: no level set it)."""

    node_selector: dict[str, str] = field(default_factory=dict)
    pod_labels: dict[str, str] = field(default_factory=dict)
    pod_annotations: dict[str, str] = field(default_factory=dict)
    tolerations: tuple | None = None
    affinity: Any = None
    topology_spread_constraints: tuple | None = None
    priority_class_name: str | None = None
    termination_grace_period_seconds: int | None = None

    def k8s_tolerations(self) -> list[dict]:
        return k8s(self.tolerations or ())


def merge(*levels: Placement | None) -> Placed:
    """The levels, least specific first (None: a level not given)."""
    maps: dict[str, dict] = {m: {} for m in MAPS}
    single: dict[str, Any] = {s: None for s in SINGLE}
    for level in levels:
        if level is None:
            continue
        for m in MAPS:
            maps[m].update(getattr(level, m))
        for s in SINGLE:
            value = getattr(level, s, None)
            if value is not None:
                single[s] = value
    return Placed(**maps, **single)


def _with_selector(term: dict, selector: dict) -> dict:
    """A pod affinity term or spread constraint without labelSelector selects the component's pods."""
    return term if "labelSelector" in term else {**term, "labelSelector": {"matchLabels": dict(selector)}}


def affinity(placed: Placed, selector: dict) -> dict | None:
    """The configured affinity as Kubernetes writes it (None: not configured; {}: none)."""
    if placed.affinity is None:
        return None
    out = k8s(placed.affinity)
    for kind in ("podAffinity", "podAntiAffinity"):
        terms = out.get(kind)
        if not terms:
            continue
        required = terms.get("requiredDuringSchedulingIgnoredDuringExecution")
        if required:
            terms["requiredDuringSchedulingIgnoredDuringExecution"] = [_with_selector(t, selector) for t in required]
        preferred = terms.get("preferredDuringSchedulingIgnoredDuringExecution")
        if preferred:
            terms["preferredDuringSchedulingIgnoredDuringExecution"] = [
                {**p, "podAffinityTerm": _with_selector(p["podAffinityTerm"], selector)} for p in preferred]
    return out


def spread(placed: Placed, selector: dict) -> list[dict] | None:
    if placed.topology_spread_constraints is None:
        return None
    return [_with_selector(c, selector) for c in k8s(placed.topology_spread_constraints)]


def host_anti_affinity(selector: dict) -> dict:
    """The default of in-cluster cache pods: pods of one component preferably on different nodes."""
    return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                           "labelSelector": {"matchLabels": dict(selector)}}}]}}


def zone_spread(selector: dict, keys: Iterable[str] = ("topology.kubernetes.io/zone",)) -> list[dict]:
    """The default of in-cluster cache pods: spread over zones where the cluster has them (a preference,
    so a cluster in one zone still schedules them)."""
    return [{"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchLabels": dict(selector)}} for key in keys]


def place(template: dict, placed: Placed, selector: dict, *, default_affinity: dict | None = None,
          default_spread: list[dict] | None = None, pull_secrets: Iterable[str] = ()) -> dict:
    """`template` (a pod template: metadata and spec) with the placement, the defaults where the
    placement gives none, and the pull Secrets. Nothing is added that is empty, so a pod without
    placement renders as it did before placement existed."""
    # Copies of the two levels written here (not deep: a template may hold Pulumi Outputs).
    out = {**template, "metadata": dict(template.get("metadata") or {}), "spec": dict(template["spec"])}
    meta, spec = out["metadata"], out["spec"]
    if placed.pod_labels:
        meta["labels"] = {**placed.pod_labels, **meta.get("labels", {})}
    if placed.pod_annotations:
        meta["annotations"] = {**meta.get("annotations", {}), **placed.pod_annotations}
    if placed.node_selector:
        spec["nodeSelector"] = dict(placed.node_selector)
    if placed.tolerations:
        spec["tolerations"] = placed.k8s_tolerations()
    chosen = affinity(placed, selector)
    chosen = default_affinity if chosen is None else chosen
    if chosen:
        spec["affinity"] = chosen
    constraints = spread(placed, selector)
    constraints = default_spread if constraints is None else constraints
    if constraints:
        spec["topologySpreadConstraints"] = constraints
    if placed.priority_class_name:
        spec["priorityClassName"] = placed.priority_class_name
    if placed.termination_grace_period_seconds is not None:
        spec["terminationGracePeriodSeconds"] = placed.termination_grace_period_seconds
    secrets = list(dict.fromkeys(pull_secrets))
    if secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in secrets]
    return out
