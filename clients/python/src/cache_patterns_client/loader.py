"""The loader of TwoTierCache (a base class of it, sharing its state): `get_or_load(key, loader, ttl)`
reads through both tiers and, on a miss, calls `loader()` once per key in the process however many
callers miss at once (single flight), stores what it returns like `set()`, and never caches a loader
error. An absence (the loader returns None) can be remembered for `negative_ttl` seconds, in this
process only; any invalidation of the key, and every L1 flush, forgets it.

The pieces are shared with the asyncio variant (aio.py), which runs its own flights on its loop.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Dict, Optional, Tuple, Union

from . import protocol
from .errors import L2Unavailable
from .l1 import L1Coherence, _Snapshot
from .l1store import KeyT

log = logging.getLogger("cache_patterns_client")

ValueT = Union[bytes, bytearray, memoryview, str]
NEGATIVE_ENTRIES = 10_000  # remembered absences per process; the oldest go first


class _Flight:
    """One load in progress: the callers that missed the same key meanwhile wait for its outcome."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Optional[bytes] = None
        self.error: Optional[BaseException] = None

    def wait(self) -> Optional[bytes]:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value


class Loader(L1Coherence):
    """State lives on the TwoTierCache; set up in its __init__."""

    _flights: Dict[bytes, _Flight]
    _flights_lock: threading.Lock
    _negative: Dict[bytes, float]

    def _init_loader(self) -> None:
        self._flights = {}
        self._flights_lock = threading.Lock()
        self._negative = {}

    def get_or_load(self, key: KeyT, loader: Callable[[], Optional[ValueT]], ttl: object = None,
                    negative_ttl: Optional[float] = None) -> Optional[bytes]:
        """The cached value, else `loader()`'s, stored with `ttl` (as `set()`). Concurrent misses of
        one key in this process call the loader once and share its result or its error. A loader
        error propagates and is never cached. None from the loader is an absence: returned as None,
        and remembered for `negative_ttl` seconds when given. With L2 down the loader still answers
        (nothing is stored)."""
        kb = protocol.key_bytes(key)
        self._px(ttl)  # type: ignore[attr-defined]  # a bad ttl fails before any tier is touched
        negative = self._negative_seconds(negative_ttl)
        value = self._from_l1(key)  # type: ignore[attr-defined]
        if value is not None:
            return value  # type: ignore[no-any-return]
        if self._negative_fresh(kb):
            return None
        with self._flights_lock:
            flight = self._flights.get(kb)
            leader = flight is None
            if flight is None:
                flight = self._flights[kb] = _Flight()
        if not leader:
            self.stats.load_waits += 1
            return flight.wait()
        try:
            value, l2_ok = self._l2_or_none(key)
            if value is None:
                snapshot = self._snapshot(kb)
                value = self._store_loaded(key, self._call_loader(loader), ttl, negative, snapshot, l2_ok)
            flight.value = value
            return value
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._flights_lock:
                del self._flights[kb]
            flight.done.set()

    # ---- the steps, shared with aio.py ---------------------------------------------------------

    @staticmethod
    def _negative_seconds(negative_ttl: Optional[float]) -> Optional[float]:
        if negative_ttl is None:
            return None
        seconds = float(negative_ttl)
        if not 0 < seconds < float("inf"):
            raise ValueError(f"negative_ttl: must be a finite number of seconds > 0, got {negative_ttl!r}")
        return seconds

    def _l2_or_none(self, key: KeyT) -> Tuple[Optional[bytes], bool]:
        """(value or None, whether L2 answered). L2 down is not the caller's problem here: the loader
        answers instead."""
        try:
            return self._read_through(key), True  # type: ignore[attr-defined]
        except L2Unavailable as exc:
            log.debug("get_or_load: L2 unavailable, calling the loader without caching: %s", exc)
            return None, False

    def _call_loader(self, loader: Callable[[], Optional[ValueT]]) -> Optional[ValueT]:
        self.stats.loads += 1
        try:
            return loader()
        except BaseException:
            self.stats.load_errors += 1
            raise

    def _store_loaded(self, key: KeyT, loaded: Optional[ValueT], ttl: object, negative: Optional[float],
                      snapshot: _Snapshot, l2_ok: bool) -> Optional[bytes]:
        if loaded is None:
            if negative is not None:
                self._remember_absent(protocol.key_bytes(key), snapshot, negative)
            return None
        data: bytes = self._encode(loaded)  # type: ignore[attr-defined]
        if l2_ok:
            try:
                self.set(key, data, ttl)  # type: ignore[attr-defined]
            except L2Unavailable as exc:
                log.debug("get_or_load: the loaded value was not stored: %s", exc)
        return data

    # ---- negative entries ------------------------------------------------------------------------

    def _negative_fresh(self, kb: bytes) -> bool:
        expires = self._negative.get(kb)
        if expires is None:
            return False
        if time.monotonic() >= expires:
            self._negative.pop(kb, None)
            return False
        self.stats.negative_hits += 1
        return True

    def _remember_absent(self, kb: bytes, snapshot: _Snapshot, seconds: float) -> None:
        """Like a populate: not when the key was invalidated (or L1 flushed) since the snapshot taken
        before the L2 read, nor while invalidations are not arriving."""
        if self._l1 is not None and not self._subscribed:
            return
        with self._lock_of(snapshot):
            bucket, global_gen, bucket_gen = snapshot
            if self._global_gen != global_gen:
                return
            if self._gen[bucket] != bucket_gen:
                newer = [e for e in self._events[bucket] if e[0] > bucket_gen]
                if len(newer) != self._gen[bucket] - bucket_gen or any(k == kb for _, k, _ in newer):
                    return
            if len(self._negative) >= NEGATIVE_ENTRIES:
                self._negative.pop(next(iter(self._negative)), None)
            self._negative[kb] = time.monotonic() + seconds

    def _on_key_invalidated(self, key: bytes) -> None:
        self._negative.pop(key, None)

    def _on_flush(self) -> None:
        self._negative.clear()

