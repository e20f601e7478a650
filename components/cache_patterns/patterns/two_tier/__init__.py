"""Pattern 4, two-tier: a sidecar L1 in every bound app pod in front of any shared cache (the L2)."""
from __future__ import annotations

from cache_patterns.patterns.two_tier.component import TwoTier, layer, shape_layer
from cache_patterns.patterns.two_tier.settings import TAG, L1Settings

__all__ = ["TAG", "TwoTier", "L1Settings", "layer", "shape_layer"]
