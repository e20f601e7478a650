"""A new pattern is one folder and one registry line (issue 19.2). In a copy of the tree, a toy pattern
(one Redis pod behind a Service) is added as `patterns/toy/` plus one line in the registry, and
nothing else: docs generation takes it in (config reference, README table and links, the editor
schema), the parts of the unit tier that list patterns pass with it, a stack using it renders and is
planned, and the editor schema accepts it and refuses a misspelt key of it."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tools import mutate

ROOT = Path(__file__).resolve().parent.parent

SETTINGS = '''
"""Settings of the toy pattern (`pattern: toy`): one Redis pod behind a Service."""
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, model_validator

from cache_patterns.config.base import fail
from cache_patterns.config.cache import InClusterSettings
from cache_patterns.config.common import doc, environment
from cache_patterns.core import naming

TAG = "toy"
SUMMARY = "one Redis pod behind a Service, no replica (a toy)"


class ToySettings(InClusterSettings):
    """The toy pattern: one Redis pod behind a Service."""

    TITLE = "pattern: toy"
    pattern: Literal["toy"] = doc(..., SUMMARY + ".")
    port: Annotated[int, Field(strict=True, ge=1024, le=65535)] = doc(6379, "Port of the Service.")

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> "ToySettings":
        fail(self.sizing_problems(environment(info)))
        return self

    def name_checks(self, stack: str, cache: str, app_namespaces: dict[str, str]) -> list:
        return [lambda: naming.statefulset(stack, cache)]
'''

COMPONENT = '''
"""The toy pattern: one Redis pod behind a Service (no auth, no persistence: a toy)."""
from typing import NotRequired, Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.config.args import args_type
from cache_patterns.config.common import default_image
from cache_patterns.core import component as api
from cache_patterns.core import k8s as kb
from cache_patterns.core import naming, sizing
from cache_patterns.core.contract import CacheBinding, CacheConnection
from cache_patterns.patterns.base import parse_settings
from cache_patterns.patterns.toy.settings import TAG, ToySettings

ToySettingsArgs = args_type(ToySettings)


class ToyCacheArgs(TypedDict):
    """The args of the toy cache."""

    settings: NotRequired[ToySettingsArgs]
    """Its settings."""
    namespace: NotRequired[str]
    """Its namespace. Default: the stack name."""
    apps: NotRequired[list[api.AppRef]]
    """Its apps."""
    environment: NotRequired[str]
    """The environment."""
    cluster_domain: NotRequired[str]
    """The cluster's DNS domain."""


class ToyCache(pulumi.ComponentResource):
    """One Redis pod behind a Service."""

    host: pulumi.Output[str]
    """The Service's host name."""

    def __init__(self, name: str, args: ToyCacheArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(api.type_token(ToyCache), name, None, opts)
        args = api.check_args(ToyCache, name, args, ToyCacheArgs)
        s, _ = parse_settings(ToyCache, name, args, ToySettings)
        self.cache, self.settings = name, s
        ns = args.get("namespace") or api.stack()
        service = naming.statefulset(api.stack(), name)
        labels, selector = kb.labels(service, "redis", service), kb.selector(service, service)
        memory = sizing.format_bytes(s.memory_limit)
        k8s.apps.v1.Deployment(f"{name}-redis", metadata={"namespace": ns, "labels": labels}, spec={
            "replicas": 1, "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": labels}, "spec": {
                "securityContext": kb.pod_security_context(), "automountServiceAccountToken": False,
                "containers": [{"name": "redis", "image": s.image or default_image(s.engine, s.version),
                                "ports": [{"name": "redis", "containerPort": 6379}],
                                "resources": {"requests": {"cpu": sizing.format_millicores(s.cpu), "memory": memory},
                                              "limits": {"memory": memory}},
                                "securityContext": kb.container_security_context(),
                                "readinessProbe": {"tcpSocket": {"port": 6379}},
                                "livenessProbe": {"tcpSocket": {"port": 6379}}}]}}},
            opts=pulumi.ResourceOptions(parent=self))
        k8s.core.v1.Service(f"{name}-service", metadata={"name": service, "namespace": ns, "labels": labels},
                            spec={"selector": selector, "ports": [{"name": "redis", "port": s.port,
                                                                    "targetPort": "redis"}]},
                            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))
        self._host = f"{service}.{ns}.svc.{args.get('cluster_domain') or api.DEFAULT_CLUSTER_DOMAIN}"
        self.host = pulumi.Output.from_input(self._host)
        self.register_outputs({"host": self.host})

    def binding(self, namespace: str, user: Optional[str] = None) -> CacheBinding:
        return CacheBinding(cache=self.cache, pattern=TAG, connection=CacheConnection(host=self._host,
                                                                                      port=self.settings.port))

    @property
    def discovery(self) -> dict:
        return {"pattern": TAG, "host": self._host}


def build(name, settings, context, opts) -> ToyCache:
    return ToyCache(name, {"settings": settings, "namespace": context.namespace, "apps": list(context.apps),
                           "environment": context.environment, "cluster_domain": context.cluster_domain}, opts)


def shape(name, settings, app) -> CacheBinding:
    return CacheBinding(cache=name, pattern=TAG, connection=CacheConnection(host="shape", port=settings.port))
'''

INIT = '''
"""The toy pattern: one Redis pod behind a Service."""
from cache_patterns.patterns.base import Pattern, PatternDoc
from cache_patterns.patterns.toy.component import ToyCache, build, shape
from cache_patterns.patterns.toy.settings import SUMMARY, TAG, ToySettings

PATTERN = Pattern(
    tag=TAG, settings=ToySettings, build=build, shape=shape, summary=SUMMARY, in_cluster=True,
    stack_namespace=True, component=ToyCache, examples={"toy": {"pattern": TAG}},
    doc=PatternDoc(number=6, title="Toy", page="components/cache_patterns/patterns/toy/README.md",
                   config="`pattern: toy`", choose="trying the pattern interface", costs="nothing real"))
'''

README = "# The toy pattern\n\nOne Redis pod behind a Service: the smallest pattern, for the interface's test.\n"

STACK = """\
config:
  cache-patterns:environment: development
  cache-patterns:caches:
    play:
      pattern: toy
      memory: 256Mi
      capacity: {keys: 100000, valueBytes: 1Ki}
  cache-patterns:apps:
    - {name: web, image: ghcr.io/acme/web:1.0.0, cache: play}
"""

# The parts of the unit tier that list patterns (the folders, the registry, generated docs and schema,
# config messages made from the registry, every pattern's examples bound to an app, the planner).
TESTS = ("tests/test_patterns_layout.py", "tests/test_docs.py", "tests/test_schema.py",
         "tests/test_config.py::test_bad_config_is_refused_with_a_message_naming_key_value_and_what_is_allowed",
         "tests/test_app.py::test_switching_the_cache_pattern_keeps_the_app_identity_and_env_names",
         "tests/test_plan_cli.py")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("toy") / "tree"
    mutate.copy_tree(ROOT, copy)
    folder = copy / "components" / "cache_patterns" / "patterns" / "toy"
    folder.mkdir()
    for name, text in (("settings.py", SETTINGS), ("component.py", COMPONENT), ("__init__.py", INIT)):
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    (folder / "README.md").write_text(README)
    registry = copy / "components" / "cache_patterns" / "patterns" / "__init__.py"
    text = registry.read_text()
    assert text.count('    "operator",\n') == 1
    registry.write_text(text.replace('    "operator",\n', '    "operator",\n    "toy",\n'))
    return copy


def run(tree: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=tree, env=mutate.environment(tree), capture_output=True,
                          text=True, timeout=900)


def test_the_toy_is_one_folder_and_one_registry_line(tree):
    changed = [p for p in mutate.tree_files(tree) if not (ROOT / p).exists() or
               (ROOT / p).read_bytes() != (tree / p).read_bytes()]
    assert sorted(map(str, changed)) == ["components/cache_patterns/patterns/__init__.py",
                                         "components/cache_patterns/patterns/toy/README.md",
                                         "components/cache_patterns/patterns/toy/__init__.py",
                                         "components/cache_patterns/patterns/toy/component.py",
                                         "components/cache_patterns/patterns/toy/settings.py"]


def test_docs_generation_takes_the_toy_in_and_the_unit_tier_passes_with_it(tree):
    docs = run(tree, "-m", "tools.docs")
    assert docs.returncode == 0, docs.stderr
    assert "| [6. Toy](components/cache_patterns/patterns/toy/README.md) | `pattern: toy` |" in \
        (tree / "README.md").read_text()
    assert "## `caches.<name>` with `pattern: toy`" in (tree / "docs" / "reference" / "config.md").read_text()
    tests = run(tree, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not live and not cluster", *TESTS)
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "toy" in tests.stdout or " passed" in tests.stdout


def test_a_stack_with_the_toy_renders_is_planned_and_fits_the_editor_schema(tree, tmp_path):
    import jsonschema
    import yaml

    stack = tree / "stacks" / "Pulumi.toy.yaml"
    stack.write_text(STACK)
    rendered = run(tree, "-m", "tools.render", "toy", "--out", str(tmp_path / "out"))
    assert rendered.returncode == 0, rendered.stdout[-2000:] + rendered.stderr[-2000:]
    assert (tmp_path / "out" / "toy").is_dir() and "all valid" in rendered.stdout
    plan = run(tree, "-m", "tools.plan", "toy")
    assert plan.returncode == 0 and "== toy / play: pattern toy (statefulset)" in plan.stdout, plan.stderr
    schema = json.loads((tree / "schema" / "stack.schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    assert not list(validator.iter_errors(yaml.safe_load(STACK)))
    bad = yaml.safe_load(STACK.replace("memory: 256Mi", "memroy: 256Mi"))
    assert any("memroy" in e.message for e in validator.iter_errors(bad))
