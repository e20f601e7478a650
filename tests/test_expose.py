"""Pattern 2's write endpoint reached from outside the cluster: off by default, a LoadBalancer or
NodePort Service in front of HAProxy's write port only, the client address kept so the NetworkPolicy
admits exactly the source ranges, the names clients use on the certificate, and refused without auth
and TLS or with a range that admits everyone."""
from __future__ import annotations

import copy

import pytest

from cache_patterns import stack
from cache_patterns.config.errors import ConfigError
from tests.conftest import stack_run
from tools import harness

EXPOSE = {"type": "LoadBalancer", "sourceRanges": ["203.0.113.0/24", "2001:db8::/32"],
          "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
          "hostnames": ["sessions.cache.example.com"]}


def exposed(expose: dict) -> harness.Run:
    cfg = copy.deepcopy(harness.load_stack_config("staging"))
    cfg["cache-patterns:caches"]["sessions"]["expose"] = expose
    return harness.run("staging", cfg)


def by_kind(run: harness.Run, kind: str) -> list[dict]:
    return [m for m in run.manifests() if m["kind"] == kind]


def test_no_stack_is_exposed_by_default():
    for s in harness.list_stacks():
        services = by_kind(stack_run(s), "Service")
        assert all(svc["spec"].get("type", "ClusterIP") in ("ClusterIP", "ExternalName") for svc in services), s


def test_a_load_balancer_admits_only_its_source_ranges_to_the_write_port():
    r = exposed(EXPOSE)
    (external,) = [s for s in by_kind(r, "Service") if s["spec"].get("type") == "LoadBalancer"]
    assert external["spec"]["loadBalancerSourceRanges"] == EXPOSE["sourceRanges"]
    assert external["spec"]["externalTrafficPolicy"] == "Local"
    assert [p["targetPort"] for p in external["spec"]["ports"]] == ["write"]
    assert external["metadata"]["annotations"] == EXPOSE["annotations"]
    endpoint = next(d for d in by_kind(r, "Deployment") if d["spec"]["template"]["metadata"]["labels"][
        "app.kubernetes.io/component"] == "endpoint")
    assert external["spec"]["selector"] == endpoint["spec"]["selector"]["matchLabels"]
    (policy,) = [p for p in by_kind(r, "NetworkPolicy") if p["spec"]["podSelector"] == endpoint["spec"]["selector"]]
    outside = [rule for rule in policy["spec"]["ingress"] if any("ipBlock" in f for f in rule["from"])]
    assert outside == [{"from": [{"ipBlock": {"cidr": c}} for c in EXPOSE["sourceRanges"]],
                        "ports": [{"port": 6379, "protocol": "TCP"}]}]
    (certificate,) = [c for c in by_kind(r, "Certificate") if "sessions.cache.example.com" in c["spec"].get("dnsNames", [])]
    assert certificate["spec"]["dnsNames"][-1] == "sessions.cache.example.com"
    assert r.outputs["caches"].value["sessions"]["external"]["type"] == "LoadBalancer"


def test_a_node_port_has_no_load_balancer_ranges_but_the_same_policy():
    r = exposed({"type": "NodePort", "sourceRanges": ["10.20.0.0/16"], "nodePort": 31379})
    (external,) = [s for s in by_kind(r, "Service") if s["spec"].get("type") == "NodePort"]
    assert "loadBalancerSourceRanges" not in external["spec"]
    assert external["spec"]["ports"][0]["nodePort"] == 31379


@pytest.mark.parametrize("cache, fragment", [
    ({"auth": False}, "needs auth"),
    ({"tls": None}, "needs TLS"),
])
def test_exposure_needs_auth_and_tls(cache, fragment):
    with pytest.raises(ConfigError) as err:
        stack.parse({"environment": "development", "caches": {"s": {
            "pattern": "statefulset", "tls": {"issuer": "ca"}, "expose": EXPOSE, **cache}}}, "t")
    assert fragment in dict(err.value.problems)["caches.s.expose"]


def test_a_range_that_admits_everyone_is_refused():
    with pytest.raises(ConfigError) as err:
        stack.parse({"environment": "staging", "caches": {"s": {
            "pattern": "statefulset", "tls": {"issuer": "ca"},
            "expose": {"type": "NodePort", "sourceRanges": ["0.0.0.0/0", "::/0", "10.0.0.0/8"]}}}}, "t")
    assert set(dict(err.value.problems)) == {"caches.s.expose.sourceRanges[0]", "caches.s.expose.sourceRanges[1]"}


@pytest.mark.parametrize("cache, fragment", [
    ({"pattern": "operator", "kind": "ot-replication"}, "an operator cache's Services are the operator's"),
    ({"pattern": "sidecar"}, "inside each app pod"),
])
def test_other_patterns_refuse_it_saying_why_beside_their_other_problems(cache, fragment):
    with pytest.raises(ConfigError) as err:
        stack.parse({"environment": "development", "caches": {"s": {
            **cache, "expose": EXPOSE, "exporterr": True}}}, "t")
    problems = dict(err.value.problems)
    assert set(problems) == {"caches.s.expose", "caches.s.exporterr"}
    assert problems["caches.s.expose"].startswith("is for statefulset caches only: ") and fragment in \
        problems["caches.s.expose"], problems
    assert problems["caches.s.exporterr"].startswith("unknown key 'exporterr'"), "other keys as before"
