"""Config is read through the public Pulumi API, and a value set with `pulumi config set --secret`
stays secret wherever it lands, or is refused where it cannot: a plain-text password is refused with
the exact command to use instead."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cache_patterns import stack_reader
from cache_patterns.config.errors import ConfigError
from tools import harness

ROOT = Path(__file__).resolve().parent.parent
ENDPOINT = {"cache-patterns:environment": "development",
            "cache-patterns:caches": {"legacy": {"pattern": "external", "kind": "endpoint", "host": "redis.example.com"}},
            "cache-patterns:apps": [{"name": "web", "image": "ghcr.io/acme/web:1.0.0", "cache": "legacy"}]}


def test_a_plain_text_password_is_refused_with_the_command_to_use():
    cfg = {**ENDPOINT, "cache-patterns:passwords": {"legacy": "hunter2hunter2"}}
    with pytest.raises(ConfigError) as err:
        harness.run("dev", cfg)
    problems = dict(err.value.problems)
    assert problems["passwords.legacy"] == ("is plain text in the stack config; set it as a secret: "
                                            "`pulumi config set --secret --path 'passwords.legacy' <password>`")
    assert "hunter2" not in str(err.value)


def test_a_secret_password_is_accepted_and_stays_secret():
    run = harness.run("dev", {**ENDPOINT, "cache-patterns:passwords": {"legacy": {"secure": "v1:x"}}})
    secret = next(r for r in run.resources if r.type == "kubernetes:core/v1:Secret")
    assert "stringData" in secret.secret_inputs


@pytest.mark.parametrize("key,value", [("namespace", {"secure": "v1:x"}),
                                       ("caches", {"legacy": {"pattern": "sidecar", "image": {"secure": "v1:x"}}})])
def test_a_secret_where_it_would_land_in_plain_text_is_refused(key, value):
    cfg = {**ENDPOINT, f"cache-patterns:{key}": value, "cache-patterns:passwords": {"legacy": {"secure": "v1:x"}}}
    with pytest.raises(ConfigError) as err:
        harness.run("dev", cfg)
    assert "is set as a secret (`pulumi config set --secret`)" in dict(err.value.problems)[key]


def test_a_secret_kube_context_is_a_secret_input_of_the_provider():
    cfg = {**ENDPOINT, "cache-patterns:kubeContext": {"secure": "v1:x"},
           "cache-patterns:passwords": {"legacy": {"secure": "v1:x"}}}
    provider = harness.run("dev", cfg).one("pulumi:providers:kubernetes", "k8s")
    assert "context" in provider.secret_inputs
    plain = harness.run("dev", {**cfg, "cache-patterns:kubeContext": "ctx"}).one("pulumi:providers:kubernetes", "k8s")
    assert "context" not in plain.secret_inputs and plain.inputs["context"] == "ctx"


def test_secret_operator_values_are_a_secret_input_of_the_helm_release():
    cfg = dict(harness.load_stack_config("platform"))
    cfg["cache-patterns:operators"] = {"ot-container-kit": {"install": True, "version": "0.26.0",
                                                            "values": {"token": {"secure": "v1:x"}}}}
    release = harness.run("platform", cfg).one("kubernetes:helm.sh/v3:Release")
    assert "values" in release.secret_inputs
    cfg["cache-patterns:operators"]["ot-container-kit"]["values"] = {"replicas": 1}
    assert "values" not in harness.run("platform", cfg).one("kubernetes:helm.sh/v3:Release").secret_inputs


def test_values_of_secret_keys_are_never_echoed_in_errors():
    values, problems = stack_reader.decode_all({"cache-patterns:caches": "{not json"},
                                         frozenset({"cache-patterns:caches"}))
    assert ("caches", "must be an object or list, got <secret>") in problems


def test_config_is_read_only_through_the_public_sdk_api():
    """No private attribute (`CONFIG`, `_SECRET_KEYS`) of pulumi.runtime.config is used anywhere."""
    for path in (ROOT / "components" / "cache_patterns").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pulumi.runtime"):
                pytest.fail(f"{path.name} imports from {node.module}")
            if isinstance(node, ast.Attribute) and node.attr in ("CONFIG", "_SECRET_KEYS"):
                pytest.fail(f"{path.name} reads pulumi.runtime.config.{node.attr}")


def test_load_reads_what_the_language_host_passes():
    """The CLI passes config as PULUMI_CONFIG and its secret keys as PULUMI_CONFIG_SECRET_KEYS; a
    misspelt top-level key is found there (pulumi.Config cannot list keys)."""
    with pytest.raises(ConfigError) as err:
        harness.run("dev", {"cache-patterns:environment": "development", "cache-patterns:cachez": {},
                            "cache-patterns:caches": {"c": {"pattern": "sidecar"}}})
    assert "did you mean 'caches'?" in dict(err.value.problems)["cache-patterns:cachez"]
    assert "PULUMI_CONFIG" not in __import__("os").environ   # the harness restores the environment
