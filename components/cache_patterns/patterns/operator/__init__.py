"""Pattern 5, operator: a Redis operator's custom resource, optionally with the operator's Helm chart."""
from __future__ import annotations

from cache_patterns.patterns.base import Pattern
from cache_patterns.patterns.operator.component import RedisOperatorCache, RedisOperatorCacheArgs, build, shape
from cache_patterns.patterns.operator.install import OperatorInstallation, OperatorInstallationArgs, install_operators
from cache_patterns.patterns.operator.settings import TAG, OperatorInstall, OperatorSettings

PATTERN = Pattern(tag=TAG, settings=OperatorSettings, build=build, shape=shape)

__all__ = ["PATTERN", "RedisOperatorCache", "RedisOperatorCacheArgs", "OperatorInstallation",
           "OperatorInstallationArgs", "OperatorSettings", "OperatorInstall", "install_operators"]
