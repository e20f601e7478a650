"""The `observability` block of a stack: whether caches are watched, by which Prometheus, with which
labels, and what reaches Grafana and CloudWatch. Parsed with the rest of the config (every problem
reported at once); exporters of in-cluster caches default to whether it is on (`requested`).
"""
from __future__ import annotations

from typing import Annotated, Any, Mapping

from pydantic import model_validator

from cache_patterns.config.app import LABEL_KEY, Labels
from cache_patterns.config.base import StrictModel, fail
from cache_patterns.config.common import NAMESPACE_NAME, doc
from cache_patterns.config.types import Duration, Flag, Text

# The sidecar of kube-prometheus-stack's Grafana loads ConfigMaps labelled grafana_dashboard: "1"
# (charts/kube-prometheus-stack values.yaml, grafana.sidecar.dashboards.label / labelValue).
DEFAULT_DASHBOARD_LABELS = {"grafana_dashboard": "1"}
SNS_TOPIC_ARN = r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}"
HTTP_URL = r"https?://[^\s#]+"
ANNOTATION_VALUE = Annotated[str, Text(max_len=256, min_len=0)]


class PrometheusSettings(StrictModel):
    """The Prometheus (Operator) that scrapes the exporters and evaluates the rules."""

    TITLE = "the scraping Prometheus"
    namespace: NAMESPACE_NAME = doc(
        "monitoring", "Namespace of the Prometheus that scrapes the exporters: the only namespace their "
                      "NetworkPolicies admit to the metrics ports (the same rule for every pattern).")
    pod_labels: Labels = doc({}, "Only its pods with these labels (e.g. `app.kubernetes.io/name: prometheus`).",
                             "every pod of that namespace")
    labels: Labels = doc({}, "Labels on every PodMonitor and PrometheusRule, for the Prometheus's selectors "
                             "(kube-prometheus-stack selects `release: <its Helm release name>`).", "none")
    scrape_interval: Annotated[int, Duration(min_ms=5000, max_ms=300_000, whole_seconds=True)] = doc(
        30_000, "Scrape interval of the PodMonitors.", "30s")


class DashboardSettings(StrictModel):
    """Grafana dashboards, as ConfigMaps the Grafana sidecar loads."""

    TITLE = "Grafana dashboards"
    enabled: Flag = doc(True, "A Grafana dashboard ConfigMap per monitored cache.")
    labels: Labels = doc(dict(DEFAULT_DASHBOARD_LABELS), "Labels the Grafana dashboard sidecar selects ConfigMaps by.",
                         "grafana_dashboard: \"1\"")
    annotations: dict[LABEL_KEY, ANNOTATION_VALUE] = doc(
        {}, "Annotations on the ConfigMap (the sidecar's folder annotation, e.g. `grafana_folder: Caches`).", "none")


class AlarmSettings(StrictModel):
    """ElastiCache: CloudWatch alarms and the SNS topic of their actions and events."""

    TITLE = "CloudWatch alarms"
    enabled: Flag = doc(True, "CloudWatch alarms for ElastiCache caches, and their events on SNS.")
    topic_arn: Annotated[str, Text(SNS_TOPIC_ARN, "an SNS topic ARN")] | None = doc(
        None, "An existing SNS topic for alarm actions and ElastiCache events.", "a topic per ElastiCache cache")
    unverified: Flag = doc(
        False, "Also create the alarms built on facts not verified against AWS (see docs/observability.md).", "false")


def enabled_by_default(environment: str) -> bool:
    """On in production and staging, off in development."""
    return environment in ("production", "staging")


class ObservabilityConfig(StrictModel):
    """Metrics, alerts, dashboards and alarms for every cache; see docs/observability.md."""

    TITLE = "observability"
    ENV_DEFAULTS = {"enabled": {"production": True, "staging": True, "development": False}}
    enabled: Flag = doc(
        False, "Watch the stack's caches: exporters, scrape objects, alert rules, dashboards, cloud alarms.",
        "true in production and staging, else false")
    prometheus: PrometheusSettings = doc(PrometheusSettings(), "The Prometheus (Operator) that scrapes and evaluates.",
                                         "see below")
    rules: Flag = doc(
        True, "A PrometheusRule per monitored cache (alerts generated from what the stack created).")
    runbook_url: Annotated[str | None, Text(HTTP_URL, "an http(s) URL without a fragment")] = doc(
        None, "Where your team reads docs/observability.md (your Git host's page of it, a wiki copy): every "
              "alert's `runbook_url` annotation is this URL plus `#<alert name in lower case>`.",
        "the page's path in this repository, docs/observability.md")
    dashboards: DashboardSettings = doc(DashboardSettings(), "Grafana dashboards as ConfigMaps.", "see below")
    alarms: AlarmSettings = doc(AlarmSettings(), "ElastiCache: CloudWatch alarms and SNS.", "see below")

    @model_validator(mode="after")
    def _check(self) -> "ObservabilityConfig":
        out = []
        for key in self.prometheus.labels:
            if key in DEFAULT_DASHBOARD_LABELS:
                out.append((f"prometheus.labels.{key}", "is the Grafana dashboard label; PodMonitors and "
                                                        "PrometheusRules need the Prometheus's own selector labels"))
        if not self.dashboards.labels and self.dashboards.enabled:
            out.append(("dashboards.labels", "needs the label the Grafana sidecar selects (such as "
                                             "grafana_dashboard: \"1\"), or set dashboards.enabled: false"))
        fail(out)
        return self

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


def requested(raw: Any, environment: str) -> bool:
    """Whether observability will be on, read from the raw config before it is parsed (exporters
    default to it). A malformed value is reported by the parse; here it counts as the default."""
    if isinstance(raw, dict) and isinstance(raw.get("enabled"), bool):
        return raw["enabled"]
    return enabled_by_default(environment)


def stack_problems(o: ObservabilityConfig, caches: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Rules across the stack: settings that would do nothing are errors, naming the key."""
    out = []
    alarmed = [n for n, c in caches.items() if c.cloud_alarms]
    if o.alarms.topic_arn is not None and not alarmed:
        out.append(("observability.alarms.topicArn", "no ElastiCache cache in this stack sends alarms or events"))
    if o.alarms.topic_arn is not None and not o.cloudwatch:
        out.append(("observability.alarms.topicArn", "is set but alarms are off (observability.enabled or "
                                                     "alarms.enabled is false)"))
    return out


def defaults(enabled: bool = False) -> ObservabilityConfig:
    """What an absent `observability` key parses to (with `enabled` as given); for components built
    without a stack config (tests)."""
    return ObservabilityConfig(enabled=enabled)
