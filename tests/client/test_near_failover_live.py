"""The in-process L1 through pattern 2's real endpoint: Redis servers, Sentinels and HAProxy started
through their pod scripts (testbed.LocalStatefulSet), the app's client connected to HAProxy only, as a
pod bound to a StatefulSet cache without Sentinel support would be. A failover (the preStop handover,
and a crash) moves the primary; HAProxy closes the sessions to the old one (`on-marked-down
shutdown-sessions`), so the tracking connection is lost: the L1 is emptied at once and again when the
connection is back on the new primary, and no read after that returns a value older than the last
write. The conformance suite runs the same through Sentinel in every client (scenarios/09_in_process.json)."""
from __future__ import annotations

import time
from typing import Iterator

import pytest

import cache_patterns_client as cpc
from testbed.statefulset import LocalStatefulSet
from testbed.support import PASSWORD, wait_until
from tests.live.conftest import running_cluster

pytestmark = pytest.mark.live
FAILOVER_BOUND_S = 20
OPTIONS = cpc.ClientOptions(l2_connect_timeout=0.5, l2_timeout=0.5, health_check_interval=0.5, subscribe_wait=5.0,
                            l2_retry_interval=0.1)


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Iterator[LocalStatefulSet]:
    """2 Redis servers, 3 Sentinels and one HAProxy endpoint, scripts under dash."""
    yield from running_cluster(request, "cp-near-", servers=2, sentinels=3, busybox=False)


def near_client(cluster: LocalStatefulSet, tracking: str = "default") -> cpc.TwoTierCache:
    env = {"CACHE_HOST": "127.0.0.1", "CACHE_PORT": str(cluster.write_port), "CACHE_PASSWORD": PASSWORD,
           "CACHE_L1_MODE": "in-process", "CACHE_L1_MAX_ENTRIES": "1000", "CACHE_L1_MAX_BYTES": "1048576",
           "CACHE_L1_TRACKING": tracking, "CACHE_L1_TTL_CAP": "60", "CACHE_L1_INVALIDATION_CHANNEL": "near-live"}
    if tracking == "broadcast":
        env["CACHE_L1_TRACKING_PREFIXES"] = "k:"
    cache = cpc.TwoTierCache.from_env(env, options=OPTIONS)
    assert cache.wait_ready(5), "the tracking connection did not come up"
    return cache


def write(cluster: LocalStatefulSet, key: str, value: str) -> None:
    """Another client's write, through the endpoint (retried while the endpoint moves)."""
    def done() -> bool:
        try:
            with cluster.endpoint(0.5) as e:
                return bool(e.set(key, value))
        except Exception:  # the endpoint is moving: try again
            return False
    wait_until(f"SET {key} through the endpoint", done, FAILOVER_BOUND_S, interval=0.05)


def fresh_after_failover(cluster: LocalStatefulSet, cache: cpc.TwoTierCache, move: str) -> None:
    old = cluster.settle()
    write(cluster, "k:1", "v1")
    assert cache.get("k:1") == b"v1" and cache._l1.get("k:1") == b"v1"  # type: ignore[union-attr]
    before = (cache.stats.subscriptions, cache.stats.l1_flushes)
    if move == "handover":
        result = cluster.run_script(f"redis-{old}", "redis-prestop.sh")
        assert result.returncode == 0 and "handed over to" in result.stderr, result.stderr
    else:
        cluster.kill(f"redis-{old}")
    new = wait_until("a new primary every Sentinel names", lambda: (p := cluster.agreed_primary()) not in (None, old) and p,
                     FAILOVER_BOUND_S)
    wait_until("the tracking connection back on the new primary",
               lambda: cache.stats.subscriptions > before[0] and cache.subscribed and
               cluster.role(new) == "master", FAILOVER_BOUND_S, interval=0.02)
    assert cache.stats.l1_flushes >= before[1] + 2, "flushed when the tracking connection was lost and when it was back"
    write(cluster, "k:1", "v2")
    assert cache.get("k:1") == b"v2", "a stale read after the failover"
    assert cache.get("k:1") == b"v2" and cache._l1.get("k:1") == b"v2"  # type: ignore[union-attr]
    write(cluster, "k:1", "v3")   # tracked on the new primary: the copy goes within milliseconds
    wait_until("the invalidation of v2", lambda: cache._l1.get("k:1") is None, 0.5, interval=0.002)  # type: ignore[union-attr]
    assert cache.get("k:1") == b"v3"
    if move == "kill":
        cluster.start(f"redis-{old}")
        assert cluster.settle() == new


@pytest.mark.parametrize("move,tracking", [("handover", "default"), ("kill", "broadcast")])
def test_a_failover_behind_haproxy_flushes_the_in_process_l1_and_no_stale_read_follows(
        cluster: LocalStatefulSet, move: str, tracking: str) -> None:
    cache = near_client(cluster, tracking)
    try:
        fresh_after_failover(cluster, cache, move)
    finally:
        cache.close()


def test_another_clients_writes_invalidate_within_milliseconds(cluster: LocalStatefulSet) -> None:
    """200 writes by a plain client through HAProxy: each copy is gone within 50 ms of the write's reply."""
    cluster.settle()
    cache = near_client(cluster)
    took = []
    try:
        with cluster.endpoint(1.0) as writer:
            for n in range(200):
                writer.set("hot", f"v{n}")
                assert cache.get("hot") == f"v{n}".encode()
                writer.set("hot", f"w{n}")
                t0 = time.monotonic()
                wait_until("the invalidation", lambda: cache._l1.get("hot") is None, 1.0, interval=0.0005)  # type: ignore[union-attr]
                took.append(time.monotonic() - t0)
    finally:
        cache.close()
    took.sort()
    print(f"\ninvalidation after the write's reply: p50 {took[100] * 1000:.2f} ms, p99 {took[198] * 1000:.2f} ms, "
          f"max {took[-1] * 1000:.2f} ms")
    assert took[-1] < 0.05, f"slowest invalidation {took[-1] * 1000:.1f} ms"
