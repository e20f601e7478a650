"""The rollout driver inside `pulumi up`: a Pulumi dynamic resource after the Redis StatefulSet (and the
Sentinels and HAProxy it depends on) whose input is a digest of the Redis pod template. When the template
changes (an engine upgrade, a new memory limit, a password rotation, new pod scripts), `pulumi up` runs the
driver (rollout.py) over the OnDelete pods: replicas first, the primary last through its preStop
hand-over; `pulumi up` returns once every Redis pod is on the new revision, synced and promotable.

- **Preview** only diffs the digest (an unknown one, e.g. a replaced ConfigMap's new name, is a change):
  nothing is read from or done to the pods.
- **A refusal** (no single primary, a replica not synced, a pod that does not answer, a time-out) fails
  the `up` with the driver's reason and no traceback: the provider records the refusal and the template
  it last rolled to (not the new one), the component raises a `pulumi.RunError` with the reason, and the
  next `pulumi up` runs the driver again (its digest still differs).
- **Pods no runtime started** (no container id: Pending, or the engine tier's kwok nodes, which run no
  container) hold no server and no data: the driver replaces them without reading them, and the
  StatefulSet controller makes them again on the new revision (rollout.py `Driver.roll`).
- The driver talks to the cluster with `kubectl` (on PATH) through the kubeconfig the `pulumi` process
  has (KUBECONFIG, as the program's Kubernetes provider reads it) and the stack's `kubeContext`.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

# What the driver's resource diffs on: a change of any of them rolls the pods.
KEYS = ("namespace", "statefulset", "context", "template")
TIMEOUT_S = 900
# False in the component package's provider (components/__main__.py): no driver resource is made.
ENABLED = True


# Env of the pod template left out of the digest: `PEERS` lists every ordinal (`replicas` changes it), read
# only when a server starts; a scale-up or -down must not roll the existing pods (docs/upgrades.md).
UNROLLED_ENV = frozenset({"PEERS"})


def digest(template: Any) -> str:
    """The pod template's digest (sorted JSON, without UNROLLED_ENV): what the driver resource diffs on."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value if not (isinstance(v, dict) and v.get("name") in UNROLLED_ENV
                                                     and "value" in v)]
        return value
    return hashlib.sha256(json.dumps(strip(template), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def roll(props: dict) -> dict:
    """Run the driver over the StatefulSet's pods; returns what it did (`refused`: the driver's reason)."""
    from cache_patterns.patterns.statefulset.rollout import Driver, KubectlPods, RolloutError

    pods = KubectlPods(props["namespace"], props["statefulset"], props.get("context") or None)
    driver = Driver(pods, timeout_s=float(props.get("timeout") or TIMEOUT_S))
    try:
        driver.wait("the StatefulSet controller to observe the new template", pods.observed)
        report = driver.roll()
    except RolloutError as exc:
        return {"refused": str(exc), "replaced": [], "handovers": 0}
    return {"refused": "", "replaced": report.order, "handovers": report.handovers}


class RolloutProvider(ResourceProvider):
    """Runs the driver on create and on a changed template; a refusal keeps the template last rolled to."""

    def _outs(self, props: dict, previous: str) -> dict:
        done = roll(props)
        return {**{k: props.get(k) for k in KEYS}, "timeout": props.get("timeout"), **done,
                "template": previous if done["refused"] else props["template"]}

    def create(self, props: dict) -> CreateResult:
        return CreateResult(id_=f"{props['namespace']}/{props['statefulset']}", outs=self._outs(props, ""))

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in KEYS), replaces=[],
                          delete_before_replace=False)

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        return UpdateResult(outs=self._outs(news, olds.get("template") or ""))

    def delete(self, _id: str, _props: dict) -> None:
        """Nothing to undo: the pods stay as they are."""


class Rollout(Resource):
    """The driver's resource: `refused` is the driver's reason ("" when every pod is on the revision)."""

    refused: pulumi.Output[str]
    replaced: pulumi.Output[list]
    handovers: pulumi.Output[int]

    def __init__(self, name: str, props: dict, opts: pulumi.ResourceOptions):
        super().__init__(RolloutProvider(), name, {**props, "refused": None, "replaced": None, "handovers": None}, opts)


def fail_on_refusal(statefulset: str, refused: str) -> str:
    if refused:
        raise pulumi.RunError(f"the rollout of {statefulset} was refused, its pods stay on their revision "
                              f"(the next `pulumi up` tries again): {refused}")
    return refused


def wire(parent: Any, name: str, namespace: str, statefulset: str, template: Any, context: str | None,
         after: list) -> Rollout | None:
    """The driver's resource for the Redis StatefulSet `statefulset`, after the resources `after` (None when
    not ENABLED)."""
    if not ENABLED:
        return None
    rollout = Rollout(f"{name}-rollout", {
        "namespace": namespace, "statefulset": statefulset, "context": context or "",
        "template": pulumi.Output.from_input(template).apply(digest), "timeout": TIMEOUT_S,
    }, pulumi.ResourceOptions(parent=parent, depends_on=after))
    rollout.refused.apply(lambda r: fail_on_refusal(statefulset, r))
    return rollout
