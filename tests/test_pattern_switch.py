"""A pattern switch by config must not make the engine create an object that already exists under
another URN. Kubernetes objects with a fixed name (not auto-named) that both patterns make are one
resource moving between components: the new URN carries an alias to the old one, or the engine creates
the "new" object before deleting the "old" and server-side apply turns that create into an upsert of
the live object (found by the engine tier: the staging statefulset -> operator switch failed on field
conflicts of the cache's Certificates)."""
from __future__ import annotations

import copy

import pytest

from e2e import live
from tools import harness

OPERATOR_SESSIONS = {"pattern": "operator", "kind": "ot-replication", "replicas": 2, "sentinels": 3,
                     "memory": "1Gi", "cpu": "250m", "maxmemoryPolicy": "noeviction", "storage": "5Gi",
                     "defaultTtl": "12h", "tls": {"issuer": "internal-ca"}, "exporter": True}
DEV_STATEFULSET = {"pattern": "statefulset", "memory": "256Mi", "maxmemoryPolicy": "allkeys-lfu", "defaultTtl": "10m"}


def _variant(stack: str, cache: str, settings: dict | None, operators: dict | None = None) -> harness.Run:
    cfg = copy.deepcopy(harness.load_stack_config(stack))
    if settings is not None:
        cfg["cache-patterns:caches"][cache] = settings
    if operators is not None:
        cfg["cache-patterns:operators"] = operators
    return harness.run(stack, cfg)


def _fixed_names(run: harness.Run) -> dict[tuple, harness.Registered]:
    return {(r.type, (r.inputs["metadata"] or {}).get("namespace"), r.inputs["metadata"]["name"]): r
            for r in run.k8s_objects if (r.inputs.get("metadata") or {}).get("name")}




SWITCHES = {
    "staging statefulset -> operator": ("staging", "sessions", None, OPERATOR_SESSIONS,
                                        {"ot-container-kit": {"install": True, "version": "0.26.0"}}),
    "dev sidecar -> statefulset": ("dev", "fragments", None, DEV_STATEFULSET, None),
}


@pytest.mark.parametrize("switch", sorted(SWITCHES))
@pytest.mark.parametrize("backwards", [False, True])
def test_objects_that_keep_their_name_across_a_switch_keep_their_resource(switch, backwards):
    stack, cache, before, after, operators = SWITCHES[switch]
    old, new = _variant(stack, cache, before), _variant(stack, cache, after, operators)
    if backwards:
        old, new = new, old
    old_names, new_names = _fixed_names(old), _fixed_names(new)
    old_parents = {r.urn: r.parent for r in old.resources}
    problems = []
    for key in sorted(set(old_names) & set(new_names), key=str):
        before_res, after_res = old_names[key], new_names[key]
        if live.engine_urn(before_res.urn) == live.engine_urn(after_res.urn):
            continue
        wanted = f"parent={live.engine_urn(old_parents[before_res.urn])}"
        if wanted not in after_res.aliases:
            problems.append(f"{key}: {after_res.urn} has no alias to {before_res.urn} ({wanted}); "
                            f"aliases: {after_res.aliases}")
    assert problems == []


@pytest.mark.parametrize("stack", ["staging", "platform"])
def test_monitoring_components_move_with_the_cache(stack):
    """The monitoring objects (PodMonitors, rules, dashboard) have fixed names under a CacheMonitoring
    component, itself under the pattern's component: the mocks' URNs keep only the parent's type, so
    the check above cannot see their URN change; the engine's do (the staging switch failed on their
    field conflicts). Their component carries the alias, which its children inherit."""
    run = harness.run(stack)
    comps = [r for r in run.resources if r.type == "cache-patterns:index:CacheMonitoring"]
    assert comps
    for comp in comps:
        parent = next(r for r in run.resources if r.urn == comp.parent)
        others = [t for t in ("cache-patterns:index:RedisStatefulSet", "cache-patterns:index:RedisOperatorCache")
                  if t != parent.type]
        wanted = {f"parent=urn:pulumi:{stack}::cache-patterns::{t}::{parent.name}" for t in others}
        assert wanted <= set(comp.aliases), (comp.urn, comp.aliases)
