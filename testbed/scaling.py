"""Steering a LocalStatefulSet for the scaling tests and benchmarks: start pods, move the primary to a
chosen pod (as failovers leave it), count what the Sentinels know."""
from __future__ import annotations

import time

from cache_patterns.patterns.statefulset.rollout import SENTINEL_INFO_PERIOD_S, Driver

from testbed import rolling
from testbed.statefulset import LocalStatefulSet
from testbed.support import _pairs, wait_until


def start_pods(cluster: LocalStatefulSet, pods: list[str]) -> None:
    for pod in pods:
        for name in rolling.pod_members(cluster, pod):
            cluster.start(name)


def move_primary(cluster: LocalStatefulSet, driver: Driver, to: str) -> None:
    """Steer the primary to `to`: every other replica unpromotable for the hand-over, then restored."""
    states = driver.states()
    primary = driver.primary(states)
    if primary == to:
        return
    # Sentinel learns of replicas from the primary's INFO every 10 s: it can only promote one it knows.
    wait_until("every Sentinel to know every replica", lambda: sentinels_count(cluster, len(states) - 1), 60)
    others = [p for p in states if p not in (primary, to)]
    for p in others:
        with cluster.redis(int(p.split("-")[1])) as r:
            r.config_set("replica-priority", 0)
    time.sleep(SENTINEL_INFO_PERIOD_S + 1)   # until every Sentinel has read the new priorities
    assert driver.pods.run(primary, "admin.sh", "handover")[0] == 0
    for p in others:
        with cluster.redis(int(p.split("-")[1])) as r:
            r.config_set("replica-priority", 100)
    driver.wait(f"{to} to be the primary", lambda: (s := driver.state(to)) is not None and s.role == "master")
    driver.wait_joined()


SEEN: list = []


def sentinels_count(cluster: LocalStatefulSet, replicas: int) -> bool:
    """Every Sentinel knows exactly `replicas` replicas, none of them down."""
    SEEN.clear()
    for i in range(cluster.sentinels):
        with cluster.sentinel(i, 0.5) as s:
            state = _pairs(s.execute_command("SENTINEL", "MASTER", cluster.master))
            known = [(_pairs(r)["name"], _pairs(r)["flags"]) for r in s.execute_command("SENTINEL", "REPLICAS", cluster.master)]
            SEEN.append((i, state["flags"], known))
            if len(known) != replicas or state["flags"] != "master" or any(f != "slave" for _, f in known):
                return False
    return True
