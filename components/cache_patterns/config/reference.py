"""The config models describing themselves: every key with what it allows, its default and meaning
(for docs/reference/config.md), and the JSON Schema of a whole stack file (schema/stack.schema.json,
for editors through the yaml-language-server modeline). Both come from the same pydantic fields."""
from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Iterator

from pydantic.fields import FieldInfo

from cache_patterns.config.base import StrictModel
from cache_patterns.config.describe import allowed, field_kind

SECURE = {"type": "object", "properties": {"secure": {"type": "string"}}, "required": ["secure"],
          "additionalProperties": False, "description": "A value set with `pulumi config set --secret`."}


@dataclass(frozen=True)
class Row:
    key: str           # `caches.<name>.l1.ttlCap`
    field: FieldInfo
    allowed: str
    default: str
    meaning: str

    def extra(self, name: str) -> Any:
        return (self.field.json_schema_extra or {}).get(f"x-{name}") if isinstance(self.field.json_schema_extra,
                                                                                  dict) else None


def models_in(annotation: Any) -> list[type[StrictModel]]:
    """The config models an annotation holds (through Optional, tuples, dicts, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, StrictModel):
        return [annotation]
    out: list[type[StrictModel]] = []
    for arg in typing.get_args(annotation):
        for model in models_in(arg):
            if model not in out:
                out.append(model)
    return out


def default_text(info: FieldInfo) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "x-default" in extra:
        return str(extra["x-default"])
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "absent"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list, dict)) and not value:
        return "none"
    return str(value)


def rows(model: type[StrictModel], prefix: str = "", nested: bool = True) -> Iterator[Row]:
    """Every key of a model, depth first (`nested=False`: only its own keys)."""
    for key, (_, info) in model.config_keys().items():
        full = f"{prefix}.{key}" if prefix else key
        kind = field_kind(info)
        yield Row(full, info, allowed(kind), default_text(info), info.description or "")
        if not nested:
            continue
        origin = typing.get_origin(kind.tp)
        step = ".<name>" if origin is dict else "[]" if origin in (tuple, list) else ""
        for inner in models_in(info.annotation):
            yield from rows(inner, full + step)


def config_form(info: FieldInfo, value: Any) -> Any:
    """A field's parsed value as a stack file writes it: durations, quantities and sizes in their
    own notation (not the milliseconds, bytes and millicores they parse to), objects by their keys,
    absent keys left out."""
    notation = field_kind(info).notation
    if isinstance(value, StrictModel):
        out = {}
        for key, (name, inner) in type(value).config_keys().items():
            item = getattr(value, name)
            if item is not None:
                out[key] = config_form(inner, item)
        return out
    if notation is not None:
        return notation.config_value(value)
    if isinstance(value, (tuple, list)):
        return list(value)
    return value


def all_models(model: type[StrictModel]) -> dict[str, type[StrictModel]]:
    """Every config model reachable from `model`, by class name (pydantic's definition names)."""
    out = {model.__name__: model}
    for _, (_, info) in model.config_keys().items():
        for inner in models_in(info.annotation):
            if inner.__name__ not in out:
                out.update(all_models(inner))
    return out


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


def stack_file_schema(stack_model: type[StrictModel], namespace: str, patterns: dict[str, Any]) -> dict:
    """A JSON Schema (draft-07, which yaml-language-server reads) for a whole `Pulumi.<stack>.yaml`."""
    inner = stack_model.model_json_schema(by_alias=True, ref_template="#/definitions/{model}")
    definitions = inner.pop("$defs", {})
    _stack_file_defaults(inner, stack_model)
    for name, model in all_models(stack_model).items():
        if name in definitions:
            _stack_file_defaults(definitions[name], model)
    properties = {}
    for key, prop in inner["properties"].items():
        prop.pop("title", None)
        if key == "passwords":
            prop["additionalProperties"] = SECURE
            prop["patternProperties"] = {k: SECURE for k in prop.get("patternProperties", {})}
        elif key == "kubeContext":
            prop = {"anyOf": [prop, SECURE], "description": prop.get("description", "")}
        properties[f"{namespace}:{key}"] = prop
    known = "|".join(sorted(inner["properties"]))
    for definition in definitions.values():
        definition.pop("title", None)
        for prop in definition.get("properties", {}).values():
            prop.pop("title", None)
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
                # A misspelt key of this project, or a provider key this program's explicit providers ignore.
                "patternProperties": {f"^{namespace}:(?!({known})$)": False, "^(kubernetes|aws):": False},
            },
        },
        "definitions": definitions,
    }


def scalar_types(model: type[StrictModel]) -> dict[str, str]:
    """Top-level key -> its JSON type (string, integer, boolean) where it is a scalar (for the project
    file's declared types)."""
    out = {}
    for key, (_, info) in model.config_keys().items():
        kind = field_kind(info)
        tp = str if typing.get_origin(kind.tp) is typing.Literal else kind.tp
        if kind.notation is None and tp in (str, int, bool):
            out[key] = {str: "string", int: "integer", bool: "boolean"}[tp]
    return out
