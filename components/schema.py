"""A small declarative schema for stack config: parse plain data into frozen dataclasses, collect
every problem (key, value, what is allowed) in one pass, and describe itself for the README.

Why not a validation library: the errors must read `caches.web.replicas: must be >= 0, got -1`,
every problem must be reported at once (including cross-field ones), defaults depend on the
environment, and the same tree generates the config reference. That is ~250 lines here.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from . import sizing

REQUIRED = object()


class ConfigError(Exception):
    """Every problem found in a stack's config. `problems` is a list of (key, message)."""

    def __init__(self, problems: Sequence[tuple[str, str]]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {key}: {msg}" for key, msg in self.problems)
        n = len(self.problems)
        super().__init__(f"invalid stack config ({n} problem{'s' if n != 1 else ''}):\n{lines}")


def show(value: Any, secret: bool = False) -> str:
    """How a value appears in an error: short, and never the text of a secret."""
    if secret:
        return "<secret>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class Ctx:
    """What parsing knows beyond the value itself: the stack, its environment, the problem list and
    the warnings (what the config allows but the plan advises against; they do not stop a deployment)."""

    stack: str
    environment: str = "development"
    namespace: str = ""
    # Whether the stack's `observability` is on: what per-cache exporters default to.
    observability: bool = False
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def error(self, path: str, message: str) -> None:
        self.problems.append((path or "<root>", message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append((path or "<root>", message))


class Invalid:
    """The result of a value that did not parse (its problem is already recorded)."""

    def __repr__(self) -> str:
        return "<invalid>"


INVALID = Invalid()


def join(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


class Spec:
    """A type of config value. `parse` returns the parsed value or INVALID (after recording why)."""

    secret = False

    def parse(self, value: Any, path: str, ctx: Ctx) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def wrong(self, value: Any, path: str, ctx: Ctx, what: str | None = None) -> Invalid:
        ctx.error(path, f"must be {what or self.describe()}, got {show(value, self.secret)}")
        return INVALID


class Str(Spec):
    def __init__(self, choices: Sequence[str] | None = None, pattern: str | None = None,
                 pattern_doc: str | None = None, max_len: int | None = None, min_len: int = 1,
                 secret: bool = False):
        self.choices = list(choices) if choices else None
        self.pattern = re.compile(pattern) if pattern else None
        self.pattern_doc = pattern_doc
        self.max_len = max_len
        self.min_len = min_len
        self.secret = secret

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        text = self.pattern_doc or "a string"
        if self.max_len:
            text += f" of at most {self.max_len} characters"
        return text

    def parse(self, value, path, ctx):
        if not isinstance(value, str):
            return self.wrong(value, path, ctx)
        if self.choices is not None and value not in self.choices:
            close = difflib.get_close_matches(value, self.choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            ctx.error(path, f"{show(value, self.secret)} is not one of {', '.join(self.choices)}{hint}")
            return INVALID
        if len(value) < self.min_len:
            return self.wrong(value, path, ctx, "a non-empty string")
        if self.max_len is not None and len(value) > self.max_len:
            ctx.error(path, f"must be at most {self.max_len} characters, got {len(value)}: {show(value, self.secret)}")
            return INVALID
        if self.pattern is not None and not self.pattern.fullmatch(value):
            return self.wrong(value, path, ctx)
        return value


class Int(Spec):
    def __init__(self, min: int | None = None, max: int | None = None):
        self.min, self.max = min, max

    def describe(self) -> str:
        if self.min is not None and self.max is not None:
            return f"an integer from {self.min} to {self.max}"
        if self.min is not None:
            return f"an integer >= {self.min}"
        return "an integer"

    def parse(self, value, path, ctx):
        # YAML and JSON numbers arrive as int or float; bool is an int in Python and is refused.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            return self.wrong(value, path, ctx)
        if self.min is not None and value < self.min:
            ctx.error(path, f"must be >= {self.min}, got {value}")
            return INVALID
        if self.max is not None and value > self.max:
            ctx.error(path, f"must be <= {self.max}, got {value}")
            return INVALID
        return value


class Bool(Spec):
    def describe(self) -> str:
        return "true or false"

    def parse(self, value, path, ctx):
        if not isinstance(value, bool):
            return self.wrong(value, path, ctx)
        return value


class Quantity(Spec):
    """A Kubernetes quantity. kind "bytes" parses to whole bytes, "cpu" to millicores."""

    def __init__(self, kind: str, min: int | None = None, max: int | None = None):
        self.kind, self.min, self.max = kind, min, max

    def _fmt(self, n: int) -> str:
        return sizing.format_bytes(n) if self.kind == "bytes" else sizing.format_millicores(n)

    def describe(self) -> str:
        base = "a memory quantity such as 256Mi" if self.kind == "bytes" else "a CPU quantity such as 250m"
        if self.min is not None:
            base += f", at least {self._fmt(self.min)}"
        if self.max is not None:
            base += f", at most {self._fmt(self.max)}"
        return base

    def parse(self, value, path, ctx):
        try:
            n = sizing.parse_bytes(value) if self.kind == "bytes" else sizing.parse_millicores(value)
        except sizing.QuantityError:
            return self.wrong(value, path, ctx)
        if (self.min is not None and n < self.min) or (self.max is not None and n > self.max):
            return self.wrong(value, path, ctx)
        return n


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?")


class Duration(Spec):
    """A duration such as 500ms, 5s, 10m, 1h30m, or a whole number of seconds. Parses to milliseconds."""

    def __init__(self, min_ms: int = 0, max_ms: int | None = None, whole_seconds: bool = False):
        self.min_ms, self.max_ms, self.whole_seconds = min_ms, max_ms, whole_seconds

    @staticmethod
    def fmt(ms: int) -> str:
        if ms % 3_600_000 == 0 and ms:
            return f"{ms // 3_600_000}h"
        if ms % 60_000 == 0 and ms:
            return f"{ms // 60_000}m"
        if ms % 1000 == 0:
            return f"{ms // 1000}s"
        return f"{ms}ms"

    def describe(self) -> str:
        text = "a duration in whole seconds such as 30s, 10m or 1h" if self.whole_seconds \
            else "a duration such as 500ms, 5s, 10m or 1h"
        if self.min_ms:
            text += f", at least {self.fmt(self.min_ms)}"
        if self.max_ms is not None:
            text += f", at most {self.fmt(self.max_ms)}"
        return text

    def parse(self, value, path, ctx):
        ms = None
        if isinstance(value, int) and not isinstance(value, bool):
            ms = value * 1000
        elif isinstance(value, str) and value:
            m = _DURATION.fullmatch(value)
            if m and any(m.groups()):
                h, mi, s, msec = (int(g) if g else 0 for g in m.groups())
                ms = ((h * 60 + mi) * 60 + s) * 1000 + msec
        if ms is None or ms < self.min_ms or (self.max_ms is not None and ms > self.max_ms) \
                or (self.whole_seconds and ms % 1000):
            return self.wrong(value, path, ctx)
        return ms


class Anything(Spec):
    """Any JSON value (Helm chart values, passed through as written)."""

    def describe(self) -> str:
        return "any value"

    def parse(self, value, path, ctx):
        return value


class ListOf(Spec):
    def __init__(self, item: Spec, min_items: int = 0, max_items: int | None = None):
        self.item, self.min_items, self.max_items = item, min_items, max_items

    def describe(self) -> str:
        text = f"a list of {self.item.describe()}"
        if self.min_items:
            text = f"a non-empty list of {self.item.describe()}"
        return text

    def parse(self, value, path, ctx):
        if not isinstance(value, list):
            return self.wrong(value, path, ctx)
        if len(value) < self.min_items or (self.max_items is not None and len(value) > self.max_items):
            bound = f"between {self.min_items} and {self.max_items}" if self.max_items else f"at least {self.min_items}"
            ctx.error(path, f"must have {bound} items, got {len(value)}")
            return INVALID
        out = [self.item.parse(v, join(path, i), ctx) for i, v in enumerate(value)]
        return INVALID if any(v is INVALID for v in out) else tuple(out)


class MapOf(Spec):
    """A map with keys of a given form (names) and values of one spec."""

    def __init__(self, value: Spec, key: Str, min_items: int = 0, what: str = "entries"):
        self.value, self.key, self.min_items, self.what = value, key, min_items, what

    def describe(self) -> str:
        return f"a map of {self.key.describe()} to {self.value.describe()}"

    def parse(self, value, path, ctx):
        if not isinstance(value, dict):
            return self.wrong(value, path, ctx)
        if len(value) < self.min_items:
            ctx.error(path, f"must have at least {self.min_items} {self.what}, got {len(value)}")
            return INVALID
        out = {}
        bad = False
        for k, v in value.items():
            sub = join(path, k)
            if self.key.parse(k, sub, ctx) is INVALID:
                bad = True
                continue
            parsed = self.value.parse(v, sub, ctx)
            bad |= parsed is INVALID
            out[k] = parsed
        return INVALID if bad else out


@dataclass(frozen=True)
class Field:
    """One key of an object: its spec, its default (a value, REQUIRED, or a function of the Ctx),
    and the sentence the README shows. `reference` marks a key whose value names a Kubernetes
    Secret rather than holding one (so the secrets-in-stack-files test lets it through)."""

    key: str
    spec: Spec
    default: Any = None
    doc: str = ""
    default_doc: str | None = None
    reference: bool = False

    @property
    def attr(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.key).lower()

    def default_for(self, ctx: Ctx) -> Any:
        return self.default(ctx) if callable(self.default) else self.default

    def describe_default(self) -> str:
        if self.default_doc is not None:
            return self.default_doc
        if self.default is REQUIRED:
            return "required"
        if self.default is None:
            return "absent"
        if isinstance(self.default, bool):
            return str(self.default).lower()
        if isinstance(self.default, tuple) and not self.default:
            return "none"
        return str(self.default)


class Obj(Spec):
    """An object with known keys, parsed into a frozen dataclass. Unknown keys are errors.

    `check(obj, path, ctx)` runs only when every field parsed, for rules across fields."""

    def __init__(self, cls: type, fields: Sequence[Field], title: str,
                 check: Callable[[Any, str, Ctx], None] | None = None, doc: str = ""):
        self.cls, self.fields, self.title, self.check, self.doc = cls, list(fields), title, check, doc
        names = {f.name for f in dataclasses.fields(cls)}
        missing = {f.attr for f in self.fields} ^ names
        if missing:
            raise TypeError(f"{cls.__name__}: schema and dataclass disagree on {sorted(missing)}")

    def describe(self) -> str:
        return f"an object ({self.title})"

    def keys(self) -> list[str]:
        return [f.key for f in self.fields]

    def parse(self, value, path, ctx):
        if not isinstance(value, dict):
            return self.wrong(value, path, ctx)
        known = {f.key: f for f in self.fields}
        bad = False
        for k in value:
            if k not in known:
                bad = True
                unknown_key(ctx, join(path, str(k)), k, list(known))
        values = {}
        for f in self.fields:
            sub = join(path, f.key)
            if f.key in value and value[f.key] is not None:
                parsed = f.spec.parse(value[f.key], sub, ctx)
            elif f.default is REQUIRED:
                ctx.error(sub, f"is required ({f.spec.describe()})")
                parsed = INVALID
            else:
                parsed = f.default_for(ctx)
            bad |= parsed is INVALID
            values[f.attr] = parsed
        if bad:
            return INVALID
        obj = self.cls(**values)
        if self.check is not None:
            before = len(ctx.problems)
            self.check(obj, path, ctx)
            if len(ctx.problems) > before:
                return INVALID
        return obj


def unknown_key(ctx: Ctx, path: str, key: object, allowed: list[str]) -> None:
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    ctx.error(path, f"unknown key {str(key)!r}{hint} (allowed: {', '.join(allowed)})")


class Tagged(Spec):
    """An object whose shape is chosen by one key (`pattern: sidecar` -> the sidecar fields)."""

    def __init__(self, tag: str, variants: Mapping[str, Obj], title: str):
        self.tag, self.variants, self.title = tag, dict(variants), title

    def describe(self) -> str:
        return f"an object ({self.title})"

    def parse(self, value, path, ctx):
        if not isinstance(value, dict):
            return self.wrong(value, path, ctx)
        choice = value.get(self.tag)
        if choice is None:
            ctx.error(join(path, self.tag), f"is required (one of {', '.join(self.variants)})")
            return INVALID
        if Str(choices=list(self.variants)).parse(choice, join(path, self.tag), ctx) is INVALID:
            return INVALID
        return self.variants[choice].parse(value, path, ctx)


def reference_rows(spec: Obj, prefix: str) -> list[tuple[str, str, str, str]]:
    """(key, allowed values, default, meaning) for every key under an object, depth first."""
    rows = []
    for f in spec.fields:
        key = f"{prefix}.{f.key}" if prefix else f.key
        rows.append((key, f.spec.describe(), f.describe_default(), f.doc))
        inner = f.spec
        while isinstance(inner, (ListOf, MapOf)):
            inner = inner.item if isinstance(inner, ListOf) else inner.value
            key += "[]" if isinstance(f.spec, ListOf) else ".<name>"
        if isinstance(inner, Obj):
            rows.extend(reference_rows(inner, key))
    return rows
