"""Builds each named cache with the pattern its config names, and adds an L1 where asked."""
from __future__ import annotations

import pulumi

from .config import ConfigError, StackConfig
from .sidecar import Sidecar
from .two_tier import TwoTier


def build(name: str, cfg: StackConfig, opts: pulumi.ResourceOptions):
    """The cache `name` as a BoundCache: `.binding(namespace)` and `.discovery`."""
    settings = cfg.caches[name]
    if settings.pattern == "sidecar":
        cache = Sidecar(name, settings, cfg.native_sidecars)
    else:
        raise ConfigError([(f"caches.{name}.pattern", f"{settings.pattern!r} is not available in this build")])
    l1 = getattr(settings, "l1", None)
    if l1 is not None:
        cache = TwoTier(cache, cfg.stack, name, l1, cfg.native_sidecars)
    return cache
