"""Live tests of TwoTierCache against real redis-server processes: two "pods" (each with its own L1 on a
unix socket) sharing one L2 on TCP. Servers are killed, paused and restarted mid-test.

Every wait is bounded; the whole file runs in a few seconds.
"""
from __future__ import annotations

import signal
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, List

import pytest

from cache_patterns_client import L2Unavailable, TwoTierCache, protocol
from cache_patterns_client.connect import ClientOptions

from .conftest import FAST, Pod, RedisProcess, Servers, pod_env, seen_by, wait_until

pytestmark = pytest.mark.live
CHANNEL = "cache:pages:l1-inv"


def cached_in_l1(pod: Pod, key: str) -> bytes | None:
    return pod.l1_raw.get(key)  # type: ignore[no-any-return]


# ---- read-through and TTL rules --------------------------------------------------------------------

def test_empty_and_zero_values_are_hits(make_pod: Callable[..., Pod]) -> None:
    pod = make_pod()
    pod.cache.set("empty", b"")
    pod.cache.set("zero", "0")
    assert pod.cache.get("empty") == b"" and pod.cache.get("zero") == b"0"
    assert cached_in_l1(pod, "empty") == b"" and cached_in_l1(pod, "zero") == b"0"
    hits = pod.cache.stats.l1_hits
    assert pod.cache.get("empty") == b"" and pod.cache.get_str("zero") == "0"
    assert pod.cache.stats.l1_hits == hits + 2
    assert pod.cache.get("absent") is None
    assert pod.l1_raw.exists("absent") == 0


def test_l1_copy_never_outlives_l2_entry(make_pod: Callable[..., Pod], l2: RedisProcess) -> None:
    pod = make_pod(cap=5)
    raw = l2.client()
    raw.set("short", b"v", px=2000)
    raw.set("long", b"v", ex=3600)
    raw.set("forever", b"v")
    for key in ("short", "long", "forever"):
        assert pod.cache.get(key) == b"v"
    # Absolute expiry times (Unix ms) on one clock: comparing two PTTLs read one after the other
    # would credit the copy with the time between the reads.
    assert 0 < pod.l1_raw.pexpiretime("short") <= raw.pexpiretime("short")
    assert 4000 < pod.l1_raw.pttl("long") <= 5000      # capped
    assert 4000 < pod.l1_raw.pttl("forever") <= 5000   # no TTL on L2: the cap


def test_a_slow_populate_does_not_outlive_the_l2_entry(make_pod: Callable[..., Pod], l2: RedisProcess) -> None:
    """The copy reaches L1 late (here: its bucket's lock is held for 300 ms, as a busy pod or a
    descheduled thread would delay it); it must still expire no later than the L2 entry. A TTL
    computed before the delay and sent as a relative PX would outlive L2 by the delay."""
    pod = make_pod(cap=5)
    l2.client().set("late", b"v", px=2000)
    lock = pod.cache._lock_of(pod.cache._snapshot("late"))
    lock.acquire()
    threading.Timer(0.3, lock.release).start()
    assert pod.cache.get("late") == b"v"
    assert cached_in_l1(pod, "late") == b"v"
    assert pod.l1_raw.pexpiretime("late") <= l2.client().pexpiretime("late")


def test_a_populate_delayed_on_its_way_to_l1_does_not_outlive_the_l2_entry(make_pod: Callable[..., Pod],
                                                                           l2: RedisProcess) -> None:
    """The SET itself arrives late (the L1 process paused for 300 ms, as a throttled sidecar would
    be): a TTL sent relative to when it was computed would start counting only on arrival."""
    pod = make_pod(cap=5, options=replace(FAST, l1_timeout=2.0))
    l2.client().set("paused", b"v", px=2000)
    real_set = pod.cache._l1.client.set

    def set_while_paused(*args, **kwargs):
        pod.l1.signal(signal.SIGSTOP)
        threading.Timer(0.3, pod.l1.signal, (signal.SIGCONT,)).start()
        return real_set(*args, **kwargs)

    pod.cache._l1.client.set = set_while_paused
    assert pod.cache.get("paused") == b"v"
    assert cached_in_l1(pod, "paused") == b"v"
    assert pod.l1_raw.pexpiretime("paused") <= l2.client().pexpiretime("paused")


def test_entry_expiring_during_the_read_is_not_cached(make_pod: Callable[..., Pod], l2: RedisProcess) -> None:
    pod = make_pod()
    l2.client().set("brief", b"v", px=40)
    # The L2 read sees the value with <= 40 ms left; the populate happens 60 ms later.
    pod.cache._after_l2_read = lambda value: time.sleep(0.06)
    assert pod.cache.get("brief") == b"v"
    assert pod.l1_raw.exists("brief") == 0


def test_vanished_entry_is_not_cached(make_pod: Callable[..., Pod]) -> None:
    pod = make_pod()

    class VanishingPipeline:
        """GET answered, then the key expired before PTTL ran (PTTL -2)."""

        def get(self, key: str) -> None: ...
        def pttl(self, key: str) -> None: ...
        def execute(self) -> List[object]:
            return [b"v", -2]

    real = pod.cache._l2
    pod.cache._l2 = type("L2", (), {"pipeline": lambda self, transaction: VanishingPipeline()})()  # type: ignore[assignment]
    try:
        assert pod.cache.get("gone") == b"v"
    finally:
        pod.cache._l2 = real
    assert pod.l1_raw.exists("gone") == 0


# ---- cross-pod invalidation ------------------------------------------------------------------------

def test_write_on_one_pod_invalidates_the_other(make_pod: Callable[..., Pod]) -> None:
    a, b = make_pod(cap=30), make_pod(cap=30)
    seen_by([a], lambda: b.cache.set("page", b"v1"))
    assert a.cache.get("page") == b"v1" and cached_in_l1(a, "page") == b"v1"
    b.cache.set("page", b"v2")
    wait_until(lambda: cached_in_l1(a, "page") is None, 2.0, "pod A's L1 copy to be invalidated")
    assert a.cache.get("page") == b"v2"
    b.cache.delete("page")
    wait_until(lambda: cached_in_l1(a, "page") is None, 2.0, "pod A's L1 copy to be deleted")
    assert a.cache.get("page") is None
    # A writer never receives its own message back as an invalidation to act on.
    assert b.cache.stats.own_invalidations_skipped >= 3 and a.cache.stats.own_invalidations_skipped == 0


def test_writer_sees_its_own_write_immediately(make_pod: Callable[..., Pod]) -> None:
    a = make_pod()
    a.cache.set("k", b"old")
    assert a.cache.get("k") == b"old" and cached_in_l1(a, "k") == b"old"
    a.cache.set("k", b"new")
    assert cached_in_l1(a, "k") is None  # dropped locally before set() returned, not via pub/sub
    assert a.cache.get("k") == b"new"


def test_flush_message_and_unreadable_message_flush_l1(make_pod: Callable[..., Pod], l2: RedisProcess) -> None:
    a = make_pod()
    for payload in (protocol.encode_flush("ops"), b"9 future-format k x"):
        a.cache.set("x", b"1")
        assert a.cache.get("x") == b"1" and cached_in_l1(a, "x") == b"1"
        l2.client().publish(CHANNEL, payload)  # what an operator (or a newer client) would send
        wait_until(lambda: cached_in_l1(a, "x") is None, 2.0, f"L1 flush after {payload!r}")


# ---- the populate race -----------------------------------------------------------------------------

def _race(reader: Pod, write: Callable[[], None], wait_for_invalidation: bool) -> None:
    """Reader misses L1 and reads v1 from L2; before it writes L1, `write` replaces v1 with v2 (and,
    for a writer in another pod, the reader's subscriber has processed the invalidation)."""
    fired = threading.Event()

    def between_l2_read_and_l1_write(value: bytes) -> None:
        assert value == b"v1"
        received = reader.cache.stats.invalidations_received
        write()
        if wait_for_invalidation:
            wait_until(lambda: reader.cache.stats.invalidations_received > received, 2.0, "the invalidation")
        fired.set()

    reader.cache._after_l2_read = between_l2_read_and_l1_write
    try:
        assert reader.cache.get("race") == b"v1"  # linearizable: the read started before the write
    finally:
        reader.cache._after_l2_read = None
    assert fired.is_set()


def test_populate_race_with_writer_in_another_pod(make_pod: Callable[..., Pod]) -> None:
    reader, writer = make_pod(), make_pod()
    writer.cache.set("race", b"v1")
    refused = reader.cache.stats.populates_refused
    _race(reader, lambda: writer.cache.set("race", b"v2"), wait_for_invalidation=True)
    assert reader.cache.stats.populates_refused == refused + 1
    assert cached_in_l1(reader, "race") is None, "stale v1 was written to L1 after the invalidation"
    assert reader.cache.get("race") == b"v2"


def test_populate_race_with_writer_in_the_same_client(make_pod: Callable[..., Pod]) -> None:
    pod = make_pod()
    pod.cache.set("race", b"v1")
    _race(pod, lambda: pod.cache.set("race", b"v2"), wait_for_invalidation=False)
    assert cached_in_l1(pod, "race") is None
    assert pod.cache.get("race") == b"v2"


def test_populate_race_control_naive_populate_goes_stale(make_pod: Callable[..., Pod]) -> None:
    """The same schedule with the guard removed leaves v1 in L1 for the whole TTL cap: proof that the
    race tests above exercise a real race and would fail without the guard."""
    reader, writer = make_pod(), make_pod()
    writer.cache.set("race", b"v1")
    l1 = reader.cache._l1
    assert l1 is not None
    reader.cache._populate = (lambda key, value, started_ms, pttl, snapshot:  # type: ignore[method-assign]
                              l1.client.set(key, value, px=5000))
    _race(reader, lambda: writer.cache.set("race", b"v2"), wait_for_invalidation=True)
    assert cached_in_l1(reader, "race") == b"v1"
    assert reader.cache.get("race") == b"v1"


# ---- staleness bound and flush on resubscribe ------------------------------------------------------

def test_lost_invalidation_is_stale_for_at_most_the_ttl_cap(make_pod: Callable[..., Pod], l2: RedisProcess) -> None:
    cap = 1.0
    a = make_pod(cap=cap)
    a.cache.set("k", b"v1")
    populated = time.monotonic()
    assert a.cache.get("k") == b"v1"
    # A write that publishes nothing: exactly what a lost invalidation message looks like to pod A.
    l2.client().set("k", b"v2")
    assert a.cache.get("k") == b"v1", "expected the stale copy while within the cap"
    wait_until(lambda: a.cache.get("k") == b"v2", cap + 1.0, "the stale copy to expire")
    assert time.monotonic() - populated <= cap + 0.25, "stale for longer than the TTL cap"


def test_l1_flushed_when_subscription_reconnects(make_pod: Callable[..., Pod], l2: RedisProcess) -> None:
    a = make_pod()
    a.cache.set("k", b"v1")
    assert a.cache.get("k") == b"v1"
    raw = l2.client()
    raw.set("k", b"v2")  # lost invalidation, as above
    subscriptions = a.cache.stats.subscriptions
    assert raw.client_kill_filter(_type="pubsub") >= 1
    wait_until(lambda: a.cache.stats.subscriptions > subscriptions, 3.0, "the subscription to come back")
    assert cached_in_l1(a, "k") is None
    assert a.cache.get("k") == b"v2"


# ---- failures --------------------------------------------------------------------------------------

def test_l2_down_reads_from_l1_and_writes_raise(make_pod: Callable[..., Pod], l2: RedisProcess) -> None:
    a = make_pod()
    a.cache.set("hot", b"v")
    a.cache.set("other", b"o")
    assert a.cache.get("hot") == b"v"
    assert a.cache.get("other") == b"o"
    l2.kill()
    started = time.monotonic()
    assert a.cache.get("hot") == b"v"  # served by L1
    with pytest.raises(L2Unavailable):
        a.cache.set("other", b"w")
    assert cached_in_l1(a, "other") is None  # unknown whether L2 applied it: the local copy goes
    with pytest.raises(L2Unavailable):
        a.cache.get("cold")
    with pytest.raises(L2Unavailable):
        a.cache.delete("hot")
    assert time.monotonic() - started < 2.0
    assert a.cache.get("hot") == b"v"  # a write refused before reaching L2 changes nothing
    # L2 back on the same port: writes work again and the subscription resubscribes (and flushes L1).
    subscriptions = a.cache.stats.subscriptions
    l2.start()
    wait_until(lambda: _writes(a.cache), 3.0, "writes to succeed after L2 restart")
    wait_until(lambda: a.cache.stats.subscriptions > subscriptions, 3.0, "resubscription")
    assert a.cache.get("hot") == b"again"


def _writes(cache: TwoTierCache) -> bool:
    try:
        cache.set("hot", b"again")
        return True
    except L2Unavailable:
        return False


def test_hung_l2_times_out_instead_of_hanging(make_pod: Callable[..., Pod], l2: RedisProcess) -> None:
    a = make_pod()
    a.cache.set("hot", b"v")
    assert a.cache.get("hot") == b"v"
    l2.signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(L2Unavailable):
            a.cache.get("cold")
        # (retries + 1) x read timeout, plus a little
        assert time.monotonic() - started < 2 * FAST.l2_timeout + 0.5
        started = time.monotonic()
        with pytest.raises(L2Unavailable):
            a.cache.set("cold", b"x")  # fails fast: L2 failed moments ago
        assert time.monotonic() - started < 0.05
        assert a.cache.get("hot") == b"v"
    finally:
        l2.signal(signal.SIGCONT)


def test_l1_down_reads_and_writes_go_to_l2(make_pod: Callable[..., Pod]) -> None:
    a, b = make_pod(), make_pod()
    a.cache.set("k", b"v1")
    assert a.cache.get("k") == b"v1"
    a.l1.kill()
    assert a.cache.get("k") == b"v1"  # from L2
    a.cache.set("k", b"v2")           # still succeeds on L2
    assert b.cache.get("k") == b"v2"
    assert a.cache.get("k") == b"v2"
    # The sidecar restarts (same socket): after the retry interval L1 is flushed and used again.
    a.l1.start()
    wait_until(lambda: a.cache.get("k") == b"v2" and cached_in_l1(a, "k") == b"v2", 3.0, "L1 to be used again")


def test_hung_l1_is_bypassed(make_pod: Callable[..., Pod]) -> None:
    a = make_pod()
    a.cache.set("k", b"v1")
    assert a.cache.get("k") == b"v1"
    a.l1.signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert a.cache.get("k") == b"v1"
        assert time.monotonic() - started < 2 * FAST.l1_timeout + 0.3
        started = time.monotonic()
        assert a.cache.get("k") == b"v1"  # L1 is skipped for the retry interval: no second wait
        assert time.monotonic() - started < 0.05
    finally:
        a.l1.signal(signal.SIGCONT)


def test_l1_that_missed_an_invalidation_is_flushed_before_reuse(make_pod: Callable[..., Pod]) -> None:
    a, b = make_pod(), make_pod()
    seen_by([a], lambda: b.cache.set("k", b"v1"))
    assert a.cache.get("k") == b"v1"
    # The sidecar refuses DEL (NOPERM), so pod A's subscriber cannot drop its copy of k.
    a.l1_raw.acl_setuser("default", enabled=True, nopass=True, commands=["-del"])
    try:
        errors = a.cache.stats.l1_errors
        b.cache.set("k", b"v2")
        wait_until(lambda: a.cache.stats.l1_errors > errors, 3.0, "the failed L1 delete")
    finally:
        a.l1_raw.acl_setuser("default", enabled=True, nopass=True, commands=["+del"])
    assert a.l1_raw.get("k") == b"v1"  # the stale copy is still in the sidecar...
    assert a.cache.get("k") == b"v2"   # ...but is never served
    wait_until(lambda: a.cache.get("k") == b"v2" and cached_in_l1(a, "k") == b"v2", 3.0, "L1 flushed and reused")


# ---- from_env variants -----------------------------------------------------------------------------

def test_single_tier_when_no_l1_vars(l2: RedisProcess) -> None:
    with TwoTierCache.from_env(pod_env(l2, None, extra={"CACHE_DEFAULT_TTL": "60"}), options=FAST) as cache:
        cache.set("k", b"")
        assert cache.get("k") == b""
        assert 59_000 < l2.client().pttl("k") <= 60_000
        assert cache.delete("k") is True and cache.get("k") is None
        assert cache._thread is None and l2.client().pubsub_numsub(CHANNEL) == [(CHANNEL.encode(), 0)]


def test_password_file_auth_and_rotation(servers: Servers, tmp_path: Path) -> None:
    l2 = servers.tcp("l2-auth", password="first-password")
    l1 = servers.unix("l1-auth")
    pw = tmp_path / "password"
    pw.write_text("first-password")
    env = pod_env(l2, l1, extra={"CACHE_PASSWORD_FILE": str(pw), "CACHE_L2_PASSWORD_FILE": str(pw)})
    with TwoTierCache.from_env(env, options=FAST) as cache:
        assert cache.wait_ready(3.0)
        cache.set("k", b"v1")
        admin = l2.client(password="first-password")
        # Rotation: the server takes the new password, the kubelet swaps the file, connections drop.
        admin.config_set("requirepass", "second-password")
        pw.write_text("second-password")
        admin.client_kill_filter(_type="normal", skipme=True)
        admin.client_kill_filter(_type="pubsub")
        cache.set("k", b"v2")  # the retry reconnects and re-reads the file
        assert cache.get("k") == b"v2"
        pw.write_text("wrong")
        l2.client(password="second-password").client_kill_filter(_type="normal", skipme=False)
        with pytest.raises(L2Unavailable, match="invalid username-password pair"):
            cache.set("k", b"v3")


def test_sentinel_discovery(servers: Servers, l2: RedisProcess) -> None:
    sentinel = servers.sentinel("sentinel", l2)
    l1 = servers.unix("l1-sentinel")
    env = pod_env(l2, l1, extra={"CACHE_L2_PORT": "1",  # must not be used: the Sentinel names the primary
                                 "CACHE_L2_SENTINELS": f"127.0.0.1:{sentinel.port}",
                                 "CACHE_L2_SENTINEL_MASTER": "mymaster"})
    with TwoTierCache.from_env(env, options=FAST) as cache:
        assert cache.wait_ready(3.0)
        cache.set("k", b"via-sentinel")
        assert l2.client().get("k") == b"via-sentinel"
        assert cache.get("k") == b"via-sentinel"


def test_cluster_mode_l2(servers: Servers) -> None:
    nodes = servers.cluster(3)
    pods = []
    for name in ("l1-ca", "l1-cb"):
        l1 = servers.unix(name)
        env = pod_env(nodes[0], l1, extra={"CACHE_CLUSTER": "true", "CACHE_L2_CLUSTER": "true"})
        pods.append(Pod(l1, TwoTierCache.from_env(env, options=FAST)))
    a, b = pods
    try:
        assert a.cache.wait_ready(3.0) and b.cache.wait_ready(3.0)
        keys = [f"user:{i}" for i in range(12)]  # spread over all three nodes' slots
        for key in keys:
            b.cache.set(key, b"v1", ttl=60)
            assert a.cache.get(key) == b"v1"
        for key in keys:
            # The first read may have been refused by v1's own invalidation arriving mid-read.
            wait_until(lambda: a.cache.get(key) == b"v1" and cached_in_l1(a, key) == b"v1", 2.0, f"{key} in L1")
            b.cache.set(key, b"v2")
        for key in keys:
            wait_until(lambda: cached_in_l1(a, key) is None, 2.0, f"invalidation of {key} across the cluster")
            assert a.cache.get(key) == b"v2"
        assert 0 < a.l1_raw.pttl(keys[0]) <= 30_000
    finally:
        for pod in pods:
            pod.cache.close()
            pod.l1_raw.close()


def test_options_bound_every_wait() -> None:
    # A blackholed address (TEST-NET-1): connecting must give up after the connect timeout.
    opts = ClientOptions(l2_connect_timeout=0.2, l2_timeout=0.2, retries=0, subscribe_wait=0.0)
    env = {"CACHE_CONTRACT_VERSION": "1", "CACHE_HOST": "192.0.2.1", "CACHE_PORT": "6379"}
    with TwoTierCache.from_env(env, options=opts) as cache:
        started = time.monotonic()
        with pytest.raises(L2Unavailable):
            cache.get("k")
        assert time.monotonic() - started < 1.0
