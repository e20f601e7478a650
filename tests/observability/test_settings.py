"""The `observability` block: its defaults per environment, exporters following it, and every problem
of the block reported at once with the key, the value and what is allowed."""
from __future__ import annotations

import pytest

from cache_patterns import stack as config
from cache_patterns.config.errors import ConfigError
from cache_patterns.observability import settings

CACHE = {"pattern": "statefulset", "replicas": 1, "memory": "256Mi", "tls": {"issuer": "ca"}}


def parse(environment: str = "staging", cache: dict | None = None, **top) -> config.StackConfig:
    values = {"environment": environment, "namespace": "cache", "caches": {"sessions": {**CACHE, **(cache or {})}},
              **top}
    return config.parse(values, "stg")


def problems(**top) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as err:
        parse(**top)
    return err.value.problems


@pytest.mark.parametrize("environment,enabled", [("production", True), ("staging", True), ("development", False)])
def test_on_by_default_in_production_and_staging(environment, enabled):
    cfg = parse(environment, cache={"replicas": 1} if environment == "production" else None)
    assert cfg.observability == settings.defaults(enabled)
    assert cfg.caches["sessions"].exporter is enabled


def test_the_component_defaults_equal_the_schema_defaults():
    for env in ("production", "development"):
        parsed = settings.ObservabilityConfig.model_validate({}, context={"environment": env})
        assert parsed == settings.defaults(env == "production")


def test_exporters_follow_observability_unless_a_cache_says_otherwise():
    assert parse(observability={"enabled": False}).caches["sessions"].exporter is False
    assert parse("development", observability={"enabled": True}).caches["sessions"].exporter is True
    assert parse(cache={"exporter": False}).caches["sessions"].exporter is False
    assert parse("development", cache={"exporter": True}).caches["sessions"].exporter is True


def test_a_full_block_parses():
    cfg = parse(observability={
        "prometheus": {"namespace": "observability", "podLabels": {"app.kubernetes.io/name": "prometheus"},
                       "labels": {"release": "kube-prometheus-stack"}, "scrapeInterval": "15s"},
        "rules": False, "dashboards": {"labels": {"grafana_dashboard": "1"}, "annotations": {"grafana_folder": "Caches"}},
    })
    o = cfg.observability
    assert o.prometheus.labels == {"release": "kube-prometheus-stack"} and o.prometheus.scrape_interval == 15_000
    assert o.prometheus.pod_labels == {"app.kubernetes.io/name": "prometheus"}
    assert not o.alerting and o.grafana and o.dashboards.annotations == {"grafana_folder": "Caches"}


def test_every_problem_of_the_block_is_reported_at_once():
    found = dict(problems(observability={
        "enabled": "yes",
        "prometheus": {"namespace": "Monitoring", "labels": {"bad key!": "x"}, "scrapeInterval": "1s"},
        "dashboards": {"labels": {"grafana_dashboard": "not a valid label value!"}},
        "alarms": {"topicArn": "arn:aws:sqs:eu-west-1:111122223333:q"},
        "alerts": True,
    }))
    assert found["observability.enabled"] == "must be true or false, got 'yes'"
    assert found["observability.prometheus.namespace"].startswith("must be a Kubernetes namespace name")
    assert "observability.prometheus.labels.bad key!" in found
    assert found["observability.prometheus.scrapeInterval"].startswith("must be a duration in whole seconds")
    assert "observability.dashboards.labels.grafana_dashboard" in found
    assert found["observability.alarms.topicArn"].startswith("must be an SNS topic ARN")
    assert found["observability.alerts"].startswith("unknown key 'alerts'")
    assert len(found) == 7, found


def test_settings_that_would_do_nothing_are_errors():
    found = dict(problems(observability={"alarms": {"topicArn": "arn:aws:sns:eu-west-1:111122223333:t"}}))
    assert found["observability.alarms.topicArn"] == "no ElastiCache cache in this stack sends alarms or events"
    found = dict(problems(observability={"prometheus": {"labels": {"grafana_dashboard": "1"}}}))
    assert "observability.prometheus.labels.grafana_dashboard" in found
    found = dict(problems(observability={"dashboards": {"labels": {}}}))
    assert "observability.dashboards.labels" in found


def test_the_old_per_cache_metrics_namespace_is_refused():
    found = dict(problems(cache={"metricsNamespace": "monitoring"}))
    assert found["caches.sessions.metricsNamespace"].startswith("unknown key 'metricsNamespace'")
