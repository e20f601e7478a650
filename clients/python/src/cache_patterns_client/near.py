"""NearL1: the in-process L1 (`CACHE_L1_MODE=in-process`), an `L1Store` that keeps copies in this
process's memory, bounded by entries and bytes (least recently used evicted first). What keeps it
coherent with L2 is the server's client tracking (tracking.py) and the same populate guard as a
sidecar L1 (l1.py); the store itself only bounds and expires.

A copy costs `len(key) + len(value) + ENTRY_OVERHEAD` bytes of the bound, the same in every client (a
nominal figure: what the runtime really spends per entry is measured in docs/benchmarks.md).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Optional, Tuple

from .l1store import KeyT

ENTRY_OVERHEAD = 64


def _kb(key: KeyT) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


class NearL1:
    """A bounded LRU of copies with absolute deadlines. Thread-safe; never raises."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError(f"max_entries and max_bytes must be > 0, got {max_entries!r}, {max_bytes!r}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.evictions = 0      # copies dropped to stay within the bounds
        self.peak_entries = 0   # the most copies and bytes ever held at once (the bounds' proof)
        self.peak_bytes = 0
        self._data: "OrderedDict[bytes, Tuple[bytes, float]]" = OrderedDict()   # key -> (value, monotonic deadline)
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: KeyT) -> Optional[bytes]:
        k = _kb(key)
        with self._lock:
            entry = self._data.get(k)
            if entry is None:
                return None
            if time.monotonic() >= entry[1]:
                self._drop(k, entry[0])
                return None
            self._data.move_to_end(k)
            return entry[0]

    def put(self, key: KeyT, value: bytes, deadline_ms: int) -> None:
        """Keep a copy until `deadline_ms` (Unix milliseconds), turned into this process's monotonic
        clock at once, so a later step of the wall clock cannot stretch it. A value bigger than the
        whole bound is not kept."""
        k = _kb(key)
        cost = len(k) + len(value) + ENTRY_OVERHEAD
        deadline = time.monotonic() + (deadline_ms - time.time() * 1000) / 1000
        with self._lock:
            old = self._data.pop(k, None)
            if old is not None:
                self._bytes -= len(k) + len(old[0]) + ENTRY_OVERHEAD
            if cost > self.max_bytes:
                return
            self._data[k] = (bytes(value), deadline)
            self._bytes += cost
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                old_key, (old_value, _) = self._data.popitem(last=False)
                self._bytes -= len(old_key) + len(old_value) + ENTRY_OVERHEAD
                self.evictions += 1
            self.peak_entries = max(self.peak_entries, len(self._data))
            self.peak_bytes = max(self.peak_bytes, self._bytes)

    def delete(self, key: KeyT) -> None:
        k = _kb(key)
        with self._lock:
            entry = self._data.get(k)
            if entry is not None:
                self._drop(k, entry[0])

    def flush(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def close(self) -> None:
        self.flush()

    def size(self) -> Tuple[int, int]:
        """(copies, bytes of the bound they use)."""
        with self._lock:
            return len(self._data), self._bytes

    def _drop(self, k: bytes, value: bytes) -> None:
        del self._data[k]
        self._bytes -= len(k) + len(value) + ENTRY_OVERHEAD
