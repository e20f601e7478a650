"""Resolve Pulumi Outputs in plain unit tests (no engine needed for Output.from_input values)."""
from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime.sync_await import _sync_await


def resolve(value: Any) -> Any:
    if isinstance(value, pulumi.Output):
        return _sync_await(value.future())
    return value
