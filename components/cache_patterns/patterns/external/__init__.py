"""Pattern 1, external: AWS ElastiCache (node-based or serverless) or an existing endpoint."""
from __future__ import annotations

from cache_patterns.patterns.base import Pattern
from cache_patterns.patterns.external.binding import shape
from cache_patterns.patterns.external.component import ExternalCache, ExternalCacheArgs, build
from cache_patterns.patterns.external.settings import TAG, AwsConfig, ExternalSettings

PATTERN = Pattern(tag=TAG, settings=ExternalSettings, build=build, shape=shape)

__all__ = ["PATTERN", "ExternalCache", "ExternalCacheArgs", "ExternalSettings", "AwsConfig"]
