"""Pattern 2, in-cluster StatefulSet: a primary, replicas, Sentinel failover and an HAProxy write endpoint."""
from __future__ import annotations

from cache_patterns.patterns.base import Pattern, PatternDoc
from cache_patterns.patterns.statefulset.binding import shape
from cache_patterns.patterns.statefulset.component import RedisStatefulSet, RedisStatefulSetArgs, build
from cache_patterns.patterns.statefulset.settings import SUMMARY, TAG, AclUser, StatefulSetSettings

PATTERN = Pattern(
    tag=TAG, settings=StatefulSetSettings, build=build, shape=shape, summary=SUMMARY,
    in_cluster=True, stack_namespace=True, component=RedisStatefulSet,
    examples={"statefulset": {"pattern": TAG}},
    doc=PatternDoc(
        number=2, title="In-cluster StatefulSet", page="docs/patterns/statefulset.md",
        config="`pattern: statefulset`",
        choose="a shared cache inside the cluster with automatic failover, no cloud dependency",
        costs="you operate it: pods, volumes, upgrades; 1 primary + `replicas` replicas + Sentinels"))

__all__ = ["PATTERN", "RedisStatefulSet", "RedisStatefulSetArgs", "StatefulSetSettings", "AclUser"]
