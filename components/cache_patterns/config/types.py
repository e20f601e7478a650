"""Leaf types of the stack config, used as `Annotated[...]` metadata on pydantic fields.

pydantic does the structure (objects, maps, lists, the `pattern` union, unknown keys, collecting every
error); these only say what one value may be, in the words the errors and the config reference use
(`must be an integer from 0 to 8, got '3'`), and what the editor schema allows.
"""
from __future__ import annotations

import difflib
import re
from typing import Any, Sequence

from pydantic_core import PydanticCustomError, core_schema

from cache_patterns.core import sizing

ERROR_TYPE = "cache_patterns"


def problem(message: str) -> PydanticCustomError:
    """A config error with a message of ours (pydantic keeps it as is, with the key's location)."""
    return PydanticCustomError(ERROR_TYPE, "{message}", {"message": message})


def show(value: Any, secret: bool = False) -> str:
    """How a value appears in an error: short, and never the text of a secret."""
    if secret:
        return "<secret>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Leaf:
    """One kind of value. Subclasses define `describe()` (the "allowed" text), `check(value)` (the
    parsed value, or raise `problem(...)`) and `json_schema()` (for editors)."""

    secret = False

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self, value: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def json_schema(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def config_value(self, value: Any) -> Any:
        """A parsed value as a stack file writes it (`check` of the result gives `value` back): what
        the editor schema offers as a default."""
        return value

    def wrong(self, value: Any, what: str | None = None) -> PydanticCustomError:
        return problem(f"must be {what or self.describe()}, got {show(value, self.secret)}")

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict:
        return {**self.json_schema(), "x-allowed": self.describe()}


class Str(Leaf):
    def __init__(self, choices: Sequence[str] | None = None, pattern: str | None = None,
                 pattern_doc: str | None = None, max_len: int | None = None, min_len: int = 1,
                 secret: bool = False):
        self.choices = list(choices) if choices else None
        self.pattern = re.compile(pattern) if pattern else None
        self.pattern_doc = pattern_doc
        self.max_len, self.min_len, self.secret = max_len, min_len, secret

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        text = self.pattern_doc or "a string"
        if self.max_len:
            text += f" of at most {self.max_len} characters"
        return text

    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.wrong(value)
        if self.choices is not None and value not in self.choices:
            close = difflib.get_close_matches(value, self.choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise problem(f"{show(value, self.secret)} is not one of {', '.join(self.choices)}{hint}")
        if len(value) < self.min_len:
            raise self.wrong(value, "a non-empty string")
        if self.max_len is not None and len(value) > self.max_len:
            raise problem(f"must be at most {self.max_len} characters, got {len(value)}: {show(value, self.secret)}")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise self.wrong(value)
        return value

    def json_schema(self) -> dict:
        if self.choices:
            return {"enum": list(self.choices)}
        out: dict = {"type": "string", "minLength": self.min_len}
        if self.max_len is not None:
            out["maxLength"] = self.max_len
        if self.pattern is not None:
            out["pattern"] = f"^(?:{self.pattern.pattern})$"
        return out


class Int(Leaf):
    def __init__(self, min: int | None = None, max: int | None = None):
        self.min, self.max = min, max

    def describe(self) -> str:
        if self.min is not None and self.max is not None:
            return f"an integer from {self.min} to {self.max}"
        if self.min is not None:
            return f"an integer >= {self.min}"
        return "an integer"

    def check(self, value: Any) -> int:
        # YAML and JSON numbers arrive as int or float; bool is an int in Python and is refused.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.wrong(value)
        if self.min is not None and value < self.min:
            raise problem(f"must be >= {self.min}, got {value}")
        if self.max is not None and value > self.max:
            raise problem(f"must be <= {self.max}, got {value}")
        return value

    def json_schema(self) -> dict:
        out: dict = {"type": "integer"}
        if self.min is not None:
            out["minimum"] = self.min
        if self.max is not None:
            out["maximum"] = self.max
        return out


class Bool(Leaf):
    def describe(self) -> str:
        return "true or false"

    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.wrong(value)
        return value

    def json_schema(self) -> dict:
        return {"type": "boolean"}


class Quantity(Leaf):
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

    def check(self, value: Any) -> int:
        try:
            n = sizing.parse_bytes(value) if self.kind == "bytes" else sizing.parse_millicores(value)
        except sizing.QuantityError:
            raise self.wrong(value) from None
        if (self.min is not None and n < self.min) or (self.max is not None and n > self.max):
            raise self.wrong(value)
        return n

    def json_schema(self) -> dict:
        return {"anyOf": [{"type": "string", "pattern": r"^[0-9.]+([eE][0-9]+|[numkMGTPE]|[KMGTPE]i)?$"},
                          {"type": "number", "minimum": 0}]}

    def config_value(self, value: Any) -> Any:
        # Bytes and millicores inside; a plain number in a stack file is bytes or whole cores.
        return self._fmt(value) if isinstance(value, int) else value


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?")


class Duration(Leaf):
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

    def check(self, value: Any) -> int:
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
            raise self.wrong(value)
        return ms

    def json_schema(self) -> dict:
        return {"anyOf": [{"type": "string", "pattern": r"^(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$"},
                          {"type": "integer", "minimum": 0}]}

    def config_value(self, value: Any) -> Any:
        # Milliseconds inside; a plain number in a stack file is seconds.
        return self.fmt(value) if isinstance(value, int) else value


class Anything(Leaf):
    """Any JSON value (Helm chart values, passed through as written)."""

    def describe(self) -> str:
        return "any value"

    def check(self, value: Any) -> Any:
        return value

    def json_schema(self) -> dict:
        return {}

