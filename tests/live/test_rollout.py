"""Engine upgrades of the staging stack's cache as it ships (TLS, RDB persistence, minReplicasToWrite 1,
its own timings), in real processes through the pod scripts: Redis 7.0.15 -> Valkey 8.1.1 -> Valkey
9.1.2, each as `pulumi up` rolls it (the Sentinels, then the Redis pods through the rollout driver; the
HAProxy Deployment does not depend on the engine), under a steady writer (SET + WAIT 1) and a reader. Each upgrade: every server on the
new engine, the primary replaced last and exactly once, no acknowledged write lost, writes held or
held once (one gap in the writes longer than a second: the hand-over), bounded loosely here; the
2.5 s goal is benchmarks/day2.py's.

Runtime here: about 60-90 s per upgrade (the Sentinels' readiness and the replicas' syncs dominate).
"""
from __future__ import annotations

import pytest

from tests.conftest import skip_or_fail
from tests.live.conftest import running_cluster

from testbed import rolling
from testbed.plans import stack_plan
from testbed.statefulset import LocalStatefulSet

pytestmark = pytest.mark.live

CHAIN = ("redis-7.0", "valkey-8.1", "valkey-9.1")
VERSIONS = {"redis-7.0": "7.0.", "valkey-8.1": "8.1.", "valkey-9.1": "9.1."}


@pytest.fixture(scope="module")
def staging(request):
    missing = rolling.missing_engines(*CHAIN)
    if missing:
        skip_or_fail(f"engines not here: {', '.join(missing)} (apt-get install redis-server redis-sentinel "
                     f"redis-tools; ./run toolchain valkey valkey-9)")
    yield from running_cluster(request, "cp-rollout-", engine=CHAIN[0], settle_s=180,
                               plan=stack_plan("staging", "sessions"), busybox=False, haproxies=2)


def test_the_chain_starts_on_redis_7(staging: LocalStatefulSet):
    assert all(rolling.server_version(staging, i).startswith("7.0.") for i in range(staging.servers))


@pytest.mark.parametrize("step", [1, 2], ids=["redis-7.0-to-valkey-8.1", "valkey-8.1-to-valkey-9.1"])
def test_an_upgrade_moves_the_primary_once_and_loses_no_acknowledged_write(staging: LocalStatefulSet, step: int,
                                                                             record_property):
    old, new = CHAIN[step - 1], CHAIN[step]
    assert all(rolling.server_version(staging, i).startswith(VERSIONS[old]) for i in range(staging.servers)), \
        "the previous step did not run"
    primary = staging.settle(timeout=120)
    pods = rolling.ProcessPods(staging, engine_of={f"r{step - 1}": old}, target=f"r{step - 1}",
                               revisions={f"redis-{i}": f"r{step - 1}" for i in range(staging.servers)})
    with rolling.Load(staging, f"up{step}") as load:
        result = rolling.upgrade(staging, pods, new, f"r{step}")
        seen = load.finish()
    report = result["report"]
    facts = {"from": old, "to": new, **seen.row(), "order": report.order, "handovers": report.handovers,
             "prestop_s": pods.prestop_s, "sentinels_ready_s": [round(t, 1) for t in result["sentinels_ready_s"]]}
    record_property("upgrade", facts)
    print(f"\n{facts}")
    assert all(rolling.server_version(staging, i).startswith(VERSIONS[new]) for i in range(staging.servers))
    assert report.order[-1] == f"redis-{primary}" and report.handovers == 1, facts
    assert sorted(report.order) == sorted(pods.names()), facts
    assert seen.lost == 0, facts
    assert seen.long_write_gaps <= 1 and seen.longest_write_gap_s < rolling.HANDOVER_BOUND_S, facts
