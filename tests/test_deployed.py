"""Day-2 changes refused before anything is touched (core/deployed.py): the program reads what its own
stack last deployed (the `deployed` output, through a StackReference to itself, mocked here) and
refuses a downgrade or an unsafe engine jump, an unprepared replica shrink and a maxmemory below the
data set planned last time, every problem at once, with no resource registered."""
from __future__ import annotations

import copy
import gc

import pytest

from cache_patterns.config.errors import ConfigError
from tools import harness

STACK = "staging"
SELF = f"organization/cache-patterns/{STACK}"   # the local file backend's name of the stack itself


@pytest.fixture(autouse=True)
def _collect_refused_runs():
    """A refused run leaves futures holding the ConfigError; collected here, not later in the middle of
    another test's compile (CPython 3.11.7 then fails the compile with "AST constructor recursion depth
    mismatch", as this file's first version did in pytest's terminal summary)."""
    yield
    gc.collect()


def config(**sessions) -> dict:
    cfg = copy.deepcopy(harness.load_stack_config(STACK))
    cfg["cache-patterns:caches"]["sessions"].update(sessions)
    return {k: v for k, v in cfg.items()}


def deployed(**facts) -> dict:
    """The `deployed` output of a run of the committed staging config, changed by `facts`."""
    before = harness.run(STACK).outputs["deployed"].value
    return {SELF: {"deployed": {"sessions": {**before["sessions"], **facts}}}}


def refused(cfg: dict, outputs: dict) -> tuple[ConfigError, list]:
    registered: list = []
    with pytest.raises(ConfigError) as err:
        harness.run(STACK, cfg, stack_outputs=outputs, registered=registered)
    return err.value, registered


def test_each_statefulset_cache_exports_what_the_next_run_checks():
    facts = harness.run(STACK).outputs["deployed"].value["sessions"]
    assert {k: facts[k] for k in ("pattern", "engine", "version", "replicas", "memoryBytes")} == {
        "pattern": "statefulset", "engine": "valkey", "version": "8.1", "replicas": 2, "memoryBytes": 1024 ** 3}
    assert 0 < facts["plannedDataBytes"] < facts["maxmemoryBytes"] < facts["memoryBytes"]


def test_a_downgrade_is_refused_with_no_resource_registered():
    err, registered = refused(config(), deployed(version="9.0"))
    assert [k for k, _ in err.problems] == ["caches.sessions.version"]
    message = err.problems[0][1]
    assert "valkey 9.0 (deployed) -> valkey 8.1" in message and "downgrade" in message
    # Not one resource: the providers wait for the check, and every resource for its provider.
    assert registered == [], [r.urn for r in registered][:5]


def test_an_unsafe_jump_names_the_path_that_works():
    err, registered = refused(config(version="9.0"), deployed(engine="redis", version="7.2"))
    assert [k for k, _ in err.problems] == ["caches.sessions.engine"]
    assert "the path that works: redis 7.2 -> valkey 8.1 -> valkey 9.0" in err.problems[0][1]
    assert registered == []


def test_a_safe_step_and_an_unchanged_deployment_pass_and_register_the_same_resources():
    plain = harness.run(STACK, config(version="9.0"))
    stepped = harness.run(STACK, config(version="9.0"), stack_outputs=deployed(version="8.1"))
    assert sorted(r.urn for r in stepped.resources) == sorted(r.urn for r in plain.resources) and plain.resources
    assert stepped.outputs["deployed"].value["sessions"]["version"] == "9.0"
    same = harness.run(STACK, stack_outputs=deployed())
    assert same.outputs["deployed"].value == harness.run(STACK).outputs["deployed"].value


def test_a_replica_shrink_is_refused_until_the_driver_prepared_it():
    err, registered = refused(config(), deployed(replicas=3))
    (key, message), = err.problems
    assert key == "caches.sessions.replicas" and "3 (deployed) -> 2" in message
    assert "scale-down 3" in message and "preparedReplicas: 2" in message
    assert registered == []
    # Numbers read back from the state may be floats: the same refusal.
    assert [k for k, _ in refused(config(), deployed(replicas=3.0))[0].problems] == ["caches.sessions.replicas"]
    # Prepared for that count: passes; prepared for another: refused still.
    harness.run(STACK, config(preparedReplicas=2), stack_outputs=deployed(replicas=3))
    refused(config(preparedReplicas=1), deployed(replicas=3))
    # Growing needs nothing.
    harness.run(STACK, config(replicas=3), stack_outputs=deployed(replicas=2))


def test_a_maxmemory_below_the_data_set_planned_last_time_is_refused():
    cfg = config(memory="256Mi")
    del cfg["cache-patterns:caches"]["sessions"]["capacity"]
    err, _ = refused(cfg, deployed())
    (key, message), = err.problems
    assert key == "caches.sessions.memory" and "planned at the last deployment" in message
    # The same memory where the last deployment planned a data set it holds: passes.
    harness.run(STACK, cfg, stack_outputs=deployed(plannedDataBytes=1024))


def test_every_problem_at_once():
    err, _ = refused(config(), deployed(version="9.0", replicas=4))
    assert sorted(k for k, _ in err.problems) == ["caches.sessions.replicas", "caches.sessions.version"]
    assert all(f"{k}: {m}" in str(err) for k, m in err.problems)


def test_a_new_stack_a_new_cache_and_a_pattern_switch_are_not_compared():
    harness.run(STACK, stack_outputs={})                                         # never deployed
    harness.run(STACK, stack_outputs={SELF: {"deployed": {"other": {"pattern": "statefulset", "replicas": 8}}}})
    harness.run(STACK, stack_outputs=deployed(pattern="operator", version="9.0", replicas=5))
    harness.run(STACK, stack_outputs={SELF: {"caches": {}}})                     # deployed before the output
