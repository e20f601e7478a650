"""The inhibition rules in a real Alertmanager (Debian's prometheus-alertmanager): the alerts one
incident raises, labelled exactly as the staging stack's generated rules label them, are posted to it,
and what it still notifies (neither inhibited nor silenced) is read back from its API. One incident
must page once; another cache's alerts and other workloads' alerts must be left alone.

Each incident is also posted without the inhibition rules and with the severities of before issue
18.16 (a server down and a replica link down were critical): that is what paged 5 to 7 times."""
from __future__ import annotations

import datetime
import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from cache_patterns.observability import alertmanager
from tests.conftest import need_binary, stack_run

from .promtool import jobs, prometheus_rules

NS, STACK, CACHE = "cache", "staging", "sessions"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Alertmanager:
    def __init__(self, workdir: Path, inhibit: bool):
        config = {"route": {"receiver": "null", "group_by": ["namespace", "cache"]}, "receivers": [{"name": "null"}]}
        if inhibit:
            config |= yaml.safe_load(alertmanager.config_snippet())
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
        check = subprocess.run([need_binary("amtool"), "check-config", str(workdir / "alertmanager.yml")],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        self.url = f"http://127.0.0.1:{_port()}"
        self.proc = subprocess.Popen(
            [need_binary("prometheus-alertmanager"), f"--config.file={workdir / 'alertmanager.yml'}",
             f"--storage.path={workdir / 'data'}", f"--web.listen-address={self.url[7:]}", "--cluster.listen-address="],
            stdout=open(workdir / "alertmanager.log", "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=2)
                break
            except OSError:
                assert self.proc.poll() is None and time.monotonic() < deadline, (workdir / "alertmanager.log").read_text()
                time.sleep(0.2)

    def post(self, alerts: list[dict]) -> None:
        start = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)).isoformat()
        body = json.dumps([{"labels": a, "startsAt": start} for a in alerts]).encode()
        req = urllib.request.Request(f"{self.url}/api/v2/alerts", data=body, headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10)

    def notified(self) -> list[dict]:
        """The active alerts neither inhibited nor silenced."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts?active=true&inhibited=false&silenced=false",
                                    timeout=10) as r:
            return [a["labels"] for a in json.load(r)]

    def settled(self, expected: list[str], within: float = 15.0) -> list[str]:
        """The names notified once the inhibitor has seen the posted alerts: it learns of them through
        a subscription of its own, so a read right after the post can still show alerts it is about
        to mute (seen on a loaded machine). Inhibition only removes alerts, so this waits for the
        expected list (or the deadline) and returns what is notified then."""
        deadline = time.monotonic() + within
        while True:
            names = sorted(a["alertname"] for a in self.notified())
            if names == sorted(expected) or time.monotonic() > deadline:
                return names
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def am(tmp_path) -> Iterator:
    made: list[Alertmanager] = []

    def start(inhibit: bool = True) -> Alertmanager:
        made.append(Alertmanager(tmp_path / f"am{len(made)}", inhibit))
        return made[-1]
    yield start
    for m in made:
        m.stop()


@pytest.fixture(scope="module")
def generated() -> tuple[dict[tuple[str, str], dict], dict[str, str]]:
    """Staging's rules by (alert, component), and its jobs."""
    run = stack_run(STACK)
    rules = {(r["alert"], r["labels"]["component"]): r for gs in prometheus_rules(run).values() for g in gs
             for r in g["rules"]}
    return rules, jobs(run)


def alert(generated, name: str, component: str = "redis", old: bool = False, **series: str) -> dict:
    """An alert as Prometheus sends it: the rule's labels over the series' (`old`: the severity the
    rule had before issue 18.16)."""
    rules, j = generated
    labels = {"alertname": name, "job": j[component], **series, **rules[(name, component)]["labels"]}
    if old and name in ("RedisDown", "RedisReplicaLinkDown"):
        labels["severity"] = "critical"
    return labels


def pod(i: int, component: str = "redis") -> dict:
    prefix = "staging-sessions" if component == "redis" else "staging-sessions-sentinel"
    return {"instance": f"10.0.0.{i}:9121", "pod": f"{prefix}-{i}", "container": "exporter", "endpoint": "metrics"}


def primary_lost_without_failover(generated, old: bool = False) -> list[dict]:
    """The primary's Redis dies and no replica can be promoted (the other two lost their link)."""
    a = lambda *args, **kw: alert(generated, *args, old=old, **kw)  # noqa: E731
    return ([a("RedisMissingPrimary"), a("RedisDown", **pod(0)),
             a("RedisReplicaLinkDown", **pod(1), master_host="staging-sessions-0"),
             a("RedisReplicaLinkDown", **pod(2), master_host="staging-sessions-0")]
            + [a("RedisSentinelMasterNotOk", "sentinel", **pod(i, "sentinel"), master_name="staging-sessions",
                 master_status="odown") for i in range(3)])


def every_sentinel_gone(generated) -> list[dict]:
    return [alert(generated, "RedisSentinelQuorumLost", "sentinel", master_name="staging-sessions"),
            alert(generated, "RedisMetricsAbsent", "sentinel")]


def every_pod_gone(generated) -> list[dict]:
    return [alert(generated, "RedisMissingPrimary"), alert(generated, "RedisMetricsAbsent"),
            alert(generated, "RedisSentinelQuorumLost", "sentinel", master_name="staging-sessions")]


def pages(alerts: list[dict]) -> list[str]:
    return sorted(a["alertname"] for a in alerts if a["severity"] == "critical")


def test_one_incident_pages_once(generated, am):
    m = am()
    for incident, page in ((primary_lost_without_failover, "RedisMissingPrimary"),
                           (every_sentinel_gone, "RedisSentinelQuorumLost"),
                           (every_pod_gone, "RedisMissingPrimary")):
        m.post(incident(generated))
        assert m.settled([page]) == [page], incident.__name__
        m.stop()
        m = am()


def test_without_the_rules_and_with_the_old_severities_one_incident_paged_seven_times(generated, am):
    m = am(inhibit=False)
    m.post(primary_lost_without_failover(generated, old=True))
    assert len(pages(m.notified())) == 7


def test_another_caches_alerts_and_other_workloads_alerts_are_left_alone(generated, am):
    m = am()
    other_cache = {**alert(generated, "RedisMissingReplicas", **pod(0)), "cache": "carts"}
    other_namespace = {**alert(generated, "RedisDown", **pod(1)), "namespace": "elsewhere"}
    workload = {"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": NS, "pod": "batch-1"}
    m.post(primary_lost_without_failover(generated) + [other_cache, other_namespace, workload])
    m.settled(["RedisMissingPrimary", "RedisMissingReplicas", "RedisDown", "KubePodCrashLooping"])
    notified = {(a["alertname"], a["cache"] if "cache" in a else "", a["namespace"]) for a in m.notified()}
    assert notified == {("RedisMissingPrimary", CACHE, NS), ("RedisMissingReplicas", "carts", NS),
                        ("RedisDown", CACHE, "elsewhere"), ("KubePodCrashLooping", "", NS)}


def test_every_alert_carries_the_labels_the_rules_need(generated):
    rules, _ = generated
    for (name, _), r in rules.items():
        assert {"namespace", "stack", "cache", "severity"} <= set(r["labels"]), name
