"""The components as a Pulumi component package (cache_patterns/provider.py, components/__main__.py):
what the component provider adds to the SDK's for them, each checked under Pulumi's mocks as a program
would drive it (the engine tier runs the real thing: e2e/scenarios/test_component_package.py), and
the binding that crosses it as values (cache_patterns/core/values.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import cache_patterns
from cache_patterns.provider import Provider
from tests.test_component_api import run_program
from tools import harness

ROOT = Path(__file__).resolve().parent.parent

# A program driving the provider as the engine would (Construct), under the mocks.
CONSTRUCT = """
import json
import pulumi
from pulumi.errors import InputPropertiesError
from cache_patterns.provider import Provider

provider = Provider()
try:
    result = provider.construct("sessions", "cache-patterns:index:RedisStatefulSet", {SETTINGS})
    pulumi.export("bindings", result.state["bindings"])
    pulumi.export("host", result.state["host"])
except InputPropertiesError as exc:
    pulumi.export("error", json.dumps({"message": exc.message, "errors": exc.errors}))
"""
GOOD = ('{"settings": {"replicas": 1.0, "memory": "256Mi", "maxmemoryPolicy": "noeviction"}, "namespace": "cache", '
        '"apps": [{"name": "web", "namespace": "shop"}], "environment": "staging"}')


def test_the_schema_is_served_for_every_component_with_the_bindings_outputs():
    schema = json.loads(Provider().schema)
    assert set(schema["resources"]) == {f"cache-patterns:index:{c.__name__}" for c in cache_patterns.COMPONENTS}
    for cache in ("RedisStatefulSet", "ExternalCache", "RedisOperatorCache"):
        bindings = schema["resources"][f"cache-patterns:index:{cache}"]["properties"]["bindings"]
        assert bindings["additionalProperties"]["$ref"].endswith(":CacheBinding"), cache


def test_an_integer_inside_a_complex_input_is_an_integer_and_bindings_come_back_in_schema_names(tmp_path):
    """The SDK stores `settings.replicas` as 1.0 (the models refuse it) and returns the `bindings`
    map with Python names; the provider fixes both."""
    run = run_program(tmp_path, CONSTRUCT.replace("{SETTINGS}", GOOD))
    assert "error" not in run.outputs, run.outputs
    binding = run.outputs["bindings"].value["shop"]
    assert {"cache", "pattern", "connection", "pod"} <= set(binding), binding
    assert "readHost" in binding["connection"] and "read_host" not in binding["connection"], binding["connection"]
    assert binding["connection"]["password"]["key"] == "password"


def test_a_settings_mistake_is_an_input_properties_error_naming_each_property(tmp_path):
    bad = GOOD.replace('"replicas": 1.0', '"replicas": 99, "memroy": "1Gi"')
    run = run_program(tmp_path, CONSTRUCT.replace("{SETTINGS}", bad))
    error = json.loads(run.outputs["error"].value)
    paths = {e["property_path"]: e["reason"] for e in error["errors"]}
    assert "settings.replicas" in paths and "8" in paths["settings.replicas"], paths
    assert "settings.memroy" in paths and "memory" in paths["settings.memroy"], paths
    assert "invalid args of RedisStatefulSet 'sessions' (2 problems)" in error["message"]


def test_an_app_bound_by_values_or_by_an_output_of_them_is_the_app_bound_by_the_object(tmp_path):
    """What a program in another language passes (a cache's `bindings` value, an Output when it comes
    from the cache's outputs) makes the same Deployment as the CacheBinding itself."""
    program = """
import pulumi
from cache_patterns import AppDeployment, RedisStatefulSet

sessions = RedisStatefulSet("sessions", {"settings": {"replicas": 1, "memory": "256Mi"}, "namespace": "cache",
                                         "apps": [{"name": "web", "namespace": "shop"}], "environment": "staging"})
settings = {"name": "web", "namespace": "shop", "image": "ghcr.io/acme/web:1.0.0", "reads": ["CACHE_URL"]}
AppDeployment("by-object", {"settings": settings, "binding": sessions.binding("shop")})
AppDeployment("by-value", {"settings": {**settings, "cache": "sessions"}, "binding": sessions.bindings["shop"]})
AppDeployment("by-output", {"settings": {**settings, "cache": "sessions"},
                            "binding": pulumi.Output.from_input(sessions.bindings["shop"])})
"""
    run = run_program(tmp_path, program)
    templates = {r.name: r.manifest["spec"]["template"] for r in run.k8s_objects
                 if r.manifest["kind"] == "Deployment" and r.name.startswith("by-")}
    assert set(templates) == {"by-object-deployment", "by-value-deployment", "by-output-deployment"}
    assert "CACHE_URL" in json.dumps(templates["by-object-deployment"])
    assert templates["by-value-deployment"] == templates["by-object-deployment"]
    assert templates["by-output-deployment"] == templates["by-object-deployment"]


def test_a_value_binding_needs_the_cache_named(tmp_path):
    program = """
from cache_patterns import AppDeployment, RedisStatefulSet
sessions = RedisStatefulSet("sessions", {"settings": {"replicas": 1, "memory": "256Mi"},
                                         "apps": [{"name": "web", "namespace": "shop"}]})
AppDeployment("web", {"settings": {"namespace": "shop", "image": "w:1"}, "binding": sessions.bindings["shop"]})
"""
    from cache_patterns.core.component import ArgsError

    with pytest.raises(ArgsError, match="settings.cache: is required with a binding passed as a value"):
        run_program(tmp_path, program)


def test_every_kind_of_binding_survives_the_trip_through_values(tmp_path):
    """to_value then from_value gives the binding back: TLS, ACL users, Sentinel, two-tier's L1
    sidecar and in-process L1 (no L1 connection, bounds, broadcast prefixes), an operator cache, an
    external endpoint."""
    program = """
import pulumi
from cache_patterns import ExternalCache, RedisOperatorCache, RedisStatefulSet
from cache_patterns.core import values

apps = [{"name": "web", "namespace": "shop"}, {"name": "api", "namespace": "shop", "cache_user": "app"}]
sts = RedisStatefulSet("sts", {"settings": {"memory": "256Mi", "tls": {"issuer": "ca"}, "l1": {"memory": "64Mi"},
                                            "aclUsers": [{"name": "app", "permissions": "~a:* +@read"}]},
                               "namespace": "cache", "apps": apps, "environment": "staging"})
op = RedisOperatorCache("op", {"settings": {"memory": "256Mi"}, "namespace": "cache", "apps": apps[:1]})
ext = ExternalCache("ext", {"settings": {"kind": "endpoint", "host": "redis.example.com", "tls": True},
                            "apps": apps[:1]})
near = RedisStatefulSet("near", {"settings": {"memory": "256Mi", "l1": {
    "mode": "in-process", "maxEntries": 5000, "tracking": "broadcast", "prefixes": ["page:", "product:"]}},
    "namespace": "cache", "apps": apps[:1], "environment": "staging"})
assert near.binding("shop").l1.near is not None and near.binding("shop").l1.connection is None
checked = {}
for cache, keys in ((sts, ["shop", "shop/app"]), (op, ["shop"]), (ext, ["shop"]), (near, ["shop"])):
    assert sorted(cache.bindings) == keys, (cache, sorted(cache.bindings))
    for key in keys:
        ns, _, user = key.partition("/")
        binding = cache.binding(ns, user or None) if user else cache.binding(ns)
        checked[f"{cache._name if hasattr(cache, '_name') else cache.cache}:{key}"] = (
            values.from_value(values.to_value(binding)) == binding and values.to_value(binding) == cache.bindings[key])
pulumi.export("checked", checked)
"""
    run = run_program(tmp_path, program)
    checked = run.outputs["checked"].value
    assert len(checked) == 5 and all(checked.values()), checked


def test_an_app_gets_its_binding_from_the_caches_outputs_through_the_provider(tmp_path):
    """As a program in another language does it: the cache's `bindings` value (schema names) as an
    Output passed to AppDeployment's `binding`; the SDK would map that Output as an empty object."""
    program = CONSTRUCT.replace("{SETTINGS}", GOOD).replace(
        '    pulumi.export("host", result.state["host"])\n', '''    pulumi.export("host", result.state["host"])
    app = provider.construct("web", "cache-patterns:index:AppDeployment", {
        "settings": {"namespace": "shop", "image": "ghcr.io/acme/web:1.0.0", "cache": "sessions", "reads": ["CACHE_URL"]},
        "binding": pulumi.Output.from_input(result.state["bindings"]["shop"]), "environment": "staging"})
    pulumi.export("dns", app.state["dnsName"])
''')
    run = run_program(tmp_path, program)
    assert "error" not in run.outputs, run.outputs
    assert run.outputs["dns"].value == "web.shop.svc.cluster.local"
    web = next(r for r in run.k8s_objects if r.manifest["kind"] == "Deployment" and r.name == "web-deployment")
    env = {e["name"] for e in web.manifest["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {"CACHE_URL", "CACHE_HOST", "CACHE_PASSWORD"} <= env, env
