"""The L1 side of TwoTierCache (a base class of it, sharing its state): the populate guard that keeps
a copy read from L2 out of L1 when a write raced it, dropping a key locally, flushing the whole L1,
and bypassing L1 while it fails until a flush makes it safe again.
"""
from __future__ import annotations

import logging
import threading
import time
import zlib
from typing import List, Optional, Tuple

from redis.exceptions import RedisError

from . import protocol
from .connect import ClientOptions
from .l1store import KeyT, L1Store
from .stats import CacheStats

log = logging.getLogger("cache_patterns_client")

# Populate guard: a generation counter per key bucket (crc32(key) mod 1024, as in every client), and
# the last few invalidations of each bucket (key and announcement), so that an invalidation of another
# key, or one announcing the very value a reader read, does not cost that reader its copy. 64 locks
# are enough because a lock is held only for one L1 write.
BUCKETS = 1024
_LOCKS = 64
_EVENTS = 4
_L1_ERRORS = (RedisError, OSError)
_Snapshot = Tuple[int, int, int]  # (bucket, global generation, bucket generation)
_Event = Tuple[int, bytes, Optional[protocol.Announcement]]  # (bucket generation after it, key, announced)
REFUSED = -1  # _verdict: the copy must not be made


class L1Coherence:
    """What keeps L1 coherent with L2. State lives on the TwoTierCache; set up in its __init__."""

    options: ClientOptions
    stats: CacheStats
    _l1: Optional[L1Store]
    _l1_ok: bool
    _l1_retry_at: float
    _subscribed: bool
    _recover_lock: threading.Lock
    _cap_ms: int
    _gen: List[int]
    _events: List[List[_Event]]
    _global_gen: int
    _locks: List[threading.Lock]

    # ---- populate guard -------------------------------------------------------------------------

    def _init_populate_guard(self) -> None:
        self._gen = [0] * BUCKETS
        self._events = [[] for _ in range(BUCKETS)]
        self._global_gen = 0
        self._locks = [threading.Lock() for _ in range(_LOCKS)]

    def _snapshot(self, key: KeyT) -> _Snapshot:
        bucket = bucket_of(key)
        return bucket, self._global_gen, self._gen[bucket]

    def _lock_of(self, snapshot: _Snapshot) -> threading.Lock:
        return self._locks[snapshot[0] % _LOCKS]

    def _verdict(self, key: KeyT, snapshot: _Snapshot, value: Optional[bytes], started_ms: int) -> Optional[int]:
        """Under the bucket's lock: may a copy read after `snapshot` be kept? None: yes, nothing
        touched the key; REFUSED: no; else yes, until at most this deadline (Unix ms), because the
        key's last invalidation announced exactly `value` (written with that TTL, counted from
        `started_ms`, before which the write cannot have run). `value` None (an absence) is never
        announced."""
        bucket, global_gen, bucket_gen = snapshot
        if not self._subscribed or not self._l1_ok or self._global_gen != global_gen:
            return REFUSED
        if self._gen[bucket] == bucket_gen:
            return None
        newer = [e for e in self._events[bucket] if e[0] > bucket_gen]
        if len(newer) != self._gen[bucket] - bucket_gen:
            return REFUSED  # more invalidations than the record keeps: cannot tell whose they were
        kb = protocol.key_bytes(key)
        mine = [announced for _, k, announced in newer if k == kb]
        if not mine:
            return None      # other keys that share the bucket
        last = mine[-1]
        if last is None or value is None or last.digest != protocol.digest(value):
            return REFUSED
        return 2**62 if last.ttl_ms is None else started_ms + last.ttl_ms

    def _populate(self, key: KeyT, value: bytes, started_ms: int, pttl: int, snapshot: _Snapshot) -> None:
        """Copy an L2 value into L1 until the L2 entry's deadline (`started_ms + pttl`; pttl -1: no
        expiry) and at most the TTL cap from now. The deadline is absolute (`SET ... PXAT`) so the
        time the SET takes to reach L1 cannot extend the copy's life past the L2 entry's: L1 is a
        sidecar of this pod, on the same clock."""
        l1 = self._l1
        assert l1 is not None
        with self._lock_of(snapshot):
            now_ms = time.time_ns() // 1_000_000
            deadline = now_ms + self._cap_ms if pttl == -1 else min(started_ms + pttl, now_ms + self._cap_ms)
            if deadline <= now_ms:
                return          # the L2 entry expires before the copy could be made: nothing to cache
            # Refused when an invalidation of this key (or a flush) happened since the snapshot taken
            # before the L2 read, unless it announced the very value read: the value may be older
            # than that write. Invalidations after this point take the same lock, so they run after
            # the SET and then delete it.
            verdict = self._verdict(key, snapshot, value, started_ms)
            if verdict == REFUSED:
                self.stats.populates_refused += 1
                return
            if verdict is not None:
                deadline = min(deadline, verdict)
                if deadline <= now_ms:
                    return
            try:
                l1.put(key, value, deadline)
            except _L1_ERRORS as exc:
                self._l1_down(exc)
                return
        self.stats.populates += 1
        if verdict is not None:
            self.stats.populates_announced += 1

    def _invalidate_local(self, key: KeyT, announced: Optional[protocol.Announcement] = None) -> None:
        """Drop the key from L1 and refuse populates of it that started before now (unless they read
        what `announced` describes)."""
        l1 = self._l1
        kb = protocol.key_bytes(key)
        bucket = bucket_of(kb)
        with self._locks[bucket % _LOCKS]:
            self._gen[bucket] += 1
            events = self._events[bucket]
            events.append((self._gen[bucket], kb, announced))
            if len(events) > _EVENTS:
                del events[0]
        self._on_key_invalidated(kb)
        if l1 is not None and self._l1_ok:
            try:
                l1.delete(key)
            except _L1_ERRORS as exc:
                # Marking L1 down forces a flush before it is read again: the copy must not survive.
                self._l1_down(exc)

    def _on_key_invalidated(self, key: bytes) -> None:
        """Hook for what else holds per-key state (the loader's negative entries)."""

    def _on_flush(self) -> None:
        """Hook: the whole L1 was flushed."""

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
            self._on_flush()
            try:
                l1.flush()
            except _L1_ERRORS as exc:
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


def bucket_of(key: KeyT) -> int:
    """The key's guard bucket: crc32 (IEEE) of its bytes mod 1024, the same in every client."""
    return zlib.crc32(protocol.key_bytes(key)) % BUCKETS
