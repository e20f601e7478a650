"""Settings of pattern 4, two-tier: the `l1:` block any shared cache (statefulset, external, operator)
may carry; the L2 is that cache itself."""
from __future__ import annotations

from typing import Annotated

from pydantic import model_validator

from cache_patterns.config.base import StrictModel, fail
from cache_patterns.config.common import CPU, PERCENT, MaxmemoryPolicy, doc
from cache_patterns.config.types import Duration, Quantity
from cache_patterns.core import sizing

TAG = "two_tier"


class L1Settings(StrictModel):
    """Two-tier: a sidecar L1 in every bound app pod in front of this shared cache."""

    TITLE = "two-tier L1"
    memory: Annotated[int, Quantity("bytes", min=sizing.MIN_REDIS_MEMORY, max=16 * sizing.GI)] = doc(
        64 * sizing.MI, "Memory limit of the L1 sidecar in each app pod (never persistent).", "64Mi")
    cpu: CPU = doc(25, "CPU request of the L1 sidecar.", "25m")
    ttl_cap: Annotated[int, Duration(min_ms=1000, max_ms=86_400_000, whole_seconds=True)] = doc(
        30_000, "Longest an L1 copy lives; also bounded by the L2 entry's remaining TTL.", "30s")
    maxmemory_policy: MaxmemoryPolicy = doc("allkeys-lru", "Eviction in L1.")
    maxmemory_percent: PERCENT = doc(80, "Share of the L1 memory limit given to `maxmemory`.")

    @model_validator(mode="after")
    def _check(self) -> "L1Settings":
        try:
            sizing.maxmemory_for_limit(self.memory, self.maxmemory_percent)
        except sizing.SizingError as exc:
            fail([("memory", f"{exc}, got {sizing.format_bytes(self.memory)}")])
        return self
