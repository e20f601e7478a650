"""Pattern 4, the infrastructure half: an `l1` block adds a loopback L1 to every bound app pod and the
CACHE_L1_* / CACHE_L2_* vars, and touches nothing of the L2 it sits in front of."""
from __future__ import annotations

import pytest

from cache_patterns import stack as config
from cache_patterns.patterns.two_tier import component as two_tier
from tests.test_app import PATTERNS, base, deployment
from cache_patterns import patterns as registry
from tools import harness

L1 = {"memory": "64Mi", "ttlCap": "20s"}
# Every example of a pattern that takes the two-tier layer (`l1`), without one.
SHARED = {name: c for name, c in PATTERNS.items()
          if "l1" in registry.PATTERNS[c["pattern"]].settings.model_fields and "l1" not in c}


def run_stack(cfg):
    return harness.run("t", cfg)


def l2_view(run, stack_namespace: str | None = None):
    """Every resource that is not the app's own objects nor the L1's monitoring (the two-tier clients'
    rules and dashboard, and the stack namespace an external cache gets for them): the L2, with URN
    and inputs."""
    return {r.urn: r.inputs for r in run.resources if "AppDeployment" not in r.urn and "-l1-monitoring" not in r.urn
            and not (stack_namespace and r.urn.endswith(f"Namespace::ns-{stack_namespace}"))}


@pytest.mark.parametrize("pattern", SHARED)
def test_adding_or_removing_l1_leaves_every_l2_resource_identical(pattern):
    without = run_stack(base(SHARED[pattern]))
    with_l1 = run_stack(base({**SHARED[pattern], "l1": L1}))
    assert l2_view(with_l1) == l2_view(without)


@pytest.mark.parametrize("pattern", SHARED)
def test_l1_pod_and_env(pattern):
    run = run_stack(base({**SHARED[pattern], "l1": L1}))
    pod = deployment(run)["spec"]["template"]["spec"]
    (l1,) = [c for c in pod["initContainers"] if c["name"] == "cache-l1"]
    assert l1["restartPolicy"] == "Always"
    # the L1 is optional for the client (it falls back to L2): it must not make the pod unready
    assert "readinessProbe" not in l1
    args = l1["args"]
    assert args[args.index("--save") + 1] == "" and args[args.index("--appendonly") + 1] == "no"
    assert args[args.index("--bind") + 1] == "127.0.0.1"
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    plain = run_stack(base(SHARED[pattern]))
    plain_env = {e["name"]: e.get("value") for e in deployment(plain)["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CACHE_HOST"] == plain_env["CACHE_HOST"] == env["CACHE_L2_HOST"]
    assert env["CACHE_PORT"] == env["CACHE_L2_PORT"]
    assert env["CACHE_L1_SOCKET"] == "/run/cache/redis.sock" and env["CACHE_L1_TTL_CAP"] == "20"
    assert env["CACHE_L1_INVALIDATION_CHANNEL"] == two_tier.invalidation_channel("t", "main")


def test_l1_memory_and_policy_come_from_the_l1_block():
    cfg = config.parse({"environment": "development", "caches": {"c": {
        "pattern": "statefulset", "l1": {"memory": "96Mi", "maxmemoryPolicy": "allkeys-lfu"}}}}, "t")
    from cache_patterns.core.contract import CacheBinding, CacheConnection

    shared = CacheBinding(cache="c", pattern="statefulset", connection=CacheConnection(host="h"))
    c = two_tier.with_l1(shared, "t", cfg.caches["c"], native=True).pod.init_containers[0]
    assert c["resources"]["limits"]["memory"] == "96Mi"
    assert c["args"][c["args"].index("--maxmemory-policy") + 1] == "allkeys-lfu"


def test_invalidation_channels_are_per_stack_and_cache():
    assert two_tier.invalidation_channel("prod", "pages") != two_tier.invalidation_channel("staging", "pages")
    assert two_tier.invalidation_channel("prod", "pages") != two_tier.invalidation_channel("prod", "sessions")


@pytest.mark.parametrize("cache", [
    {"pattern": "external", "kind": "endpoint", "host": "r.example.com", "cluster": True},
    {"pattern": "operator", "kind": "ot-cluster"},
])
def test_l1_over_a_sharded_l2_tells_the_client_that_l2_is_a_cluster(cache):
    """The client speaks Redis Cluster to L2 (tested against a real 3-node cluster in tests/client);
    invalidations use classic PUBLISH, which a cluster delivers to subscribers on every node."""
    run = run_stack(base({**cache, "l1": L1}))
    env = {e["name"]: e.get("value") for e in deployment(run)["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CACHE_L2_CLUSTER"] == "true" and env["CACHE_CLUSTER"] == "true"
    assert env["CACHE_L1_CLUSTER"] == "false"


def test_prod_l1_leaves_every_aws_resource_identical():
    """The `prod` stack's catalog has an L1; without it, every AWS resource (and every other non-app
    resource) has the same URN and the same inputs."""
    cfg = harness.load_stack_config("prod")
    assert cfg["cache-patterns:caches"]["catalog"].get("l1"), "prod's catalog should have an l1 block"
    without = {**cfg, "cache-patterns:caches": {
        name: {k: v for k, v in c.items() if k != "l1"} for name, c in cfg["cache-patterns:caches"].items()}}
    with_run, without_run = harness.run("prod", cfg), harness.run("prod", without)
    aws = lambda run: {r.urn: r.inputs for r in run.resources if r.type.startswith("aws:")}  # noqa: E731
    assert aws(with_run) and aws(with_run) == aws(without_run)
    assert l2_view(with_run, "prod") == l2_view(without_run, "prod")
    storefront = deployment_named(with_run, "storefront")
    assert any(c["name"] == "cache-l1" for c in storefront["spec"]["template"]["spec"]["initContainers"])


def deployment_named(run, name):
    return next(o for o in run.manifests() if o["kind"] == "Deployment" and o["metadata"]["name"] == name)
