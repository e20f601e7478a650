"""Settings of pattern 4, two-tier: the `l1:` block any shared cache (statefulset, external, operator)
may carry; the L2 is that cache itself. The L1 is a sidecar Redis in each app pod (`mode: sidecar`,
the default) or a near cache in each app process invalidated by L2's client tracking (`mode: in-process`)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from cache_patterns.config.base import StrictModel, fail
from cache_patterns.config.common import CPU, PERCENT, MaxmemoryPolicy, doc
from cache_patterns.config.reference import config_form
from cache_patterns.config.types import Duration, Quantity, Text, show
from cache_patterns.core import sizing

TAG = "two_tier"
MODES = ("sidecar", "in-process")
TRACKING = ("default", "broadcast")
# A key prefix travels in CACHE_L1_TRACKING_PREFIXES, comma-separated: no comma, no white space.
PREFIX = Annotated[str, Text(r"[^\s,]{1,128}", "a key prefix without commas or white space", max_len=128)]
# Keys that only mean something in one mode (attribute names), and the stack-file keys they are.
ONLY = {"sidecar": ("memory", "cpu", "maxmemory_policy", "maxmemory_percent"),
        "in-process": ("max_entries", "max_bytes", "tracking", "prefixes")}


class L1Settings(StrictModel):
    """Two-tier: an L1 in every bound app pod (a sidecar) or app process (in-process) in front of this
    shared cache."""

    TITLE = "two-tier L1"
    mode: Literal["sidecar", "in-process"] = doc(
        "sidecar", "sidecar: a loopback Redis in every bound app pod, kept coherent by pub/sub; in-process: a "
                   "near cache in each app process, invalidated by the L2 server itself (CLIENT TRACKING), no sidecar.")
    memory: Annotated[int, Quantity("bytes", min=sizing.MIN_REDIS_MEMORY, max=16 * sizing.GI)] = doc(
        64 * sizing.MI, "mode: sidecar: memory limit of the L1 sidecar in each app pod (never persistent).", "64Mi")
    cpu: CPU = doc(25, "mode: sidecar: CPU request of the L1 sidecar.", "25m")
    ttl_cap: Annotated[int, Duration(min_ms=1000, max_ms=86_400_000, whole_seconds=True)] = doc(
        30_000, "Longest an L1 copy lives; also bounded by the L2 entry's remaining TTL.", "30s")
    maxmemory_policy: MaxmemoryPolicy = doc("allkeys-lru", "mode: sidecar: eviction in L1.")
    maxmemory_percent: PERCENT = doc(80, "mode: sidecar: share of the L1 memory limit given to `maxmemory`.")
    max_entries: Annotated[int, Field(strict=True, ge=1, le=10_000_000)] = doc(
        10_000, "mode: in-process: most copies each app process keeps (least recently used evicted first).")
    max_bytes: Annotated[int, Quantity("bytes", min=sizing.MI, max=16 * sizing.GI)] = doc(
        64 * sizing.MI, "mode: in-process: most bytes of copies each app process keeps (key + value + 64 per "
                        "copy); the app container's memory must leave room for it.", "64Mi")
    tracking: Literal["default", "broadcast"] = doc(
        "default", "mode: in-process: default: the server remembers the keys each process read and tells it of "
                   "their changes; broadcast: it tells every process of every change under `prefixes`.")
    prefixes: Annotated[tuple[PREFIX, ...], Field(max_length=16)] = doc(
        (), "tracking: broadcast: the key prefixes apps cache (only keys under one are kept in-process).", "none")

    @property
    def in_process(self) -> bool:
        return self.mode == "in-process"

    @model_validator(mode="after")
    def _check(self) -> "L1Settings":
        fail(self._mode_problems() + self._tracking_problems())
        return self

    def _mode_problems(self) -> list[tuple[str, str]]:
        out = []
        for mode, names in ONLY.items():
            for name in names:
                if mode != self.mode and name in self.model_fields_set:
                    info = type(self).model_fields[name]
                    out.append((info.alias or name, f"only applies to mode: {mode}, got "
                                                    f"{show(config_form(info, getattr(self, name)))} with mode: {self.mode}"))
        if not self.in_process:
            try:
                sizing.maxmemory_for_limit(self.memory, self.maxmemory_percent)
            except sizing.SizingError as exc:
                out.append(("memory", f"{exc}, got {sizing.format_bytes(self.memory)}"))
        return out

    def _tracking_problems(self) -> list[tuple[str, str]]:
        if not self.in_process:
            return []
        if self.tracking == "default":
            return [("prefixes", f"only applies to tracking: broadcast, got {show(list(self.prefixes))}")] \
                if self.prefixes else []
        if not self.prefixes:
            return [("prefixes", "is required with tracking: broadcast: the key prefixes apps cache (a write to any "
                                 "key under one is sent to every app process)")]
        for i, a in enumerate(self.prefixes):
            for b in self.prefixes[i + 1:]:
                if a.startswith(b) or b.startswith(a):
                    return [("prefixes", f"{a!r} and {b!r} overlap, which the server refuses in one CLIENT TRACKING: "
                                         f"keep the shorter one")]
        return []

    def l2_problems(self, cache: Any) -> list[tuple[str, str]]:
        """Where `mode: in-process` is refused because the L2 (`cache`, the settings carrying this block)
        cannot track keys for one connection: docs/patterns/two_tier.md, "Which L2 can track"."""
        if not self.in_process:
            return []
        refuse = lambda why: [("l1.mode", f"in-process needs an L2 that tracks keys for the app's connection "  # noqa: E731
                                          f"(CLIENT TRACKING), {why}; use mode: sidecar")]
        kind = getattr(cache, "kind", None)
        if cache.cluster_mode:
            what = "a serverless cache" if kind == "elasticache-serverless" else "a cluster-mode L2"
            return refuse(f"got {what}: tracking is per node, so one tracking connection misses the other nodes' "
                          f"writes, and a slot move or failover hands a key to a node that never tracked it")
        engine = cache.plan_engine()
        version = tuple(int(p) for p in engine.version.split(".")[:2])
        if kind == "elasticache" and engine.name == "redis":
            return refuse(f"got ElastiCache for Redis OSS {engine.version}, which has answered CLIENT TRACKING "
                          f"with 'unknown subcommand' (docs/patterns/two_tier.md); ElastiCache for Valkey 8 tracks: "
                          f"set engine: valkey")
        if kind == "elasticache" and version < (8, 0):
            return refuse(f"got ElastiCache for Valkey {engine.version}: tracking is reported on ElastiCache for "
                          f"Valkey 8 only; set version: '8.0' or newer")
        if version < (6, 2):
            return refuse(f"got {engine.name} {engine.version}: the client checks where its tracking connection "
                          f"is with CLIENT LIST ID, which needs 6.2 or newer")
        return []
