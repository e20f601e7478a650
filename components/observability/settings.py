"""The `observability` block of a stack: whether caches are watched, by which Prometheus, with which
labels, and what reaches Grafana and CloudWatch. Parsed with the rest of the config (every problem
reported at once); `spec()` builds the schema from the label and namespace forms config.py defines.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..schema import Bool, Ctx, Duration, Field, MapOf, Obj, Str

# The sidecar of kube-prometheus-stack's Grafana loads ConfigMaps labelled grafana_dashboard: "1"
# (charts/kube-prometheus-stack values.yaml, grafana.sidecar.dashboards.label / labelValue).
DEFAULT_DASHBOARD_LABELS = {"grafana_dashboard": "1"}
SNS_TOPIC_ARN = r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}"


@dataclass(frozen=True, kw_only=True)
class PrometheusSettings:
    namespace: str
    pod_labels: Mapping[str, str]
    labels: Mapping[str, str]
    scrape_interval: int      # ms


@dataclass(frozen=True, kw_only=True)
class DashboardSettings:
    enabled: bool
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class AlarmSettings:
    enabled: bool
    topic_arn: str | None
    unverified: bool


@dataclass(frozen=True, kw_only=True)
class ObservabilityConfig:
    enabled: bool
    prometheus: PrometheusSettings
    rules: bool
    dashboards: DashboardSettings
    alarms: AlarmSettings

    @property
    def scrape_objects(self) -> bool:
        return self.enabled

    @property
    def alerting(self) -> bool:
        return self.enabled and self.rules

    @property
    def grafana(self) -> bool:
        return self.enabled and self.dashboards.enabled

    @property
    def cloudwatch(self) -> bool:
        return self.enabled and self.alarms.enabled


def enabled_by_default(environment: str) -> bool:
    """On in production and staging, off in development."""
    return environment in ("production", "staging")


def requested(raw: Any, environment: str) -> bool:
    """Whether observability will be on, read from the raw config before it is parsed (exporters
    default to it). A malformed value is reported by the parse; here it counts as the default."""
    if isinstance(raw, dict) and isinstance(raw.get("enabled"), bool):
        return raw["enabled"]
    return enabled_by_default(environment)


def spec(label_key: Str, label_value: Str, namespace: Str) -> Obj:
    """The schema of `observability`, with the label and namespace forms of the stack config."""
    labels = MapOf(label_value, label_key)
    prometheus = Obj(PrometheusSettings, [
        Field("namespace", namespace, "monitoring",
              "Namespace of the Prometheus that scrapes the exporters: the only namespace their NetworkPolicies "
              "admit to the metrics ports (the same rule for every pattern)."),
        Field("podLabels", labels, {}, "Only its pods with these labels (e.g. `app.kubernetes.io/name: prometheus`).",
              default_doc="every pod of that namespace"),
        Field("labels", labels, {}, "Labels on every PodMonitor and PrometheusRule, for the Prometheus's selectors "
              "(kube-prometheus-stack selects `release: <its Helm release name>`).", default_doc="none"),
        Field("scrapeInterval", Duration(min_ms=5000, max_ms=300_000, whole_seconds=True), 30_000,
              "Scrape interval of the PodMonitors.", default_doc="30s"),
    ], "the scraping Prometheus")
    dashboards = Obj(DashboardSettings, [
        Field("enabled", Bool(), True, "A Grafana dashboard ConfigMap per monitored cache."),
        Field("labels", labels, DEFAULT_DASHBOARD_LABELS, "Labels the Grafana dashboard sidecar selects ConfigMaps by.",
              default_doc="grafana_dashboard: \"1\""),
        Field("annotations", MapOf(Str(max_len=256, min_len=0), label_key), {},
              "Annotations on the ConfigMap (the sidecar's folder annotation, e.g. `grafana_folder: Caches`).",
              default_doc="none"),
    ], "Grafana dashboards")
    alarms = Obj(AlarmSettings, [
        Field("enabled", Bool(), True, "CloudWatch alarms for ElastiCache caches, and their events on SNS."),
        Field("topicArn", Str(pattern=SNS_TOPIC_ARN, pattern_doc="an SNS topic ARN"), None,
              "An existing SNS topic for alarm actions and ElastiCache events.",
              default_doc="a topic per ElastiCache cache"),
        Field("unverified", Bool(), False,
              "Also create the alarms built on facts not verified against AWS (see docs/observability.md).",
              default_doc="false"),
    ], "CloudWatch alarms")

    def check(o: ObservabilityConfig, path: str, ctx: Ctx) -> None:
        for key in o.prometheus.labels:
            if key in DEFAULT_DASHBOARD_LABELS:
                ctx.error(f"{path}.prometheus.labels.{key}", "is the Grafana dashboard label; PodMonitors and "
                                                             "PrometheusRules need the Prometheus's own selector labels")
        if not o.dashboards.labels and o.dashboards.enabled:
            ctx.error(f"{path}.dashboards.labels", "needs the label the Grafana sidecar selects (such as "
                                                   "grafana_dashboard: \"1\"), or set dashboards.enabled: false")

    return Obj(ObservabilityConfig, [
        Field("enabled", Bool(), lambda ctx: enabled_by_default(ctx.environment),
              "Watch the stack's caches: exporters, scrape objects, alert rules, dashboards, cloud alarms.",
              default_doc="true in production and staging, else false"),
        Field("prometheus", prometheus, lambda ctx: prometheus.parse({}, "observability.prometheus", ctx),
              "The Prometheus (Operator) that scrapes and evaluates.", default_doc="see below"),
        Field("rules", Bool(), True, "A PrometheusRule per monitored cache (alerts generated from what the stack created)."),
        Field("dashboards", dashboards, lambda ctx: dashboards.parse({}, "observability.dashboards", ctx),
              "Grafana dashboards as ConfigMaps.", default_doc="see below"),
        Field("alarms", alarms, lambda ctx: alarms.parse({}, "observability.alarms", ctx),
              "ElastiCache: CloudWatch alarms and SNS.", default_doc="see below"),
    ], "observability", check=check,
        doc="Metrics, alerts, dashboards and alarms for every cache; see docs/observability.md.")


def check_stack(o: ObservabilityConfig, caches: Mapping[str, Any], ctx: Ctx) -> None:
    """Rules across the stack: settings that would do nothing are errors, naming the key."""
    elasticache = [n for n, c in caches.items() if c.pattern == "external" and c.kind != "endpoint"]
    if o.alarms.topic_arn is not None and not elasticache:
        ctx.error("observability.alarms.topicArn", "no ElastiCache cache in this stack sends alarms or events")
    if o.alarms.topic_arn is not None and not o.cloudwatch:
        ctx.error("observability.alarms.topicArn", "is set but alarms are off (observability.enabled or "
                                                   "alarms.enabled is false)")


def defaults(enabled: bool = False) -> ObservabilityConfig:
    """What an absent `observability` key parses to (with `enabled` as given); for components built
    without a stack config (tests). A test keeps it equal to the schema's defaults."""
    return ObservabilityConfig(
        enabled=enabled,
        prometheus=PrometheusSettings(namespace="monitoring", pod_labels={}, labels={}, scrape_interval=30_000),
        rules=True,
        dashboards=DashboardSettings(enabled=True, labels=dict(DEFAULT_DASHBOARD_LABELS), annotations={}),
        alarms=AlarmSettings(enabled=True, topic_arn=None, unverified=False),
    )
