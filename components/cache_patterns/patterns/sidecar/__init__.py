"""Pattern 3, sidecar: a Redis next to every app container, on 127.0.0.1 and a unix socket."""
from __future__ import annotations

from cache_patterns.patterns.base import Pattern, PatternDoc
from cache_patterns.patterns.sidecar.component import Sidecar, build, shape, sidecar_binding
from cache_patterns.patterns.sidecar.settings import SUMMARY, TAG, SidecarSettings

PATTERN = Pattern(
    tag=TAG, settings=SidecarSettings, build=build, shape=shape, summary=SUMMARY,
    in_cluster=True, stack_namespace=False, component=None,
    examples={"sidecar": {"pattern": TAG}},
    doc=PatternDoc(
        number=3, title="Sidecar", page="docs/patterns/sidecar.md",
        config="`pattern: sidecar`",
        choose="per-pod data that needs no sharing (memoised lookups, rendered fragments, rate-limit windows)",
        costs="memory in every pod; each pod has its own cache, cold after every restart"))

__all__ = ["PATTERN", "Sidecar", "SidecarSettings", "sidecar_binding"]
