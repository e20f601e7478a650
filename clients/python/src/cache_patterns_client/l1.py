"""The L1 side of TwoTierCache (a base class of it, sharing its state): the populate guard that keeps
a copy read from L2 out of L1 when a write raced it, dropping a key locally, flushing the whole L1,
and bypassing L1 while it fails until a flush makes it safe again.
"""
from __future__ import annotations

import logging
import threading
import time
import zlib
from typing import List, Optional, Tuple, Union

import redis
from redis.exceptions import RedisError

from . import protocol
from .connect import ClientOptions
from .stats import CacheStats

log = logging.getLogger("cache_patterns_client")

KeyT = Union[str, bytes]

# Populate guard: a generation counter per key bucket. 1024 buckets keep the chance that an
# unrelated write refuses a populate near (writes/s x L2 round trip) / 1024; 64 locks are enough
# because a lock is held only for one L1 write.
_BUCKETS = 1024
_LOCKS = 64
_Snapshot = Tuple[int, int, int]  # (bucket, global generation, bucket generation)


class L1Coherence:
    """What keeps L1 coherent with L2. State lives on the TwoTierCache; set up in its __init__."""

    options: ClientOptions
    stats: CacheStats
    _l1: Optional[redis.Redis]
    _l1_ok: bool
    _l1_retry_at: float
    _subscribed: bool
    _recover_lock: threading.Lock
    _gen: List[int]
    _global_gen: int
    _locks: List[threading.Lock]

    # ---- populate guard -------------------------------------------------------------------------

    def _init_populate_guard(self) -> None:
        self._gen = [0] * _BUCKETS
        self._global_gen = 0
        self._locks = [threading.Lock() for _ in range(_LOCKS)]

    def _snapshot(self, key: KeyT) -> _Snapshot:
        bucket = _bucket(key)
        return bucket, self._global_gen, self._gen[bucket]

    def _populate(self, key: KeyT, value: bytes, expires_at_ms: Optional[int], snapshot: _Snapshot) -> None:
        """Copy an L2 value into L1 until `expires_at_ms` (Unix milliseconds; None: the L2 entry has
        no expiry) and at most the TTL cap from now. The deadline is absolute (`SET ... PXAT`) so the
        time the SET takes to reach L1 cannot extend the copy's life past the L2 entry's: L1 is a
        sidecar of this pod, on the same clock."""
        bucket, global_gen, bucket_gen = snapshot
        l1 = self._l1
        assert l1 is not None
        with self._locks[bucket % _LOCKS]:
            now_ms = time.time_ns() // 1_000_000
            deadline = now_ms + self._cap_ms if expires_at_ms is None else min(expires_at_ms, now_ms + self._cap_ms)
            if deadline <= now_ms:
                return          # the L2 entry expires before the copy could be made: nothing to cache
            # Refused when any invalidation of this bucket (or a flush) happened since the snapshot
            # taken before the L2 read: the value read may be older than that write. Invalidations
            # after this point take the same lock, so they run after the SET and then delete it.
            if (not self._subscribed or not self._l1_ok or self._global_gen != global_gen
                    or self._gen[bucket] != bucket_gen):
                self.stats.populates_refused += 1
                return
            try:
                l1.set(key, value, pxat=deadline)
            except RedisError as exc:
                self._l1_down(exc)
                return
        self.stats.populates += 1

    def _invalidate_local(self, key: KeyT) -> None:
        """Drop the key from L1 and refuse populates of its bucket that started before now."""
        l1 = self._l1
        if l1 is None:
            return
        bucket = _bucket(key)
        with self._locks[bucket % _LOCKS]:
            self._gen[bucket] += 1
        if self._l1_ok:
            try:
                l1.delete(key)
            except RedisError as exc:
                # Marking L1 down forces a flush before it is read again: the copy must not survive.
                self._l1_down(exc)

    # ---- L1 health -------------------------------------------------------------------------------

    def _flush_l1(self, reason: str) -> bool:
        """Empty L1 and refuse every populate in flight. Returns whether L1 is usable afterwards."""
        l1 = self._l1
        if l1 is None:
            return False
        for lock in self._locks:
            lock.acquire()
        try:
            self._global_gen += 1
            try:
                l1.flushdb(asynchronous=True)
            except RedisError as exc:
                self._l1_down(exc)
                return False
            self._l1_ok = True
            self.stats.l1_flushes += 1
            log.debug("L1 flushed: %s", reason)
            return True
        finally:
            for lock in self._locks:
                lock.release()

    def _l1_recover(self) -> bool:
        """Slow path of every L1 use while L1 is marked down: at most once per retry interval, flush
        it and use it again."""
        if self._l1 is None or time.monotonic() < self._l1_retry_at:
            return False
        if not self._recover_lock.acquire(blocking=False):
            return False
        try:
            if self._l1_ok:
                return True
            self._l1_retry_at = time.monotonic() + self.options.l1_retry_interval
            return self._flush_l1("L1 back after an error")
        finally:
            self._recover_lock.release()

    def _l1_down(self, exc: BaseException) -> None:
        self._l1_ok = False
        self._l1_retry_at = time.monotonic() + self.options.l1_retry_interval
        self.stats.l1_errors += 1
        log.debug("L1 unavailable, bypassing it for %.1fs: %s", self.options.l1_retry_interval, exc)


def _bucket(key: KeyT) -> int:
    return zlib.crc32(protocol.key_bytes(key)) % _BUCKETS
