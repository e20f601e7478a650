"""What every cache has whatever its pattern (`CacheSettings`), what every cache running in the cluster
has (`InClusterSettings`), and what the rest of the program asks of any cache: its methods below the
fields, which a pattern's settings override where it differs. Nothing here names a pattern."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Mapping

from pydantic import PrivateAttr, ValidationInfo, model_validator

from cache_patterns import planning
from cache_patterns.config.base import StrictModel
from cache_patterns.config.capacity import Capacity, split_findings
from cache_patterns.config.common import (CPU, DEFAULT_ENGINE_VERSION, ENGINE_IMAGES, IMAGE, MEMORY_LIMIT, PERCENT,
                                          TTL, VERSION, Engine, MaxmemoryPolicy, default_image, doc)
from cache_patterns.config.types import Duration
from cache_patterns.core import sizing


@dataclass(frozen=True)
class StackFacts:
    """What a cache's cross-key checks may know of the rest of its stack."""

    passwords: Mapping[str, str]
    aws: Any                 # the parsed `aws` block, or None
    aws_given: bool          # the stack has an `aws` key (parsed or not: an error inside it is its own)
    acl_patterns: tuple[str, ...] = ()    # the patterns whose caches define ACL users


class CacheSettings(StrictModel):
    """What every cache has, whatever its pattern. Its methods below the fields are what the rest of
    the program asks of any cache; a pattern's settings override them where it differs."""

    TITLE = "a cache"
    pattern: str = doc(..., "The pattern that runs the cache.")
    engine: Engine = doc("valkey", "redis or valkey (Valkey is BSD-licensed; Redis 7.4+ is not).")
    version: VERSION | None = doc(None, "Engine version; picks the default image or the ElastiCache "
                                                        "engine version.", "newest in the image table for the engine")
    maxmemory_policy: MaxmemoryPolicy = doc(
        "allkeys-lru", "What Redis does at maxmemory: evict (allkeys-*) or refuse writes (noeviction, for session stores).")
    default_ttl: TTL | None = doc(None, "TTL apps apply when they give none (CACHE_DEFAULT_TTL); bounds "
                                                        "`l1.ttlCap`.")

    _environment: str = PrivateAttr("development")

    @model_validator(mode="after")
    def _parsed_for(self, info: ValidationInfo) -> "CacheSettings":
        self._environment = (info.context or {}).get("environment", "development")
        return self

    @property
    def environment(self) -> str:
        """The environment these settings were parsed (defaulted and checked) for."""
        return self._environment

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

    # ---- what the planner is given (tools/plan.py, docs/planning.md) --------------------------------

    def plan_origins(self) -> dict[str, str]:
        """Where the planner's persistence, replicas and shards come from (the report's inputs)."""
        return {"persistence": "persistence", "replicas": "replicas", "shards": "shards"}

    def plan_shape(self) -> dict[str, Any]:
        """The planner's shape of this cache (`pattern`: sidecar, statefulset, elasticache,
        elasticache-serverless or endpoint) and what the plan of that shape checks."""
        return {"pattern": "endpoint"}

    def plan_pods(self, environment: str) -> tuple[planning.PodGroup, ...]:
        """The pods this cache runs beside its Redis pods (Sentinels, endpoints), each with its memory."""
        return ()

    def plan_input(self, stack: str, name: str, bound: tuple, environment: str,
                   region: str | None) -> planning.CacheInput | None:
        """The planner's view of this cache, or None when it states no workload (`capacity`). `bound` are
        the apps bound to it: their pods hold the copies of a sidecar or an L1."""
        cap = getattr(self, "capacity", None)
        if cap is None:
            return None
        pods = sum(a.replicas for a in bound) or None
        origins = {"keys": "capacity.keys", "valueBytes": "capacity.valueBytes",
                   "keyBytes": "capacity.keyBytes" if cap.key_bytes != planning.Size.fixed(32)
                   else "capacity.keyBytes (default)",
                   "maxmemoryPolicy": f"maxmemoryPolicy {self.maxmemory_policy}", "engine": "engine, version",
                   "ttlPercent": "capacity.ttlPercent" if cap.ttl_percent is not None else
                   "defaultTtl set: every key" if self.default_ttl is not None else "no defaultTtl: none",
                   **self.plan_origins()}
        if cap.writes_per_second is not None:
            origins["writesPerSecond"] = "capacity.writesPerSecond"
        if cap.reads_per_second is not None:
            origins["readsPerSecond"] = "capacity.readsPerSecond"
        origins["pods"] = "capacity.pods" if cap.pods is not None else (
            "bound apps: " + ", ".join(f"{a.name} x{a.replicas}" for a in bound) if bound else "no bound apps")
        l1 = getattr(self, "l1", None)
        return planning.CacheInput(stack=stack, name=name, label=self.pattern, engine=self.plan_engine(),
                                   workload=self.workload(pods), origins=origins, region=region,
                                   l1_memory=l1.memory if l1 is not None and not l1.in_process else None,
                                   other_pods=self.plan_pods(environment), **self.plan_shape())

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

    @property
    def takes_password(self) -> bool:
        """Its password comes from the stack's secret config (`passwords.<cache>`), not a generator."""
        return False

    @property
    def operator_install(self) -> str | None:
        """The operator (a key of the stack's `operators`) this cache needs running."""
        return None

    @property
    def cloud_alarms(self) -> bool:
        """It sends cloud alarms and events (`observability.alarms` applies to it)."""
        return False

    def app_problems(self, key: str, app: Any, cache: str, stack: StackFacts) -> list[tuple[str, str]]:
        """Problems of an app (at `key`) bound to this cache: an ACL user where the pattern has none."""
        if app.cache_user is None:
            return []
        return [(f"{key}.cacheUser", f"only caches with pattern: {' or '.join(stack.acl_patterns) or 'none'} define "
                                     f"ACL users (aclUsers); cache {cache!r} has pattern: {self.pattern}")]

    def stack_problems(self, name: str, stack: StackFacts) -> list[tuple[str, str]]:
        """Problems of this cache (named `name`) with the rest of the stack."""
        return []

    def l1_problems(self) -> list[tuple[str, str]]:
        l1 = getattr(self, "l1", None)
        if l1 is None:
            return []
        out = l1.l2_problems(self)
        if self.default_ttl is not None and l1.ttl_cap > self.default_ttl:
            out.append(("l1.ttlCap", f"must not be longer than defaultTtl ({Duration.fmt(self.default_ttl)}), "
                                     f"got {Duration.fmt(l1.ttl_cap)}"))
        return out

    def auth_problems(self, env: str) -> list[tuple[str, str]]:
        if not getattr(self, "auth", True) and env != "development":
            return [("auth", f"auth can only be turned off in development, got false in {env}")]
        return []

    # ---- day 2: what a deployment records, and which changes from it are refused (core/deployed.py) ----

    def deployed_facts(self) -> dict[str, Any]:
        """What the next run checks a change against (the stack output `deployed`); {}: nothing."""
        return {}

    def change_problems(self, before: dict[str, Any]) -> list[tuple[str, str]]:
        """Why the change from the last deployment's facts (`before`, of this pattern) is unsafe."""
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

    def plan_shape(self) -> dict[str, Any]:
        # A cache in pods with replicas; a sidecar (a copy per app pod) says otherwise.
        return {"pattern": "statefulset", "memory": self.memory, "maxmemory_percent": self.maxmemory_percent,
                "storage": getattr(self, "storage", None), "default_memory": self.DEFAULT_MEMORY,
                "default_percent": self.DEFAULT_PERCENT}

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
