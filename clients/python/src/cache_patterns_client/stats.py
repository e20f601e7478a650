"""CacheStats: the counters of a TwoTierCache (`cache.stats`), read by dashboards, tests and
cache_patterns_client.metrics. The same names in every client (the conformance suite reads them)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CacheStats:
    """Counters for dashboards and tests. Plain ints: exact in one thread, approximate under races."""

    l1_hits: int = 0
    l1_misses: int = 0        # reads with an L1 that it did not answer (a miss, or L1 bypassed)
    l2_hits: int = 0
    l2_misses: int = 0
    populates: int = 0
    populates_refused: int = 0
    populates_announced: int = 0  # populates kept because the invalidation announced the value read
    invalidations_received: int = 0
    own_invalidations_skipped: int = 0
    l1_flushes: int = 0
    l1_errors: int = 0
    l2_errors: int = 0
    publish_errors: int = 0
    subscriptions: int = 0
    loads: int = 0            # loader calls made by get_or_load
    load_errors: int = 0      # loader calls that raised (never cached)
    load_waits: int = 0       # get_or_load calls that waited for another caller's load of the key
    negative_hits: int = 0    # get_or_load calls answered by a cached absence

    @property
    def l1_hit_ratio(self) -> float:
        reads = self.l1_hits + self.l2_hits + self.l2_misses
        return self.l1_hits / reads if reads else 0.0
