"""Prometheus metrics of a TwoTierCache: per-tier hits and misses, invalidations received, populates
made and refused, errors, and whether the invalidation subscription is up. Optional: needs the
`prometheus` extra (`pip install cache_patterns_client[prometheus]`); nothing else imports it.

    from cache_patterns_client.metrics import register
    cache = TwoTierCache.from_env()
    register(cache)          # onto prometheus_client's default registry, which the app already serves

Every series carries `cache` (CACHE_NAME); Prometheus adds `namespace` and `pod` when it scrapes the
app. The alert rules cache-patterns generates for a two-tier cache read exactly these names.
"""
from __future__ import annotations

from typing import Iterator, Optional

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry

from .cache import TwoTierCache

PREFIX = "cache_patterns_client"


class CacheCollector(Collector):
    """Reads the cache's counters at scrape time (no locking on the read path: the counters are plain
    ints, exact in one thread and approximate under races, which a rate does not notice)."""

    def __init__(self, cache: TwoTierCache, name: Optional[str] = None) -> None:
        self.cache = cache
        self.name = name or cache.name or "default"

    def collect(self) -> Iterator[Metric]:
        s, c, has_l1 = self.cache.stats, self.name, self.cache.has_l1
        hits = CounterMetricFamily(f"{PREFIX}_hits", "Reads answered by a tier.", labels=["cache", "tier"])
        misses = CounterMetricFamily(f"{PREFIX}_misses", "Reads a tier could not answer (L1: they went on to L2; "
                                                         "L2: a cache miss).", labels=["cache", "tier"])
        if has_l1:
            hits.add_metric([c, "l1"], s.l1_hits)
            misses.add_metric([c, "l1"], s.l1_misses)
        hits.add_metric([c, "l2"], s.l2_hits)
        misses.add_metric([c, "l2"], s.l2_misses)
        errors = CounterMetricFamily(f"{PREFIX}_errors", "Errors talking to a tier, or publishing an invalidation.",
                                     labels=["cache", "tier"])
        for tier, value in (("l1", s.l1_errors), ("l2", s.l2_errors), ("publish", s.publish_errors)):
            if tier != "l1" or has_l1:
                errors.add_metric([c, tier], value)
        yield hits
        yield misses
        yield errors
        if not has_l1:
            return
        for name, doc, value in (
                ("invalidations_received", "Invalidation messages received (own writes included).",
                 s.invalidations_received),
                ("populates", "Values copied from L2 into L1.", s.populates),
                ("populates_refused", "L1 copies refused because an invalidation raced the L2 read.",
                 s.populates_refused),
                ("l1_flushes", "Times the whole L1 was emptied (resubscription, flush message, L1 back).",
                 s.l1_flushes),
                ("subscriptions", "Times the invalidation subscription was (re)established.", s.subscriptions)):
            family = CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=["cache"])
            family.add_metric([c], value)
            yield family
        subscribed = GaugeMetricFamily(f"{PREFIX}_invalidation_subscribed",
                                       "1 while invalidations are received (L1 is populated only then).",
                                       labels=["cache"])
        subscribed.add_metric([c], 1.0 if self.cache.subscribed else 0.0)
        yield subscribed


def register(cache: TwoTierCache, registry: CollectorRegistry = REGISTRY, name: Optional[str] = None) -> CacheCollector:
    """Expose the cache's metrics on `registry` (default: prometheus_client's global one)."""
    collector = CacheCollector(cache, name)
    registry.register(collector)
    return collector
