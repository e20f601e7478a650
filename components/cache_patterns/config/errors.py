"""One ConfigError for every problem of a stack file, and the translation of pydantic's errors into
`key: message` lines whose keys are the stack file's own (`caches.web.replicas`, `apps[api].image`)."""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import pulumi
from pydantic import ValidationError

from cache_patterns.config.app import APP_NAME
from cache_patterns.config.types import ERROR_TYPE


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
    if isinstance(name, str) and names.count(name) == 1 and APP_NAME.pattern.fullmatch(name):
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


def problems_of(exc: ValidationError, values: Mapping[str, Any], *, secret: set[str] = frozenset(),
                tags: set[str] = frozenset()) -> list[tuple[str, str]]:
    """(key, message) for every error; values of secret keys are never echoed."""
    out: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        key = key_of(error["loc"], values, tags)
        message = error["ctx"]["message"] if error["type"] == ERROR_TYPE else error["msg"]
        top = key.split(".", 1)[0].split("[", 1)[0]
        raw = error.get("input")
        if top in secret and isinstance(raw, (str, int, float)) and str(raw):
            message = message.replace(repr(raw), "<secret>").replace(str(raw), "<secret>")
        if (key, message) not in out:
            out.append((key, message))
    return out
