"""Requests and limits of the containers beside Redis (`caches.<name>.resources.<component>`): each key
absent takes the planned default (planning/footprint.py). Redis's own are the cache's `memory`,
`cpu` and `cpuLimit`."""
from __future__ import annotations

from typing import Annotated

from cache_patterns.config.base import StrictModel
from cache_patterns.config.common import CPU, doc
from cache_patterns.config.types import Quantity
from cache_patterns.core import sizing
from cache_patterns.planning.footprint import FOOTPRINTS, Footprint

MEMORY = Annotated[int, Quantity("bytes", min=4 * sizing.MI, max=64 * sizing.GI)]


class ContainerResources(StrictModel):
    """A container's requests and limits; absent keys are planned (docs/planning.md)."""

    TITLE = "container resources"
    cpu: CPU | None = doc(None, "CPU request.", "planned")
    cpu_limit: CPU | None = doc(None, "CPU limit.", "none (a throttled Sentinel or HAProxy delays failover)")
    memory: MEMORY | None = doc(None, "Memory request.", "planned")
    memory_limit: MEMORY | None = doc(None, "Memory limit.", "planned")

    def of(self, component: str) -> "Planned":
        """These resources over the planned default of `component` (a key of FOOTPRINTS)."""
        base = FOOTPRINTS[component]
        return Planned(component, self.cpu if self.cpu is not None else base.cpu, self.cpu_limit,
                       self.memory if self.memory is not None else base.memory,
                       self.memory_limit if self.memory_limit is not None else max(base.memory_limit,
                                                                                    self.memory or 0))


class Planned:
    """A container's resources once the defaults are applied."""

    def __init__(self, component: str, cpu: int, cpu_limit: int | None, memory: int, memory_limit: int):
        self.component, self.cpu, self.cpu_limit = component, cpu, cpu_limit
        self.memory, self.memory_limit = memory, memory_limit

    def problems(self, key: str) -> list[tuple[str, str]]:
        out = []
        if self.memory > self.memory_limit:
            out.append((f"{key}.memory", f"request {sizing.format_bytes(self.memory)} is above the memory limit "
                                         f"{sizing.format_bytes(self.memory_limit)}"))
        if self.cpu_limit is not None and self.cpu > self.cpu_limit:
            out.append((f"{key}.cpu", f"request {sizing.format_millicores(self.cpu)} is above cpuLimit "
                                      f"{sizing.format_millicores(self.cpu_limit)}"))
        return out

    def k8s(self) -> dict:
        out: dict = {"requests": {"cpu": sizing.format_millicores(self.cpu), "memory": sizing.format_bytes(self.memory)},
                     "limits": {"memory": sizing.format_bytes(self.memory_limit)}}
        if self.cpu_limit is not None:
            out["limits"]["cpu"] = sizing.format_millicores(self.cpu_limit)
        return out


DEFAULT = ContainerResources()


def default(component: str) -> dict:
    """The planned resources of `component`, as Kubernetes writes them."""
    return DEFAULT.of(component).k8s()


__all__ = ["ContainerResources", "Planned", "DEFAULT", "default", "Footprint"]
