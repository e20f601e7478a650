"""The two-tier client's Prometheus metrics (cache_patterns_client.metrics, the `prometheus` extra)
against real redis-server processes: per-tier hits and misses, invalidations received, populates
refused, the subscription gauge going to 0 when L2 goes away, and every client metric the generated
alert rules and dashboards read being in the exposition."""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cache_patterns_client import TwoTierCache
from cache_patterns_client.metrics import register

from .conftest import FAST, Pod, RedisProcess, Servers, pod_env, seen_by, wait_until

pytestmark = pytest.mark.live

Samples = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]


def scrape(registry: CollectorRegistry) -> Samples:
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted({"cache": "pages", **labels}.items())))]


def test_per_tier_hits_misses_and_invalidations_are_exposed(make_pod: Callable[..., Pod]) -> None:
    a, b = make_pod(), make_pod()
    registry = CollectorRegistry()
    register(a.cache, registry)
    seen_by([a], lambda: b.cache.set("k", b"v"))
    assert a.cache.get("k") == b"v"          # L1 miss, L2 hit, populated
    assert a.cache.get("k") == b"v"          # L1 hit
    assert a.cache.get("absent") is None     # L1 miss, L2 miss
    b.cache.set("k", b"w")                   # an invalidation reaches a
    wait_until(lambda: a.cache.stats.invalidations_received >= 2, 3.0, "the invalidation")
    # A populate refused: a write (by this pod) lands between the L2 read and the L1 copy.
    a.cache._after_l2_read = lambda _v: a.cache.set("k", b"x")
    assert a.cache.get("k") == b"w"
    a.cache._after_l2_read = None
    s = scrape(registry)
    assert value(s, "cache_patterns_client_hits_total", tier="l1") == 1
    assert value(s, "cache_patterns_client_misses_total", tier="l1") == 3
    assert value(s, "cache_patterns_client_hits_total", tier="l2") == 2
    assert value(s, "cache_patterns_client_misses_total", tier="l2") == 1
    assert value(s, "cache_patterns_client_populates_total") == 1
    assert value(s, "cache_patterns_client_populates_refused_total") == 1
    assert value(s, "cache_patterns_client_invalidations_received_total") == a.cache.stats.invalidations_received >= 2
    assert value(s, "cache_patterns_client_invalidation_subscribed") == 1


def test_the_subscription_gauge_drops_when_l2_goes_away(make_pod: Callable[..., Pod], l2: RedisProcess) -> None:
    a = make_pod()
    registry = CollectorRegistry()
    register(a.cache, registry)
    assert value(scrape(registry), "cache_patterns_client_invalidation_subscribed") == 1
    l2.kill()
    wait_until(lambda: value(scrape(registry), "cache_patterns_client_invalidation_subscribed") == 0, 5.0,
               "the gauge to read 0")
    l2.start()
    wait_until(lambda: value(scrape(registry), "cache_patterns_client_invalidation_subscribed") == 1, 10.0,
               "the gauge to read 1 again")
    assert value(scrape(registry), "cache_patterns_client_subscriptions_total") >= 2


def test_a_single_tier_client_exposes_only_l2(servers: Servers, l2: RedisProcess) -> None:
    cache = TwoTierCache.from_env(pod_env(l2, None), options=FAST)
    registry = CollectorRegistry()
    register(cache, registry)
    try:
        cache.get("x")
        s = scrape(registry)
        assert {labels for name, labels in s if name == "cache_patterns_client_hits_total"} == \
            {(("cache", "pages"), ("tier", "l2"))}
        assert not any(name == "cache_patterns_client_invalidation_subscribed" for name, _ in s)
        assert value(s, "cache_patterns_client_misses_total", tier="l2") == 1
    finally:
        cache.close()


def test_every_client_metric_the_rules_and_dashboards_read_is_exposed(make_pod: Callable[..., Pod]) -> None:
    from tests.observability import promql
    from tests.observability.variants import variant_run
    import yaml
    from cache_patterns.observability import dashboard

    registry = CollectorRegistry()
    register(make_pod().cache, registry)
    exposed = {name for name, _ in scrape(registry)}
    run = variant_run("statefulset-evicting-two-tier")
    used = set()
    for m in run.manifests():
        if m["kind"] == "PrometheusRule":
            used |= {n for g in m["spec"]["groups"] for r in g["rules"] for n in promql.metric_names(r["expr"])}
        if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("-dashboard"):
            for text in m["data"].values():
                used |= {n for e in dashboard.expressions(yaml.safe_load(text)) for n in promql.metric_names(e)}
    client = {n for n in used if n.startswith("cache_patterns_client_")}
    assert len(client) >= 5, client
    assert client <= exposed, f"read by rules or dashboards but not exposed: {client - exposed}"
