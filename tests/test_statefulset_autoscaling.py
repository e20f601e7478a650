"""Read replicas added by a HorizontalPodAutoscaler (issue 23, patterns/statefulset/autoscaling.py): the
HPA object (valid against the official schemas), scale-up only, the StatefulSet's count ignored by the
program, and every ordinal up to the maximum known to HAProxy and the start-up scripts."""
from __future__ import annotations

import copy

import pytest

from cache_patterns.config.errors import ConfigError
from tools import harness, validate

HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
STS = "kubernetes:apps/v1:StatefulSet"


def staging(**sessions) -> dict:
    cfg = copy.deepcopy(harness.load_stack_config("staging"))
    cfg["cache-patterns:caches"]["sessions"].update(sessions)
    return cfg


@pytest.fixture(scope="module")
def scaled() -> harness.Run:
    return harness.run("staging", staging(autoscaling={"maxReplicas": 4, "targetCpu": 60}))


def test_the_hpa_scales_the_redis_statefulset_up_only_between_replicas_and_the_maximum(scaled):
    hpa = scaled.one(HPA)
    sts = scaled.one(STS, "sessions-redis")
    spec = hpa.manifest["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                      "name": sts.manifest["metadata"]["name"]}
    assert hpa.manifest["metadata"]["namespace"] == sts.manifest["metadata"]["namespace"] == "cache"
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 5)          # 1 + replicas .. 1 + maxReplicas
    assert spec["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]
    # Never scales down (the primary may be on a removed ordinal); one pod per period up.
    assert spec["behavior"]["scaleDown"] == {"selectPolicy": "Disabled"}
    assert spec["behavior"]["scaleUp"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 60}]
    assert sts.urn in hpa.dependencies


def test_the_program_ignores_the_count_the_hpa_owns(scaled):
    sts = scaled.one(STS, "sessions-redis")
    assert "spec.replicas" in sts.ignore_changes
    assert sts.manifest["spec"]["replicas"] == 3     # created with the floor
    plain = harness.run("staging")
    assert "spec.replicas" not in plain.one(STS, "sessions-redis").ignore_changes and plain.of_type(HPA) == []


def test_haproxy_and_the_peers_know_every_ordinal_up_to_the_maximum(scaled):
    sts = scaled.one(STS, "sessions-redis")
    env = {e["name"]: e.get("value") for e in sts.manifest["spec"]["template"]["spec"]["containers"][0]["env"]}
    peers = env["PEERS"].split()
    assert [p.split(".")[0] for p in peers] == [f"staging-sessions-{i}" for i in range(5)]
    cfg = next(c for c in scaled.of_type("kubernetes:core/v1:ConfigMap") if "haproxy.cfg" in (c.inputs.get("data") or {}))
    servers = {line.split()[1] for line in cfg.inputs["data"]["haproxy.cfg"].splitlines()
               if line.strip().startswith("server r")}
    assert servers == {f"r{i}" for i in range(5)}


@pytest.mark.parametrize("version", ["1.29", "1.32", "1.33"])
def test_the_hpa_is_valid_against_the_official_schema(scaled, version):
    assert validate.validate_k8s(scaled.one(HPA).manifest, version) == []


def test_a_maximum_not_above_replicas_is_refused_naming_the_key():
    with pytest.raises(ConfigError) as err:
        harness.run("staging", staging(autoscaling={"maxReplicas": 2}))
    assert ("caches.sessions.autoscaling.maxReplicas",
            "must be above replicas (2, the autoscaler's floor), got 2") in err.value.problems
