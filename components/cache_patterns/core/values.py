"""A CacheBinding as plain values and back: how a binding crosses Pulumi's component provider, to a
program in another language (docs/package.md). A cache component's `bindings` output holds one per
app namespace it serves (`<namespace>`, or `<namespace>/<user>` for the apps that authenticate as an
ACL user), and AppDeployment takes one as its `binding`, as it takes a CacheBinding in Python.

Values stay what they are inside (a Secret's name may be an Output: unknown in a first preview)."""
import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

from cache_patterns.core.contract import CacheBinding


def to_value(obj: Any) -> Any:
    """A binding (or any part of one) as dicts, lists and the values inside, by Python field name."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_value(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: to_value(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_value(v) for v in obj]
    return obj


def _build(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        classes = [a for a in inner if dataclasses.is_dataclass(a)]
        return _build(classes[0], value) if classes and isinstance(value, Mapping) else value
    if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        # The fields' own annotations (the contract module postpones none; pulumi.Input holds a forward
        # reference that typing.get_type_hints cannot resolve, and needs no building).
        # A None the value holds is kept where the field has no default (an in-process L1 has no
        # connection); elsewhere a None or a missing field takes the default.
        required = {f.name for f in dataclasses.fields(tp)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        return tp(**{f.name: _build(f.type, value[f.name]) for f in dataclasses.fields(tp)
                     if f.init and (value.get(f.name) is not None or (f.name in required and f.name in value))})
    if origin in (Sequence, tuple, list) or tp is Sequence:
        return tuple(value) if isinstance(value, (list, tuple)) else value
    return value


def from_value(value: Mapping[str, Any]) -> CacheBinding:
    """A CacheBinding from `to_value`'s form (a field the value lacks takes its default)."""
    if isinstance(value, CacheBinding):
        return value
    return _build(CacheBinding, value)


def key(namespace: str, user: Optional[str] = None) -> str:
    return namespace if user is None else f"{namespace}/{user}"


def bindings(cache: Any, clients: Sequence[Any]) -> dict[str, dict]:
    """`cache.binding(namespace, user)` of every (namespace, ACL user) its apps use, as values."""
    wanted = sorted({(c.namespace, c.cache_user) for c in clients if c.namespace},
                    key=lambda p: (p[0], p[1] or ""))
    return {key(ns, user): to_value(cache.binding(ns) if user is None else cache.binding(ns, user))
            for ns, user in wanted}
