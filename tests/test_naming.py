"""One module owns every derived name and its limit; config refuses any input that would produce an
invalid name, naming the input to shorten (stack, cache, namespace, app)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from cache_patterns import stack as config
from cache_patterns.config.errors import ConfigError
from cache_patterns.core import naming

ROOT = Path(__file__).resolve().parent.parent


def problems(values, stack="test"):
    with pytest.raises(ConfigError) as err:
        config.parse(values, stack)
    return dict(err.value.problems)


def test_a_ca_common_name_over_64_characters_is_refused_naming_the_app_namespace():
    """cert-manager's webhook refuses a commonName over 64 characters: `<stack>-<cache>-ca.<namespace>`."""
    namespace = "n" * 46
    values = {"environment": "staging",
              "caches": {"sessions": {"pattern": "statefulset", "tls": {"issuer": "ca"}}},
              "apps": [{"name": "web", "namespace": namespace, "image": "w:1", "cache": "sessions"}]}
    found = problems(values, stack="staging")
    assert "apps[web].namespace" in found, found
    assert "commonName" in found["apps[web].namespace"] and "at most 64" in found["apps[web].namespace"]
    values["apps"][0]["namespace"] = "n" * 40
    assert config.parse(values, "staging")


def test_an_instance_label_over_63_characters_is_refused_naming_the_cache():
    """`app.kubernetes.io/instance: <stack>-<cache>` of an external cache is a label value (63 at most)."""
    values = {"environment": "development", "passwords": {"c": "pw"},
              "caches": {"c": {"pattern": "external", "kind": "endpoint", "host": "redis.example.com", "tls": True}}}
    found = problems(values, stack="s" * 62)
    assert "app.kubernetes.io/instance label" in found["caches.c"] and "at most 63" in found["caches.c"]
    assert config.parse(values, stack="s" * 61)


@pytest.mark.parametrize("kind,limit", sorted(naming.OPERATOR_NAME_LIMITS.items()))
def test_statefulset_limits_come_from_one_constant(kind, limit):
    assert naming.STATEFULSET_MAX == 52
    name = naming.statefulset("s", "c" * (naming.STATEFULSET_MAX - len(naming.SENTINEL_SUFFIX) - 2))
    assert len(name + naming.SENTINEL_SUFFIX) == naming.STATEFULSET_MAX
    with pytest.raises(naming.NameError_):
        naming.statefulset("s", "c" * (naming.STATEFULSET_MAX - len(naming.SENTINEL_SUFFIX) - 1))
    assert limit <= naming.STATEFULSET_MAX


def test_the_statefulset_name_limit_is_the_same_for_config_and_the_pod_planner():
    from cache_patterns.patterns.statefulset import ha

    longest = "x" * (naming.STATEFULSET_MAX - len(naming.SENTINEL_SUFFIX))
    ha.PodNames(statefulset=longest, namespace="ns", servers=1, sentinels=3)
    with pytest.raises(ValueError, match="at most 52"):
        ha.PodNames(statefulset=longest + "x", namespace="ns", servers=1, sentinels=3)
    values = {"environment": "development", "caches": {"c" * 20: {"pattern": "statefulset"}}}
    stack = "s" * (len(longest) - 21)
    assert config.parse(values, stack)
    assert "at most 43" in problems(values, stack=stack + "s")["caches." + "c" * 20]


def test_only_the_naming_module_writes_the_dns_label_pattern():
    """The DNS-label regex existed three times; every module now takes naming.DNS_LABEL."""
    hits = [str(p.relative_to(ROOT)) for p in (ROOT / "components" / "cache_patterns").rglob("*.py")
            if "[a-z]([-a-z0-9]*[a-z0-9])?" in p.read_text() and p.name != "naming.py"]
    assert not hits, hits


def test_components_derive_physical_names_only_through_naming():
    offenders = []
    for path in (ROOT / "components" / "cache_patterns").rglob("*.py"):
        if path.name == "naming.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "physical_name":
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders


def test_every_derived_name_of_every_committed_stack_is_within_its_limit():
    from tests.conftest import stack_run
    from tools import harness

    for stack in harness.list_stacks():
        for obj in stack_run(stack).manifests():
            meta = obj["metadata"]
            for value in (meta.get("labels") or {}).values():
                assert len(value) <= naming.LABEL_MAX and re.fullmatch(r"[A-Za-z0-9._-]*", value), (stack, value)
            if obj["kind"] in ("Service", "Namespace", "StatefulSet"):
                assert naming.is_label(meta["name"]), (stack, meta["name"])
