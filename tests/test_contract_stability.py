"""Contract stability: the variable names an app gets, diffed across every pair of patterns (and
kinds); what config says a pattern provides is what the program builds; an app that declares what it
reads gets it from every pattern, and a switch that would drop one is refused, naming the app."""
from __future__ import annotations

import itertools

import pytest

from cache_patterns import patterns, stack as config
from cache_patterns.config.errors import ConfigError
from cache_patterns.core import contract
from tools import harness

APP = {"name": "web", "namespace": "shop", "image": "ghcr.io/acme/web:1.0.0", "cache": "c"}
AWS = {"region": "eu-west-1", "vpcId": "vpc-0a1b2c3d4e5f60718",
       "subnetIds": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
       "clientSecurityGroupIds": ["sg-0a1b2c3d4e5f60010"]}
# One cache of every pattern and kind, as a stack would configure it (environment, cache).
FIXTURES = {
    "sidecar": ("development", {"pattern": "sidecar"}),
    "statefulset": ("staging", {"pattern": "statefulset", "tls": {"issuer": "ca"}}),
    "statefulset-no-auth": ("development", {"pattern": "statefulset", "auth": False}),
    "elasticache": ("staging", {"pattern": "external", "nodeType": "cache.t4g.small"}),
    "elasticache-cluster": ("staging", {"pattern": "external", "nodeType": "cache.t4g.small", "shards": 2}),
    "serverless": ("staging", {"pattern": "external", "kind": "elasticache-serverless",
                               "limits": {"dataStorageGb": 1, "ecpuPerSecond": 1000}}),
    "endpoint": ("staging", {"pattern": "external", "kind": "endpoint", "host": "redis.example.com"}),
    "ot-replication": ("staging", {"pattern": "operator"}),
    "ot-cluster": ("staging", {"pattern": "operator", "kind": "ot-cluster"}),
    "spotahome": ("staging", {"pattern": "operator", "kind": "spotahome-failover"}),
    "two-tier": ("staging", {"pattern": "statefulset", "l1": {"memory": "64Mi"}}),
    "two-tier-in-process": ("staging", {"pattern": "statefulset", "l1": {"mode": "in-process"}}),
}
# Names the contract documents as never absent: every pattern must give them.
ALWAYS = {name.replace("{P}", "CACHE") for name, _, absent in contract.ENV_DOC if absent.startswith("never absent")}


def stack_config(fixture: str, app: dict = APP) -> dict:
    environment, cache = FIXTURES[fixture]
    cfg = {"cache-patterns:environment": environment, "cache-patterns:caches": {"c": cache},
           "cache-patterns:apps": [app], "cache-patterns:aws": AWS}
    if cache.get("kind") == "endpoint":
        cfg["cache-patterns:passwords"] = {"c": {"secure": "v1:x"}}
    return cfg


def built_env(fixture: str, app: dict = APP) -> list[str]:
    run = harness.run("t", stack_config(fixture, app))
    deployment = run.one("kubernetes:apps/v1:Deployment", "web-deployment").inputs
    return [e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            if e["name"].startswith("CACHE_")]


def declared_env(fixture: str, app: dict = APP) -> list[str]:
    environment, cache = FIXTURES[fixture]
    values = {"environment": environment, "caches": {"c": cache}, "apps": [app], "aws": AWS}
    if cache.get("kind") == "endpoint":
        values["passwords"] = {"c": "pw"}
    cfg = config.parse(values, "t")
    return patterns.env_names("c", cfg.caches["c"], cfg.apps[0])


ENV = {name: built_env(name) for name in FIXTURES}


@pytest.mark.parametrize("fixture", FIXTURES)
def test_what_config_says_a_pattern_provides_is_what_the_program_builds(fixture):
    assert declared_env(fixture) == ENV[fixture]
    reading = {**APP, "reads": ["CACHE_URL"]}
    assert declared_env(fixture, reading) == built_env(fixture, reading)


@pytest.mark.parametrize("a,b", list(itertools.combinations(FIXTURES, 2)))
def test_env_names_differ_between_patterns_only_in_documented_optional_variables(a, b):
    names_a, names_b = set(ENV[a]), set(ENV[b])
    assert ALWAYS <= names_a and ALWAYS <= names_b
    documented = set(contract.CONTRACT_NAMES)
    for name in names_a ^ names_b:
        assert name in documented and name not in ALWAYS, (a, b, name)


@pytest.mark.parametrize("fixture", FIXTURES)
def test_an_app_that_reads_the_url_gets_one_from_every_pattern(fixture):
    env = built_env(fixture, {**APP, "reads": ["CACHE_URL", "CACHE_HOST", "CACHE_PORT"]})
    assert {"CACHE_URL", "CACHE_HOST", "CACHE_PORT"} <= set(env)
    if "CACHE_PASSWORD_FILE" in env:        # auth on: the URL carries the password by reference
        assert "CACHE_PASSWORD" in env and env.index("CACHE_PASSWORD") < env.index("CACHE_URL")


def test_a_switch_that_would_drop_a_variable_the_app_reads_is_refused_naming_the_app():
    reading = {**APP, "reads": ["CACHE_SOCKET"]}
    assert "CACHE_SOCKET" in built_env("sidecar", reading)
    for fixture in ("statefulset", "elasticache", "ot-replication"):
        environment, cache = FIXTURES[fixture]
        with pytest.raises(ConfigError) as err:
            config.parse({"environment": environment, "caches": {"c": cache}, "apps": [reading], "aws": AWS}, "t")
        message = dict(err.value.problems)["apps[web].reads"]
        assert message.startswith("app 'web' reads CACHE_SOCKET, which cache 'c' (pattern ")


@pytest.mark.parametrize("reads,mode", [("CACHE_L1_SOCKET", "in-process"), ("CACHE_L1_MAX_BYTES", "sidecar")])
def test_a_switch_of_l1_mode_that_would_drop_a_variable_the_app_reads_is_refused(reads, mode):
    """Between sidecar and in-process the app keeps every variable but the L1's own: an app that reads one
    of those (its socket, or the near cache's bound) is named when the switch would drop it."""
    environment, cache = FIXTURES["two-tier"]
    with pytest.raises(ConfigError) as err:
        config.parse({"environment": environment, "caches": {"c": {**cache, "l1": {"mode": mode}}},
                      "apps": [{**APP, "reads": [reads]}]}, "t")
    assert dict(err.value.problems)["apps[web].reads"].startswith(f"app 'web' reads {reads}, which cache 'c' (pattern ")
    other = "sidecar" if mode == "in-process" else "in-process"
    config.parse({"environment": environment, "caches": {"c": {**cache, "l1": {"mode": other}}},
                  "apps": [{**APP, "reads": [reads]}]}, "t")


def test_reads_name_contract_variables_only():
    with pytest.raises(ConfigError) as err:
        config.parse({"environment": "development", "caches": {"c": {"pattern": "sidecar"}},
                      "apps": [{**APP, "reads": ["CACHE_URI"]}]}, "t")
    assert "is not one of" in dict(err.value.problems)["apps[web].reads[0]"]


@pytest.mark.parametrize("stack", harness.list_stacks())
def test_every_app_of_every_stack_gets_exactly_what_config_declares(stack):
    from tests.conftest import stack_run

    run = stack_run(stack)
    flat, secret_keys = harness.engine_config(harness.load_stack_config(stack), lambda k: "x")
    from cache_patterns import stack_reader

    cfg = config.parse(stack_reader.decode(flat, stack, frozenset(secret_keys)), stack)
    for app in cfg.apps:
        deployment = run.one("kubernetes:apps/v1:Deployment", f"{app.name}-deployment").inputs
        env = [e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
               if e["name"].startswith("CACHE_")]
        assert env == patterns.env_names(app.cache, cfg.caches[app.cache], app), app.name
