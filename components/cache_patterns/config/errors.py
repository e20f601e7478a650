"""One ConfigError for every problem of a stack file, and pydantic's errors in this project's words:
each names the stack-file key (`caches.web.replicas`, `apps[api].image`), the value and what is
allowed, reworded by error type where pydantic's message would not say it ("did you mean" included).
"""
from __future__ import annotations

import difflib
import typing
from typing import Any, Iterable, Mapping, Sequence

import pulumi
from pydantic import ValidationError

from cache_patterns.config import describe
from cache_patterns.config.base import unknown_key
from cache_patterns.config.types import ERROR_TYPE, show
from cache_patterns.core import naming


class ConfigError(pulumi.RunError):
    """Every problem found in a stack's config. `problems` is a list of (key, message).

    A RunError: the Pulumi CLI prints its text alone, without a traceback."""

    def __init__(self, problems: Sequence[tuple[str, str]]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {key}: {msg}" for key, msg in self.problems)
        n = len(self.problems)
        super().__init__(f"invalid stack config ({n} problem{'s' if n != 1 else ''}):\n{lines}")


def app_label(apps: Any, i: int) -> str:
    """`apps[<name>]` when the app at index i has a valid name no other app has, else `apps[<i>]`."""
    names = [a.get("name") if isinstance(a, dict) else getattr(a, "name", None)
             for a in (apps if isinstance(apps, (list, tuple)) else [])]
    name = names[i] if i < len(names) else None
    if isinstance(name, str) and names.count(name) == 1 and naming.is_label(name, naming.APP_NAME_MAX):
        return f"apps[{name}]"
    return f"apps[{i}]"


def key_of(loc: Iterable[Any], values: Mapping[str, Any], tags: set[str]) -> str:
    """A pydantic location as a stack-file key. Drops what pydantic adds (`[key]` for a map key, the
    union tag inside a cache) and names apps (`apps[web]`) where the name is valid and unique."""
    parts = [p for p in loc if p != "[key]"]
    if len(parts) >= 3 and parts[0] == "caches" and parts[2] in tags:
        del parts[2]
    out = ""
    for i, part in enumerate(parts):
        if isinstance(part, int):
            out += app_label(values.get("apps"), part)[4:] if i == 1 and parts[0] == "apps" else f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


def _choices(kind: describe.Kind | None) -> list[str]:
    tp = kind.tp if kind is not None else None
    return [str(a) for a in typing.get_args(tp)] if typing.get_origin(tp) is typing.Literal else []


def message(error: dict, root: describe.Kind | None) -> tuple[tuple, str]:
    """(location, message) of one pydantic error, in this project's words."""
    kind_, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    if kind_ == ERROR_TYPE:
        return loc, error["ctx"]["message"]
    here, parent = describe.at(root, loc) if root is not None else (None, None)
    secret = bool(here and here.secret)
    words = describe.allowed(here) if here is not None else None
    ctx = error.get("ctx") or {}
    if kind_ == "extra_forbidden" and parent is not None and describe.models_of(parent):
        model = describe.models_of(parent)[0]
        if loc[-1] in model.ELSEWHERE:
            return loc, model.ELSEWHERE[loc[-1]]
        return loc, unknown_key(loc[-1], list(model.config_keys()))
    if kind_ == "missing":
        return loc, f"is required ({words})" if words else "is required"
    if kind_ == "literal_error" and here is not None:
        choices = _choices(here)
        close = difflib.get_close_matches(str(value), choices, n=1) if isinstance(value, str) else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return loc, f"{show(value, secret)} is not one of {', '.join(choices)}{hint}"
    if kind_ in ("union_tag_invalid", "union_tag_not_found") and here is not None:
        tags = [str(t) for t in (describe._tag(m) for m in describe.models_of(here)) if t is not None]
        if kind_ == "union_tag_not_found":
            return loc + ("pattern",), f"is required (one of {', '.join(tags)})"
        tag = ctx.get("tag")
        close = difflib.get_close_matches(str(tag), tags, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return loc + ("pattern",), f"{show(tag)} is not one of {', '.join(tags)}{hint}"
    if kind_ == "greater_than_equal":
        return loc, f"must be >= {ctx['ge']}, got {show(value, secret)}"
    if kind_ == "less_than_equal":
        return loc, f"must be <= {ctx['le']}, got {show(value, secret)}"
    if kind_ in ("too_short", "string_too_short"):
        if kind_ == "string_too_short" and ctx.get("min_length") == 1:
            return loc, f"must be a non-empty string, got {show(value, secret)}"
        if kind_ == "too_short":
            n = ctx["min_length"]
            return loc, f"must have at least {n} {'entry' if n == 1 else 'entries'}, got {ctx['actual_length']}"
    if kind_ == "too_long":
        return loc, f"must have at most {ctx['max_length']} items, got {ctx['actual_length']}"
    if kind_ == "string_too_long":
        return loc, f"must be at most {ctx['max_length']} characters, got {len(value)}: {show(value, secret)}"
    if words is not None:
        return loc, f"must be {words}, got {show(value, secret)}"
    return loc, error["msg"]


def problems_of(exc: ValidationError, values: Mapping[str, Any], *, secret: set[str] = frozenset(),
                tags: set[str] = frozenset(), root: Any = None) -> list[tuple[str, str]]:
    """(key, message) for every error of validating `values` as `root` (a model or annotation); values
    of secret keys are never echoed."""
    out: list[tuple[str, str]] = []
    kind = describe.kind_of(root) if root is not None else None
    for error in exc.errors(include_url=False):
        loc, text = message(error, kind)
        key = key_of(loc, values, tags)
        top = key.split(".", 1)[0].split("[", 1)[0]
        raw = error.get("input")
        if top in secret and isinstance(raw, (str, int, float)) and str(raw):
            text = text.replace(repr(raw), "<secret>").replace(str(raw), "<secret>")
        if (key, text) not in out:
            out.append((key, text))
    return out
