"""The config models describing themselves: every key with what it allows, its default and meaning
(for docs/reference/config.md; the JSON Schema of a whole stack file, from the same pydantic fields,
is `config.editor_schema`)."""
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
    """Every key of a model, depth first (`nested=False`: only its own keys); not the keys of a model
    documented once (DOCUMENTED_ONCE: `once()` lists those)."""
    for key, (_, info) in model.config_keys().items():
        full = f"{prefix}.{key}" if prefix else key
        kind = field_kind(info)
        yield Row(full, info, allowed(kind), default_text(info), info.description or "")
        if not nested:
            continue
        origin = typing.get_origin(kind.tp)
        step = ".<name>" if origin is dict else "[]" if origin in (tuple, list) else ""
        for inner in models_in(info.annotation):
            if not inner.DOCUMENTED_ONCE:
                yield from rows(inner, full + step)


def once(model: type[StrictModel]) -> list[type[StrictModel]]:
    """The models documented once that `model` holds, at any depth, in the order met."""
    out: list[type[StrictModel]] = []
    for _, (_, info) in model.config_keys().items():
        for inner in models_in(info.annotation):
            found = [inner] if inner.DOCUMENTED_ONCE else []
            for m in found + once(inner):
                if m not in out:
                    out.append(m)
    return out


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
