"""A Grafana dashboard per monitored cache, as JSON for the Grafana sidecar to load from a ConfigMap.

Its queries select the same jobs as the cache's alert rules (target.Scrape.job), so a panel and an
alert about the same cache always read the same series. The datasource is a `DS_PROM` variable, so
provisioning needs no `__inputs` resolution.
"""
from __future__ import annotations

import hashlib
import json

from cache_patterns.observability import rules
from cache_patterns.observability.target import CacheTarget

SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROM}"}
WIDTH, HEIGHT = 12, 8


def uid(t: CacheTarget) -> str:
    """Stable and at most 40 characters (Grafana's limit)."""
    text = f"cache-patterns-{t.object_name}"
    return text if len(text) <= 40 else f"cp-{hashlib.sha256(text.encode()).hexdigest()[:24]}"


def _panel(title: str, targets: list[tuple[str, str]], unit: str = "short", kind: str = "timeseries",
           description: str = "") -> dict:
    return {
        "type": kind, "title": title, "description": description, "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}}
        if kind == "timeseries" else {},
        "targets": [{"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
                    for i, (expr, legend) in enumerate(targets)],
    }


def _data_panels(job: str) -> list[dict]:
    j = f'{{job="{job}"}}'
    primary = f'{{job="{job}",role="master"}}'
    hits, misses = f"rate(redis_keyspace_hits_total{j}[5m])", f"rate(redis_keyspace_misses_total{j}[5m])"
    return [
        _panel("Redis up", [(f"redis_up{j}", "{{pod}}")], kind="stat",
               description="1: the exporter reaches its Redis (RedisDown fires after 1m at 0)."),
        _panel("Primaries", [(f"count by (job) (redis_instance_info{primary})", "primaries"),
                             (f"count by (job) (redis_up{j})", "servers")],
               description="RedisMissingPrimary / RedisTooManyPrimaries watch the first line."),
        _panel("Memory used vs maxmemory", [(f"redis_memory_used_bytes{j}", "used {{pod}}"),
                                            (f"redis_memory_max_bytes{j}", "maxmemory {{pod}}")], unit="bytes"),
        _panel("Commands per second", [(f"rate(redis_commands_processed_total{j}[5m])", "{{pod}}")], unit="ops"),
        _panel("Keyspace hit ratio", [(f"{hits} / ({hits} + {misses})", "{{pod}}")], unit="percentunit"),
        _panel("Keys", [(f"sum by (pod) (redis_db_keys{j})", "{{pod}}")]),
        _panel("Evicted and expired keys per second",
               [(f"rate(redis_evicted_keys_total{j}[5m])", "evicted {{pod}}"),
                (f"rate(redis_expired_keys_total{j}[5m])", "expired {{pod}}")], unit="ops"),
        _panel("Clients", [(f"redis_connected_clients{j}", "connected {{pod}}"),
                           (f"redis_max_clients{j}", "maxclients {{pod}}"),
                           (f"increase(redis_rejected_connections_total{j}[5m])", "rejected/5m {{pod}}")]),
        _panel("Replicas connected to each primary",
               [(f"redis_connected_slaves{j} and on (instance) redis_instance_info{primary}", "{{pod}}")]),
        _panel("Replication lag", [(f"redis_connected_slave_lag_seconds{j}", "{{slave_ip}}:{{slave_port}}")],
               unit="s"),
        _panel("Replica link up", [(f"redis_master_link_up{j}", "{{pod}}")]),
    ]


def _sentinel_panels(job: str) -> list[dict]:
    j = f'{{job="{job}"}}'
    return [
        _panel("Sentinels up", [(f"redis_up{j}", "{{pod}}")], kind="stat"),
        _panel("Primary as each Sentinel sees it", [(f"redis_sentinel_master_status{j}",
                                                     "{{pod}}: {{master_address}} {{master_status}}")]),
        _panel("Healthy Sentinels (CKQUORUM 1 = a failover can be authorized)",
               [(f"redis_sentinel_master_ok_sentinels{j}", "ok sentinels {{pod}}"),
                (f"redis_sentinel_master_ckquorum_status{j}", "ckquorum {{pod}}")]),
        _panel("Failovers (configuration epoch)",
               [(f"max by (job, master_name) (redis_sentinel_master_config_epoch{j})", "{{master_name}}")]),
    ]


def _client_panels(t: CacheTarget) -> list[dict]:
    assert t.client is not None
    scope = f'cache="{t.client.cache}",namespace=~"{"|".join(t.client.namespaces)}"'
    by = "sum by (namespace, tier)"
    hits = f"{by} (rate({rules.CLIENT_HITS}{{{scope}}}[5m]))"
    misses = f"{by} (rate({rules.CLIENT_MISSES}{{{scope}}}[5m]))"
    return [
        _panel("Two-tier hit ratio per tier", [(f"{hits} / ({hits} + {misses})", "{{namespace}} {{tier}}")],
               unit="percentunit"),
        _panel("Two-tier hits and misses per second", [(hits, "hits {{namespace}} {{tier}}"),
                                                       (misses, "misses {{namespace}} {{tier}}")], unit="ops"),
        _panel("Invalidations received and populates refused per second",
               [(f"sum by (namespace) (rate(cache_patterns_client_invalidations_received_total{{{scope}}}[5m]))",
                 "invalidations {{namespace}}"),
                (f"sum by (namespace) (rate(cache_patterns_client_populates_refused_total{{{scope}}}[5m]))",
                 "refused {{namespace}}")], unit="ops"),
        _panel("Invalidation subscription (1 = subscribed)",
               [(f"{rules.CLIENT_SUBSCRIBED}{{{scope}}}", "{{namespace}} {{pod}}")]),
    ]


def _backup_panels(t: CacheTarget) -> list[dict]:
    assert t.backup is not None
    sel = f'{{cache="{t.backup.cache}"}}'
    return [
        _panel("Age of the last good backup", [(f"time() - cache_backup_last_success_timestamp_seconds{sel}", "age")],
               unit="s", description=f"CacheBackupTooOld fires above {2 * t.backup.interval_s} s "
                                     f"(twice the schedule's longest interval)."),
        _panel("Backup duration", [(f"cache_backup_duration_seconds{sel}", "duration")], unit="s"),
        _panel("Backup size", [(f"cache_backup_size_bytes{sel}", "size")], unit="bytes"),
        _panel("Last run succeeded (1) or failed (0)", [(f"cache_backup_last_run_success{sel}", "last run")],
               kind="stat"),
    ]


def dashboard(t: CacheTarget) -> dict:
    """The dashboard of one cache (Grafana JSON model)."""
    sections: list[tuple[str, list[dict]]] = []
    if t.data is not None:
        sections.append((f"Redis ({t.data.job})", _data_panels(t.data.job)))
    if t.sentinel is not None:
        sections.append((f"Sentinel ({t.sentinel.job})", _sentinel_panels(t.sentinel.job)))
    if t.client is not None:
        sections.append(("Two-tier clients", _client_panels(t)))
    if t.backup is not None:
        sections.append(("Backups", _backup_panels(t)))
    panels: list[dict] = []
    y = 0
    for title, items in sections:
        panels.append({"type": "row", "title": title, "collapsed": False, "panels": [],
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
        y += 1
        for i, panel in enumerate(items):
            panel["gridPos"] = {"h": HEIGHT, "w": WIDTH, "x": (i % 2) * WIDTH, "y": y + (i // 2) * HEIGHT}
        y += ((len(items) + 1) // 2) * HEIGHT
        panels += items
    for i, panel in enumerate(panels, start=1):
        panel["id"] = i
    return {
        "uid": uid(t),
        "title": f"Cache {t.title} ({t.pattern}{'/' + t.kind if t.kind else ''})",
        "description": "Generated by cache-patterns from the same jobs as the cache's alert rules.",
        "tags": ["cache-patterns", "redis", t.stack],
        "schemaVersion": SCHEMA_VERSION,
        "editable": False,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": [{"name": "DS_PROM", "label": "Prometheus", "type": "datasource",
                                 "query": "prometheus", "hide": 0, "current": {}}]},
        "panels": panels,
    }


def dashboard_json(t: CacheTarget) -> str:
    return json.dumps(dashboard(t), indent=1, sort_keys=True)


def expressions(d: dict) -> list[str]:
    """Every PromQL expression of a dashboard (for checks against the scraped metric names)."""
    return [target["expr"] for p in d["panels"] for target in p.get("targets", [])]
