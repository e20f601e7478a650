"""The typed stack config: good configs parse with the documented defaults; every bad config is
refused before any resource exists, with one message naming each key, its value and what is allowed."""
from __future__ import annotations

import copy
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cache_patterns import stack_reader
from cache_patterns import stack as config
from cache_patterns.core import sizing
from cache_patterns.config.errors import ConfigError
from cache_patterns import planning
from cache_patterns.patterns import PATTERNS
from tools import harness

BASE = {
    "environment": "development",
    "caches": {"local": {"pattern": "sidecar"}},
    "apps": [{"name": "web", "image": "ghcr.io/acme/web:1.0.0", "cache": "local"}],
}


def parse(values, stack="test"):
    return config.parse(values, stack)


def with_(path: str, value, base=BASE):
    """BASE with one value set (or removed, for value=...), by a dotted path with [i] for lists."""
    data = copy.deepcopy(base)
    keys = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")]
    node = data
    for k in keys[:-1]:
        node = node[k]
    if value is ...:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return data


def test_minimal_config_gets_the_documented_defaults():
    cfg = parse(BASE, stack="shop")
    cache = cfg.caches["local"]
    assert cfg.namespace == "shop" and cfg.apps[0].namespace == "shop"
    assert cfg.kubernetes_version == "1.33" and cfg.native_sidecars
    assert cache.engine == "valkey" and cache.maxmemory_policy == "allkeys-lru" and cache.maxmemory_percent is None
    # Without a workload: the default limit, and 80 % of it for a cache that never forks.
    assert cache.memory_limit == 128 * sizing.MI
    assert cache.maxmemory == sizing.maxmemory_for_limit(128 * sizing.MI, 80)
    app = cfg.apps[0]
    assert (app.replicas, app.port, app.run_as_user, app.password_env) == (1, 8080, 10001, False)
    assert app.writable_paths == ("/tmp",)


def test_environment_tightens_defaults():
    sts = {"pattern": "statefulset", "tls": {"issuer": "ca"}}
    prod = parse({**BASE, "environment": "production", "caches": {"s": sts}, "apps": []})
    dev = parse({**BASE, "caches": {"s": sts}, "apps": []})
    assert prod.caches["s"].replicas == 2 and dev.caches["s"].replicas == 1
    assert prod.caches["s"].retain_volumes and not dev.caches["s"].retain_volumes


def test_capacity_plans_the_memory_limit_and_maxmemory():
    cfg = parse(with_("caches.local", {"pattern": "sidecar", "capacity": {"keys": 100_000, "valueBytes": "1Ki"}}))
    c = cfg.caches["local"]
    plan = planning.plan_pod(config.workload(c), config.engine_of(c))
    assert (c.memory_limit, c.maxmemory) == (plan.limit, plan.maxmemory)
    # The default engine is Valkey 8.1: a 1 KiB value is its own 1280-byte allocation (1030 bytes with
    # its sds header, rounded to a size class); the 32-byte key lives in the 56-byte object.
    assert round(plan.cost.value) == 1280 and plan.cost.entry == 56
    assert c.memory_limit == (round(1.15 * c.maxmemory + 16 * sizing.MI) // sizing.MI + 1) * sizing.MI


def test_kubernetes_version_selects_native_or_plain_sidecars():
    assert not parse({**BASE, "kubernetesVersion": "1.28"}).native_sidecars
    assert parse({**BASE, "kubernetesVersion": "1.29"}).native_sidecars


SIDE = "caches.local"
# (description, config, [(key, fragment of the message)]) - each must be refused with these problems.
BAD = [
    ("misspelt pattern", with_(f"{SIDE}.pattern", "sidcar"),
     [(f"{SIDE}.pattern", f"'sidcar' is not one of {', '.join(PATTERNS)} (did you mean 'sidecar'?)")]),
    ("missing environment", with_("environment", ...), [("environment", "is required (one of production")]),
    ("unknown environment", with_("environment", "prod"), [("environment", "'prod' is not one of production, staging, development")]),
    ("unknown top-level key", {**BASE, "replicas": 2}, [("replicas", "unknown key 'replicas'")]),
    ("unknown cache key with a hint", with_(f"{SIDE}.maxmemoryPolicyy", "noeviction"),
     [(f"{SIDE}.maxmemoryPolicyy", "did you mean 'maxmemoryPolicy'?")]),
    ("unknown app key", with_("apps[0].replica", 3), [("apps[web].replica", "did you mean 'replicas'?")]),
    ("negative replicas", with_("caches.local", {"pattern": "statefulset", "replicas": -1}),
     [("caches.local.replicas", "must be >= 0, got -1")]),
    ("replicas as a string", with_("apps[0].replicas", "3"), [("apps[web].replicas", "must be an integer from 0 to 100, got '3'")]),
    ("replicas as a bool", with_("apps[0].replicas", True), [("apps[web].replicas", "got True")]),
    ("memory not a quantity", with_(f"{SIDE}.memory", "lots"), [(f"{SIDE}.memory", "must be a memory quantity such as 256Mi")]),
    ("memory too small for Redis", with_(f"{SIDE}.memory", "16Mi"), [(f"{SIDE}.memory", "at least 32Mi, at most 1Ti, got '16Mi'")]),
    ("upper-case K", with_(f"{SIDE}.memory", "65536K"), [(f"{SIDE}.memory", "got '65536K'")]),
    ("bad eviction policy", with_(f"{SIDE}.maxmemoryPolicy", "lru"), [(f"{SIDE}.maxmemoryPolicy", "'lru' is not one of noeviction")]),
    ("maxmemory percent out of range", with_(f"{SIDE}.maxmemoryPercent", 99), [(f"{SIDE}.maxmemoryPercent", "must be <= 95, got 99")]),
    ("a store's memory below what its workload needs, in staging", with_("environment", "staging", with_(SIDE, {
        "pattern": "statefulset", "memory": "512Mi", "maxmemoryPolicy": "noeviction", "tls": {"issuer": "ca"},
        "capacity": {"keys": 1_000_000, "valueBytes": 500}})),
     [(f"{SIDE}.memory", "memory 512.00 MiB gives maxmemory"), (f"{SIDE}.memory", "with noeviction, writes are refused")]),
    ("maxmemoryPercent that leaves no room for a fork, in staging", with_("environment", "staging", with_(SIDE, {
        "pattern": "statefulset", "memory": "2Gi", "maxmemoryPercent": 80, "tls": {"issuer": "ca"},
        "capacity": {"keys": 1_000_000, "valueBytes": 500}})),
     [(f"{SIDE}.maxmemoryPercent", "maxmemoryPercent 80 (maxmemory 1.60 GiB) needs a memory limit of"),
      (f"{SIDE}.maxmemoryPercent", "the limit is 2.00 GiB: a fork or full sync can exceed it")]),
    ("cpu request above limit", with_(f"{SIDE}.cpuLimit", "100m", with_(f"{SIDE}.cpu", "200m")),
     [(f"{SIDE}.cpu", "request 200m is above cpuLimit 100m")]),
    ("no default image for the version", with_(f"{SIDE}.version", "6.2"),
     [(f"{SIDE}.version", "no default valkey image for version '6.2'")]),
    ("image without a version", with_("apps[0].image", "nginx"), [("apps[web].image", "with a version tag or an @sha256 digest")]),
    ("image on latest", with_("apps[0].image", "nginx:latest"), [("apps[web].image", "not :latest")]),
    ("app bound to a missing cache", with_("apps[0].cache", "sessions"),
     [("apps[web].cache", "'sessions' is not a cache of this stack (caches: local)")]),
    ("duplicate app names", {**BASE, "apps": BASE["apps"] * 2}, [("apps[1].name", "already the name of apps[0]")]),
    ("app name not a DNS label", with_("apps[0].name", "Web_1"), [("apps[0].name", "must be a DNS label")]),
    ("cache name too long", {**BASE, "caches": {"c" * 25: {"pattern": "sidecar"}}, "apps": []},
     [("caches." + "c" * 25, "at most 24 characters")]),
    ("no caches", with_("caches", {}), [("caches", "must have at least 1 entry, got 0")]),
    ("caches not a map", with_("caches", ["local"]), [("caches", "must be a map of")]),
    ("reserved env name", with_("apps[0].env", {"CACHE_HOST": "x"}), [("apps[web].env.CACHE_HOST", "set by the cache binding")]),
    ("secret in plain env", with_("apps[0].env", {"DB_PASSWORD": "x"}), [("apps[web].env.DB_PASSWORD", "looks like a secret")]),
    ("app port taken by the sidecar", with_("apps[0].port", 6379), [("apps[web].port", "taken by the cache sidecar")]),
    ("privileged port", with_("apps[0].port", 80), [("apps[web].port", "must be >= 1024, got 80")]),
    ("root or low UID", with_("apps[0].runAsUser", 0), [("apps[web].runAsUser", "must be >= 10000, got 0")]),
    ("request above limit", with_("apps[0].resources", {"memory": "1Gi", "memoryLimit": "512Mi"}),
     [("apps[web].resources.memory", "request 1Gi is above memoryLimit 512Mi")]),
    ("unquoted Kubernetes version", {**BASE, "kubernetesVersion": 1.3},
     [("kubernetesVersion", "YAML reads an unquoted 1.30 as the number 1.3")]),
    ("unsupported Kubernetes version", {**BASE, "kubernetesVersion": "1.25"}, [("kubernetesVersion", "from 1.28 to 1.37")]),
    ("password env on a sidecar", with_("apps[0].passwordEnv", True), [("apps[web].passwordEnv", "has no password")]),
    ("l1 on a sidecar", with_(f"{SIDE}.l1", {"memory": "64Mi"}), [(f"{SIDE}.l1", "unknown key 'l1'")]),
    ("ttl cap longer than the default TTL",
     with_("caches.local", {"pattern": "statefulset", "defaultTtl": "10s", "l1": {"ttlCap": "30s"}}),
     [("caches.local.l1.ttlCap", "must not be longer than defaultTtl (10s), got 30s")]),
    ("ttl cap not whole seconds", with_("caches.local", {"pattern": "statefulset", "l1": {"ttlCap": "1500ms"}}),
     [("caches.local.l1.ttlCap", "in whole seconds")]),
    ("auth off outside development", with_("environment", "staging", with_("caches.local", {"pattern": "statefulset", "auth": False})),
     [("caches.local.auth", "auth can only be turned off in development, got false in staging")]),
    ("production without TLS", with_("environment", "production", with_("caches.local", {"pattern": "statefulset"})),
     [("caches.local.tls", "production requires TLS")]),
    ("production without a replica", with_("environment", "production",
                                            with_("caches.local", {"pattern": "statefulset", "replicas": 0, "tls": {"issuer": "ca"}})),
     [("caches.local.replicas", "production needs at least 1 replica for failover, got 0")]),
    ("even number of Sentinels", with_("caches.local", {"pattern": "statefulset", "sentinels": 4}),
     [("caches.local.sentinels", "must be odd")]),
    ("quorum not a majority", with_("caches.local", {"pattern": "statefulset", "quorum": 1}),
     [("caches.local.quorum", "must be a majority of 3 Sentinels (2 to 3), got 1")]),
    ("persistence without storage", with_("caches.local", {"pattern": "statefulset", "persistence": "aof"}),
     [("caches.local.persistence", "'aof' needs `storage`")]),
    ("both TLS sources", with_("caches.local", {"pattern": "statefulset", "tls": {"issuer": "ca", "certificateSecret": "tls"}}),
     [("caches.local.tls", "give one of certificateSecret or issuer, not both")]),
    ("ElastiCache without aws", with_("caches.local", {"pattern": "external", "nodeType": "cache.t4g.small"}),
     [("caches.local", "kind: elasticache needs the `aws` key")]),
    ("endpoint without a password", with_("caches.local", {"pattern": "external", "kind": "endpoint", "host": "redis.example.com"}),
     [("passwords.local", "is required for an endpoint cache with auth")]),
    ("operator with valkey", with_("caches.local", {"pattern": "operator", "engine": "valkey"}),
     [("caches.local.engine", "the operators run their own Redis images, got 'valkey' (allowed: redis)")]),
    ("operator install without a version", {**with_("caches.local", {"pattern": "operator"}),
                                            "operators": {"ot-container-kit": {"install": True}}},
     [("operators.ot-container-kit.version", "is required with install: true")]),
    ("bad duration", with_("caches.local", {"pattern": "statefulset", "downAfter": "5 seconds"}),
     [("caches.local.downAfter", "must be a duration such as 500ms, 5s, 10m or 1h")]),
]


@pytest.mark.parametrize("description,values,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_refused_with_a_message_naming_key_value_and_what_is_allowed(description, values, expected):
    with pytest.raises(ConfigError) as err:
        parse(values)
    problems = dict(err.value.problems)
    text = str(err.value)
    for key, fragment in expected:
        assert key in problems, f"{description}: no problem for {key}; got {problems}"
        assert fragment in problems[key], f"{description}: {problems[key]!r} lacks {fragment!r}"
        assert f"{key}: " in text


def test_the_corpus_is_large_enough():
    assert len(BAD) >= 25


def test_every_problem_is_reported_at_once():
    values = {"environment": "prod", "caches": {"a": {"pattern": "sidcar"}, "b": {"pattern": "sidecar", "memory": "x"}},
              "apps": [{"name": "A", "image": "x", "cache": "a"}], "colour": "blue"}
    with pytest.raises(ConfigError) as err:
        parse(values)
    keys = {k for k, _ in err.value.problems}
    assert {"environment", "caches.a.pattern", "caches.b.memory", "apps[0].name", "apps[0].image", "colour"} <= keys


def test_secret_values_are_never_echoed():
    values = {**BASE, "caches": {"legacy": {"pattern": "external", "kind": "endpoint", "host": "r.example.com"}},
              "apps": [{"name": "web", "image": "web:1", "cache": "legacy", "passwordEnv": True}],
              "passwords": {"legacy": "p@ss word/with?specials"}}
    with pytest.raises(ConfigError) as err:
        parse(values)
    assert "passwords.legacy" in dict(err.value.problems)
    assert "p@ss" not in str(err.value) and "<secret>" in str(err.value)


def test_misspelt_top_level_pulumi_keys_are_found_in_the_engine_config():
    raw = {"cache-patterns:environment": "development", "cache-patterns:cachez": "{}",
           "cache-patterns:caches": json.dumps(BASE["caches"]), "kubernetes:context": "prod-cluster"}
    with pytest.raises(ConfigError) as err:
        stack_reader.decode(raw, "test")
    problems = dict(err.value.problems)
    assert "did you mean 'caches'?" in problems["cache-patterns:cachez"]
    assert "providers are explicit; set kubeContext" in problems["kubernetes:context"]


def test_engine_strings_decode_like_the_pulumi_cli_passes_them():
    flat, secret_keys = harness.engine_config({"cache-patterns:environment": "development",
                                               "cache-patterns:manageNamespaces": False,
                                               "cache-patterns:caches": BASE["caches"],
                                               "cache-patterns:passwords": {"x": {"secure": "v1:abc"}}},
                                              lambda key: "decrypted")
    assert flat["cache-patterns:manageNamespaces"] == "false"
    assert json.loads(flat["cache-patterns:passwords"]) == {"x": "decrypted"}
    assert secret_keys == ["cache-patterns:passwords"]
    values = stack_reader.decode(flat, "t")
    assert values["manageNamespaces"] is False and values["caches"] == BASE["caches"]


def test_load_reads_the_engine_config_and_refuses_before_any_resource():
    cfg = dict(harness.load_stack_config("local"))
    cfg["cache-patterns:caches"] = {"local": {"pattern": "sidecar", "memory": "1Mi"}}
    with pytest.raises(ConfigError, match=r"caches\.local\.memory"):
        run = harness.run("local", cfg)
    cfg["cache-patterns:caches"] = {"local": {"pattern": "sidecar"}}
    run = harness.run("local", cfg)
    assert run.k8s_objects


# ---- property: any mutation of a valid config renders or raises ConfigError naming a key ----------

VALID = {stack: harness.load_stack_config(stack) for stack in harness.list_stacks()}
# 200 in CI (about 5 s); CONFIG_FUZZ_EXAMPLES=3000 for a longer hunt (passed, 30 s).
FUZZ_EXAMPLES = int(os.environ.get("CONFIG_FUZZ_EXAMPLES", "200"))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["", "1Gi", "0", "-1", "128Mi", "sidecar", "1.30",
                                                           "statefulset", "external", "operator", "x" * 70]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, path + (i,))


@st.composite
def mutated(draw):
    stack = draw(st.sampled_from(sorted(VALID)))
    data = copy.deepcopy(VALID[stack])
    paths = [p for p in _paths(data) if p]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        parent = data
        try:
            for k in path[:-1]:
                parent = parent[k]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "delete" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif action == "add" and isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=10))] = draw(VALUES)
            else:
                parent[path[-1]] = draw(VALUES)
        except (KeyError, IndexError, TypeError):
            continue
    return stack, data


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_any_mutation_renders_or_raises_a_config_error_naming_a_key(stack_and_cfg):
    stack, cfg = stack_and_cfg
    try:
        run = harness.run(stack, cfg)
    except ConfigError as err:
        assert err.problems, "a ConfigError with no problem"
        for key, message in err.problems:
            assert key and key != "<root>" and message, (key, message)
            assert f"{key}: {message}" in str(err)
        return
    assert set(run.outputs) - {"deployed"} == {"environment", "caches", "apps"}


def test_the_structure_is_pydantic_own_and_our_layer_only_rewords_it():
    """Issue 19.3: unknown keys are pydantic's `extra="forbid"` (extra_forbidden), bounds its
    Field(ge=, le=) (greater_than_equal), choices Literal (literal_error), the pattern a discriminated
    union (union_tag_invalid); config.errors turns each into the words above."""
    from pydantic import ValidationError

    from cache_patterns.stack import StackConfig

    values = {"environment": "prod", "replica": 1, "caches": {"a": {"pattern": "statefulset", "replicas": -1, "x": 1},
                                                              "b": {"pattern": "sidcar"}}}
    with pytest.raises(ValidationError) as err:
        StackConfig.model_validate(values, context={"stack": "t"})
    by_type = {e["type"]: tuple(e["loc"]) for e in err.value.errors()}
    assert by_type["literal_error"] == ("environment",)
    assert by_type["greater_than_equal"] == ("caches", "a", "statefulset", "replicas")
    assert by_type["union_tag_invalid"] == ("caches", "b")
    assert {("replica",), ("caches", "a", "statefulset", "x")} == {tuple(e["loc"]) for e in err.value.errors()
                                                                   if e["type"] == "extra_forbidden"}
