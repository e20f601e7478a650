"""Keys must be str or bytes. redis-py turns an int key into its decimal text ("42") while the
invalidation message would carry `bytes(42)` (42 NUL bytes): other pods would drop the wrong L1 key
and keep the old value until the TTL cap. Every public method that takes a key refuses anything else
before a byte reaches L1, L2 or the invalidation channel."""
from __future__ import annotations

import threading
from typing import Callable, List

import pytest

from cache_patterns_client import TwoTierCache, protocol

from .conftest import FAST, Pod, RedisProcess, pod_env, seen_by, wait_until

pytestmark = pytest.mark.live
CHANNEL = "cache:pages:l1-inv"
NOT_KEYS = [42, 0, True, 4.2, None, bytearray(b"42"), memoryview(b"42"), ["42"], ("4", "2")]
CALLS: dict[str, Callable[..., object]] = {
    "get": lambda cache, key: cache.get(key),
    "get_str": lambda cache, key: cache.get_str(key),
    "set": lambda cache, key: cache.set(key, b"new"),
    "delete": lambda cache, key: cache.delete(key),
}


@pytest.mark.parametrize("key", NOT_KEYS, ids=[type(k).__name__ for k in NOT_KEYS])
def test_the_protocol_refuses_a_key_that_is_not_str_or_bytes(key: object) -> None:
    with pytest.raises(TypeError, match=r"key: must be str or bytes, got "):
        protocol.encode_key("a1b2", key)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", sorted(CALLS))
def test_every_keyed_method_refuses_other_key_types_before_touching_any_tier(
        method: str, make_pod: Callable[..., Pod], l2: RedisProcess) -> None:
    writer, other = make_pod(), make_pod()
    raw = l2.client()
    # What the key would become on the wire: redis-py encodes 42 as "42"; both L1s hold a copy.
    raw.set("42", b"old")
    assert other.cache.get("42") == b"old" and other.l1_raw.get("42") == b"old"
    assert writer.cache.get("42") == b"old" and writer.l1_raw.get("42") == b"old"
    messages: List[bytes] = []
    listener = l2.client().pubsub(ignore_subscribe_messages=True)
    listener.subscribe(CHANNEL)
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            message = listener.get_message(timeout=0.05)
            if message is not None:
                messages.append(message["data"])

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    try:
        for key in NOT_KEYS:
            # Any TypeError here; the side effects below are what matters (the message: above).
            with pytest.raises(TypeError):
                CALLS[method](writer.cache, key)
        # A str key written after the refused ones: once its invalidation has arrived, any message
        # the refused calls had published would have arrived before it (one connection, in order).
        writer.cache.set("marker", b"m")
        wait_until(lambda: messages, 2.0, "the marker's invalidation")
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()
    assert [protocol.decode(m).key for m in messages] == [b"marker"], messages
    assert raw.get("42") == b"old" and raw.exists("None", "4.2", "0", "True") == 0
    assert writer.l1_raw.get("42") == b"old" and other.l1_raw.get("42") == b"old"
    assert writer.cache.stats.l2_errors == 0 and writer.cache.stats.l1_errors == 0


def test_str_and_bytes_keys_still_work_and_name_the_same_entry(make_pod: Callable[..., Pod]) -> None:
    a, b = make_pod(), make_pod()
    seen_by([b], lambda: a.cache.set("42", b"v1"))
    assert b.cache.get(b"42") == b"v1" and b.l1_raw.get("42") == b"v1"
    a.cache.set(b"42", b"v2")
    wait_until(lambda: b.l1_raw.get("42") is None, 2.0, "pod B's copy of '42' to be invalidated")
    assert b.cache.get_str("42") == "v2"
    assert a.cache.delete("42") is True and a.cache.get(b"42") is None


@pytest.mark.parametrize("method", sorted(CALLS))
def test_a_single_tier_client_refuses_them_too(method: str, l2: RedisProcess) -> None:
    """Without an L1 nothing else would stop an int key: redis-py would store it as "42"."""
    cache = TwoTierCache.from_env(pod_env(l2, None), options=FAST)
    raw = l2.client()
    raw.set("42", b"old")
    try:
        for key in NOT_KEYS:
            with pytest.raises(TypeError, match=r"key: must be str or bytes, got "):
                CALLS[method](cache, key)
    finally:
        cache.close()
    assert raw.get("42") == b"old" and raw.dbsize() == 1
