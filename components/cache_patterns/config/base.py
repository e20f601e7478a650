"""The base of every config model: unknown keys refused with "did you mean", null meaning "use the
default", defaults that depend on the environment, required keys named with what they allow, and every
problem of an object reported together (pydantic collects them; this keeps our wording).
"""
from __future__ import annotations

import difflib
import typing
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, core_schema

from cache_patterns.config.types import ERROR_TYPE, Leaf, problem, show


def detail(loc: tuple, message: str, value: Any = None) -> InitErrorDetails:
    return InitErrorDetails(type=problem(message), loc=loc, input=value)


def fail(problems: list[tuple[str, str]], title: str = "config") -> None:
    """Raise every (relative key, message) at once; pydantic puts them under the object's own key.
    Keys are dotted camelCase paths with [i] for list items (`l1.ttlCap`, `aclUsers[1].name`)."""
    if problems:
        raise ValidationError.from_exception_data(title, [detail(split_key(k), m) for k, m in problems])


def split_key(key: str) -> tuple:
    out: list = []
    for part in key.replace("[", ".[").split("."):
        if part.startswith("[") and part.endswith("]") and part[1:-1].isdigit():
            out.append(int(part[1:-1]))
        elif part:
            out.append(part)
    return tuple(out)


def unknown_key(key: object, allowed: list[str]) -> str:
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {str(key)!r}{hint} (allowed: {', '.join(allowed)})"


def leaf_of(info: FieldInfo) -> Any:
    """The Leaf, Shape or model class that says what a field allows."""
    for meta in info.metadata:
        if isinstance(meta, (Leaf, Shape)):
            return meta
    return info.annotation


def describe(info: FieldInfo) -> str:
    kind = leaf_of(info)
    if isinstance(kind, (Leaf, Shape)):
        return kind.describe()
    if typing.get_origin(kind) is typing.Literal:
        return " or ".join(map(str, typing.get_args(kind)))
    models = [a for a in (kind, *typing.get_args(kind)) if isinstance(a, type) and issubclass(a, StrictModel)]
    if models:
        return f"an object ({models[0].TITLE})"
    return "a value"


class Shape:
    """A map or a list: the container's own checks (type, number of items) in our words; pydantic
    checks each key and item."""

    def __init__(self, kind: str, of: str, key: Leaf | None = None, min_items: int = 0,
                 max_items: int | None = None, what: str = "entries"):
        self.kind, self.of, self.key, self.what = kind, of, key, what
        self.min_items, self.max_items = min_items, max_items

    def describe(self) -> str:
        if self.kind == "map":
            return f"a map of {self.key.describe() if self.key else 'names'} to {self.of}"
        return f"a non-empty list of {self.of}" if self.min_items else f"a list of {self.of}"

    def check(self, value: Any) -> Any:
        if not isinstance(value, dict if self.kind == "map" else list):
            raise problem(f"must be {self.describe()}, got {show(value)}")
        if self.kind == "map" and len(value) < self.min_items:
            raise problem(f"must have at least {self.min_items} {self.what}, got {len(value)}")
        if self.kind == "list" and (len(value) < self.min_items or
                                    (self.max_items is not None and len(value) > self.max_items)):
            bound = (f"between {self.min_items} and {self.max_items}" if self.max_items
                     else f"at least {self.min_items}")
            raise problem(f"must have {bound} items, got {len(value)}")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict:
        out = handler(schema)
        if self.kind == "map" and self.min_items:
            out["minProperties"] = self.min_items
        if self.kind == "list" and self.max_items is not None:
            out["maxItems"] = self.max_items
        return out


def _schema_extra(schema: dict, cls: type) -> None:
    """Keys whose default comes from the parse context are optional in a stack file."""
    required = [k for k in schema.get("required", []) if k not in getattr(cls, "CONTEXT_DEFAULTS", {})]
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)


class StrictModel(BaseModel):
    """Frozen, camelCase keys, unknown keys refused. `TITLE` names the object in errors;
    `ENV_DEFAULTS` maps a key to its default per environment (others: the field default);
    `CONTEXT_DEFAULTS` maps a key to the parse-context entry that is its default."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True,
                              json_schema_extra=_schema_extra)
    TITLE: ClassVar[str] = "an object"
    ENV_DEFAULTS: ClassVar[dict[str, dict[str, Any]]] = {}
    CONTEXT_DEFAULTS: ClassVar[dict[str, str]] = {}

    @classmethod
    def config_keys(cls) -> dict[str, tuple[str, FieldInfo]]:
        """Stack-file key -> (attribute name, field), in declaration order."""
        return {(f.alias or name): (name, f) for name, f in cls.model_fields.items()}

    @model_validator(mode="wrap")
    @classmethod
    def _collect(cls, data: Any, handler: Any, info: Any) -> Any:
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise problem(f"must be an object ({cls.TITLE}), got {show(data)}")
        context = info.context or {}
        fields = cls.config_keys()
        errors: list[InitErrorDetails] = []
        known: dict[str, Any] = {}
        by_name = {name: key for key, (name, _) in fields.items()}
        for key, value in data.items():
            key = key if key in fields else by_name.get(key, key)   # Python callers use attribute names
            if key not in fields:
                errors.append(detail((key,), unknown_key(key, list(fields)), value))
            elif value is not None:       # an explicit null means "the default"
                known[key] = value
        reported = set()
        for key, (_, f) in fields.items():
            if key in known:
                continue
            if key in cls.ENV_DEFAULTS:
                by_env = cls.ENV_DEFAULTS[key]
                known[key] = by_env.get(context.get("environment", "development"), by_env["development"])
            elif key in cls.CONTEXT_DEFAULTS and cls.CONTEXT_DEFAULTS[key] in context:
                known[key] = context[cls.CONTEXT_DEFAULTS[key]]
            elif f.is_required():
                errors.append(detail((key,), f"is required ({describe(f)})"))
                reported.add((key,))
        try:
            result = handler(known)
        except ValidationError as exc:
            for e in exc.errors(include_url=False):
                if e["type"] == "missing" and tuple(e["loc"]) in reported:
                    continue
                message = e["ctx"]["message"] if e["type"] == ERROR_TYPE else e["msg"]
                errors.append(detail(tuple(e["loc"]), message, e.get("input")))
        else:
            if not errors:
                return result
        raise ValidationError.from_exception_data(cls.__name__, errors)
