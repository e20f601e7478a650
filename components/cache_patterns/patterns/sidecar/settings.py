"""Settings of pattern 3, sidecar (`pattern: sidecar`)."""
from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, model_validator

from cache_patterns.config.base import fail
from cache_patterns.config.cache import InClusterSettings
from cache_patterns.config.common import MEMORY_LIMIT, doc, environment
from cache_patterns.core import sizing

TAG = "sidecar"
SUMMARY = "a Redis next to every app container, on 127.0.0.1 and a unix socket"


class SidecarSettings(InClusterSettings):
    """Pattern 3: a Redis next to every app container, on 127.0.0.1 and a unix socket; no auth, no persistence."""

    TITLE = "pattern: sidecar"
    DEFAULT_MEMORY: ClassVar[int] = 128 * sizing.MI
    ELSEWHERE = {"expose": "is for statefulset caches only: a sidecar cache listens inside each app pod, on "
                           "127.0.0.1 and a unix socket, and nowhere else"}
    pattern: Literal["sidecar"] = doc(..., SUMMARY + ".")
    memory: MEMORY_LIMIT | None = doc(None, "Container memory limit (and request); maxmemory is "
                                                            "derived from it.", "planned from `capacity`, else 128Mi")
    port: Annotated[int, Field(strict=True, ge=1024, le=65535)] = doc(6379, "Loopback port of the sidecar (it also listens on a unix socket).")

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> "SidecarSettings":
        fail(self.sizing_problems(environment(info)))
        return self

    def plan_origins(self) -> dict[str, str]:
        return {"persistence": "a sidecar never persists", "replicas": "a sidecar has none"}

    def plan_shape(self) -> dict[str, Any]:
        return {**super().plan_shape(), "pattern": "sidecar"}

    def name_checks(self, stack: str, cache: str, app_namespaces: dict[str, str]) -> list:
        """Derived names to check (none: a sidecar creates no named object)."""
        return []
