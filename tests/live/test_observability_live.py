"""Live: the program's exporters and alert rules against a real failover. The six exporter containers
of the staging stack (3 beside Redis, 3 beside the Sentinels) run as rendered (pod_runner: command,
env, user, Secret volume, TLS, the image's program, a network namespace per pod) with the pinned
redis_exporter build, beside a live StatefulSet-pattern set with TLS (3 Redis + 3 Sentinels through
the pod scripts); they are scraped every 5 s
through a SIGKILL of the primary, and the recording becomes a promtool test of the staging stack's
generated PrometheusRule: the failover fires nothing at all; with the last scrape held 5 more minutes
(the killed primary stays down) RedisDown fires for it, RedisMissingPrimary never fires after the
promotion, and nothing about the Sentinels fires. Every metric name a rule or the
dashboard reads must be in what was scraped."""
from __future__ import annotations

import copy
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from cache_patterns.observability import dashboard as dash
from cache_patterns.observability import rules
from cache_patterns.patterns.statefulset import backup
from tests.observability import promql
from tests.observability import promtool as pt
from tests.observability.variants import variant_runs
from tools import harness

from testbed import engines
from testbed import exporters as ex
from testbed.statefulset import LocalStatefulSet
from testbed.support import PASSWORD, wait_until
from testbed.tls import make_tls
from .conftest import require_exporter_pods, running_cluster

pytestmark = pytest.mark.live

INTERVAL_S = 5
BASELINE_S = 30
# Recorded after the kill: the failover and well past a minute. RedisDown waits 5 minutes (a server
# down is a warning while a primary serves); the recording's last scrape is held 5 more minutes (the
# killed primary stays down) to see it fire.
AFTER_KILL_S = 110
HOLD_S = 300
STACK = "staging"


def rendered() -> tuple[harness.Run, dict[str, dict], dict[str, dict]]:
    """The staging stack as it ships (TLS from cert-manager), with the live cluster's password:
    (run, pod spec by StatefulSet, Secrets by name)."""
    run = harness.run(STACK, password=PASSWORD)
    objs = run.manifests()
    pods = {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in objs if o["kind"] == "StatefulSet"}
    secrets = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Secret"}
    return run, pods, secrets


@dataclass
class Failover:
    run: harness.Run
    groups: list[dict]
    jobs: dict[str, str]
    recording: ex.Recording
    killed: ex.PodExporter
    kill_step: int
    promoted_step: int
    failover_s: float


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStatefulSet]:
    require_exporter_pods()
    run, _, _ = rendered()
    (cert,) = [m for m in run.manifests() if m["kind"] == "Certificate" and m["spec"]["secretName"] == "staging-sessions-tls"]
    tls = make_tls(Path(tmp_path_factory.mktemp("ca")), names=tuple(cert["spec"]["dnsNames"]), loopback=False,
                   ecdsa=cert["spec"]["privateKey"]["algorithm"] == "ECDSA")
    yield from running_cluster(request, "cp-obs-", tls=tls, busybox=True)


@pytest.fixture(scope="module")
def failover(cluster: LocalStatefulSet) -> Iterator[Failover]:
    run, pods, secrets = rendered()
    (groups,) = pt.prometheus_rules(run).values()
    jobs = pt.jobs(run)
    old = cluster.settle(timeout=60)
    with cluster.redis(old) as r:
        for i in range(200):
            r.set(f"obs:{i}", "v", ex=600)
        r.get("obs:1"), r.get("obs:missing")
    exporters: list[ex.PodExporter] = []
    try:
        for role, sts, ports in (("redis", "staging-sessions", cluster.redis_ports),
                                 ("sentinel", "staging-sessions-sentinel", cluster.sentinel_ports)):
            for i, port in enumerate(ports):
                exporters.append(ex.start(cluster, cluster.root, pods[sts], secrets, member=f"{role}-{i}",
                                          pod=f"{sts}-{i}", job=jobs[role], server_port=port))
        for e in exporters:
            def up(e=e) -> bool:
                assert e.proc.poll() is None, f"{e.name}'s exporter exited:\n{e.log.read_text()}"
                return bool(re.search(r"^redis_up 1$", ex.scrape(e) or "", re.M))
            wait_until(f"{e.name}'s exporter to reach its server (auth, TLS)", up, 30)
        scraper = ex.Scraper(exporters, INTERVAL_S)
        scraper.start()
        time.sleep(BASELINE_S)
        t_kill = cluster.kill(f"redis-{old}")
        new = wait_until("a new primary every Sentinel names",
                         lambda: (p := cluster.agreed_primary()) not in (None, old) and p, 30)
        t_promoted = time.monotonic()
        time.sleep(max(0.0, t_kill + AFTER_KILL_S - time.monotonic()))
        recording = scraper.stop()
    finally:
        for e in exporters:
            e.stop()
    killed = next(e for e in exporters if e.name == f"redis-{old}")
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"live failover: primary redis-{old} killed, redis-{new} agreed by every Sentinel after "
          f"{t_promoted - t_kill:.1f} s; {len(recording.steps)} scrapes of {len(exporters)} exporters every "
          f"{INTERVAL_S} s; {len(recording.names)} metric names; load {load}; {engines.versions()}")
    yield Failover(run=run, groups=groups, jobs=jobs, recording=recording, killed=killed,
                   kill_step=recording.step_at(t_kill), promoted_step=recording.step_at(t_promoted),
                   failover_s=t_promoted - t_kill)
    cluster.settle(timeout=60)


def _test_of(tmp_path, f: Failover, tests: list[dict]) -> subprocess.CompletedProcess:
    names = {n for g in f.groups for r in g["rules"] for n in promql.metric_names(r["expr"])}
    series = ex.input_series(f.recording, names | {"up"}, hold=HOLD_S // INTERVAL_S)
    rule_file = pt.write_rules(f.groups, tmp_path / "rules.yaml")
    doc = {"rule_files": [str(rule_file)], "evaluation_interval": f"{INTERVAL_S}s",
           "tests": [{"name": "live failover", "interval": f"{INTERVAL_S}s",
                      "input_series": [{"series": s, "values": v} for s, v in series],
                      "alert_rule_test": tests}]}
    path = tmp_path / "live.test.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=100_000))
    return pt.run_tests(path)


def test_a_sigkill_failover_fires_redis_down_for_the_killed_primary_and_nothing_else(tmp_path, failover):
    f = failover
    last = len(f.recording.steps) - 1
    assert last * INTERVAL_S >= (f.kill_step * INTERVAL_S) + 90, "not recorded long enough after the kill"
    assert f.promoted_step - f.kill_step <= 30 // INTERVAL_S + 1, f"failover took {f.failover_s:.1f}s"
    down = pt.rule_of(f.groups, "RedisDown")
    labels = {"job": f.jobs["redis"], "instance": f.killed.instance, "pod": f.killed.pod,
              **{k: str(v) for k, v in down["labels"].items()}}
    annotations = {k: pt.expand(v, labels, 0) for k, v in down["annotations"].items()}
    at = lambda step: f"{step * INTERVAL_S}s"  # noqa: E731
    held = last + HOLD_S // INTERVAL_S
    # The failover recorded: no alert at all, RedisDown included (pending for its 5 minutes); the
    # primary still down 5 minutes later: RedisDown for it, and nothing else.
    tests = [{"eval_time": at(held), "alertname": "RedisDown",
              "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}]},
             {"eval_time": at(last), "alertname": "RedisDown", "exp_alerts": []},
             {"eval_time": at(f.kill_step - 1), "alertname": "RedisDown", "exp_alerts": []}]
    # From the promotion to the end, at every evaluation: a primary exists.
    tests += [{"eval_time": at(step), "alertname": "RedisMissingPrimary", "exp_alerts": []}
              for step in range(f.promoted_step, held + 1)]
    for alert in ("RedisTooManyPrimaries", "RedisExporterDown", "RedisMetricsAbsent", "RedisReplicaLinkDown",
                  "RedisSentinelDown", "RedisSentinelMasterNotOk", "RedisSentinelQuorumLost", "RedisSentinelsMissing",
                  "RedisFailoverFlapping", "RedisBackgroundSaveFailed", "RedisAofWriteFailed"):
        tests += [{"eval_time": at(step), "alertname": alert, "exp_alerts": []} for step in (last, held)]
    result = _test_of(tmp_path, f, tests)
    assert result.returncode == 0, (f"failover {f.failover_s:.1f}s, kill at step {f.kill_step}, promoted at "
                                    f"{f.promoted_step}\n{result.stdout}{result.stderr}")


def test_the_recording_would_catch_a_missing_primary_rule_gone_wrong(tmp_path, failover):
    """The same recording against the `or vector(0)` mistake: RedisMissingPrimary then fires after
    the promotion, so the test above would fail."""
    f = failover
    j = f.jobs["redis"]
    mistaken = copy.deepcopy(f.groups)
    for r in mistaken[0]["rules"]:
        if r["alert"] == "RedisMissingPrimary":
            r["expr"] = f'(count by (job) (redis_instance_info{{job="{j}",role="master"}}) or vector(0)) < 1'
    last = len(f.recording.steps) - 1
    result = _test_of(tmp_path, Failover(**{**f.__dict__, "groups": mistaken}),
                      [{"eval_time": f"{last * INTERVAL_S}s", "alertname": "RedisMissingPrimary", "exp_alerts": []}])
    assert result.returncode != 0


def test_every_metric_a_rule_or_dashboard_reads_is_scraped(failover):
    scraped = failover.recording.names | {"up"}
    runs = {"staging": failover.run, **variant_runs()}
    used: dict[str, set[str]] = {}
    for name, run in runs.items():
        for groups in pt.prometheus_rules(run).values():
            for g in groups:
                for r in g["rules"]:
                    for metric in promql.metric_names(r["expr"]):
                        used.setdefault(metric, set()).add(f"{name}: rule {r['alert']}")
        for m in run.manifests():
            if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("-dashboard"):
                for text in m["data"].values():
                    for expr in dash.expressions(yaml.safe_load(text)):
                        for metric in promql.metric_names(expr):
                            used.setdefault(metric, set()).add(f"{name}: dashboard")
    # The two-tier clients' counters come from the apps; RedisMemoryNearLimit reads the kubelet's and
    # kube-state-metrics' series (tests/observability covers their labels); the backup's come from the
    # Pushgateway, pushed by the backup pod's backup.sh (the live push: tests/live/test_backup_live.py).
    pushed = set(re.findall(r"^(cache_backup_[a-z_]+) ", backup.script("backup.sh"), re.M))
    from_backups = {m for m in used if m.startswith("cache_backup_")}
    assert from_backups and from_backups <= pushed, f"read but never pushed by backup.sh: {from_backups - pushed}"
    exporter_metrics = {m for m in used if not m.startswith("cache_patterns_client_") and m not in rules.KUBE_METRICS
                        and m not in from_backups}
    assert set(rules.KUBE_METRICS) <= set(used)
    assert len(exporter_metrics) > 20
    missing = {m: sorted(w) for m, w in used.items() if m in exporter_metrics and m not in scraped}
    assert not missing, f"used but never scraped from redis_exporter: {missing}"
