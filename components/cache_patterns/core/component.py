"""What every component of the package shares: its type token, made from its class name (so the two
never disagree), and the check of its args (a misspelt or missing arg is named, with what it takes)."""
from __future__ import annotations

PACKAGE = "cache-patterns"


def type_token(cls: type) -> str:
    """`cache-patterns:index:<Class>`: Pulumi's component package convention (one module, `index`)."""
    return f"{PACKAGE}:index:{cls.__name__}"
