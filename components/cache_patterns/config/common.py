"""What caches of several patterns share: the engine and its image table, sizing, TLS, and the checks
that depend on the environment (production and staging tighten them)."""
from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, model_validator

from cache_patterns import planning
from cache_patterns.config.base import StrictModel, fail
from cache_patterns.config.types import Duration, Notation, Quantity, Text
from cache_patterns.core import naming, sizing

Environment = Literal["production", "staging", "development"]
ENVIRONMENTS: tuple[str, ...] = Environment.__args__
MaxmemoryPolicy = Literal["noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
                          "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"]
MAXMEMORY_POLICIES: tuple[str, ...] = MaxmemoryPolicy.__args__
Engine = Literal["redis", "valkey"]
ENGINES: tuple[str, ...] = Engine.__args__
# Default images of in-cluster caches, by (engine, version): tags current in 2026-11; pin a digest
# (`image: name:tag@sha256:...`) in production. Redis 7.2 is the last BSD-licensed Redis line
# (7.4+ is RSALv2/SSPLv1, 8.0+ adds AGPLv3); Valkey stays BSD-3-Clause.
ENGINE_IMAGES = {
    ("valkey", "8.1"): ("valkey/valkey:8.1.11-alpine", "BSD-3-Clause"),
    ("valkey", "9.0"): ("valkey/valkey:9.0.8-alpine", "BSD-3-Clause"),
    ("redis", "7.2"): ("redis:7.2.11-alpine", "BSD-3-Clause"),
}
DEFAULT_ENGINE_VERSION = {"valkey": "8.1", "redis": "7.2"}

# An image is `repository[:tag][@sha256:<64 hex>]` with a tag or a digest; `latest` alone is refused
# because it is not a version (a digest pins it, so `name:latest@sha256:...` is accepted).
IMAGE = Annotated[str, Text(r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
             r"((:(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})",
             "an image reference with a version tag or an @sha256 digest (not :latest)")]
MEMORY_LIMIT = Annotated[int, Quantity("bytes", min=sizing.MIN_REDIS_MEMORY, max=1024 * sizing.GI)]
CPU = Annotated[int, Quantity("cpu", min=1, max=64_000)]
PERCENT = Annotated[int, Field(strict=True, ge=10, le=95)]
TTL = Annotated[int, Duration(min_ms=1000, max_ms=365 * 86_400_000, whole_seconds=True)]
VERSION = Annotated[str, Text(r"\d+(\.\d+){0,2}", "a version such as 8.1")]
NAMESPACE_NAME = Annotated[str, Text(naming.DNS_LABEL, "a Kubernetes namespace name", max_len=naming.LABEL_MAX)]
STORAGE_CLASS = Annotated[str, Text(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", "a StorageClass name")]


def doc(default: Any = ..., text: str = "", default_doc: str | None = None, **extra: Any) -> Any:
    """A field: its default (`...`: required), the sentence the reference shows, and how the
    reference describes the default when the value alone would not say it."""
    schema_extra = {f"x-{k}": v for k, v in extra.items()}
    if default_doc is not None:
        schema_extra["x-default"] = default_doc
    return Field(default, description=text, json_schema_extra=schema_extra or None)


def environment(info: ValidationInfo) -> str:
    return (info.context or {}).get("environment", "development")


def default_image(engine: str, version: str | None) -> str | None:
    """The image table's entry for an in-cluster cache, or None where the table has none."""
    entry = ENGINE_IMAGES.get((engine, version or DEFAULT_ENGINE_VERSION[engine]))
    return entry[0] if entry else None


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


class TlsSettings(StrictModel):
    """TLS for an in-cluster cache: a certificate Secret the user provides, or one cert-manager issues.
    TLS is on exactly when one of the two is given."""

    TITLE = "TLS: on when a certificate source is given"
    certificate_secret: Annotated[str, Text(naming.DNS_LABEL, "a Secret name")] | None = doc(
        None, "A kubernetes.io/tls Secret (with ca.crt) you provide, in the cache's namespace.", reference=True)
    issuer: Annotated[str, Text(naming.DNS_LABEL, "a cert-manager issuer name")] | None = doc(
        None, "A cert-manager issuer that issues the certificate (instead of certificateSecret).")
    issuer_kind: Literal["Issuer", "ClusterIssuer"] = doc("ClusterIssuer", "Kind of that issuer.")

    @property
    def enabled(self) -> bool:
        return self.certificate_secret is not None or self.issuer is not None

    def problems(self, production: bool) -> list[tuple[str, str]]:
        if self.certificate_secret is not None and self.issuer is not None:
            return [("tls", "give one of certificateSecret or issuer, not both")]
        if not self.enabled and production:
            return [("tls", "production requires TLS for every cache reached over the network: "
                            "set tls.certificateSecret or tls.issuer")]
        return []


NO_TLS = TlsSettings()


class CacheSettings(StrictModel):
    """What every cache has, whatever its pattern."""

    TITLE = "a cache"
    pattern: str = doc(..., "external | statefulset | sidecar | operator: where the cache runs.")
    engine: Engine = doc("valkey", "redis or valkey (Valkey is BSD-licensed; Redis 7.4+ is not).")
    version: VERSION | None = doc(None, "Engine version; picks the default image or the ElastiCache "
                                                        "engine version.", "newest in the image table for the engine")
    maxmemory_policy: MaxmemoryPolicy = doc(
        "allkeys-lru", "What Redis does at maxmemory: evict (allkeys-*) or refuse writes (noeviction, for session stores).")
    default_ttl: TTL | None = doc(None, "TTL apps apply when they give none (CACHE_DEFAULT_TTL); bounds "
                                                        "`l1.ttlCap`.")

    @property
    def member_replicas(self) -> int:
        """Replicas of each primary (what replication forks and buffers for)."""
        return 0

    @property
    def persistence_mode(self) -> str:
        return "none"

    @property
    def plan_shards(self) -> int:
        return 1

    def plan_engine(self) -> planning.Engine:
        """The engine a plan is for: the cache's engine and version (official images: jemalloc quantum 8)."""
        return planning.Engine(self.engine, self.version or DEFAULT_ENGINE_VERSION[self.engine])

    def workload(self, pods: int | None = None) -> planning.Workload | None:
        """`capacity` as the planner's workload: persistence, replicas and shards come from the pattern's
        own keys, the TTL share from `defaultTtl` unless given; `pods` (sidecar and L1 copies) from
        `capacity.pods`, else the caller's count of bound app pods."""
        cap = getattr(self, "capacity", None)
        if cap is None:
            return None
        ttl = cap.ttl_percent if cap.ttl_percent is not None else (100 if self.default_ttl is not None else 0)
        return planning.Workload(
            keys=cap.keys, key_bytes=cap.key_bytes, value_bytes=cap.value_bytes, ttl_share=ttl / 100,
            writes_per_second=cap.writes_per_second, reads_per_second=cap.reads_per_second,
            persistence=self.persistence_mode, replicas=self.member_replicas, shards=self.plan_shards,
            pods=cap.pods if cap.pods is not None else pods, evicts=self.maxmemory_policy != "noeviction")

    def plan_findings(self) -> tuple:
        """What the plan says of the settings (errors or warnings by environment: `split_findings`)."""
        return ()

    @property
    def default_ttl_seconds(self) -> int | None:
        return self.default_ttl // 1000 if self.default_ttl else None

    @property
    def auth_enabled(self) -> bool:
        """Whether clients need a password."""
        return bool(getattr(self, "auth", False))

    @property
    def cluster_mode(self) -> bool:
        """Whether the cache speaks the Redis Cluster protocol."""
        return False

    def l1_problems(self) -> list[tuple[str, str]]:
        l1 = getattr(self, "l1", None)
        if l1 is not None and self.default_ttl is not None and l1.ttl_cap > self.default_ttl:
            return [("l1.ttlCap", f"must not be longer than defaultTtl ({Duration.fmt(self.default_ttl)}), "
                                  f"got {Duration.fmt(l1.ttl_cap)}")]
        return []

    def auth_problems(self, env: str) -> list[tuple[str, str]]:
        if not getattr(self, "auth", True) and env != "development":
            return [("auth", f"auth can only be turned off in development, got false in {env}")]
        return []

    def replica_problems(self, env: str) -> list[tuple[str, str]]:
        if env == "production" and getattr(self, "replicas", 1) < 1:
            return [("replicas", f"production needs at least 1 replica for failover, got {self.replicas}")]
        return []


class InClusterSettings(CacheSettings):
    """What every cache running in the cluster has: its image and sizing."""

    DEFAULT_MEMORY: ClassVar[int] = 512 * sizing.MI
    DEFAULT_PERCENT: ClassVar[int] = 80
    image: IMAGE | None = doc(None, "Engine image; pin a digest in production.", "from the image table")
    memory: MEMORY_LIMIT | None = doc(None, "Container memory limit (and request); checked against "
                                                            "`capacity`.", "planned from `capacity`, else 512Mi")
    capacity: Capacity | None = doc(None, "The workload the resources are planned from (docs/planning.md).")
    cpu: CPU = doc(100, "CPU request.", "100m")
    cpu_limit: CPU | None = doc(None, "CPU limit (absent: none, so Redis is never throttled).")
    maxmemory_percent: PERCENT | None = doc(
        None, "Share of the memory limit given to `maxmemory`.",
        "planned: from `capacity`; else what leaves room for forks (persistence, replicas), else 80")

    @cached_property
    def pod(self) -> planning.PodSettings:
        """What each Redis pod runs with: planned from `capacity`, explicit `memory`,
        `maxmemoryPercent` and `storage` applied (and checked against the plan)."""
        w = self.workload()
        plan = planning.plan_pod(w, self.plan_engine()) if w is not None else None
        head = plan.headroom if plan else planning.default_headroom(
            forks=self.persistence_mode != "none" or self.member_replicas > 0, replicas=self.member_replicas)
        return planning.pod_settings(plan, head, memory=self.memory, percent=self.maxmemory_percent,
                                     storage=getattr(self, "storage", None), default_memory=self.DEFAULT_MEMORY,
                                     default_percent=self.DEFAULT_PERCENT)

    @property
    def memory_limit(self) -> int:
        """The container memory limit (and request): `memory`, else planned from `capacity`, else the default."""
        return self.pod.limit

    @property
    def maxmemory(self) -> int:
        return self.pod.maxmemory

    def plan_findings(self) -> tuple:
        return self.pod.findings

    def sizing_problems(self, env: str, image_table: bool = True) -> list[tuple[str, str]]:
        out = []
        if image_table and self.image is None and default_image(self.engine, self.version) is None:
            known = ", ".join(v for e, v in ENGINE_IMAGES if e == self.engine)
            out.append(("version", f"no default {self.engine} image for version {self.version!r} (table: {known}); "
                                   f"set `image` to a pinned image of that version"))
        if self.maxmemory_percent is not None:
            try:
                sizing.maxmemory_for_limit(self.memory_limit, self.maxmemory_percent)
            except sizing.SizingError as exc:
                return out + [("memory", str(exc))]
        out += split_findings(self.pod.findings, env)[0]
        if self.cpu_limit is not None and self.cpu > self.cpu_limit:
            out.append(("cpu", f"request {sizing.format_millicores(self.cpu)} is above cpuLimit "
                               f"{sizing.format_millicores(self.cpu_limit)}"))
        return out

