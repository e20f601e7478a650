"""The JSON Schema of a whole stack file (schema/stack.schema.json, draft-07, which yaml-language-server
reads), from the config models, shaped so that a validator's messages name the key and what it
allows: an unknown key is "'replica' is not one of ['name', 'namespace', ...]" (`propertyNames`), a
misspelt pattern "'sidcar' is not one of ['external', ...]" (an enum, then one `if`/`then` per
pattern instead of a `oneOf` that reports the first branch), a value that misses its pattern carries
`patternErrorMessage` (what editors built on vscode-json-languageservice show) and `x-allowed`."""
from __future__ import annotations

from typing import Any

from cache_patterns.config.base import StrictModel
from cache_patterns.config.describe import allowed, field_kind, kind_of
from cache_patterns.config.reference import SECURE, all_models, config_form

PROVIDER_KEYS = "^(kubernetes|aws):"


def _collapse_optional(node: Any) -> Any:
    """`anyOf: [X, {type: null}]` (pydantic's Optional) as X: null is the default in a stack file, and
    one schema gives one message instead of "is not valid under any of the given schemas"."""
    if isinstance(node, list):
        return [_collapse_optional(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _collapse_optional(v) for k, v in node.items()}
    options = node.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        other = next(o for o in options if o != {"type": "null"})
        node.pop("anyOf")
        if node.get("default", "absent") is None:
            node.pop("default")
        node = {**other, **node}
    return node


def _stack_file_defaults(schema: dict, model: type[StrictModel]) -> None:
    """Replace pydantic's defaults (the parsed values: 5000 for a 5 s duration, 100 for 100m of CPU)
    by the stack-file notation an editor may insert as is."""
    for key, (_, info) in model.config_keys().items():
        prop = schema.get("properties", {}).get(key)
        if prop is None or "default" not in prop or info.is_required():
            continue
        default = info.get_default(call_default_factory=True)
        if default is not None:
            prop["default"] = config_form(info, default)


def _words(prop: dict, kind: Any) -> None:
    """What a property (and its list items) allows, for editors: `x-allowed`, and the message shown
    when a string misses its pattern."""
    text = allowed(kind)
    prop.setdefault("x-allowed", text)
    if "pattern" in prop:
        prop["patternErrorMessage"] = f"must be {text}"
    items, args = prop.get("items"), getattr(kind.tp, "__args__", ())
    if isinstance(items, dict) and "pattern" in items and args:
        items["patternErrorMessage"] = f"must be {allowed(kind_of(args[0]))}"


def _shape_model(schema: dict, model: type[StrictModel]) -> None:
    _stack_file_defaults(schema, model)
    schema.pop("title", None)
    for key, (_, info) in model.config_keys().items():
        prop = schema.get("properties", {}).get(key)
        if prop is not None:
            prop.pop("title", None)
            _words(prop, field_kind(info))
    if schema.get("additionalProperties") is False:
        schema["propertyNames"] = {"enum": list(schema.get("properties", {}))}


def _pattern_union(prop: Any, patterns: dict[str, Any]) -> Any:
    """A cache's schema: `pattern` first (an enum), then the settings of that pattern."""
    if isinstance(prop, dict) and "oneOf" in prop and "discriminator" in prop:
        return {"type": "object", "required": ["pattern"], "properties": {"pattern": {"enum": list(patterns)}},
                "allOf": [{"if": {"properties": {"pattern": {"const": tag}}, "required": ["pattern"]},
                           "then": {"$ref": f"#/definitions/{p.settings.__name__}"}} for tag, p in patterns.items()]}
    if isinstance(prop, dict):
        return {k: _pattern_union(v, patterns) for k, v in prop.items()}
    return prop


def stack_file_schema(stack_model: type[StrictModel], namespace: str, patterns: dict[str, Any]) -> dict:
    """A JSON Schema (draft-07, which yaml-language-server reads) for a whole `Pulumi.<stack>.yaml`."""
    inner = _collapse_optional(stack_model.model_json_schema(by_alias=True, ref_template="#/definitions/{model}"))
    definitions = inner.pop("$defs", {})
    _shape_model(inner, stack_model)
    for name, model in all_models(stack_model).items():
        if name in definitions:
            _shape_model(definitions[name], model)
    properties = {}
    for key, prop in _pattern_union(inner["properties"], patterns).items():
        if key == "passwords":
            prop["additionalProperties"] = SECURE
            prop["patternProperties"] = {k: SECURE for k in prop.get("patternProperties", {})}
        elif key == "kubeContext":
            prop = {"anyOf": [prop, SECURE], "description": prop.get("description", "")}
        properties[f"{namespace}:{key}"] = prop
    own = [f"{namespace}:{k}" for k in inner["properties"]]
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "cache-patterns stack file (stacks/Pulumi.<stack>.yaml)",
        "description": "Generated from the config models by `./run docs`; do not edit.",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "properties": properties,
                "required": [f"{namespace}:{k}" for k in inner.get("required", []) if k != "namespace"],
                # A misspelt key of this project is named with the keys it has; a provider key this
                # program's explicit providers ignore, with the keys that set the same instead.
                "propertyNames": {
                    "if": {"pattern": f"^{namespace}:"}, "then": {"enum": own},
                    "else": {"if": {"pattern": PROVIDER_KEYS},
                             "then": {"enum": [f"{namespace}:kubeContext", f"{namespace}:aws"]}}},
            },
        },
        "definitions": definitions,
    }
