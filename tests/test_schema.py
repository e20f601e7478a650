"""The editor schema (schema/stack.schema.json, generated from the config models) accepts every
committed stack and refuses every file of the bad-config corpus (tests/stacks/invalid/), which the
program refuses too, at the key the file names (`# expect: <key>`)."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from cache_patterns.config.errors import ConfigError
from tools import harness

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "schema" / "stack.schema.json").read_text())
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
INVALID = sorted((ROOT / "tests" / "stacks" / "invalid").glob("*.yaml"))


def test_the_schema_is_draft_7_which_editors_read():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#" and "$defs" not in json.dumps(SCHEMA)


@pytest.mark.parametrize("stack", harness.list_stacks())
def test_every_committed_stack_is_valid(stack):
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}"
              for e in VALIDATOR.iter_errors(yaml.safe_load(harness.stack_file(stack).read_text()))]
    assert not errors, errors


def test_the_example_in_the_readme_is_valid():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("# yaml-language-server: $schema=../schema/stack.schema.json\n", 1)[1].split("```", 1)[0]
    assert not list(VALIDATOR.iter_errors(yaml.safe_load(block)))


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_the_schema_and_the_program_refuse_each_bad_file(path):
    expected = path.read_text().splitlines()[0].removeprefix("# expect: ")
    data = yaml.safe_load(path.read_text())
    assert list(VALIDATOR.iter_errors(data)), f"the schema accepts {path.name}"
    with pytest.raises(ConfigError) as err:
        harness.run(path.stem, data["config"])
    assert expected in dict(err.value.problems), err.value


def test_the_corpus_covers_keys_values_and_secrets():
    assert len(INVALID) >= 12


def _defaults() -> list[tuple[str, type, str, dict]]:
    """(where, model, key, property) of every property the schema gives a default."""
    from cache_patterns.config import reference
    from cache_patterns.stack import NAMESPACE, StackConfig

    out = [(f"{NAMESPACE}:{key}", StackConfig, key, prop)
           for full, prop in SCHEMA["properties"]["config"]["properties"].items()
           for key in [full.split(":", 1)[1]] if "default" in prop]
    for name, model in reference.all_models(StackConfig).items():
        for key, prop in SCHEMA["definitions"].get(name, {}).get("properties", {}).items():
            if "default" in prop:
                out.append((f"{name}.{key}", model, key, prop))
    return out


def test_every_default_the_schema_offers_means_the_default_when_written_into_a_stack_file():
    """An editor inserts a property's default as is. Written into a stack file it must parse to the
    model's default: a 5 s duration offered as 5000 would be 5000 s, 100 millicores of CPU offered
    as 100 would be 100 cores, a fixed key length offered as {shape: fixed} is refused."""
    from typing import Annotated

    from pydantic import TypeAdapter

    checked = []
    for where, model, key, prop in _defaults():
        _, info = model.config_keys()[key]
        expected = info.get_default(call_default_factory=True)
        if prop["default"] is None or expected is None:
            continue
        adapter = TypeAdapter(Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation)
        if info.validate_default:          # a raw default the model parses (the stack's `observability`)
            expected = adapter.validate_python(expected)
        assert adapter.validate_python(prop["default"]) == expected, (where, prop["default"], expected)
        errors = list(jsonschema.Draft7Validator({**prop, "definitions": SCHEMA["definitions"]})
                      .iter_errors(prop["default"]))
        assert not errors, (where, prop["default"], [e.message for e in errors])
        checked.append(where)
    # Durations, quantities, sizes and nested objects among them.
    for where in ("StatefulSetSettings.downAfter", "StatefulSetSettings.cpu", "Capacity.keyBytes",
                  "L1Settings.memory", "ObservabilityConfig.prometheus", "AppConfig.resources"):
        assert where in checked, where


# ---- what an editor or a validator says (issue 18.11) --------------------------------------------------

def _messages(name: str) -> tuple[str, list[str]]:
    data = yaml.safe_load((ROOT / "tests" / "stacks" / "invalid" / f"{name}.yaml").read_text())
    errors = list(VALIDATOR.iter_errors(data))
    return jsonschema.exceptions.best_match(errors).message, [e.message for e in errors]


@pytest.mark.parametrize("name,key,allowed", [
    ("misspelt-pattern", "'sidcar'", ["'external'", "'statefulset'", "'sidecar'", "'operator'"]),
    ("misspelt-top-level-key", "'cache-patterns:cachez'", ["'cache-patterns:caches'", "'cache-patterns:apps'"]),
    ("provider-key", "'kubernetes:context'", ["'cache-patterns:kubeContext'"]),
    ("unknown-environment", "'prod'", ["'production'", "'staging'", "'development'"]),
])
def test_the_best_message_names_the_key_or_value_and_what_is_allowed(name, key, allowed):
    """Before: "False schema does not allow 'cluster.local'" (the value, not the key) for an unknown
    top-level key, "'external' was expected" for a misspelt pattern."""
    best, _ = _messages(name)
    assert key in best and all(a in best for a in allowed), best
    assert "False schema" not in best and "was expected" not in best


@pytest.mark.parametrize("name,key,allowed", [("unknown-app-key", "replica", "replicas"),
                                              ("unknown-cache-key", "maxmemoryPolicyy", "maxmemoryPolicy")])
def test_an_unknown_key_is_named_with_the_keys_its_object_has(name, key, allowed):
    _, messages = _messages(name)
    assert any(f"'{key}' is not one of [" in m and f"'{allowed}'" in m for m in messages), messages


def test_every_string_with_a_pattern_carries_the_words_an_editor_shows():
    """yaml-language-server (vscode-json-languageservice) shows `patternErrorMessage` instead of the
    regular expression when a value misses it."""
    def walk(node, path=""):
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str) and "/propertyNames" not in path:
                yield path, node
            for k, v in node.items():
                if k not in ("patternProperties",):
                    yield from walk(v, f"{path}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, f"{path}/{i}")

    found = list(walk(SCHEMA))
    assert len(found) > 40
    missing = [p for p, node in found if not node.get("patternErrorMessage", "").startswith("must be ")]
    assert not missing, missing
