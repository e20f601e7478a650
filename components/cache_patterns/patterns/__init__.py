"""The pattern registry: tag -> Pattern. The only place that lists the patterns; a new pattern is
one new folder (exporting `PATTERN`) plus one line in `REGISTRY`, in the order the docs present
them. Every other list of patterns (the config union, the docs' tables, the editor schema, the
planner, the namespaces the program creates) is made from it. Two-tier is not a tag but a layer
(`l1:`) any shared pattern may carry: `patterns.two_tier`."""
from __future__ import annotations

import importlib
from typing import Any

from cache_patterns.config.app import AppConfig
from cache_patterns.core.component import type_token
from cache_patterns.patterns.base import BoundCache, BuildContext, Pattern, PatternDoc
from cache_patterns.patterns.two_tier import LAYER as TWO_TIER
from cache_patterns.patterns.two_tier import shape_layer

REGISTRY = (
    "external",
    "statefulset",
    "sidecar",
    "operator",
)
PATTERNS: dict[str, Pattern] = {
    p.tag: p for p in (importlib.import_module(f"{__name__}.{folder}").PATTERN for folder in REGISTRY)}
# Every entry of the docs' list of patterns, the two-tier layer included, in their numbers' order.
DOCS: tuple[PatternDoc, ...] = tuple(sorted([*(p.doc for p in PATTERNS.values()), TWO_TIER], key=lambda d: d.number))


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

def in_cluster_components() -> tuple[str, ...]:
    """The type tokens of the components of in-cluster patterns (children move between them on a switch)."""
    return tuple(type_token(p.component) for p in PATTERNS.values() if p.in_cluster and p.component is not None)


__all__ = ["PATTERNS", "DOCS", "REGISTRY", "Pattern", "PatternDoc", "BoundCache", "BuildContext", "env_names",
           "contract_problems", "in_cluster_components"]
