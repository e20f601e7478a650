"""Memory changes of the staging stack's cache (TLS, RDB persistence, minReplicasToWrite 1) in real
processes, under a steady writer (SET + WAIT 1): a new maxmemory within the same container limit is
applied live (CONFIG SET, no process restarted), one below the data set is refused before anything
changes, and a new container limit rolls the pods with the upgrade's one-hand-over order.

Runtime here: about 40 s.
"""
from __future__ import annotations

import pytest

from cache_patterns.patterns.statefulset.rollout import Driver, RolloutError
from tests.conftest import skip_or_fail
from tests.live.conftest import running_cluster

from testbed import rolling
from testbed.plans import stack_plan
from testbed.statefulset import LocalStatefulSet

pytestmark = pytest.mark.live

ENGINE = "valkey-8.1"


@pytest.fixture(scope="module")
def staging(request):
    if rolling.missing_engines(ENGINE):
        skip_or_fail("Valkey 8.1 is not built (./run toolchain valkey)")
    yield from running_cluster(request, "cp-memory-", engine=ENGINE, settle_s=180,
                               plan=stack_plan("staging", "sessions"), busybox=False)


def pods_of(cluster: LocalStatefulSet) -> rolling.ProcessPods:
    return rolling.ProcessPods(cluster, engine_of={"r0": ENGINE}, target="r0",
                               revisions={f"redis-{i}": "r0" for i in range(cluster.servers)})


def maxmemories(cluster: LocalStatefulSet) -> set[int]:
    out = set()
    for i in range(cluster.servers):
        with cluster.redis(i) as r:
            out.add(int(r.config_get("maxmemory")["maxmemory"]))
    return out


def test_a_new_maxmemory_is_applied_live_and_one_below_the_data_set_is_refused(staging: LocalStatefulSet, record_property):
    staging.settle(timeout=120)
    driver = Driver(pods_of(staging), timeout_s=60, poll_s=0.2)
    before = maxmemories(staging)
    starts = {n: m.starts for n, m in staging.members.items()}
    used = max(s.used for s in driver.states().values())
    with pytest.raises(RolloutError, match="below what"):
        driver.set_maxmemory(used)
    assert maxmemories(staging) == before
    new = (max(before) // 2) + 1024 * 1024
    with rolling.Load(staging, "mm") as load:
        driver.set_maxmemory(new)
        seen = load.finish()
    record_property("maxmemory", {"from": sorted(before), "to": new, **seen.row()})
    assert maxmemories(staging) == {new}
    assert {n: m.starts for n, m in staging.members.items()} == starts, "a process was restarted"
    assert seen.lost == 0 and seen.long_write_gaps == 0, seen.row()


def test_a_new_memory_limit_rolls_with_one_hand_over(staging: LocalStatefulSet, record_property):
    primary = staging.settle(timeout=120)
    pods = pods_of(staging)
    with rolling.Load(staging, "limit") as load:
        pods.target = "r1"          # the template's new resources.limits.memory
        pods.engine_of["r1"] = ENGINE
        report = Driver(pods, timeout_s=180, poll_s=0.2).roll()
        seen = load.finish()
    facts = {**seen.row(), "order": report.order, "prestop_s": pods.prestop_s}
    record_property("limit", facts)
    print(f"\n{facts}")
    assert report.order[-1] == f"redis-{primary}" and report.handovers == 1, facts
    assert seen.lost == 0 and seen.long_write_gaps <= 1 and seen.longest_write_gap_s < rolling.HANDOVER_BOUND_S, facts
