"""One component API (issue 19.4): every component takes (name, args, opts) with one args shape and
defaults for what is known, a misspelt or missing arg is named (not a KeyError), every component has
typed outputs, the README's and docs/package.md's examples run as written, and Pulumi's component
analyzer infers a schema from every component (what a component provider for other languages needs)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import cache_patterns
from cache_patterns.core.component import ArgsError
from tools import harness

ROOT = Path(__file__).resolve().parent.parent
CACHES = (cache_patterns.RedisStatefulSet, cache_patterns.ExternalCache, cache_patterns.RedisOperatorCache)
SHARED = ("settings", "namespace", "apps", "environment", "cluster_domain", "kubernetes_version", "observability",
          "images")


def args_of(component: type) -> type:
    return component.__init__.__annotations__["args"]


def run_program(tmp_path: Path, source: str, stack: str = "dev") -> harness.Run:
    (tmp_path / "__main__.py").write_text(source)
    return harness.run(stack, {}, program=tmp_path, project="snippet")


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), re.S)


# ---- one shape --------------------------------------------------------------------------------------

def test_every_cache_component_takes_the_same_args_beside_its_own():
    for component in CACHES:
        hints = args_of(component).__annotations__
        assert list(hints)[:len(SHARED)] == list(SHARED), component.__name__
        assert not args_of(component).__required_keys__, f"{component.__name__}: every arg has a default"
    shared = {key: [args_of(c).__annotations__[key] for c in CACHES] for key in SHARED if key != "settings"}
    for key, types in shared.items():
        assert len(set(map(str, types))) == 1, (key, types)


def test_the_other_components_share_settings_and_environment():
    for component in (cache_patterns.AppDeployment, cache_patterns.OperatorInstallation):
        assert {"settings", "environment"} <= set(args_of(component).__annotations__), component.__name__


def test_no_arg_repeats_what_the_component_knows():
    for component in cache_patterns.COMPONENTS:
        assert not {"cache", "stack", "production", "disruption_budget"} & set(args_of(component).__annotations__)


def test_every_component_has_typed_documented_outputs():
    import ast
    import inspect

    for component in cache_patterns.COMPONENTS:
        outputs = {k for k in inspect.get_annotations(component) if not k.startswith("_")}
        assert outputs, component.__name__
        body = ast.parse(inspect.getsource(component)).body[0].body
        documented = {node.target.id for node, after in zip(body, body[1:]) if isinstance(node, ast.AnnAssign)
                      and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)}
        assert outputs <= documented, (component.__name__, outputs - documented)


def test_plain_helpers_are_not_exported_as_components():
    import pulumi

    assert not {"Sidecar", "TwoTier"} & set(cache_patterns.__all__)
    assert all(issubclass(c, pulumi.ComponentResource) for c in cache_patterns.COMPONENTS)
    exported = [getattr(cache_patterns, n) for n in cache_patterns.__all__]
    components = {c for c in exported if isinstance(c, type) and issubclass(c, pulumi.ComponentResource)}
    assert components == set(cache_patterns.COMPONENTS)


# ---- errors ---------------------------------------------------------------------------------------

MISTAKES = [
    ('RedisStatefulSet("s", {"cluster_domian": "example.org"})', "cluster_domian",
     "unknown arg 'cluster_domian'; did you mean 'cluster_domain'?"),
    ('RedisStatefulSet("s", {"settings": {"replicaz": 2}})', "settings.replicaz",
     "unknown key 'replicaz'; did you mean 'replicas'?"),
    ('RedisStatefulSet("s", {"settings": {"memory": "1GB"}})', "settings.memory", "did you mean 1Gi?"),
    ('AppDeployment("web", {"settings": {"image": "nginx:1.27"}})', "binding", "is required"),
    ('ExternalCache("e", {"settings": {"nodeType": "cache.t4g.small"}})', "aws", "is required with kind: elasticache"),
    ('RedisOperatorCache("o", ["not", "a", "dict"])', "args", "must be a dict (RedisOperatorCacheArgs)"),
]


@pytest.mark.parametrize("call,key,message", MISTAKES, ids=[m[1] for m in MISTAKES])
def test_a_mistake_in_the_args_is_named_with_what_is_allowed(tmp_path, call, key, message):
    with pytest.raises(ArgsError) as err:
        run_program(tmp_path, f"from cache_patterns import *\n{call}\n")
    assert message in dict(err.value.problems)[key], err.value
    assert "KeyError" not in str(err.value) and str(err.value).startswith("invalid args of ")


# ---- the examples of the docs -------------------------------------------------------------------

def test_the_readme_example_runs_as_written(tmp_path):
    readme = (ROOT / "README.md").read_text().split("## Using the components", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", readme, re.S)
    run = run_program(tmp_path, block)
    kinds = {(r.manifest["kind"], r.manifest["metadata"].get("namespace")) for r in run.k8s_objects}
    assert {("StatefulSet", "cache"), ("Deployment", "shop"), ("Secret", "shop")} <= kinds
    web = run.one("kubernetes:apps/v1:Deployment", "web-deployment").inputs
    env = {e["name"]: e.get("value") for e in web["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CACHE_HOST"] == "dev-sessions.cache.svc.cluster.local" and env["CACHE_NAME"] == "sessions"


@pytest.mark.parametrize("index", range(len(python_blocks(ROOT / "docs" / "package.md"))))
def test_the_package_page_examples_run_as_written(tmp_path, index):
    run = run_program(tmp_path, python_blocks(ROOT / "docs" / "package.md")[index], stack="prod")
    assert run.k8s_objects
    assert run.one("kubernetes:apps/v1:StatefulSet", "sessions-redis").protect   # production, from its settings


# ---- other Pulumi languages -------------------------------------------------------------------

def test_the_component_analyzer_reads_every_component():
    """Pulumi's Python component provider infers the package schema with this analyzer: it must read
    every component (no unions in args, no postponed annotations, outputs as Output class
    annotations), or a component provider cannot serve it."""
    from pulumi.provider.experimental.analyzer import Analyzer
    from pulumi.provider.experimental.schema import generate_schema

    result = Analyzer("cache-patterns").analyze(list(cache_patterns.COMPONENTS))
    deps = sorted(result["dependencies"], key=lambda d: f"{d.name}{d.version}")
    schema = generate_schema("cache-patterns", cache_patterns.__version__, None, result["component_definitions"],
                             result["type_definitions"], deps).to_json()
    assert set(schema["resources"]) == {f"cache-patterns:index:{c.__name__}" for c in cache_patterns.COMPONENTS}
    for token, resource in schema["resources"].items():
        assert resource["isComponent"] and resource["description"], token
        assert resource["inputProperties"] and resource["properties"], token
        for prop in (*resource["inputProperties"].values(), *resource["properties"].values()):
            assert prop.get("description"), (token, prop)
    sts = schema["resources"]["cache-patterns:index:RedisStatefulSet"]
    assert {"settings", "namespace", "apps", "environment", "clusterDomain"} <= set(sts["inputProperties"])
    assert {"host", "port", "readHost", "sentinels"} <= set(sts["properties"])
    settings = schema["types"]["cache-patterns:index:StatefulSetSettingsArgs"]["properties"]
    # The stack file's keys, camel-cased from the Python names, with their types.
    assert settings["maxmemoryPolicy"]["type"] == "string" and settings["replicas"]["type"] == "integer"
    assert settings["tls"]["$ref"].endswith(":TlsSettingsArgs") and settings["aclUsers"]["type"] == "array"
    app = schema["resources"]["cache-patterns:index:AppDeployment"]
    assert app["inputProperties"]["binding"]["$ref"].endswith(":CacheBinding")
    assert app["properties"]["deployment"]["$ref"].endswith("kubernetes:apps%2Fv1:Deployment")
    assert {d.name for d in deps} == {"kubernetes"}
