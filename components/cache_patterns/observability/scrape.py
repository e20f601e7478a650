"""Scrape objects (Prometheus Operator PodMonitors) and the one NetworkPolicy rule every pattern uses
to let the scraper, and only it, reach the metrics ports."""
from __future__ import annotations

from typing import Iterable

from cache_patterns.observability.settings import PrometheusSettings
from cache_patterns.observability.target import Scrape

API_VERSION = "monitoring.coreos.com/v1"


def pod_monitor_spec(s: Scrape, prometheus: PrometheusSettings) -> dict:
    """The PodMonitor of one scrape job. No jobLabel: the job is `<namespace>/<name>`, which the
    rules select (see Scrape.job). A standalone exporter gets one endpoint per server it scrapes
    (its multi-target path), each labelled `instance=<server address>` as a sidecar's target would
    be told apart."""
    seconds = prometheus.scrape_interval // 1000
    endpoint = {"port": s.port, "path": "/metrics", "scheme": "http",
                "interval": f"{seconds}s", "scrapeTimeout": f"{min(10, seconds)}s"}
    endpoints = [endpoint] if s.standalone is None else [
        {**endpoint, "path": "/scrape", "params": {"target": [f"redis://{address}"]},
         "relabelings": [{"action": "replace", "targetLabel": "instance", "replacement": address}]}
        for address in s.standalone.addresses]
    return {"selector": dict(s.selector), "podMetricsEndpoints": endpoints}


def scraper_peer(prometheus: PrometheusSettings) -> dict:
    """The NetworkPolicy peer of the scraper: pods of its namespace (by the immutable name label),
    narrowed by `podLabels` where given."""
    peer: dict = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": prometheus.namespace}}}
    if prometheus.pod_labels:
        peer["podSelector"] = {"matchLabels": dict(prometheus.pod_labels)}
    return peer


def scraper_ingress(prometheus: PrometheusSettings, ports: Iterable[int]) -> dict:
    """The ingress rule of a cache's NetworkPolicy for its exporters: the scraper's pods, the metrics
    ports, nothing else (no Redis port, no other namespace)."""
    return {"from": [scraper_peer(prometheus)],
            "ports": [{"port": p, "protocol": "TCP"} for p in sorted(set(ports))]}
