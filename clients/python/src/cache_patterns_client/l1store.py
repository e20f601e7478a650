"""The L1 tier behind one small interface, so the coherence logic (l1.py) does not care what holds
the copies. Today there is one kind, `RedisL1`: the pod-local Redis sidecar. Another kind (an
in-process near cache, say) implements the same five methods.

Every method may raise `redis.RedisError` or `OSError`; the cache then treats L1 as down (skips it,
and flushes it before using it again).
"""
from __future__ import annotations

from typing import Optional, Protocol, Union

import redis

KeyT = Union[str, bytes]


class L1Store(Protocol):
    """Where L1 copies live. `put` gets an absolute deadline (Unix milliseconds, the wall clock this
    process shares with the store), never a relative TTL: a copy must not outlive its L2 entry however
    late the put arrives."""

    def get(self, key: KeyT) -> Optional[bytes]: ...
    def put(self, key: KeyT, value: bytes, deadline_ms: int) -> None: ...
    def delete(self, key: KeyT) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class RedisL1:
    """The Redis sidecar in the pod: GET, SET ... PXAT, DEL, FLUSHDB ASYNC."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def get(self, key: KeyT) -> Optional[bytes]:
        return self.client.get(key)  # type: ignore[no-any-return]

    def put(self, key: KeyT, value: bytes, deadline_ms: int) -> None:
        self.client.set(key, value, pxat=deadline_ms)

    def delete(self, key: KeyT) -> None:
        self.client.delete(key)

    def flush(self) -> None:
        self.client.flushdb(asynchronous=True)

    def close(self) -> None:
        self.client.close()
