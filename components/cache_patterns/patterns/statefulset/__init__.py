"""Pattern 2, in-cluster StatefulSet: a primary, replicas, Sentinel failover and an HAProxy write endpoint."""
from __future__ import annotations

from cache_patterns.patterns.base import Pattern
from cache_patterns.patterns.statefulset.binding import shape
from cache_patterns.patterns.statefulset.component import RedisStatefulSet, RedisStatefulSetArgs, build
from cache_patterns.patterns.statefulset.settings import TAG, AclUser, StatefulSetSettings

PATTERN = Pattern(tag=TAG, settings=StatefulSetSettings, build=build, shape=shape)

__all__ = ["PATTERN", "RedisStatefulSet", "RedisStatefulSetArgs", "StatefulSetSettings", "AclUser"]
