"""The value types of the stack config, on pydantic's own constraints: strict ints, strings and
booleans, `Field(ge=, le=)` bounds, `StringConstraints` patterns and lengths (`Text`), `Literal` choices.

What pydantic lacks is small and kept here: `Allowed`, the words an error and the config reference
use for a value (`an integer from 0 to 8`, `a DNS label`), read by `config.describe`; and the
Kubernetes notations pydantic has no type for (memory and CPU quantities, durations), which parse
to whole bytes, millicores and milliseconds and give their own errors.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Strict, StringConstraints
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


@dataclass(frozen=True)
class Allowed:
    """What a value may be, in the words errors and the config reference use (Annotated metadata)."""

    text: str


@dataclass(frozen=True, init=False)
class Text(StringConstraints):
    """pydantic's StringConstraints, strict and with a full-match `pattern`, plus the words for what
    it allows (`allowed`) and whether the value is a secret (never echoed in an error)."""

    allowed: str = "a string"
    secret: bool = False

    def __init__(self, pattern: str | None = None, allowed: str = "a string", *, max_len: int | None = None,
                 min_len: int = 1, secret: bool = False):
        object.__setattr__(self, "allowed", allowed + (f" of at most {max_len} characters" if max_len else ""))
        object.__setattr__(self, "secret", secret)
        super().__init__(strict=True, pattern=f"^(?:{pattern})$" if pattern else None, max_length=max_len,
                         min_length=min_len or None)


Flag = Annotated[bool, Strict()]


class Notation:
    """A value written in a notation pydantic has no type for. Subclasses define `describe()`,
    `parse(value)` (the parsed value, or None when it is not one), `json_schema()` and
    `config_value(parsed)` (the parsed value as a stack file writes it)."""

    secret = False
    # A model the notation also accepts in object form (errors inside it name its keys).
    inner: type | None = None

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def parse(self, value: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def json_schema(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def config_value(self, value: Any) -> Any:
        return value

    def hint(self, value: Any) -> str:
        """A suggestion for a near miss (` (did you mean 1Gi?)`), or nothing."""
        return ""

    def check(self, value: Any) -> Any:
        parsed = self.parse(value)
        if parsed is None:
            raise problem(f"must be {self.describe()}, got {show(value, self.secret)}{self.hint(value)}")
        return parsed

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict:
        return {**self.json_schema(), "x-allowed": self.describe()}


# Units people write for a byte quantity that Kubernetes reads otherwise (or refuses): 1GB, 512mb, 1gi.
_NEAR_BYTES = re.compile(r"(?i)\s*([0-9.]+)\s*([kmgtpe])(i?b|i)\s*")


class Quantity(Notation):
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

    def parse(self, value: Any) -> int | None:
        try:
            n = sizing.parse_bytes(value) if self.kind == "bytes" else sizing.parse_millicores(value)
        except sizing.QuantityError:
            return None
        if (self.min is not None and n < self.min) or (self.max is not None and n > self.max):
            return None
        return n

    def hint(self, value: Any) -> str:
        m = _NEAR_BYTES.fullmatch(value) if self.kind == "bytes" and isinstance(value, str) else None
        if m is None:
            return ""
        guess = f"{m.group(1)}{m.group(2).upper()}i"
        return f" (did you mean {guess}?)" if self.parse(guess) is not None else ""

    def json_schema(self) -> dict:
        # One schema for both forms (pattern applies to strings, minimum to numbers): one message.
        return {"type": ["string", "number"], "pattern": r"^[0-9.]+([eE][0-9]+|[numkMGTPE]|[KMGTPE]i)?$",
                "minimum": 0, "patternErrorMessage": f"must be {self.describe()}"}

    def config_value(self, value: Any) -> Any:
        # Bytes and millicores inside; a plain number in a stack file is bytes or whole cores.
        return self._fmt(value) if isinstance(value, int) else value


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?")


class Duration(Notation):
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
        words = "a duration in whole seconds such as 30s, 10m or 1h" if self.whole_seconds \
            else "a duration such as 500ms, 5s, 10m or 1h"
        if self.min_ms:
            words += f", at least {self.fmt(self.min_ms)}"
        if self.max_ms is not None:
            words += f", at most {self.fmt(self.max_ms)}"
        return words

    def parse(self, value: Any) -> int | None:
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
            return None
        return ms

    def json_schema(self) -> dict:
        return {"type": ["string", "integer"], "pattern": r"^(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$", "minimum": 0,
                "patternErrorMessage": f"must be {self.describe()}"}

    def config_value(self, value: Any) -> Any:
        # Milliseconds inside; a plain number in a stack file is seconds.
        return self.fmt(value) if isinstance(value, int) else value
