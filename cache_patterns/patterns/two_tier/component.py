"""Pattern 4, two-tier: a sidecar L1 in every bound app pod in front of a shared L2 (any pattern).

Choose it when a shared cache is read far more than written and the network hop dominates: hot keys
are served from loopback. It costs an L1 per pod, a staleness window of at most `l1.ttlCap` when an
invalidation is lost, and a client that follows the protocol (clients/python). It adds no resource:
the L2 is built exactly as without `l1`, and only the app pods change.
"""
from __future__ import annotations

import dataclasses

from cache_patterns.patterns.sidecar import component as sidecar
from cache_patterns.stack import L1Config
from cache_patterns.core.contract import CacheBinding, L1Tier


def invalidation_channel(stack: str, cache: str) -> str:
    """The pub/sub channel on L2 that carries invalidations for one cache (one per stack and cache,
    so two stacks sharing an L2 never flush each other's L1)."""
    return f"cache-patterns:{stack}:{cache}:invalidate"


class TwoTier:
    """Wraps any shared cache: its bindings gain the L1 sidecar and the CACHE_L1_* / CACHE_L2_* vars."""

    def __init__(self, l2, stack: str, cache: str, l1: L1Config, native: bool):
        self.l2 = l2
        self.local = sidecar.from_l1(l1)
        self.tier = L1Tier(connection=sidecar.connection(self.local), ttl_cap_seconds=l1.ttl_cap // 1000,
                           invalidation_channel=invalidation_channel(stack, cache))
        self.pod = sidecar.pod_parts(self.local, native)

    def binding(self, namespace: str) -> CacheBinding:
        shared = self.l2.binding(namespace)
        return dataclasses.replace(shared, l1=self.tier, pod=self.pod)

    @property
    def discovery(self) -> dict:
        return {**self.l2.discovery, "l1": {"socket": self.local.socket, "port": self.local.port,
                                            "maxmemoryBytes": self.local.maxmemory,
                                            "ttlCapSeconds": self.tier.ttl_cap_seconds,
                                            "invalidationChannel": self.tier.invalidation_channel}}
