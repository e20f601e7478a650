"""Pattern 1, external: AWS ElastiCache (node-based or serverless) or an existing endpoint."""
from __future__ import annotations

from cache_patterns.patterns.base import Pattern, PatternDoc
from cache_patterns.patterns.external.binding import shape
from cache_patterns.patterns.external.component import ExternalCache, ExternalCacheArgs, build
from cache_patterns.patterns.external.settings import SUMMARY, TAG, AwsConfig, ExternalSettings

PATTERN = Pattern(
    tag=TAG, settings=ExternalSettings, build=build, shape=shape, summary=SUMMARY,
    in_cluster=False, stack_namespace=False, component=ExternalCache,
    examples={"external-endpoint": {"pattern": "external", "kind": "endpoint", "host": "redis.example.com", "tls": True},
              "elasticache": {"pattern": "external", "nodeType": "cache.t4g.small", "replicas": 1}},
    doc=PatternDoc(
        number=1, title="External managed", page="docs/patterns/external.md",
        config="`pattern: external` (`kind: elasticache`, `elasticache-serverless`, `endpoint`)",
        choose="you are on a cloud and want failover, patching and backups done for you; or a cache "
               "already exists (Memorystore, Azure Cache, any Redis)",
        costs="the bill (node-hours, replicas, cross-AZ traffic, serverless ECPUs), a network hop "
              "out of the cluster, cloud lock-in"))

__all__ = ["PATTERN", "ExternalCache", "ExternalCacheArgs", "ExternalSettings", "AwsConfig"]
