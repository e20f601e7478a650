"""AppDeployment: an app wired to its binding, the same whatever pattern made the binding."""
from __future__ import annotations

import pytest

from cache_patterns.core import contract
from tests.conftest import stack_run
from tests.test_contract import documented
from cache_patterns import patterns as registry
from tools import harness

ALWAYS = {"CACHE_CONTRACT_VERSION", "CACHE_NAME", "CACHE_PATTERN", "CACHE_HOST", "CACHE_PORT", "CACHE_TLS",
          "CACHE_CLUSTER"}


def base(cache: dict, environment: str = "development", **app) -> dict:
    return {
        "cache-patterns:environment": environment,
        "cache-patterns:namespace": "apps",
        "cache-patterns:caches": {"main": cache},
        "cache-patterns:apps": [{"name": "api", "namespace": "shop", "image": "ghcr.io/acme/api:1.4.2",
                                 "cache": "main", "replicas": 3, **app}],
        "cache-patterns:aws": {"region": "eu-west-1", "vpcId": "vpc-0123456789abcdef0",
                               "subnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
                               "clientSecurityGroupIds": ["sg-0123456789abcdef0"]},
        "cache-patterns:passwords": {"main": {"secure": "v1:x"}} if cache.get("kind") == "endpoint" else {},
    }


def find(run, kind, name=None):
    return [o for o in run.manifests() if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def deployment(run):
    (dep,) = find(run, "Deployment", "api")
    return dep


def test_deployment_and_service_are_named_after_the_app_with_derived_labels():
    run = harness.run("t", base({"pattern": "sidecar"}))
    dep = deployment(run)
    assert dep["metadata"]["namespace"] == "shop"
    assert dep["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "api", "app.kubernetes.io/instance": "api"}
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/part-of"] == "cache-patterns" and labels["app.kubernetes.io/component"] == "app"
    (svc,) = find(run, "Service", "api")
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"] and svc["spec"]["type"] == "ClusterIP"
    assert run.outputs["apps"].value["api"]["dnsName"] == "api.shop.svc.cluster.local"


def test_app_is_restricted_by_default_and_the_token_mount_is_opt_in():
    pod = deployment(harness.run("t", base({"pattern": "sidecar"})))["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    main = pod["containers"][0]
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert main["securityContext"]["runAsUser"] >= 10000
    assert {m["mountPath"] for m in main["volumeMounts"]} >= {"/tmp"}
    pod = deployment(harness.run("t", base({"pattern": "sidecar"}, mountServiceAccountToken=True)))["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True


def test_probes_default_to_tcp_and_follow_configured_paths():
    pod = deployment(harness.run("t", base({"pattern": "sidecar"})))["spec"]["template"]["spec"]
    assert pod["containers"][0]["readinessProbe"]["tcpSocket"]["port"] == 8080
    pod = deployment(harness.run("t", base({"pattern": "sidecar"}, probes={"readinessPath": "/ready"})))["spec"]["template"]["spec"]
    assert pod["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert "tcpSocket" in pod["containers"][0]["livenessProbe"]


def test_network_policy_admits_the_app_port_from_its_namespace_by_default():
    (np,) = find(harness.run("t", base({"pattern": "sidecar"})), "NetworkPolicy")
    rule = np["spec"]["ingress"][0]
    assert np["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "api"
    assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}}]


def test_network_policy_follows_allow_from():
    run = harness.run("t", base({"pattern": "sidecar"}, allowFrom=[{"namespace": "ingress", "podLabels": {"app": "nginx"}}]))
    (np,) = find(run, "NetworkPolicy")
    assert np["spec"]["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}},
                                                "podSelector": {"matchLabels": {"app": "nginx"}}}]


def test_pdb_outside_development_for_apps_with_two_or_more_pods():
    assert not find(harness.run("t", base({"pattern": "sidecar"})), "PodDisruptionBudget")
    (pdb,) = find(harness.run("t", base({"pattern": "sidecar"}, environment="staging")), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert not find(harness.run("t", base({"pattern": "sidecar"}, environment="staging", replicas=1)), "PodDisruptionBudget")


def test_image_by_digest_is_used_as_given():
    image = "ghcr.io/acme/api:1.4.2@sha256:" + "ab" * 32
    dep = deployment(harness.run("t", base({"pattern": "sidecar"}, image=image)))
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == image


def test_extra_env_comes_after_the_contract_and_is_plain():
    pod = deployment(harness.run("t", base({"pattern": "sidecar"}, env={"LOG_LEVEL": "info"})))["spec"]["template"]["spec"]
    env = pod["containers"][0]["env"]
    assert env[-1] == {"name": "LOG_LEVEL", "value": "info"}


def test_a_changed_cache_rolls_the_app_through_the_checksum_annotation():
    key = contract.CHECKSUM_ANNOTATION
    a = deployment(harness.run("t", base({"pattern": "sidecar", "memory": "128Mi"})))
    b = deployment(harness.run("t", base({"pattern": "sidecar", "memory": "256Mi"})))
    c = deployment(harness.run("t", base({"pattern": "sidecar", "memory": "128Mi"})))
    ann = lambda d: d["spec"]["template"]["metadata"]["annotations"][key]  # noqa: E731
    assert ann(a) == ann(c) != ann(b)


def test_many_apps_in_many_namespaces():
    cfg = base({"pattern": "sidecar"})
    cfg["cache-patterns:apps"] = [{"name": f"app{i}", "namespace": f"ns{i % 3}", "image": "a:1", "cache": "main"}
                                  for i in range(12)]
    run = harness.run("t", cfg)
    assert len(find(run, "Deployment")) == 12
    assert {o["metadata"]["name"] for o in find(run, "Namespace")} == {"ns0", "ns1", "ns2"}


# Alternative caches an app can be switched between: every registered pattern's examples, and the
# two-tier layer. Patterns not built yet skip.
PATTERNS = {**{name: cfg for p in registry.PATTERNS.values() for name, cfg in p.examples.items()},
            "two-tier": {"pattern": "statefulset", "l1": {"memory": "64Mi"}}}


def _app_view(name):
    run = harness.run("t", base(PATTERNS[name]))
    res = next(r for r in run.resources if r.type == "kubernetes:apps/v1:Deployment" and r.name == "api-deployment")
    dep = deployment(run)
    env = [e["name"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]]
    return res.urn, dep["metadata"]["name"], dep["spec"]["selector"], dep["spec"]["template"]["spec"]["containers"][0]["image"], env


@pytest.mark.parametrize("other", [p for p in PATTERNS if p != "sidecar"])
def test_switching_the_cache_pattern_keeps_the_app_identity_and_env_names(other):
    urn, name, selector, image, env = _app_view("sidecar")
    urn2, name2, selector2, image2, env2 = _app_view(other)
    assert (urn2, name2, selector2, image2) == (urn, name, selector, image)
    assert ALWAYS <= set(env) and ALWAYS <= set(env2)
    assert set(env2) <= documented(), set(env2) - documented()


def test_stacks_export_service_discovery_names():
    out = stack_run("dev").outputs["apps"].value
    assert out["storefront"]["dnsName"] == "storefront.shop-dev.svc.cluster.local"
