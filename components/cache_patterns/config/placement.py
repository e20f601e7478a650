"""Where pods run, as config: node selectors, tolerations, affinity, topology spread, priority class,
pod labels and annotations, on pydantic's own types (each Kubernetes field checked where it is
written, with every problem of a file at once). The same block is given stack-wide (`placement`),
per cache (`caches.<name>.placement`) and per component (`caches.<name>.placement.<component>`);
`core/placement.py` merges the levels and puts the result on each pod template.

The models mirror the Kubernetes API (its field names, camelCase) with two conveniences: a pod
affinity term or a spread constraint without `labelSelector` selects the pods of the component it is
given for (so a stack-wide rule means "spread each component's own pods"), and a toleration's
`operator` defaults to Equal as in Kubernetes.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from cache_patterns.config.base import StrictModel, fail
from cache_patterns.config.common import doc
from cache_patterns.config.types import Text

LABEL_KEY = Annotated[str, Text(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?",
                                "a label key", max_len=317)]
LABEL_VALUE = Annotated[str, Text(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?", "a label value", max_len=63,
                                  min_len=0)]
ANNOTATION_VALUE = Annotated[str, Text(r"[\s\S]*", "a string", max_len=65536, min_len=0)]
DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
PRIORITY_CLASS = Annotated[str, Text(DNS_SUBDOMAIN, "a PriorityClass name (a DNS subdomain)", max_len=253)]
WEIGHT = Annotated[int, Field(strict=True, ge=1, le=100)]
# Labels the program sets on every pod and selects by: a pod label of the same key would break the
# selectors (or be overwritten), so config may not set them.
RESERVED_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
                   "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by", "cache-patterns/stack")


def _values_problems(operator: str, values: tuple, with_values: tuple[str, ...]) -> list[tuple[str, str]]:
    if operator in with_values and not values:
        return [("values", f"operator {operator} needs at least one value")]
    if operator not in with_values and values:
        return [("values", f"operator {operator} takes no values, got {list(values)}")]
    return []


class LabelRequirement(StrictModel):
    """A label selector requirement (`matchExpressions` item)."""

    TITLE = "a label selector requirement"
    key: LABEL_KEY = doc(..., "The label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = doc(..., "How the key's value is matched.")
    values: tuple[LABEL_VALUE, ...] = doc((), "Values for In and NotIn.", "none")

    @model_validator(mode="after")
    def _check(self) -> "LabelRequirement":
        fail(_values_problems(self.operator, self.values, ("In", "NotIn")))
        return self


class LabelSelector(StrictModel):
    """A Kubernetes label selector."""

    TITLE = "a label selector"
    match_labels: dict[LABEL_KEY, LABEL_VALUE] = doc({}, "Labels a pod must have.", "none")
    match_expressions: tuple[LabelRequirement, ...] = doc((), "Requirements a pod's labels must meet.", "none")


class NodeRequirement(StrictModel):
    """A node selector requirement (node labels, or `matchFields`)."""

    TITLE = "a node selector requirement"
    key: LABEL_KEY = doc(..., "The node label key (or field, in matchFields).")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] = doc(..., "How the value is matched.")
    values: tuple[LABEL_VALUE, ...] = doc((), "Values for In and NotIn; one integer for Gt and Lt.", "none")

    @model_validator(mode="after")
    def _check(self) -> "NodeRequirement":
        out = _values_problems(self.operator, self.values, ("In", "NotIn", "Gt", "Lt"))
        if self.operator in ("Gt", "Lt") and self.values and (len(self.values) != 1 or not self.values[0].isdigit()):
            out.append(("values", f"operator {self.operator} takes exactly one integer, got {list(self.values)}"))
        fail(out)
        return self


class NodeTerm(StrictModel):
    """A node selector term: every requirement must hold."""

    TITLE = "a node selector term"
    match_expressions: tuple[NodeRequirement, ...] = doc((), "Requirements on node labels.", "none")
    match_fields: tuple[NodeRequirement, ...] = doc((), "Requirements on node fields (metadata.name).", "none")


class RequiredNodes(StrictModel):
    TITLE = "required node terms"
    node_selector_terms: Annotated[tuple[NodeTerm, ...], Field(min_length=1)] = doc(
        ..., "Terms, any one of which a node must meet.")


class PreferredNodes(StrictModel):
    TITLE = "a preferred node term"
    weight: WEIGHT = doc(..., "Weight, 1 to 100.")
    preference: NodeTerm = doc(..., "The term.")


class NodeAffinity(StrictModel):
    TITLE = "node affinity"
    required_during_scheduling_ignored_during_execution: RequiredNodes | None = doc(
        None, "Nodes a pod may only run on.")
    preferred_during_scheduling_ignored_during_execution: tuple[PreferredNodes, ...] = doc(
        (), "Nodes the scheduler prefers.", "none")


class PodTerm(StrictModel):
    """Pods a pod must (or must not) run beside, in one topology domain."""

    TITLE = "a pod affinity term"
    topology_key: LABEL_KEY = doc(..., "Node label of the domain (kubernetes.io/hostname, topology.kubernetes.io/zone).")
    label_selector: LabelSelector | None = doc(None, "The pods.", "the pods of the component it is given for")
    namespaces: tuple[Annotated[str, Text(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", "a namespace name", max_len=63)], ...] = doc(
        (), "Their namespaces.", "the pod's own")
    namespace_selector: LabelSelector | None = doc(None, "Their namespaces, by label.")
    match_label_keys: tuple[LABEL_KEY, ...] = doc((), "Label keys whose values the pods must share.", "none")
    mismatch_label_keys: tuple[LABEL_KEY, ...] = doc((), "Label keys whose values the pods must not share.", "none")


class WeightedPodTerm(StrictModel):
    TITLE = "a preferred pod affinity term"
    weight: WEIGHT = doc(..., "Weight, 1 to 100.")
    pod_affinity_term: PodTerm = doc(..., "The term.")


class PodAffinity(StrictModel):
    TITLE = "pod (anti-)affinity"
    required_during_scheduling_ignored_during_execution: tuple[PodTerm, ...] = doc(
        (), "Terms every placement must meet.", "none")
    preferred_during_scheduling_ignored_during_execution: tuple[WeightedPodTerm, ...] = doc(
        (), "Terms the scheduler prefers.", "none")


class Affinity(StrictModel):
    """A pod's affinity (Kubernetes `affinity`); given, it replaces the default one."""

    TITLE = "affinity"
    DOCUMENTED_ONCE = True
    node_affinity: NodeAffinity | None = doc(None, "Which nodes.")
    pod_affinity: PodAffinity | None = doc(None, "Beside which pods.")
    pod_anti_affinity: PodAffinity | None = doc(None, "Away from which pods.")


class Toleration(StrictModel):
    """A taint the pods tolerate."""

    TITLE = "a toleration"
    DOCUMENTED_ONCE = True
    key: LABEL_KEY | None = doc(None, "The taint's key.", "every key (with operator Exists)")
    operator: Literal["Equal", "Exists"] = doc("Equal", "Equal: the taint's value is `value`; Exists: any value.")
    value: LABEL_VALUE | None = doc(None, "The taint's value (operator Equal).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = doc(
        None, "The taint's effect.", "every effect")
    toleration_seconds: Annotated[int, Field(strict=True, ge=0)] | None = doc(
        None, "How long a NoExecute taint is tolerated before eviction.", "for ever")

    @model_validator(mode="after")
    def _check(self) -> "Toleration":
        out = []
        if self.operator == "Exists" and self.value:
            out.append(("value", f"operator Exists matches any value; got value {self.value!r}"))
        if self.key is None and self.operator != "Exists":
            out.append(("operator", "a toleration without a key tolerates every taint and needs operator Exists"))
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            out.append(("tolerationSeconds", "applies to effect NoExecute only"))
        fail(out)
        return self


class SpreadConstraint(StrictModel):
    """How pods spread over a topology (Kubernetes `topologySpreadConstraints` item)."""

    TITLE = "a topology spread constraint"
    DOCUMENTED_ONCE = True
    max_skew: Annotated[int, Field(strict=True, ge=1)] = doc(1, "Largest difference in pods between two domains.")
    topology_key: LABEL_KEY = doc(..., "Node label of the domains (topology.kubernetes.io/zone, kubernetes.io/hostname).")
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"] = doc(
        ..., "DoNotSchedule: a pod stays Pending rather than break the rule; ScheduleAnyway: a preference.")
    label_selector: LabelSelector | None = doc(None, "The pods counted.", "the pods of the component it is given for")
    min_domains: Annotated[int, Field(strict=True, ge=1)] | None = doc(
        None, "Domains counted as existing even when empty (DoNotSchedule only).")
    match_label_keys: tuple[LABEL_KEY, ...] = doc((), "Label keys whose values group the pods counted.", "none")
    node_affinity_policy: Literal["Honor", "Ignore"] | None = doc(
        None, "Whether nodes the pod cannot run on count as domains.", "Honor")
    node_taints_policy: Literal["Honor", "Ignore"] | None = doc(
        None, "Whether tainted nodes count as domains.", "Ignore")

    @model_validator(mode="after")
    def _check(self) -> "SpreadConstraint":
        if self.min_domains is not None and self.when_unsatisfiable != "DoNotSchedule":
            fail([("minDomains", "applies with whenUnsatisfiable: DoNotSchedule only")])
        return self


class Placement(StrictModel):
    """Where pods run and what they carry. Absent keys come from the level above (stack, then cache)."""

    TITLE = "placement"
    node_selector: dict[LABEL_KEY, LABEL_VALUE] = doc(
        {}, "Node labels the pods need (merged key by key with the level above).", "none")
    tolerations: tuple[Toleration, ...] | None = doc(
        None, "Taints the pods tolerate (replaces the level above's).", "none")
    affinity: Affinity | None = doc(
        None, "Affinity (replaces the level above's and the default preferred anti-affinity of the pods of one "
              "component on one node; `{}`: none).", "the level above's, else the component's default")
    topology_spread_constraints: tuple[SpreadConstraint, ...] | None = doc(
        None, "Topology spread (replaces the level above's and the default zone spread; `[]`: none).",
        "the level above's, else the component's default")
    priority_class_name: PRIORITY_CLASS | None = doc(
        None, "PriorityClass of the pods (an existing one: caches should not be the first pods evicted).", "none")
    pod_annotations: dict[LABEL_KEY, ANNOTATION_VALUE] = doc(
        {}, "Annotations on the pods (merged key by key with the level above).", "none")
    pod_labels: dict[LABEL_KEY, LABEL_VALUE] = doc(
        {}, "Labels on the pods (merged key by key with the level above; not the app.kubernetes.io/ labels the "
            "program selects by).", "none")

    @model_validator(mode="after")
    def _reserved(self) -> "Placement":
        fail([(f"podLabels.{key}", f"is set by the program on every pod and selected by (reserved: "
                                   f"{', '.join(RESERVED_LABELS)})") for key in self.pod_labels if key in RESERVED_LABELS])
        return self

    @property
    def given(self) -> bool:
        """Whether this level sets anything."""
        return any(v not in (None, {}, ()) for v in (self.node_selector, self.tolerations, self.affinity,
                                                      self.topology_spread_constraints, self.priority_class_name,
                                                      self.pod_annotations, self.pod_labels))


class RedisPlacement(Placement):
    """The Redis pods' placement, and how long Kubernetes waits for them to stop."""

    TITLE = "Redis pods' placement"
    termination_grace_period_seconds: Annotated[int, Field(strict=True, ge=1, le=86_400)] | None = doc(
        None, "Seconds Kubernetes waits for a stopping pod (the preStop handover, then Redis's shutdown) before "
              "killing it; at least what the handover needs.", "what the handover needs")


NO_PLACEMENT = Placement()


def k8s(model: Any) -> Any:
    """A placement model as the Kubernetes API writes it (camelCase keys, nothing empty)."""
    if isinstance(model, StrictModel):
        out = {}
        for key, (name, _) in type(model).config_keys().items():
            value = k8s(getattr(model, name))
            if value not in (None, {}, []):
                out[key] = value
        return out
    if isinstance(model, (tuple, list)):
        return [k8s(v) for v in model]
    if isinstance(model, dict):
        return {k: k8s(v) for k, v in model.items()}
    return model
