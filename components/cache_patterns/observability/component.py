"""The Kubernetes objects that watch one cache: a PodMonitor per scrape job, a PrometheusRule and a
Grafana dashboard ConfigMap, all derived from one CacheTarget. A child of the cache's component."""
from __future__ import annotations

import dataclasses
from typing import TypedDict

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.core import moves
from cache_patterns.observability import dashboard, rules, scrape
from cache_patterns.observability.standalone import standalone_exporter
from cache_patterns.observability.settings import ObservabilityConfig
from cache_patterns.observability.target import CacheTarget


class CacheMonitoringArgs(TypedDict):
    target: CacheTarget
    """What the stack created for this cache, and its scrape jobs."""
    settings: ObservabilityConfig
    """The stack's `observability` block: labels for the Prometheus and Grafana selectors."""


def rule_name(t: CacheTarget) -> str:
    return t.object_name


class CacheMonitoring(pulumi.ComponentResource):
    """PodMonitors, PrometheusRule and dashboard of one cache. Explicit names: a PodMonitor's name is
    its job label, which the rules select."""

    def __init__(self, name: str, args: CacheMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cache-patterns:index:CacheMonitoring", name, None, opts)
        t, o = args["target"], args["settings"]
        named = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        selected = {**t.labels, **o.prometheus.labels}
        self.pod_monitors: list[str] = []
        for s in (t.data, t.sentinel):
            if s is None or not o.scrape_objects:
                continue
            if s.standalone is not None:
                standalone_exporter(f"{name}-{s.role}", self, s, t.labels, o.prometheus)
            k8s.apiextensions.CustomResource(
                f"{name}-{s.role}-podmonitor", api_version=scrape.API_VERSION, kind="PodMonitor",
                metadata={"name": s.name, "namespace": s.namespace, "labels": selected},
                spec=scrape.pod_monitor_spec(s, o.prometheus), opts=named)
            self.pod_monitors.append(s.job)
        self.rule: str | None = None
        groups = rules.groups(t, o.runbook_url)
        if o.alerting and groups:
            self.rule = rule_name(t)
            k8s.apiextensions.CustomResource(
                f"{name}-rules", api_version=scrape.API_VERSION, kind="PrometheusRule",
                metadata={"name": self.rule, "namespace": t.namespace, "labels": selected},
                spec={"groups": groups}, opts=named)
        self.dashboard: str | None = None
        if o.grafana and t.monitored:
            self.dashboard = f"{t.object_name}-dashboard"
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard",
                # No empty annotations map: the API server drops it, and what is stored must be what was sent.
                metadata={"name": self.dashboard, "namespace": t.namespace,
                          "labels": {**t.labels, **o.dashboards.labels},
                          **({"annotations": dict(o.dashboards.annotations)} if o.dashboards.annotations else {})},
                data={f"{t.object_name}.json": dashboard.dashboard_json(t)}, opts=named)
        self.register_outputs({"podMonitors": self.pod_monitors, "rule": self.rule, "dashboard": self.dashboard})


class Attached:
    """The monitoring of one cache component: that of the cache itself and that of its two-tier
    clients, in separate objects so adding or removing an L1 never changes the cache's own."""

    def __init__(self, parts: list[CacheMonitoring]):
        self.parts = parts

    @property
    def discovery(self) -> dict:
        out: dict = {"jobs": [], "prometheusRules": [], "dashboards": []}
        for p in self.parts:
            out["jobs"] += p.pod_monitors
            out["prometheusRules"] += [p.rule] if p.rule else []
            out["dashboards"] += [p.dashboard] if p.dashboard else []
        return {k: v for k, v in out.items() if v}


def attach(name: str, parent: pulumi.Resource, target: CacheTarget,
           settings: ObservabilityConfig) -> Attached | None:
    """The monitoring objects of a cache component, when observability is on and something about the
    cache is observed in the cluster (its exporters, and its two-tier clients)."""
    if not settings.enabled or not target.monitored:
        return None
    parts = []
    # The monitoring objects keep their names across a pattern switch: one resource each, moved.
    opts = pulumi.ResourceOptions(parent=parent, aliases=moves.moved_from(parent, name))
    if target.data is not None or target.sentinel is not None or target.backup is not None:
        own = dataclasses.replace(target, client=None)
        parts.append(CacheMonitoring(f"{name}-monitoring", {"target": own, "settings": settings}, opts))
    if target.client is not None:
        clients = dataclasses.replace(target, data=None, sentinel=None, backup=None, part="l1")
        parts.append(CacheMonitoring(f"{name}-l1-monitoring", {"target": clients, "settings": settings}, opts))
    return Attached(parts)
