"""Pattern 4, two-tier: a sidecar L1 in every bound app pod in front of a shared L2 (any pattern).

Choose it when a shared cache is read far more than written and the network hop dominates: hot keys
are served from loopback. It costs an L1 per pod, a staleness window of at most `l1.ttlCap` when an
invalidation is lost, and a client that follows the protocol (clients/python). It adds no resource:
the L2 is built exactly as without `l1`, and only the app pods change.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from cache_patterns.core.contract import CacheBinding, L1Tier
from cache_patterns.core.naming import invalidation_channel
from cache_patterns.patterns.sidecar import component as sidecar
from cache_patterns.patterns.two_tier.settings import L1Settings

__all__ = ["TwoTier", "layer", "shape_layer", "invalidation_channel"]


class TwoTier:
    """Wraps any shared cache: its bindings gain the L1 sidecar and the CACHE_L1_* / CACHE_L2_* vars."""

    def __init__(self, l2: Any, stack: str, cache: str, l1: L1Settings, native: bool):
        self.l2 = l2
        self.local = sidecar.from_l1(l1)
        self.tier = L1Tier(connection=sidecar.connection(self.local), ttl_cap_seconds=l1.ttl_cap // 1000,
                           invalidation_channel=invalidation_channel(stack, cache))
        self.pod = sidecar.pod_parts(self.local, native)

    def binding(self, namespace: str, user: str | None = None) -> CacheBinding:
        shared = self.l2.binding(namespace) if user is None else self.l2.binding(namespace, user=user)
        return dataclasses.replace(shared, l1=self.tier, pod=self.pod)

    @property
    def discovery(self) -> dict:
        return {**self.l2.discovery, "l1": {"socket": self.local.socket, "port": self.local.port,
                                            "maxmemoryBytes": self.local.maxmemory,
                                            "ttlCapSeconds": self.tier.ttl_cap_seconds,
                                            "invalidationChannel": self.tier.invalidation_channel}}


def layer(cache: Any, stack: str, name: str, settings: Any, native: bool) -> Any:
    """The built cache, with the L1 layer when its settings ask for one (`l1:`)."""
    l1 = getattr(settings, "l1", None)
    return cache if l1 is None else TwoTier(cache, stack, name, l1, native)


def shape_layer(binding: CacheBinding, name: str, settings: Any) -> CacheBinding:
    """A binding's shape with the L1 layer when the settings ask for one (no resource, placeholders)."""
    l1 = getattr(settings, "l1", None)
    if l1 is None:
        return binding
    local = sidecar.from_l1(l1)
    tier = L1Tier(connection=sidecar.connection(local), ttl_cap_seconds=l1.ttl_cap // 1000,
                  invalidation_channel=invalidation_channel("<stack>", name))
    return dataclasses.replace(binding, l1=tier)
