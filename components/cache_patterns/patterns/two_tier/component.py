"""Pattern 4, two-tier: an L1 in every bound app pod in front of a shared L2 (any pattern).

Choose it when a shared cache is read far more than written and the network hop dominates: hot keys
are served from loopback (`mode: sidecar`, a Redis sidecar kept coherent by pub/sub) or from the app's
own memory (`mode: in-process`, a near cache the L2 server invalidates through client tracking). It
costs an L1 per pod (or process), a staleness window of at most `l1.ttlCap` when an invalidation is
lost, and a client that follows the protocol (clients/). It adds no resource: the L2 is built exactly
as without `l1`, and only the app pods change (in-process: only their variables).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from cache_patterns.core.contract import CacheBinding, L1Tier, NearCache
from cache_patterns.core.image_set import DEFAULT_IMAGES, ImageSet
from cache_patterns.core.naming import invalidation_channel
from cache_patterns.patterns.sidecar import component as sidecar
from cache_patterns.patterns.two_tier.settings import L1Settings

__all__ = ["with_l1", "discovery_with_l1", "shape_layer", "invalidation_channel"]


def _tier(stack: str, cache: str, l1: L1Settings,
          images: ImageSet = DEFAULT_IMAGES) -> tuple[sidecar.LocalCache | None, L1Tier]:
    channel, cap = invalidation_channel(stack, cache), l1.ttl_cap // 1000
    if l1.in_process:
        near = NearCache(max_entries=l1.max_entries, max_bytes=l1.max_bytes, tracking=l1.tracking,
                         prefixes=tuple(l1.prefixes))
        return None, L1Tier(connection=None, ttl_cap_seconds=cap, invalidation_channel=channel, near=near)
    local = sidecar.from_l1(l1, images=images)
    return local, L1Tier(connection=sidecar.connection(local), ttl_cap_seconds=cap, invalidation_channel=channel)


def with_l1(binding: CacheBinding, stack: str, settings: Any, native: bool,
            images: ImageSet = DEFAULT_IMAGES) -> CacheBinding:
    """A shared cache's binding, with the L1 sidecar (mode: sidecar) and the CACHE_L1_* / CACHE_L2_*
    variables when its settings ask for one (`l1:`); as it is otherwise. `images`: where the L1's image
    comes from."""
    l1 = getattr(settings, "l1", None)
    if l1 is None:
        return binding
    local, tier = _tier(stack, binding.cache, l1, images)
    if local is None:
        return dataclasses.replace(binding, l1=tier)
    return dataclasses.replace(binding, l1=tier, pod=sidecar.pod_parts(local, native))


def discovery_with_l1(out: dict, stack: str, cache: str, settings: Any) -> dict:
    """A shared cache's discovery outputs, with its L1's when it has one."""
    l1 = getattr(settings, "l1", None)
    if l1 is None:
        return out
    local, tier = _tier(stack, cache, l1)
    if local is None:
        assert tier.near is not None
        return {**out, "l1": {"mode": "in-process", "maxEntries": tier.near.max_entries,
                              "maxBytes": tier.near.max_bytes, "tracking": tier.near.tracking,
                              "prefixes": list(tier.near.prefixes), "ttlCapSeconds": tier.ttl_cap_seconds,
                              "invalidationChannel": tier.invalidation_channel}}
    return {**out, "l1": {"socket": local.socket, "port": local.port, "maxmemoryBytes": local.maxmemory,
                          "ttlCapSeconds": tier.ttl_cap_seconds, "invalidationChannel": tier.invalidation_channel}}


def shape_layer(binding: CacheBinding, name: str, settings: Any) -> CacheBinding:
    """A binding's shape with the L1 layer when the settings ask for one (no resource, placeholders)."""
    l1 = getattr(settings, "l1", None)
    if l1 is None:
        return binding
    _, tier = _tier("<stack>", name, l1)
    return dataclasses.replace(binding, l1=tier)
