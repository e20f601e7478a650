"""Config models as component args: a TypedDict with a model's fields, made from the model (so the two
never drift), in the types Pulumi's component analyzer reads (no unions, no Literal, no pydantic
metadata): quantities and durations as the strings a stack file writes, choices as strings, maps with
string keys, lists, nested models as their own TypedDicts. The model still checks every value when a
component parses its args; a component also takes an already parsed model.

The types are made when the package is imported, so the analyzer finds no source for them: the
schema describes each type (this module's text and the model's) but not each field; the config
reference (docs/reference/config.md) describes every key.
"""
import typing
from functools import cache
from typing import Any, Literal, NotRequired, TypedDict, Union

from pydantic import BaseModel

from cache_patterns.config.describe import field_kind, kind_of, models_of

REFERENCE = "docs/reference/config.md"


def _arg_type(kind: Any) -> Any:
    if kind.notation is not None:
        return Any if getattr(kind.notation, "inner", None) is not None else str
    tp, origin = kind.tp, typing.get_origin(kind.tp)
    if origin is Literal:
        return str
    if tp in (str, int, bool, float):
        return tp
    if origin is dict:
        return dict[str, _arg_type(kind_of(typing.get_args(tp)[1]))]  # type: ignore[misc]
    if origin in (tuple, list):
        return list[_arg_type(kind_of(typing.get_args(tp)[0]))]  # type: ignore[misc]
    models = models_of(kind)
    if len(models) == 1:
        return args_type(models[0])
    if origin is Union:
        return Any
    return Any


@cache
def args_type(model: type[BaseModel], exclude: tuple[str, ...] = ("pattern",), optional: tuple[str, ...] = (),
              name: str | None = None) -> type:
    """The TypedDict of `model`'s fields (attribute names, which the analyzer camel-cases into the
    stack file's keys); every field optional but the required ones. `exclude`: fields the component
    sets itself (a cache's `pattern`); `optional`: required fields it has a default for."""
    fields: dict[str, Any] = {}
    context_defaults = getattr(model, "CONTEXT_DEFAULTS", {})
    for field, info in model.model_fields.items():
        if field in exclude:
            continue
        tp = _arg_type(field_kind(info))
        required = info.is_required() and (info.alias or field) not in context_defaults and field not in optional
        fields[field] = tp if required else NotRequired[tp]
    typed = TypedDict(name or f"{model.__name__}Args", fields)  # type: ignore[operator]
    typed.__module__ = model.__module__
    typed.__doc__ = (f"{' '.join((model.__doc__ or model.__name__).split())} The keys of a stack file ({REFERENCE}), "
                     f"as Python names.")
    return typed
