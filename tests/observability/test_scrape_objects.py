"""The monitoring objects every stack renders: PodMonitors selecting the pods that carry the exporter
port, PrometheusRules whose jobs are exactly the PodMonitors' jobs (Sentinel rules on the Sentinel job
only), dashboards on the same jobs, the Prometheus selector labels, one NetworkPolicy rule for the
scraper in every pattern, and staging and platform valid against the Prometheus Operator CRDs."""
from __future__ import annotations

import copy
import json
import re

import pytest

from cache_patterns.observability import dashboard, rules
from tests.conftest import stack_run
from tools import harness

from .promtool import jobs, prometheus_rules
from .variants import variant_run, variant_runs

MONITORING = "monitoring.coreos.com"
RELEASE = {"release": "kube-prometheus-stack"}


def kind(run: harness.Run, k: str) -> list[dict]:
    return [harness.ints(m) for m in run.manifests() if m["kind"] == k]


def all_runs() -> dict[str, harness.Run]:
    return {"staging": stack_run("staging"), "platform": stack_run("platform"), **variant_runs()}


@pytest.mark.parametrize("stack", ["staging", "platform"])
def test_staging_and_platform_monitoring_objects_validate_against_the_prometheus_operator_crds(stack, crd_index):
    from tools import crds

    objs = [m for m in stack_run(stack).manifests() if m["apiVersion"].startswith(MONITORING)]
    assert {o["kind"] for o in objs} == {"PodMonitor", "PrometheusRule"}
    for o in objs:
        assert crds.covers(o, crd_index), f"{crd_index.folder} has no {MONITORING} CRDs: the objects are not validated"
        assert crds.validate(o, crd_index) == []


def test_the_crd_check_catches_a_podmonitor_field_that_does_not_exist(crd_index):
    from tools import crds

    pm = next(m for m in stack_run("platform").manifests() if m["kind"] == "PodMonitor")
    wrong = copy.deepcopy(pm)
    wrong["spec"]["podMetricsEndpoints"][0]["targetPorts"] = "metrics"
    assert any("targetPorts: unknown field" in p for p in crds.validate(wrong, crd_index))


@pytest.mark.parametrize("stack", ["staging", "platform"])
def test_the_stacks_set_the_prometheus_selector_label(stack):
    for k in ("PodMonitor", "PrometheusRule"):
        for o in kind(stack_run(stack), k):
            assert RELEASE.items() <= o["metadata"]["labels"].items(), (stack, k)
    for cm in kind(stack_run(stack), "ConfigMap"):
        if cm["metadata"]["name"].endswith("-dashboard"):
            assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
            assert "release" not in cm["metadata"]["labels"]


def _job_matchers(expr: str) -> set[str]:
    return set(re.findall(r'job="([^"]+)"', expr))


@pytest.mark.parametrize("name", ["staging", "platform", "statefulset-evicting-two-tier", "ot-cluster",
                                  "spotahome-failover", "ot-replication-two-tier"])
def test_rules_and_dashboards_select_exactly_the_podmonitors_jobs(name):
    run = all_runs()[name]
    pm_jobs = set(jobs(run).values())
    assert pm_jobs, "no PodMonitor"
    groups = [g for gs in prometheus_rules(run).values() for g in gs]
    used = set()
    for r in (r for g in groups for r in g["rules"]):
        found = _job_matchers(r["expr"])
        used |= found
        if r["labels"]["component"] in ("client", "backup"):
            # The apps' own series, and what the backup job pushes to a Pushgateway: no PodMonitor job.
            assert not found, r["alert"]
            continue
        assert len(found) == 1, f"{r['alert']} selects {found}: one job per rule"
        (job,) = found
        assert job.endswith("-" + r["labels"]["component"]), f"{r['alert']} ({r['labels']['component']}) reads {job}"
    assert used == pm_jobs
    boards = [json.loads(text) for c in kind(run, "ConfigMap") if c["metadata"]["name"].endswith("-dashboard")
              for text in c["data"].values()]
    assert set().union(*(_job_matchers(e) for b in boards for e in dashboard.expressions(b))) == pm_jobs


def test_podmonitors_select_the_statefulset_pods_and_their_exporter_port():
    run = stack_run("staging")
    statefulsets = {s["metadata"]["name"]: s for s in kind(run, "StatefulSet")}
    for pm in kind(run, "PodMonitor"):
        selector = pm["spec"]["selector"]["matchLabels"]
        (sts,) = [s for s in statefulsets.values()
                  if selector.items() <= s["spec"]["template"]["metadata"]["labels"].items()]
        ports = {p["name"] for c in sts["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        (endpoint,) = pm["spec"]["podMetricsEndpoints"]
        assert endpoint["port"] in ports and endpoint["interval"] == "30s"
        assert pm["metadata"]["namespace"] == sts["metadata"]["namespace"]


def test_operator_podmonitors_use_the_operators_port_names():
    ot = {p["metadata"]["name"]: p for p in kind(stack_run("platform"), "PodMonitor")}
    assert ot["platform-sessions-redis"]["spec"]["podMetricsEndpoints"][0]["port"] == "redis-exporter"
    assert ot["platform-sessions-redis"]["spec"]["selector"]["matchExpressions"] == [
        {"key": "app", "operator": "In", "values": ["platform-sessions"]},
        {"key": "redis_setup_type", "operator": "In", "values": ["replication"]}]
    spotahome = {p["metadata"]["name"]: p["spec"] for p in kind(variant_run("spotahome-failover"), "PodMonitor")}
    assert set(spotahome) == {"platform-sessions-redis", "platform-sessions-sentinel"}
    for role, spec in (("redis", spotahome["platform-sessions-redis"]), ("sentinel", spotahome["platform-sessions-sentinel"])):
        assert spec["selector"]["matchLabels"]["app.kubernetes.io/component"] == role
        assert spec["podMetricsEndpoints"][0]["port"] == "metrics"


def _scrape_rules(run: harness.Run) -> list[dict]:
    """Every NetworkPolicy ingress rule that opens an exporter port (the backup pods' policy has no ingress
    rule: with policyTypes Ingress it admits nothing in)."""
    out = []
    for np in kind(run, "NetworkPolicy"):
        for rule in np["spec"].get("ingress", []):
            assert rule.get("from") != [{"namespaceSelector": {}}], f"{np['metadata']['name']}: any namespace admitted"
            if any(p["port"] in (9121, 9355) for p in rule.get("ports", [])):
                out.append(rule)
    return out


@pytest.mark.parametrize("name", ["staging", "platform", "ot-cluster", "spotahome-failover"])
def test_one_networkpolicy_rule_admits_only_the_scraper_to_the_metrics_ports(name):
    found = _scrape_rules(all_runs()[name])
    assert found
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    for rule in found:
        assert rule["from"] == [peer]
        assert {p["port"] for p in rule["ports"]} <= {9121, 9355} and all(p["protocol"] == "TCP" for p in rule["ports"])


def test_the_scraper_peer_can_be_narrowed_to_its_pods():
    cfg = copy.deepcopy(harness.load_stack_config("staging"))
    cfg["cache-patterns:observability"]["prometheus"].update(namespace="obs", podLabels={"app": "prometheus"})
    for rule in _scrape_rules(harness.run("staging", cfg)):
        assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "obs"}},
                                 "podSelector": {"matchLabels": {"app": "prometheus"}}}]


def test_the_dashboard_is_valid_grafana_json_on_a_datasource_variable():
    for name, run in all_runs().items():
        for cm in (c for c in kind(run, "ConfigMap") if c["metadata"]["name"].endswith("-dashboard")):
            (text,) = cm["data"].values()
            assert len(text.encode()) < 1024 * 1024
            board = json.loads(text)
            assert len(board["uid"]) <= 40 and board["title"] and board["schemaVersion"] >= 39
            variables = {v["name"] for v in board["templating"]["list"] if v["type"] == "datasource"}
            assert set(re.findall(r"\$\{(\w+)\}", text)) <= variables, name
            # The API server drops an empty annotations map: stored would differ from sent.
            assert cm["metadata"].get("annotations", None) != {}
            ids = [p["id"] for p in board["panels"]]
            assert len(ids) == len(set(ids))
            for p in board["panels"]:
                if p["type"] != "row":
                    assert p["targets"] and p["datasource"] == {"type": "prometheus", "uid": "${DS_PROM}"}


def test_nothing_is_made_where_observability_is_off():
    for stack in ("dev", "local"):
        run = stack_run(stack)
        assert not [m for m in run.manifests() if m["apiVersion"].startswith(MONITORING)]
        assert not [m for m in run.manifests() if m["kind"] == "ConfigMap" and "dashboard" in m["metadata"]["name"]]
    cfg = copy.deepcopy(harness.load_stack_config("staging"))
    cfg["cache-patterns:observability"] = {"enabled": False}
    run = harness.run("staging", cfg)
    assert not [m for m in run.manifests() if m["apiVersion"].startswith(MONITORING)]
    assert not _scrape_rules(run)


def test_rules_are_off_with_rules_false_and_dashboards_with_dashboards_off():
    cfg = copy.deepcopy(harness.load_stack_config("staging"))
    cfg["cache-patterns:observability"].update(rules=False, dashboards={"enabled": False})
    run = harness.run("staging", cfg)
    assert {m["kind"] for m in run.manifests() if m["apiVersion"].startswith(MONITORING)} == {"PodMonitor"}
    assert not [m for m in run.manifests() if m["kind"] == "ConfigMap" and "dashboard" in m["metadata"]["name"]]


def test_every_generated_alert_is_in_the_catalogue():
    for name, run in all_runs().items():
        for groups in prometheus_rules(run).values():
            for r in (r for g in groups for r in g["rules"]):
                doc = rules.CATALOGUE[r["alert"]]
                # The one alert whose severity follows the stack: a failed save stops writes only
                # where RDB save points are configured.
                assert r["labels"]["severity"] == doc.severity or r["alert"] == "RedisBackgroundSaveFailed"
                assert set(r["annotations"]) == {"summary", "description", "runbook_url"}
                assert r["annotations"]["description"] == f"{doc.meaning} What to do: {doc.runbook}"
                assert r["annotations"]["runbook_url"] == f"docs/observability.md#{doc.anchor}"


def test_adding_an_l1_adds_only_the_clients_own_rule_and_dashboard():
    without = stack_run("staging")
    with_l1 = variant_run("statefulset-evicting-two-tier")
    names = lambda run, k: {m["metadata"]["name"] for m in kind(run, k)}  # noqa: E731
    assert names(with_l1, "PrometheusRule") == names(without, "PrometheusRule") | {"staging-sessions-l1"}
    dashboards = lambda run: {n for n in names(run, "ConfigMap") if n.endswith("-dashboard")}  # noqa: E731
    assert dashboards(with_l1) == dashboards(without) | {"staging-sessions-l1-dashboard"}
    (l1,) = [m for m in kind(with_l1, "PrometheusRule") if m["metadata"]["name"].endswith("-l1")]
    assert {r["labels"]["component"] for g in l1["spec"]["groups"] for r in g["rules"]} == {"client"}


def test_ot_sentinels_are_scraped_by_an_exporter_of_this_programs_own():
    """RedisReplication's embedded Sentinels have no exporter setting: a one-pod exporter in
    multi-target mode scrapes each of them, the Sentinel pods admit it on 26379 and only the scraper
    reaches it, and the OT cache gets the Sentinel rules."""
    run = stack_run("platform")
    (rr,) = kind(run, "RedisReplication")
    monitor = {p["metadata"]["name"]: p["spec"] for p in kind(run, "PodMonitor")}["platform-sessions-sentinel"]
    addresses = [f"platform-sessions-s-{i}.platform-sessions-s-hl.platform-cache.svc.cluster.local:26379"
                 for i in range(rr["spec"]["sentinel"]["size"])]
    assert [(e["path"], e["port"], e["params"], e["relabelings"]) for e in monitor["podMetricsEndpoints"]] == [
        ("/scrape", "metrics", {"target": [f"redis://{a}"]},
         [{"action": "replace", "targetLabel": "instance", "replacement": a}]) for a in addresses]
    selector = monitor["selector"]["matchLabels"]
    (exporter,) = [d for d in kind(run, "Deployment")
                   if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
    (c,) = exporter["spec"]["template"]["spec"]["containers"]
    assert c["env"] == [{"name": "REDIS_ADDR"}] and c["image"].startswith("oliver006/redis_exporter:v")
    # Nothing but its own PodMonitor selects it: not the operator's pods' policy, not the data job.
    assert "app" not in exporter["spec"]["template"]["metadata"]["labels"]
    policies = {json.dumps(n["spec"]["podSelector"], sort_keys=True): n["spec"] for n in kind(run, "NetworkPolicy")}
    # The operator's own selector style (specs.pod_selector), narrowed to its Sentinel pods.
    sentinel_pods = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["platform-sessions-s"]},
                                          {"key": "redis_setup_type", "operator": "In", "values": ["sentinel"]}]}
    assert policies[json.dumps(sentinel_pods, sort_keys=True)]["ingress"] == [
        {"from": [{"podSelector": {"matchLabels": selector}}], "ports": [{"port": 26379, "protocol": "TCP"}]}]
    own = policies[json.dumps({"matchLabels": selector}, sort_keys=True)]
    assert own["ingress"] == [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name":
                                                                                "monitoring"}}}],
                               "ports": [{"port": 9121, "protocol": "TCP"}]}]
    sentinel_alerts = {r["alert"] for rule in kind(run, "PrometheusRule") for g in rule["spec"]["groups"]
                       for r in g["rules"] if r["labels"]["component"] == "sentinel"}
    assert {"RedisSentinelQuorumLost", "RedisSentinelMasterNotOk", "RedisSentinelsMissing"} <= sentinel_alerts
    # Redis Cluster has no Sentinels, so no such exporter.
    assert not [d for d in kind(variant_run("ot-cluster"), "Deployment") if "exporter" in json.dumps(d["metadata"])]
