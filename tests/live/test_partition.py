"""Live: a network partition that cuts the primary's node (with one of three Sentinels, an HAProxy and
a client) off from the other two nodes, on a pod network of Linux network namespaces
(testbed/netns.py; needs root). What the write endpoint must do: never route a new connection to
the isolated old primary once it can know, close the connections it already had there, and lose no
acknowledged write on the majority side; and `minReplicasToWrite` must bound what a client pinned to
the old primary loses. benchmarks/partition.py measures the same with the staging stack's plan."""
from __future__ import annotations

import shutil
from typing import Iterator

import pytest

from tests.conftest import skip_or_fail

from testbed import netns, partition
from testbed.statefulset import LocalStatefulSet
from testbed.support import new_root, require_binaries

pytestmark = pytest.mark.live

LAG_S = 2
# The minority-side HAProxy learns of the partition when its checks of the two unreachable Sentinels
# fail: the next check starts within `inter` (1 s) and gives up after the Sentinel connect timeout
# (0.5 s); the Lua task acts within 0.1 s. Slack for a loaded 2-core box on top.
DETECTION_BOUND_S = 1.0 + 0.5 + 0.1 + 1.0


@pytest.fixture(scope="module")
def partitioned() -> Iterator[LocalStatefulSet]:
    require_binaries()
    why = netns.available()
    if why:
        skip_or_fail(f"partition tests: {why}")
    net = netns.PodNetwork()
    root = new_root("cp-part-")
    cluster = LocalStatefulSet(root, network=net, haproxies=3, min_replicas_to_write=1,
                      min_replicas_max_lag_ms=LAG_S * 1000, down_after_ms=1500)
    try:
        for node in range(3):
            net.add(f"client-{node}", node)
        cluster.start_all()
        yield cluster
    finally:
        cluster.stop_all()
        net.close()
        shutil.rmtree(root, ignore_errors=True)


def test_a_partition_loses_nothing_through_the_majority_and_is_bounded_beside_the_old_primary(
        partitioned: LocalStatefulSet) -> None:
    t = partition.trial(partitioned, partition_s=10)
    report = f"{t}\n{partitioned.logs('haproxy', 'haproxy-1', 'haproxy-2', tail=10)}"
    assert t.new != t.old and t.switch_s is not None, report

    # The minority-side HAProxy: new connections reach the old primary only until it can know (its
    # checks of the two unreachable Sentinels fail), then are refused; the connection it had open is
    # closed at that moment too, so nothing it acknowledged after that is lost.
    assert t.detected_s is not None and t.detected_s < DETECTION_BOUND_S, report
    assert t.last_to_old_s is None or t.last_to_old_s < DETECTION_BOUND_S, report
    assert t.probes["to another server"] == 0, report
    minority = t.paths["via the minority-side HAProxy"]
    assert minority.last_ack_partitioned_s is not None and minority.last_ack_partitioned_s < DETECTION_BOUND_S, report
    assert all(at < DETECTION_BOUND_S for at in minority.lost), report
    # With WAIT 1 the same client is told that no replica has its writes: nothing it counted is lost.
    assert t.paths["via the minority-side HAProxy, WAIT 1"].lost == [], report

    # The majority side fails over and loses nothing.
    majority = t.paths["via a majority-side HAProxy"]
    assert majority.lost == [] and majority.acked > 0, report

    # The pinned client: the old primary refuses writes (NOREPLICAS) once no replica has acknowledged
    # for more than min-replicas-max-lag: at most LAG + 2 s after the partition (replicas ack every
    # second, the primary re-counts good replicas every second). Every lost write is in that window.
    # (+0.5 s: the primary's once-a-second cron runs late on a loaded box.)
    pinned = t.paths["pinned to the old primary"]
    assert pinned.lost and max(pinned.lost) <= LAG_S + 2 + 0.5, report
    assert pinned.last_ack_partitioned_s is not None and pinned.last_ack_partitioned_s <= LAG_S + 2 + 0.5, report
