"""The workload a cache states (`capacity`), which sizes are planned from, and how the plan's findings
become errors or warnings by environment (docs/planning.md)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from cache_patterns import planning
from cache_patterns.config.base import StrictModel, fail
from cache_patterns.config.common import doc
from cache_patterns.config.types import Notation, Quantity
from cache_patterns.core import sizing


class SizeRange(StrictModel):
    TITLE = "a size range"
    min: Annotated[int, Quantity("bytes", min=1, max=512 * sizing.MI)] = doc(..., "Shortest.")
    max: Annotated[int, Quantity("bytes", min=1, max=512 * sizing.MI)] = doc(..., "Longest.")
    shape: Literal["uniform", "log-uniform"] = doc("uniform", "How lengths spread between them.")

    @model_validator(mode="after")
    def _check(self) -> "SizeRange":
        if self.min >= self.max:
            fail([("max", f"must be above min ({self.min}), got {self.max}; a fixed size is a plain quantity")])
        return self


class Size(Notation):
    """A length in bytes: a quantity (fixed), or {min, max, shape} for lengths that vary."""

    def __init__(self, max_bytes: int):
        self.fixed = Quantity("bytes", min=1, max=max_bytes)
        self.inner = SizeRange

    def describe(self) -> str:
        return f"{self.fixed.describe()}; or {{min, max, shape: uniform | log-uniform}}"

    def parse(self, value: Any) -> planning.Size | None:
        n = self.fixed.parse(value)
        return planning.Size.fixed(n) if n is not None else None

    def check(self, value: Any) -> planning.Size:
        if isinstance(value, dict):
            r = SizeRange.model_validate(value)
            return planning.Size(r.min, r.max, r.shape)
        return super().check(value)

    def config_value(self, value: Any) -> Any:
        if isinstance(value, planning.Size) and value.shape == "fixed":
            return self.fixed.config_value(value.min)
        if isinstance(value, planning.Size):
            return {"min": self.fixed.config_value(value.min), "max": self.fixed.config_value(value.max),
                    "shape": value.shape}
        return value

    def json_schema(self) -> dict:
        return {"anyOf": [self.fixed.json_schema(), {"type": "object", "required": ["min", "max"],
                                                     "additionalProperties": False,
                                                     "properties": {"min": self.fixed.json_schema(),
                                                                    "max": self.fixed.json_schema(),
                                                                    "shape": {"enum": ["uniform", "log-uniform"]}}}]}


class Capacity(StrictModel):
    """The workload: maxmemory, memory limit and request, replica buffer, volume, ElastiCache node type
    and serverless figures are planned from it (see docs/planning.md)."""

    TITLE = "the workload"
    keys: Annotated[int, Field(strict=True, ge=1, le=10**10)] = doc(..., "How many keys the cache must hold (the working set, if it "
                                                    "evicts).")
    value_bytes: Annotated[planning.Size, Size(512 * sizing.MI)] = doc(..., "Value length: fixed (512, 4Ki) or a "
                                                                            "range.")
    key_bytes: Annotated[planning.Size, Size(512 * sizing.MI)] = doc(planning.Size.fixed(32),
                                                                     "Key length: fixed or a range.", "32")
    ttl_percent: Annotated[int, Field(strict=True, ge=0, le=100)] | None = doc(None, "Share of keys with a TTL, in percent.",
                                                          "100 with `defaultTtl`, else 0")
    writes_per_second: Annotated[int, Field(strict=True, ge=0, le=10**8)] | None = doc(
        None, "Peak keys written per second (sizes fork copy-on-write, the replica buffer and the backlog).",
        "unknown: a fork may copy all of maxmemory")
    reads_per_second: Annotated[int, Field(strict=True, ge=0, le=10**9)] | None = doc(None, "Peak reads per second (serverless ECPU).",
                                                                 "unknown")
    pods: Annotated[int, Field(strict=True, ge=1, le=10_000)] | None = doc(None, "Pods that each hold a copy (sidecar, L1).",
                                                      "the bound apps' replicas")


def split_findings(findings: Any, env: str, prefix: str = "") -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Findings of the plan as (problems, warnings). A setting that cannot run is an error; one that
    can be OOM-killed, fill its volume or refuse writes is an error in production and staging and a
    warning in development; one that only evicts or throttles sooner is a warning."""
    errors, warnings = [], []
    for f in findings:
        hard = f.severity == planning.FATAL or (f.severity == planning.UNSAFE and env != "development")
        (errors if hard else warnings).append((f"{prefix}{f.key}", f.message))
    return errors, warnings
