"""Pattern 4, the infrastructure half: an `l1` block adds a loopback L1 to every bound app pod and the
CACHE_L1_* / CACHE_L2_* vars, and touches nothing of the L2 it sits in front of."""
from __future__ import annotations

import pytest

from cache_patterns import stack as config
from cache_patterns.patterns.two_tier import component as two_tier
from cache_patterns.config.errors import ConfigError
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


# ---- mode: in-process (a near cache in the app process, invalidated by the L2 server's tracking) ----

NEAR = {"mode": "in-process", "maxEntries": 5000, "maxBytes": "32Mi", "ttlCap": "20s"}
# The shared caches whose L2 can track keys for one connection (statefulset, ElastiCache for Valkey 8,
# an endpoint, ot-replication, spotahome-failover): every example of SHARED but the cluster-mode ones.
TRACKING = {name: c for name, c in SHARED.items()
            if not c.get("shards") and c.get("kind") not in ("elasticache-serverless", "ot-cluster")
            and not c.get("cluster")}


def app_env(run) -> dict:
    return {e["name"]: e.get("value") for e in deployment(run)["spec"]["template"]["spec"]["containers"][0]["env"]}


@pytest.mark.parametrize("pattern", TRACKING)
def test_in_process_l1_adds_no_container_and_gives_bounds_and_tracking(pattern):
    run = run_stack(base({**TRACKING[pattern], "l1": NEAR}))
    pod = deployment(run)["spec"]["template"]["spec"]
    names = [c["name"] for c in pod.get("initContainers", []) + pod["containers"]]
    assert "cache-l1" not in names and not any(v["name"] == "cache-socket" for v in pod.get("volumes", []))
    env = app_env(run)
    assert env["CACHE_L1_MODE"] == "in-process" and env["CACHE_L1_MAX_ENTRIES"] == "5000"
    assert env["CACHE_L1_MAX_BYTES"] == str(32 * 1024 * 1024) and env["CACHE_L1_TRACKING"] == "default"
    assert env["CACHE_L1_TTL_CAP"] == "20" and env["CACHE_HOST"] == env["CACHE_L2_HOST"]
    assert env["CACHE_L1_INVALIDATION_CHANNEL"] == two_tier.invalidation_channel("t", "main")
    assert not {"CACHE_L1_HOST", "CACHE_L1_PORT", "CACHE_L1_SOCKET", "CACHE_L1_TRACKING_PREFIXES"} & set(env)
    without = run_stack(base(TRACKING[pattern]))
    assert l2_view(run) == l2_view(without)


@pytest.mark.parametrize("pattern", TRACKING)
def test_switching_the_l1_between_sidecar_and_in_process_changes_only_the_pod_s_l1_parts(pattern):
    """The app keeps its Deployment (name, selector, image, L2 variables): only the L1's variables, the
    sidecar and its socket volume, and the checksum that rolls the pods change."""
    side = deployment(run_stack(base({**TRACKING[pattern], "l1": {"ttlCap": "20s"}})))
    near = deployment(run_stack(base({**TRACKING[pattern], "l1": {"mode": "in-process", "ttlCap": "20s"}})))
    assert side["metadata"] == near["metadata"] and side["spec"]["selector"] == near["spec"]["selector"]
    s_pod, n_pod = side["spec"]["template"]["spec"], near["spec"]["template"]["spec"]
    assert s_pod["containers"][0]["image"] == n_pod["containers"][0]["image"]
    s_env, n_env = ({e["name"]: e for e in p["containers"][0]["env"]} for p in (s_pod, n_pod))
    changed = {n for n in s_env.keys() | n_env.keys() if s_env.get(n) != n_env.get(n)}
    assert changed == {"CACHE_L1_HOST", "CACHE_L1_PORT", "CACHE_L1_TLS", "CACHE_L1_CLUSTER", "CACHE_L1_SOCKET",
                       "CACHE_L1_URL", "CACHE_L1_MODE", "CACHE_L1_MAX_ENTRIES", "CACHE_L1_MAX_BYTES",
                       "CACHE_L1_TRACKING"}
    assert {k: v for k, v in s_pod.items() if k not in ("containers", "initContainers", "volumes")} == \
           {k: v for k, v in n_pod.items() if k not in ("containers", "initContainers", "volumes")}


def test_broadcast_tracking_gives_its_prefixes_and_discovery_says_the_mode():
    cfg = config.parse({"environment": "development", "caches": {"c": {
        "pattern": "statefulset", "l1": {"mode": "in-process", "tracking": "broadcast",
                                         "prefixes": ["page:", "product:"]}}}}, "t")
    from cache_patterns.core.contract import CacheBinding, CacheConnection

    shared = CacheBinding(cache="c", pattern="statefulset", connection=CacheConnection(host="h"))
    env = {e["name"]: e["value"] for e in two_tier.with_l1(shared, "t", cfg.caches["c"], native=True).env()}
    assert env["CACHE_L1_TRACKING"] == "broadcast" and env["CACHE_L1_TRACKING_PREFIXES"] == "page:,product:"
    out = two_tier.discovery_with_l1({}, "t", "c", cfg.caches["c"])["l1"]
    assert out["mode"] == "in-process" and out["prefixes"] == ["page:", "product:"] and "socket" not in out


REFUSED = {
    "elasticache-cluster-mode": {"pattern": "external", "nodeType": "cache.t4g.small", "shards": 2},
    "elasticache-serverless": {"pattern": "external", "kind": "elasticache-serverless",
                               "limits": {"dataStorageGb": 1, "ecpuPerSecond": 1000}},
    "elasticache-redis-oss": {"pattern": "external", "nodeType": "cache.t4g.small", "engine": "redis", "version": "7.1"},
    "elasticache-valkey-7.2": {"pattern": "external", "nodeType": "cache.t4g.small", "version": "7.2"},
    "endpoint-cluster": {"pattern": "external", "kind": "endpoint", "host": "r.example.com", "cluster": True},
    "ot-cluster": {"pattern": "operator", "kind": "ot-cluster"},
    "redis-6.0": {"pattern": "statefulset", "engine": "redis", "version": "6.0", "image": "redis:6.0.20-alpine"},
}


@pytest.mark.parametrize("name", REFUSED)
def test_in_process_is_refused_where_the_l2_cannot_track_for_one_connection(name):
    values = {"environment": "development", "caches": {"c": {**REFUSED[name], "l1": {"mode": "in-process"}}},
              "aws": base({})["cache-patterns:aws"], "passwords": {"c": "pw"} if "host" in REFUSED[name] else {}}
    with pytest.raises(ConfigError) as err:
        config.parse(values, "t")
    message = dict(err.value.problems)["caches.c.l1.mode"]
    assert message.startswith("in-process needs an L2 that tracks keys for the app's connection (CLIENT TRACKING), got ")
    assert message.endswith("; use mode: sidecar")
    # the sidecar L1 stays allowed on the same L2
    config.parse({**values, "caches": {"c": {**REFUSED[name], "l1": {}}}}, "t")


def test_in_process_is_accepted_on_elasticache_for_valkey_8():
    cfg = config.parse({"environment": "development", "aws": base({})["cache-patterns:aws"], "caches": {"c": {
        "pattern": "external", "nodeType": "cache.t4g.small", "version": "8.0", "l1": {"mode": "in-process"}}}}, "t")
    assert cfg.caches["c"].l1.in_process


def test_keys_of_the_other_mode_are_refused_naming_the_mode():
    with pytest.raises(ConfigError) as err:
        config.parse({"environment": "development", "caches": {"c": {"pattern": "statefulset", "l1": {
            "mode": "in-process", "memory": "96Mi", "tracking": "broadcast"}}}}, "t")
    problems = dict(err.value.problems)
    assert problems["caches.c.l1.memory"] == "only applies to mode: sidecar, got '96Mi' with mode: in-process"
    assert problems["caches.c.l1.prefixes"].startswith("is required with tracking: broadcast")
    with pytest.raises(ConfigError) as err:
        config.parse({"environment": "development", "caches": {"c": {"pattern": "statefulset", "l1": {
            "maxEntries": 10}}}}, "t")
    assert dict(err.value.problems)["caches.c.l1.maxEntries"] == "only applies to mode: in-process, got 10 with mode: sidecar"
