"""The rollout driver inside `pulumi up` (patterns/statefulset/rollout_step.py): one dynamic resource per
StatefulSet cache, after the Redis, Sentinel and HAProxy workloads, that diffs on the Redis pod template's
digest only; a refusal fails the run with the driver's reason and keeps the template last rolled to, so
the next `pulumi up` tries again. The engine tier runs it for real (e2e/scenarios/test_rotation.py)."""
from __future__ import annotations

import copy
import gc

import pulumi
import pytest

from cache_patterns.patterns.statefulset import rollout_step
from tools import harness

STACK = "staging"
DYNAMIC = "pulumi-python:dynamic:Resource"


@pytest.fixture(autouse=True)
def _collect_refused_runs():
    yield
    gc.collect()


def rollout(**sessions) -> harness.Registered:
    cfg = copy.deepcopy(harness.load_stack_config(STACK))
    cfg["cache-patterns:caches"]["sessions"].update(sessions)
    registered: list = []
    harness.run(STACK, cfg, registered=registered)
    found = [r for r in registered if r.type == DYNAMIC]
    assert [r.name for r in found] == ["sessions-rollout"], [r.name for r in found]
    return found[0]


def test_the_driver_runs_after_the_redis_sentinel_and_haproxy_workloads_of_each_statefulset_cache():
    r = rollout()
    assert {k: r.inputs[k] for k in ("namespace", "statefulset", "context")} == {
        "namespace": "cache", "statefulset": "staging-sessions", "context": ""}
    after = {u.split("::")[-1] for u in r.dependencies}
    assert {"sessions-redis", "sessions-sentinel", "sessions-endpoint"} <= after, after
    assert r.parent.endswith("RedisStatefulSet::sessions")


def test_the_template_digest_moves_with_what_needs_new_pods_and_not_with_the_replica_count():
    base = rollout().inputs["template"]
    assert rollout().inputs["template"] == base                   # stable: no diff without a change
    assert rollout(version="9.0").inputs["template"] != base      # an engine upgrade rolls
    assert rollout(memory="2Gi").inputs["template"] != base       # a new container limit rolls
    assert rollout(replicas=3).inputs["template"] == base         # a scale rolls no existing pod (PEERS left out)


def test_a_refused_rollout_fails_the_run_with_the_driver_s_reason(monkeypatch):
    def refuse(args, outputs):
        return {**outputs, "refused": "expected exactly one primary, found none; wait for Sentinel to settle"}
    monkeypatch.setitem(harness.OUTPUT_HOOKS, DYNAMIC, refuse)
    with pytest.raises(pulumi.RunError, match="rollout of staging-sessions was refused.*exactly one primary"):
        harness.run(STACK)


@pytest.fixture
def driver_answers(monkeypatch):
    answers = {"refused": "", "replaced": ["p-1", "p-0"], "handovers": 1}
    monkeypatch.setattr(rollout_step, "roll", lambda props: dict(answers))
    return answers


PROPS = {"namespace": "cache", "statefulset": "s", "context": "", "template": "new", "timeout": 900}


def test_the_provider_records_the_new_template_only_once_rolled(driver_answers):
    p = rollout_step.RolloutProvider()
    assert p.create(PROPS).outs["template"] == "new"
    assert p.update("cache/s", {**PROPS, "template": "old"}, PROPS).outs["template"] == "new"
    driver_answers["refused"] = "replicas not synced and promotable: s-2"
    refused = p.update("cache/s", {**PROPS, "template": "old"}, PROPS).outs
    assert refused["template"] == "old" and refused["refused"].startswith("replicas not synced")
    assert p.create(PROPS).outs["template"] == ""
    # ... so the next run diffs again and the driver runs again.
    assert p.diff("cache/s", refused, PROPS).changes


def test_the_provider_diffs_on_the_template_and_where_to_roll_not_on_what_the_last_roll_did():
    p = rollout_step.RolloutProvider()
    done = {**PROPS, "refused": "", "replaced": ["s-1"], "handovers": 1}
    assert not p.diff("cache/s", done, {**PROPS, "refused": None, "replaced": None, "handovers": None}).changes
    for key, value in (("template", "newer"), ("context", "prod"), ("statefulset", "t"), ("namespace", "x")):
        assert p.diff("cache/s", done, {**PROPS, key: value}).changes, key
