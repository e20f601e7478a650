"""asyncio interface of the two-tier cache: `AsyncTwoTierCache` wraps a `TwoTierCache` and runs its
blocking Redis calls in a worker thread (`asyncio.to_thread`), so the event loop never waits on a
socket, except the L1 read of `get`, which `from_env` gives an asyncio connection of its own: an L1
hit costs one `await` on the loop, no thread hop (an in-process L1 is read on the loop, no I/O). `get_or_load` awaits an async loader on the loop,
with single flight per key across the loop's tasks.

Cost: a miss, a write and a delete hop to a worker thread and back (measured in docs/benchmarks.md).
The protocol, the guard and the failure behaviour are the wrapped client's, unchanged (the guard needs
nothing from L1 reads, so they may use another connection).

    cache = await AsyncTwoTierCache.from_env()
    page = await cache.get_or_load("page:/home", render_home, ttl=300)
"""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Dict, Mapping, Optional

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from . import protocol
from .cache import TTLT, TwoTierCache, ValueT
from .connect import ClientOptions
from .l1store import KeyT
from .near import NearL1
from .settings import CacheSettings
from .stats import CacheStats


class AsyncTwoTierCache:
    """The asyncio face of one TwoTierCache (thread-safe underneath; use one per process)."""

    def __init__(self, cache: TwoTierCache, l1_reader: Optional[redis.asyncio.Redis] = None) -> None:
        """`l1_reader`: an asyncio connection to the same L1, for the reads of `get` (None: they run in a
        worker thread too)."""
        self.cache = cache
        self._l1_reader = l1_reader
        self._flights: Dict[bytes, "asyncio.Future[Optional[bytes]]"] = {}

    @classmethod
    async def from_env(cls, environ: Optional[Mapping[str, str]] = None, options: Optional[ClientOptions] = None,
                       encoding: str = "utf-8") -> "AsyncTwoTierCache":
        """`TwoTierCache.from_env` off the loop (it waits up to `subscribe_wait` for the subscription),
        with an asyncio L1 reader on the same socket."""
        cache = await asyncio.to_thread(TwoTierCache.from_env, environ, options, encoding)
        l1 = CacheSettings.from_env(environ).l1
        reader = None
        if l1 is not None:
            o = cache.options
            where = {"unix_socket_path": l1.socket} if l1.socket else {"host": l1.host, "port": l1.port}
            reader = redis.asyncio.Redis(**where, socket_timeout=o.l1_timeout, socket_connect_timeout=o.l1_connect_timeout,
                                         retry=Retry(NoBackoff(), o.retries))
        return cls(cache, reader)

    @property
    def stats(self) -> CacheStats:
        return self.cache.stats

    async def get(self, key: KeyT) -> Optional[bytes]:
        protocol.key_bytes(key)
        value = await self._from_l1(key)
        if value is not None:
            return value
        return await asyncio.to_thread(self.cache._read_through, key)

    async def _from_l1(self, key: KeyT) -> Optional[bytes]:
        """TwoTierCache._from_l1 on the loop: the copy, or None (an L1 miss when there is an L1)."""
        cache = self.cache
        if isinstance(cache._l1, NearL1):
            return cache._from_l1(key)   # in this process's memory: no I/O, read on the loop
        if self._l1_reader is None or not cache._l1_ok:
            return await asyncio.to_thread(cache._from_l1, key)
        try:
            value = await self._l1_reader.get(key)
        except (RedisError, OSError) as exc:
            cache._l1_down(exc)
        else:
            if value is not None:
                cache.stats.l1_hits += 1
                return value  # type: ignore[no-any-return]
        cache.stats.l1_misses += 1
        return None

    async def get_str(self, key: KeyT) -> Optional[str]:
        protocol.key_bytes(key)
        return await asyncio.to_thread(self.cache.get_str, key)

    async def set(self, key: KeyT, value: ValueT, ttl: TTLT = None) -> None:
        protocol.key_bytes(key)
        await asyncio.to_thread(self.cache.set, key, value, ttl)

    async def delete(self, key: KeyT) -> bool:
        protocol.key_bytes(key)
        return await asyncio.to_thread(self.cache.delete, key)

    async def wait_ready(self, timeout: float) -> bool:
        return await asyncio.to_thread(self.cache.wait_ready, timeout)

    async def get_or_load(self, key: KeyT, loader: Callable[[], Awaitable[Optional[ValueT]]], ttl: TTLT = None,
                          negative_ttl: Optional[float] = None) -> Optional[bytes]:
        """As `TwoTierCache.get_or_load`, with an async loader awaited on this loop. Concurrent misses
        of one key on this loop await one loader call."""
        cache = self.cache
        kb = protocol.key_bytes(key)
        cache._px(ttl)
        negative = cache._negative_seconds(negative_ttl)
        value = await self._from_l1(key)
        if value is not None:
            return value
        if cache._negative_fresh(kb):
            return None
        flight = self._flights.get(kb)
        if flight is not None:
            cache.stats.load_waits += 1
            return await asyncio.shield(flight)
        flight = self._flights[kb] = asyncio.get_running_loop().create_future()
        try:
            value, l2_ok = await asyncio.to_thread(cache._l2_or_none, key)
            if value is None:
                snapshot = cache._snapshot(kb)
                cache.stats.loads += 1
                try:
                    loaded = await loader()
                except BaseException:
                    cache.stats.load_errors += 1
                    raise
                value = await asyncio.to_thread(cache._store_loaded, key, loaded, ttl, negative, snapshot, l2_ok)
            flight.set_result(value)
            return value
        except asyncio.CancelledError:
            flight.cancel()
            raise
        except BaseException as exc:
            flight.set_exception(exc)
            flight.exception()  # retrieved here: a flight nobody waited on must not warn
            raise
        finally:
            del self._flights[kb]

    async def close(self) -> None:
        if self._l1_reader is not None:
            await self._l1_reader.aclose()
        await asyncio.to_thread(self.cache.close)

    async def __aenter__(self) -> "AsyncTwoTierCache":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
