"""The base of every config model: pydantic with `extra="forbid"`, camelCase keys and frozen values.
What pydantic has no setting for is one `before` validator: an explicit null means "use the default",
and a few defaults depend on the stack (the environment, whether observability is on), read from the
validation context. The rules that span the fields of one model raise every problem at once (`fail`).
"""
from __future__ import annotations

import difflib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails

from cache_patterns.config.types import problem


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


def _schema_extra(schema: dict, cls: type) -> None:
    """Keys whose default comes from the parse context are optional in a stack file."""
    required = [k for k in schema.get("required", []) if k not in getattr(cls, "CONTEXT_DEFAULTS", {})]
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)


class StrictModel(BaseModel):
    """Frozen, camelCase keys (Python callers may use the attribute names), unknown keys refused.
    `TITLE` names the object in errors; `ENV_DEFAULTS` maps a key to its default per environment
    (others: the field default); `CONTEXT_DEFAULTS` maps a key to the parse-context entry that is
    its default."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True,
                              regex_engine="python-re", json_schema_extra=_schema_extra)
    TITLE: ClassVar[str] = "an object"
    ENV_DEFAULTS: ClassVar[dict[str, dict[str, Any]]] = {}
    CONTEXT_DEFAULTS: ClassVar[dict[str, str]] = {}
    # The config reference documents this model's keys once, in a section of their own, and not under
    # every key that holds one (the Kubernetes shapes of `placement`: affinity, tolerations, spread).
    DOCUMENTED_ONCE: ClassVar[bool] = False
    # Keys other models have that this one refuses, with why (instead of "unknown key ... did you mean").
    ELSEWHERE: ClassVar[dict[str, str]] = {}

    @classmethod
    def config_keys_by_name(cls) -> dict[str, str]:
        """Attribute name -> stack-file key."""
        return {name: key for key, (name, _) in cls.config_keys().items()}

    @classmethod
    def config_keys(cls) -> dict[str, tuple[str, FieldInfo]]:
        """Stack-file key -> (attribute name, field), in declaration order."""
        return {(f.alias or name): (name, f) for name, f in cls.model_fields.items()}

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any, info: Any) -> Any:
        if not isinstance(data, dict):
            return data
        context = info.context or {}
        names = {name: key for key, (name, _) in cls.config_keys().items()}
        given = {names.get(k, k) for k, v in data.items() if v is not None}
        out = {k: v for k, v in data.items() if v is not None}      # an explicit null means "the default"
        for key, by_env in cls.ENV_DEFAULTS.items():
            if key not in given:
                out[key] = by_env.get(context.get("environment", "development"), by_env["development"])
        for key, entry in cls.CONTEXT_DEFAULTS.items():
            if key not in given and entry in context:
                out[key] = context[entry]
        return out
