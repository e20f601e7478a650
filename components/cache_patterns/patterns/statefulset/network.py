"""Who may reach pattern 2's pods: the ingress rules of its NetworkPolicies, as a pure function (the
component makes one policy per role from them)."""
from __future__ import annotations

from typing import Sequence

from cache_patterns.config.app import AppConfig
from cache_patterns.core import k8s as kb
from cache_patterns.observability import scrape
from cache_patterns.observability.settings import ObservabilityConfig
from cache_patterns.patterns.statefulset import ha
from cache_patterns.patterns.statefulset.exporter import EXPORTER_PORT
from cache_patterns.patterns.statefulset.expose import external_ingress
from cache_patterns.patterns.statefulset.settings import StatefulSetSettings


def ingress_rules(apps: Sequence[AppConfig], selectors: dict, s: StatefulSetSettings,
                  obs: ObservabilityConfig) -> dict[str, list[dict]]:
    """Ingress only from who needs it, by role (redis, sentinel, endpoint): the bound apps' pods (in
    any namespace), this cache's own Redis, Sentinel and HAProxy pods, the metrics scraper (the
    exporters' port only) and, with `expose`, its source ranges (the write port only). Rules without a
    source are left out."""
    own = [{"podSelector": {"matchLabels": selectors[r]}} for r in ("redis", "sentinel", "endpoint")]
    app_from = kb.app_peers(apps)

    def port(p: int) -> dict:
        return {"port": p, "protocol": "TCP"}

    # The backup job's pods take their snapshot from a replica (or the primary of a cache without one).
    backup = [{"podSelector": {"matchLabels": selectors["backup"]}}] if s.backup is not None else []
    rules = {
        # Apps reach Redis pods directly when a Sentinel-aware client follows Sentinel's answer.
        "redis": [{"from": own + app_from + backup, "ports": [port(ha.REDIS_PORT)]}],
        "sentinel": [{"from": own + app_from, "ports": [port(ha.SENTINEL_PORT)]}],
        "endpoint": [{"from": app_from, "ports": [port(ha.REDIS_PORT), port(ha.READ_PORT)]},
                     *external_ingress(s.expose)],
    }
    if s.exporter:
        for role in ("redis", "sentinel"):
            rules[role].append(scrape.scraper_ingress(obs.prometheus, [EXPORTER_PORT]))
    return {role: [r for r in ingress if r["from"]] for role, ingress in rules.items()}
