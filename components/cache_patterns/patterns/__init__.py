"""The pattern registry: tag -> Pattern (settings model and build). The only place that lists them;
a new pattern is one new folder plus one line here. Two-tier is not a tag but a layer (`l1:`) any
shared pattern may carry: `patterns.two_tier`."""
from __future__ import annotations

from typing import Any

from cache_patterns.config.app import AppConfig

from cache_patterns.patterns.base import BoundCache, BuildContext, Pattern
from cache_patterns.patterns.external import PATTERN as EXTERNAL
from cache_patterns.patterns.operator import PATTERN as OPERATOR
from cache_patterns.patterns.sidecar import PATTERN as SIDECAR
from cache_patterns.patterns.statefulset import PATTERN as STATEFULSET

from cache_patterns.patterns.two_tier import shape_layer

PATTERNS: dict[str, Pattern] = {p.tag: p for p in (EXTERNAL, STATEFULSET, SIDECAR, OPERATOR)}


def env_names(cache: str, settings: Any, app: AppConfig) -> list[str]:
    """The contract variables an app bound to this cache gets (the two-tier layer included)."""
    binding = shape_layer(PATTERNS[settings.pattern].shape(cache, settings, app), cache, settings)
    return binding.env_names(app.wants_password_env)


def contract_problems(key: str, app: AppConfig, cache: str, settings: Any) -> list[tuple[str, str]]:
    """An app that reads a variable its cache does not provide: refused, naming the app, so a switch of
    pattern (or kind, or auth) that would drop a variable an app reads never reaches the cluster."""
    if not app.reads:
        return []
    names = set(env_names(cache, settings, app))
    missing = [v for v in app.reads if v not in names]
    if not missing:
        return []
    kind = f", kind {settings.kind}" if hasattr(settings, "kind") else ""
    return [(f"{key}.reads", f"app {app.name!r} reads {', '.join(missing)}, which cache {cache!r} (pattern "
                             f"{settings.pattern}{kind}) does not provide; it provides {', '.join(sorted(names))}. "
                             f"Keep a pattern that provides it, or change the app and its `reads` first "
                             f"(see docs/contract.md)")]

__all__ = ["PATTERNS", "Pattern", "BoundCache", "BuildContext", "env_names", "contract_problems"]
