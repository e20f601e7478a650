"""What a config annotation allows, in words (`an integer from 0 to 8`, `a map of cache names to an
object (a cache)`), read from pydantic's own metadata; and the annotation at an error's location, so
errors can say what is allowed where pydantic's message would not."""
from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from cache_patterns.config.types import Allowed, Notation, Text


@dataclass(frozen=True)
class Kind:
    """An annotation taken apart: the bare type and the metadata around it."""

    tp: Any
    meta: tuple = ()
    info: FieldInfo | None = field(default=None, compare=False)

    def find(self, kind: type) -> Any:
        return next((m for m in self.meta if isinstance(m, kind)), None)

    @property
    def secret(self) -> bool:
        text = self.find(Text)
        return bool(text and text.secret)

    @property
    def notation(self) -> Notation | None:
        return self.find(Notation)

    def bound(self, name: str) -> Any:
        """ge, le, min_length or max_length, wherever pydantic put it."""
        for m in self.meta:
            value = getattr(m, name, None)
            if value is not None and not isinstance(m, FieldInfo):
                return value
        return None


def kind_of(annotation: Any, meta: tuple = (), info: FieldInfo | None = None) -> Kind:
    """`annotation` without Annotated and Optional, with every metadata item found on the way."""
    meta = tuple(meta)
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            args = typing.get_args(annotation)
            annotation, meta = args[0], meta + tuple(_flat(args[1:]))
        elif origin in (Union, types.UnionType) and type(None) in typing.get_args(annotation):
            rest = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = rest[0] if len(rest) == 1 else Union[tuple(rest)]  # type: ignore[valid-type]
        else:
            return Kind(annotation, meta, info)


def _flat(items: tuple) -> list:
    out = []
    for item in items:
        if isinstance(item, FieldInfo):
            out += list(item.metadata)
        else:
            out.append(item)
    return out


def field_kind(info: FieldInfo) -> Kind:
    return kind_of(info.annotation, tuple(info.metadata), info)


def models_of(kind: Kind) -> list[type[BaseModel]]:
    """The models a kind is: one model, or the members of a union of models."""
    tp = kind.tp
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    if typing.get_origin(tp) is Union:
        return [a for a in (kind_of(x).tp for x in typing.get_args(tp)) if isinstance(a, type) and issubclass(a, BaseModel)]
    return []


def allowed(kind: Kind) -> str:
    """The words for what `kind` allows."""
    words = kind.find(Allowed) or kind.find(Text)
    if words is not None:
        return words.text if isinstance(words, Allowed) else words.allowed
    if kind.notation is not None:
        return kind.notation.describe()
    tp, origin = kind.tp, typing.get_origin(kind.tp)
    if origin is Literal:
        choices = [str(a) for a in typing.get_args(tp)]
        return choices[0] if len(choices) == 1 else "one of " + ", ".join(choices)
    if tp is bool:
        return "true or false"
    if tp is int:
        lo, hi = kind.bound("ge"), kind.bound("le")
        if lo is not None and hi is not None:
            return f"an integer from {lo} to {hi}"
        return f"an integer >= {lo}" if lo is not None else "an integer"
    if tp is str:
        return "a string"
    if origin is dict:
        key, value = (kind_of(a) for a in typing.get_args(tp))
        return f"a map of {allowed(key)} to {allowed(value)}"
    if origin in (tuple, list):
        of = allowed(kind_of(typing.get_args(tp)[0]))
        return f"a non-empty list of {of}" if kind.bound("min_length") else f"a list of {of}"
    models = models_of(kind)
    if models:
        shared = next(c for c in models[0].__mro__ if all(issubclass(m, c) for m in models))
        return f"an object ({getattr(shared, 'TITLE', shared.__name__)})"
    if tp is Any:
        return "any value"
    return "a value"


def step(kind: Kind, part: Any) -> Kind | None:
    """The kind one location part further down (a model key, a map key or value, a list item, a union tag)."""
    kind = _resolved(kind)
    tp, origin = kind.tp, typing.get_origin(kind.tp)
    if part == "[key]" and origin is dict:
        return kind_of(typing.get_args(tp)[0])
    if origin is dict:
        return kind_of(typing.get_args(tp)[1])
    if origin in (tuple, list) and isinstance(part, int):
        return kind_of(typing.get_args(tp)[0])
    models = models_of(kind)
    if len(models) > 1:
        tagged = [m for m in models if _tag(m) == part]
        return Kind(tagged[0]) if tagged else None
    if models:
        fields = config_fields(models[0])
        info = fields.get(part) if isinstance(part, str) else None
        return field_kind(info) if info is not None else None
    return None


def _resolved(kind: Kind) -> Kind:
    """A notation that also takes an object (a size range) as that object's model."""
    inner = getattr(kind.notation, "inner", None)
    return Kind(inner) if inner is not None else kind


def _tag(model: type[BaseModel]) -> Any:
    info = model.model_fields.get("pattern")
    args = typing.get_args(info.annotation) if info is not None else ()
    return args[0] if args else None


def config_fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """Stack-file key (and attribute name) -> field."""
    out = {}
    for name, info in model.model_fields.items():
        out[info.alias or name] = info
        out.setdefault(name, info)
    return out


def at(root: Kind, loc: tuple) -> tuple[Kind | None, Kind | None]:
    """(the kind at `loc`, the kind of its parent), walking from `root`; None where the walk fails."""
    parent, here = None, root
    for part in loc:
        if here is None:
            return None, None
        parent, here = _resolved(here), step(here, part)
    return here, parent


