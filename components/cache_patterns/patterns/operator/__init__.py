"""Pattern 5, operator: a Redis operator's custom resource, optionally with the operator's Helm chart."""
from __future__ import annotations

from cache_patterns.patterns.base import Pattern, PatternDoc
from cache_patterns.patterns.operator.component import RedisOperatorCache, RedisOperatorCacheArgs, build, shape
from cache_patterns.patterns.operator.install import OperatorInstallation, OperatorInstallationArgs, install_operators
from cache_patterns.patterns.operator.settings import SUMMARY, TAG, OperatorInstall, OperatorSettings

PATTERN = Pattern(
    tag=TAG, settings=OperatorSettings, build=build, shape=shape, summary=SUMMARY,
    in_cluster=True, stack_namespace=True, component=RedisOperatorCache,
    examples={"operator": {"pattern": TAG}},
    doc=PatternDoc(
        number=5, title="Operator", page="docs/patterns/operator.md",
        config="`pattern: operator` (`kind: ot-replication`, `ot-cluster`, `spotahome-failover`)",
        choose="your platform already runs a Redis operator, or you need Redis Cluster sharding in-cluster",
        costs="the operator itself (its upgrades, its CRDs, its bugs), and less control over the pods"))

__all__ = ["PATTERN", "RedisOperatorCache", "RedisOperatorCacheArgs", "OperatorInstallation",
           "OperatorInstallationArgs", "OperatorSettings", "OperatorInstall", "install_operators"]
