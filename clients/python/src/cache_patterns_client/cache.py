"""TwoTierCache: read-through over a pod-local L1 redis and a shared L2, kept coherent by pub/sub invalidation.

Choose it when reads dominate and a copy up to CACHE_L1_TTL_CAP old is acceptable if an invalidation is
lost. Cost: an L1 hit is one loopback round trip; a miss adds one L2 round trip and one L1 write; a
write is one L2 round trip (SET and PUBLISH pipelined) plus one L1 DEL.

The class is built from two bases that share its state: l1.py (the populate guard, local
invalidation, L1 flush and health) and subscription.py (the invalidation thread); its counters are
CacheStats (stats.py).
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from datetime import timedelta
from types import TracebackType
from typing import Callable, Mapping, Optional, Tuple, Type, Union, cast

import redis
from redis.cluster import RedisCluster
from redis.exceptions import (ClusterDownError, ConnectionError, ReadOnlyError, RedisClusterException,
                              RedisError, TimeoutError)

from . import protocol
from .connect import ClientOptions, L2Client, l1_client, l2_client, subscriber_client, tracking_client
from .errors import ConfigurationError, L2Unavailable
from .l1 import L1Coherence
from .l1store import KeyT, L1Store, RedisL1
from .loader import Loader
from .near import NearL1
from .settings import CacheSettings, NearSettings
from .stats import CacheStats
from .subscription import InvalidationSubscriber
from .tracking import TrackingSubscriber

log = logging.getLogger("cache_patterns_client")

ValueT = Union[bytes, bytearray, memoryview, str]
TTLT = Union[int, float, timedelta, None]

# Errors that mean "L2 cannot serve now" rather than "this call is wrong". READONLY is a write that
# reached a demoted primary during a failover.
_UNAVAILABLE: Tuple[Type[BaseException], ...] = (
    ConnectionError, TimeoutError, ClusterDownError, RedisClusterException, ReadOnlyError, OSError)


class TwoTierCache(Loader, InvalidationSubscriber, TrackingSubscriber, L1Coherence):
    """A cache client over an optional L1 (a pod-local sidecar, or in-process with `tracking`) and a shared L2.

    Keys are str or bytes (anything else is a TypeError before any tier is touched). Values are
    bytes (str is encoded with `encoding`). A miss is `None`; a stored empty value is `b""`. Thread-safe. Without an L1 it is a plain client over L2 with the same API.
    """

    def __init__(self, l2: L2Client, *, l1: Union[redis.Redis, L1Store, None] = None, channel: Optional[str] = None,
                 ttl_cap: Optional[float] = None, default_ttl: Optional[float] = None,
                 options: Optional[ClientOptions] = None, subscriber: Optional[redis.Redis] = None,
                 encoding: str = "utf-8", name: Optional[str] = None, tracking: Optional[NearSettings] = None,
                 tracking_client: Optional[redis.Redis] = None) -> None:
        """`l2`/`l1` are ready redis-py clients (give them short timeouts; `l1` may also be any
        `L1Store`); `channel` and `ttl_cap`
        (seconds) are required with an L1. `subscriber` is the client the invalidation subscription
        runs on (default: `l2`; required when `l2` is a RedisCluster). `name` labels its metrics
        (from_env: CACHE_NAME). With `tracking` the L1 (a `NearL1`) is kept coherent by the L2 server's
        client tracking instead, through `tracking_client` (a redis.Redis with protocol=2 to the server
        `l2` talks to)."""
        if l1 is not None:
            if not channel:
                raise ConfigurationError("channel: required when an L1 is given")
            if ttl_cap is None or not ttl_cap > 0:
                raise ConfigurationError(f"ttl_cap: must be > 0 seconds when an L1 is given, got {ttl_cap!r}")
            if tracking is not None and (tracking_client is None or isinstance(l2, RedisCluster)):
                raise ConfigurationError("tracking_client: required with tracking, and l2 must not be a RedisCluster")
        if default_ttl is not None and not default_ttl > 0:
            raise ConfigurationError(f"default_ttl: must be > 0 seconds, got {default_ttl!r}")
        self.options = options or ClientOptions()
        self.encoding = encoding
        self.name = name
        self.stats = CacheStats()
        self._l2 = l2
        self._l1: Optional[L1Store] = RedisL1(l1) if isinstance(l1, redis.Redis) else l1
        self._channel = channel
        self._default_ttl = default_ttl
        self._cap_ms = max(1, int(ttl_cap * 1000)) if ttl_cap is not None else 0
        self._origin = os.urandom(8).hex()
        self._cluster = isinstance(l2, RedisCluster)

        self._init_populate_guard()
        self._init_loader()
        self._init_tracking(tracking if l1 is not None else None, tracking_client)
        self._recover_lock = threading.Lock()
        # L1 starts "down": the first use flushes it (or the subscription does), because copies left
        # by an earlier process may have missed invalidations.
        self._l1_ok = False
        self._l1_retry_at = 0.0
        self._l2_retry_at = 0.0
        self._subscribed = False
        self._ready = threading.Event()
        self._closed = threading.Event()
        # Test seams: called after the guard snapshot and before the L2 read, and between the L2 read
        # and the L1 populate, to make the populate race deterministic. Not part of the API.
        self._before_l2_read: Optional[Callable[[], None]] = None
        self._after_l2_read: Optional[Callable[[bytes], None]] = None

        self._thread: Optional[threading.Thread] = None
        if l1 is not None:
            if subscriber is None and self._cluster:
                raise ConfigurationError("subscriber: required when l2 is a RedisCluster")
            self._sub_client = subscriber if subscriber is not None else l2
            loop = self._tracking_loop if self._near is not None else self._subscription_loop
            self._thread = threading.Thread(target=loop, name="cache-invalidation", daemon=True)
            self._thread.start()
            self._ready.wait(self.options.subscribe_wait)

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, options: Optional[ClientOptions] = None,
                 encoding: str = "utf-8") -> "TwoTierCache":
        """Build the cache from the env contract: L1 sidecar when CACHE_L1_HOST is set (unix socket
        preferred), L2 from CACHE_L2_* with password file, TLS + CA, Sentinel or cluster."""
        settings = CacheSettings.from_env(environ)
        opts = options or ClientOptions()
        l2 = l2_client(settings.l2, opts)
        near = settings.near
        if near is not None:
            return cls(l2, l1=NearL1(near.max_entries, near.max_bytes), channel=settings.invalidation_channel,
                       ttl_cap=settings.l1_ttl_cap, default_ttl=settings.default_ttl, options=opts, encoding=encoding,
                       name=settings.name, tracking=near, tracking_client=tracking_client(settings.l2, opts))
        l1 = l1_client(settings.l1, opts) if settings.l1 is not None else None
        return cls(l2, l1=l1, channel=settings.invalidation_channel, ttl_cap=settings.l1_ttl_cap,
                   default_ttl=settings.default_ttl, options=opts,
                   subscriber=subscriber_client(settings.l2, l2, opts) if l1 is not None else None,
                   encoding=encoding, name=settings.name)

    # ---- reads ----------------------------------------------------------------------------------

    def get(self, key: KeyT) -> Optional[bytes]:
        """The value, or None on a miss. Raises L2Unavailable only when L1 cannot answer and L2 is down."""
        kb = protocol.key_bytes(key)
        value = self._from_l1(kb)
        if value is not None:
            return value
        return self._read_through(key)

    def _from_l1(self, key: KeyT) -> Optional[bytes]:
        """The L1 copy, or None (counted as an L1 miss when there is an L1)."""
        l1 = self._l1
        if l1 is not None and (self._l1_ok or self._l1_recover()):
            try:
                value = l1.get(key)
            except (RedisError, OSError) as exc:
                self._l1_down(exc)
            else:
                if value is not None:
                    self.stats.l1_hits += 1
                    return cast(bytes, value)
        if l1 is not None:
            self.stats.l1_misses += 1
        return None

    def get_str(self, key: KeyT) -> Optional[str]:
        """Like get, decoded with the cache's encoding."""
        value = self.get(key)
        return None if value is None else value.decode(self.encoding)

    def _read_through(self, key: KeyT) -> Optional[bytes]:
        self._check_l2()
        populate = self._l1_ok and self._subscribed and self._keeps(protocol.key_bytes(key))
        pttl = -2
        try:
            if populate:
                snapshot = self._snapshot(key)
                if self._before_l2_read is not None:
                    self._before_l2_read()
                # Wall-clock milliseconds, rounded down: the L2 entry lives at least until
                # started_ms + PTTL, since PTTL is measured after this instant.
                started_ms = time.time_ns() // 1_000_000
                # GET and PTTL in one round trip. Not atomic, and need not be: a change between them
                # is a write, and the write's invalidation refuses or removes this populate. An
                # in-process L1 puts its tracking checks first (tracking.py).
                pipe = self._l2.pipeline(transaction=False)
                checks = self._track_commands(pipe)
                pipe.get(key)
                pipe.pttl(key)
                replies = pipe.execute(raise_on_error=False) if checks else pipe.execute()
                value, pttl = replies[checks:]
                for reply in (value, pttl):
                    if isinstance(reply, Exception):
                        raise reply
                populate = self._tracked(replies[:checks])
            else:
                value = self._l2.get(key)
        except _UNAVAILABLE as exc:
            raise self._l2_down(exc, "read") from exc
        self._l2_retry_at = 0.0
        if value is None:
            self.stats.l2_misses += 1
            return None
        self.stats.l2_hits += 1
        if populate and pttl != -2:
            hook = self._after_l2_read
            if hook is not None:
                hook(value)
            # The L1 copy must not outlive the L2 entry: it gets that entry's deadline as an absolute
            # time (pttl -1: no expiry on L2, only the cap), on the clock L1 shares with this process.
            self._populate(key, value, started_ms, pttl, snapshot)
        return cast(bytes, value)

    # ---- writes ---------------------------------------------------------------------------------

    def set(self, key: KeyT, value: ValueT, ttl: TTLT = None) -> None:
        """Write to L2 (ttl in seconds or a timedelta; None: CACHE_DEFAULT_TTL, else no expiry), drop
        the local L1 copy, and tell other pods to drop theirs. Raises L2Unavailable."""
        protocol.key_bytes(key)
        data = self._encode(value)
        px = self._px(ttl)
        self._write(key, lambda pipe: pipe.set(key, data, px=px), protocol.Announcement(protocol.digest(data), px))

    def delete(self, key: KeyT) -> bool:
        """Delete from L2 and from every pod's L1. True when L2 held the key. Raises L2Unavailable."""
        protocol.key_bytes(key)
        result = self._write(key, lambda pipe: pipe.delete(key))
        return bool(result)

    def _write(self, key: KeyT, command: Callable[[redis.client.Pipeline], object],
               announced: Optional[protocol.Announcement] = None) -> object:
        self._check_l2()
        channel = self._channel
        message = self._message(key, announced) if channel else None
        published = False
        try:
            if channel and message is not None and not self._cluster:
                # The write and its invalidation share one round trip; on one connection PUBLISH
                # runs after the write, so no pod can re-read the old value after being told.
                pipe = self._l2.pipeline(transaction=False)
                command(pipe)
                pipe.publish(channel, message)
                result = pipe.execute()[0]
                published = True
            else:
                pipe = self._l2.pipeline(transaction=False)
                command(pipe)
                result = pipe.execute()[0]
        except _UNAVAILABLE as exc:
            # Unknown whether L2 applied it; the local copy goes either way.
            self._invalidate_local(key)
            raise self._l2_down(exc, "write") from exc
        self._l2_retry_at = 0.0
        self._invalidate_local(key, announced)
        if channel and message is not None and not published:
            self._publish(channel, message)
        return result

    def _message(self, key: KeyT, announced: Optional[protocol.Announcement]) -> bytes:
        """A write announces the value it stored (protocol 2); a delete, or a client told to speak
        protocol 1 to older readers during a rolling update, only names the key."""
        if announced is None or self.options.publish_version == 1:
            return protocol.encode_key(self._origin, key, self.options.publish_version)
        return protocol.encode_value(self._origin, key, announced.digest, announced.ttl_ms)

    def _publish(self, channel: str, message: bytes) -> None:
        try:
            self._l2.publish(channel, message)
        except _UNAVAILABLE as exc:
            # The write is on L2; other pods keep their copy until it expires (the TTL cap).
            self.stats.publish_errors += 1
            log.warning("cache invalidation not published (other pods stale for at most the L1 TTL cap): %s", exc)

    # ---- L2 health ------------------------------------------------------------------------------

    def _check_l2(self) -> None:
        if self._l2_retry_at and time.monotonic() < self._l2_retry_at:
            raise L2Unavailable("L2 failed moments ago; not retrying until "
                                f"{self.options.l2_retry_interval}s have passed")

    def _l2_down(self, exc: BaseException, what: str) -> L2Unavailable:
        self._l2_retry_at = time.monotonic() + self.options.l2_retry_interval
        self.stats.l2_errors += 1
        return L2Unavailable(f"L2 {what} failed: {exc}")

    # ---- invalidation subscription --------------------------------------------------------------

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the invalidation subscription is up (always True without an L1)."""
        if self._l1 is None:
            return True
        return self._ready.wait(timeout)

    @property
    def has_l1(self) -> bool:
        """Whether this client runs two tiers."""
        return self._l1 is not None

    @property
    def subscribed(self) -> bool:
        """Whether invalidations are being received now (L1 is populated only then)."""
        return self._subscribed

    # ---- helpers and lifecycle ------------------------------------------------------------------

    def _encode(self, value: ValueT) -> bytes:
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode(self.encoding)
        if isinstance(value, (bytearray, memoryview)):
            return bytes(value)
        raise TypeError(f"value: must be bytes or str, got {type(value).__name__}")

    def _px(self, ttl: TTLT) -> Optional[int]:
        seconds: Optional[float]
        if ttl is None:
            seconds = self._default_ttl
        elif isinstance(ttl, timedelta):
            seconds = ttl.total_seconds()
        else:
            seconds = float(ttl)
        if seconds is None:
            return None
        if not seconds > 0 or math.isinf(seconds):
            raise ValueError(f"ttl: must be a finite number of seconds > 0, got {ttl!r}")
        return max(1, round(seconds * 1000))

    def close(self) -> None:
        """Stop the subscription thread and close every connection. Idempotent."""
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        for client in (self._l1, self._l2, getattr(self, "_sub_client", None), self._tracking_client):
            if client is not None:
                client.close()

    def __enter__(self) -> "TwoTierCache":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()
