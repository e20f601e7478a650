"""The project file: what Pulumi's project schema allows (scalar config types only), in step with the
program's own config schema, and the layout the README promises."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from cache_patterns.config import reference
from cache_patterns.stack import StackConfig

ROOT = Path(__file__).resolve().parent.parent
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
# Pulumi's project schema (sdk/go/common/workspace/project.json): a config declaration is a scalar
# default, or an object with `type` in string|integer|boolean|array (array needs `items`), and only
# the keys type, items, description, secret, default.
DECLARATION_KEYS = {"type", "items", "description", "secret", "default"}
SIMPLE_TYPES = {"string", "integer", "boolean", "array"}


def test_project_basics():
    assert PROJECT["name"] == "cache-patterns"
    runtime = PROJECT["runtime"]
    assert (runtime["name"] if isinstance(runtime, dict) else runtime) == "python"
    assert PROJECT["stackConfigDir"] == "stacks" and (ROOT / "stacks").is_dir()
    assert set(PROJECT) <= {"name", "runtime", "description", "config", "stackConfigDir", "main", "options",
                            "author", "website", "license", "backend", "template", "plugins"}


def _check_declaration(key, decl):
    if not isinstance(decl, dict):
        assert isinstance(decl, (str, int, bool)), f"{key}: a bare default must be a scalar"
        return
    assert set(decl) <= DECLARATION_KEYS, f"{key}: unexpected {set(decl) - DECLARATION_KEYS}"
    assert decl.get("type") in SIMPLE_TYPES, f"{key}: type {decl.get('type')!r} is not one Pulumi can declare"
    if decl["type"] == "array":
        assert "items" in decl, f"{key}: an array needs items"
        _check_declaration(f"{key}.items", decl["items"])


def test_config_block_declares_only_types_pulumi_can_type():
    for key, decl in PROJECT["config"].items():
        _check_declaration(key, decl)


def test_declared_keys_are_the_required_scalar_keys_of_the_program_schema_with_the_same_type():
    """The engine treats a declared key without a default as required: it refuses `pulumi up` of a
    stack that does not set it (found by the engine tier: clusterDomain, kubeContext and
    manageNamespaces were declared, and every stack left them to their defaults). Defaults have one
    source, the program's models, so exactly their required scalar keys are declared."""
    scalars = reference.scalar_types(StackConfig)
    required_scalar = {k for k, (_, info) in StackConfig.config_keys().items()
                       if info.is_required() and k not in StackConfig.CONTEXT_DEFAULTS and k in scalars}
    assert set(PROJECT["config"]) == required_scalar
    for key, decl in PROJECT["config"].items():
        assert decl["type"] == scalars[key]
        assert "default" not in decl


@pytest.mark.parametrize("stack", sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml")))
def test_every_stack_sets_every_key_the_engine_requires(stack):
    """What the engine checks before it runs the program: each declared key without a default is set."""
    stack_config = (yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text()) or {}).get("config") or {}
    required = {k for k, decl in PROJECT["config"].items() if not isinstance(decl, dict) or "default" not in decl}
    missing = sorted(k for k in required if f"cache-patterns:{k}" not in stack_config and k not in stack_config)
    assert missing == []


def test_main_only_composes():
    source = (ROOT / "__main__.py").read_text()
    tree = ast.parse(source)
    assert len(source.splitlines()) <= 45
    assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in tree.body)


def test_rendered_output_is_git_ignored():
    assert "rendered/" in (ROOT / ".gitignore").read_text().split()


def test_dependencies_are_pinned():
    """Every third-party requirement is pinned; the one exception is this checkout's own component
    library (`-e .`), whose dependency ranges the pins must satisfy (tests/test_package.py)."""
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    for line in filter(None, lines):
        if line != "-e .":
            assert "==" in line, f"unpinned: {line}"
    assert "-e ." in lines
    assert (ROOT / "constraints.txt").exists()


def _pinned(package: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if name.replace("_", "-").lower() == package:
            return version
    raise AssertionError(f"{package} is not pinned in requirements.txt")


def test_the_engine_tier_runs_the_providers_and_engine_the_sdks_ask_for():
    """The SDK pins decide which provider plugins `pulumi up` downloads for users; the engine tier
    must prove those releases, not others (e2e/pins.toml, docs/engine.md)."""
    import tomllib
    tools = tomllib.loads((ROOT / "e2e" / "pins.toml").read_text())["tools"]
    assert tools["pulumi-resource-kubernetes"]["release"] == _pinned("pulumi-kubernetes")
    cli = tuple(int(p) for p in tools["pulumi"]["version"].lstrip("v").split("."))
    assert cli >= tuple(int(p) for p in _pinned("pulumi").split(".")), "the CLI is older than the SDK"
    for f in ("requirements.txt", "constraints.txt"):
        text = (ROOT / f).read_text().replace("_", "-")
        assert f"pulumi-kubernetes=={_pinned('pulumi-kubernetes')}" in text, f


def test_every_component_has_a_module_docstring_and_typed_component_tokens():
    for path in (ROOT / "components" / "cache_patterns").rglob("*.py"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{path.name} has no module docstring"
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "__init__" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value.count(":") == 2:
                    assert first.value.startswith("cache-patterns:index:"), f"{path.name}: token {first.value}"
