"""Pattern 3, sidecar: a Redis next to every app container, on 127.0.0.1 and a unix socket."""
from __future__ import annotations

from cache_patterns.patterns.base import Pattern
from cache_patterns.patterns.sidecar.component import Sidecar, build, shape
from cache_patterns.patterns.sidecar.settings import TAG, SidecarSettings

PATTERN = Pattern(tag=TAG, settings=SidecarSettings, build=build, shape=shape)

__all__ = ["PATTERN", "Sidecar", "SidecarSettings"]
