"""Typed stack config: every `cache-patterns:*` key, parsed once before any resource exists.

`parse()` is pure (plain data in, frozen dataclasses out, or one ConfigError listing every problem);
`load()` reads what the Pulumi engine passed to the program, including keys `pulumi.Config` would
silently ignore. The README's config reference is generated from the schema below.
"""
from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

from . import charts, naming, ownership, planning, redis_conf, schema, sizing
from .observability import settings as observability
from .schema import (INVALID, REQUIRED, Anything, Bool, ConfigError, Ctx, Duration, Field, Int, ListOf, MapOf,
                     Obj, Quantity, Str, Tagged, show)

NAMESPACE = "cache-patterns"
ENVIRONMENTS = ("production", "staging", "development")
# Oldest and newest Kubernetes minor versions every stack is validated against (kubernetes-validate).
K8S_OLDEST, K8S_NEWEST = (1, 28), (1, 37)
# Native sidecars (init containers with restartPolicy: Always) are on by default from 1.29.
NATIVE_SIDECAR_SINCE = (1, 29)
MAXMEMORY_POLICIES = (
    "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
    "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
)
ENGINES = ("redis", "valkey")
# Default images of in-cluster caches, by (engine, version): tags current in 2026-11; pin a digest
# (`image: name:tag@sha256:...`) in production. Redis 7.2 is the last BSD-licensed Redis line
# (7.4+ is RSALv2/SSPLv1, 8.0+ adds AGPLv3); Valkey stays BSD-3-Clause.
ENGINE_IMAGES = {
    ("valkey", "8.1"): ("valkey/valkey:8.1.11-alpine", "BSD-3-Clause"),
    ("valkey", "9.0"): ("valkey/valkey:9.0.8-alpine", "BSD-3-Clause"),
    ("redis", "7.2"): ("redis:7.2.11-alpine", "BSD-3-Clause"),
}
DEFAULT_ENGINE_VERSION = {"valkey": "8.1", "redis": "7.2"}

DNS_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
# An endpoint host: a DNS name or IPv4 address, or an IPv6 address (written without brackets).
ENDPOINT_HOST = r"[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*"
# Cache names become parts of DNS names (`<stack>-<cache>-...`), so they are short DNS labels.
CACHE_NAME = Str(pattern=DNS_LABEL, pattern_doc="a DNS label (lower-case letters, digits, '-')", max_len=24)
APP_NAME = Str(pattern=DNS_LABEL, pattern_doc="a DNS label (lower-case letters, digits, '-')", max_len=40)
NAMESPACE_NAME = Str(pattern=DNS_LABEL, pattern_doc="a Kubernetes namespace name", max_len=63)
ENV_NAME = Str(pattern=r"[A-Za-z_][A-Za-z0-9_]*", pattern_doc="an environment variable name")
LABEL_VALUE = Str(pattern=r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?", pattern_doc="a label value", max_len=63, min_len=0)
LABEL_KEY = Str(pattern=r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?",
                pattern_doc="a label key", max_len=317)
# An image is `repository[:tag][@sha256:<64 hex>]` with a tag or a digest; `latest` alone is refused
# because it is not a version (a digest pins it, so `name:latest@sha256:...` is accepted).
IMAGE = Str(
    pattern=r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
            r"((:(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})",
    pattern_doc="an image reference with a version tag or an @sha256 digest (not :latest)",
)
HTTP_PATH = Str(pattern=r"/[^\s]*", pattern_doc="an HTTP path starting with /")


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


K8S_VERSION = Str(
    pattern=r"1\.(2[89]|3[0-7])",
    pattern_doc=f"a quoted Kubernetes minor version from {'.'.join(map(str, K8S_OLDEST))} "
                f"to {'.'.join(map(str, K8S_NEWEST))}, such as \"1.33\"",
)


# ---------------------------------------------------------------------------------------------
# Dataclasses: what the rest of the program sees.

@dataclass(frozen=True, kw_only=True)
class Probes:
    readiness_path: str | None
    liveness_path: str | None
    startup_path: str | None
    initial_delay: int


@dataclass(frozen=True, kw_only=True)
class Resources:
    cpu: int                  # request, millicores
    cpu_limit: int | None     # millicores; absent = no CPU limit (no throttling)
    memory: int               # request, bytes
    memory_limit: int         # bytes


@dataclass(frozen=True, kw_only=True)
class Peer:
    """An ingress source for an app's NetworkPolicy: pods in a namespace, optionally by label."""
    namespace: str
    pod_labels: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    name: str
    namespace: str
    image: str
    replicas: int
    port: int
    resources: Resources
    probes: Probes
    env: Mapping[str, str]
    cache: str
    password_env: bool
    allow_from: tuple[Peer, ...]
    writable_paths: tuple[str, ...]
    run_as_user: int
    mount_service_account_token: bool
    cache_user: str | None


@dataclass(frozen=True, kw_only=True)
class L1Config:
    memory: int
    cpu: int
    ttl_cap: int              # ms
    maxmemory_policy: str
    maxmemory_percent: int


@dataclass(frozen=True, kw_only=True)
class Capacity:
    """The workload (what the cache holds and how it is written); the planner derives the rest."""
    keys: int
    value_bytes: planning.Size
    key_bytes: planning.Size
    ttl_percent: int | None
    writes_per_second: int | None
    reads_per_second: int | None
    pods: int | None


@dataclass(frozen=True, kw_only=True)
class InClusterCache:
    """What every cache running in the cluster has: its engine, image and sizing."""

    DEFAULT_MEMORY = 512 * sizing.MI
    DEFAULT_PERCENT = 80
    pattern: str
    engine: str
    version: str
    image: str | None
    memory: int | None
    capacity: Capacity | None
    cpu: int
    cpu_limit: int | None
    maxmemory_policy: str
    maxmemory_percent: int | None
    default_ttl: int | None

    @property
    def member_replicas(self) -> int:
        """Replicas of each primary (what replication forks and buffers for)."""
        return 0

    @property
    def persistence_mode(self) -> str:
        return "none"

    @cached_property
    def pod(self) -> planning.PodSettings:
        """What each Redis pod runs with: planned from `capacity`, explicit `memory`,
        `maxmemoryPercent` and `storage` applied (and checked against the plan)."""
        w = workload(self)
        plan = planning.plan_pod(w, engine_of(self)) if w is not None else None
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


@dataclass(frozen=True, kw_only=True)
class SidecarCache(InClusterCache):
    DEFAULT_MEMORY = 128 * sizing.MI
    port: int


@dataclass(frozen=True, kw_only=True)
class TlsConfig:
    """TLS for an in-cluster cache: a certificate Secret the user provides, or one cert-manager issues.
    TLS is on exactly when one of the two is given."""
    certificate_secret: str | None
    issuer: str | None
    issuer_kind: str

    @property
    def enabled(self) -> bool:
        return self.certificate_secret is not None or self.issuer is not None


NO_TLS = TlsConfig(certificate_secret=None, issuer=None, issuer_kind="ClusterIssuer")


@dataclass(frozen=True, kw_only=True)
class AclUser:
    """A Redis ACL user of an in-cluster cache besides `default`: its rules; its password is generated."""
    name: str
    permissions: str


@dataclass(frozen=True, kw_only=True)
class StatefulSetCache(InClusterCache):
    replicas: int
    storage: int | None
    storage_class: str | None
    persistence: str
    retain_volumes: bool
    auth: bool
    tls: TlsConfig
    sentinels: int
    quorum: int | None
    down_after: int
    failover_timeout: int
    min_replicas_to_write: int
    min_replicas_max_lag: int
    exporter: bool
    acl_users: tuple[AclUser, ...]
    l1: L1Config | None

    @property
    def member_replicas(self) -> int:
        return self.replicas

    @property
    def persistence_mode(self) -> str:
        return self.persistence

    @property
    def volume(self) -> int | None:
        """Volume per pod: `storage`, else planned from `capacity` when persistence is on."""
        return self.pod.storage


@dataclass(frozen=True, kw_only=True)
class Rotation:
    generation: int
    strategy: str


@dataclass(frozen=True, kw_only=True)
class LogDelivery:
    slow: bool
    engine: bool
    retention_days: int


@dataclass(frozen=True, kw_only=True)
class ServerlessLimits:
    data_storage_gb: int
    ecpu_per_second: int


# ElastiCache (node-based) engine versions this program creates, and their parameter group family.
# Families: AWS "Engine specific parameters" (docs.aws.amazon.com/AmazonElastiCache/latest/dg/
# ParameterGroups.Engine.html): valkey8 covers 8.0-8.2, "Valkey 7.2 parameters are the same as Redis
# OSS 7", Valkey 9.0 has its own section (family valkey9); the CreateCacheParameterGroup API lists
# valkey8 | valkey7 | redis6.x | redis7 | ... Versions: "Supported engines and versions" (same guide).
# Redis OSS before 6 is left out: no AUTH rotation strategies or RBAC there.
ELASTICACHE_FAMILIES = {
    ("valkey", "7.2"): "valkey7",
    ("valkey", "8.0"): "valkey8",
    ("valkey", "8.1"): "valkey8",
    ("valkey", "8.2"): "valkey8",
    ("valkey", "9.0"): "valkey9",
    ("redis", "6.0"): "redis6.x",
    ("redis", "6.2"): "redis6.x",
    ("redis", "7.0"): "redis7",
    ("redis", "7.1"): "redis7",
}
# Valkey 8.1 matches the in-cluster image table, so moving a cache between patterns keeps its engine;
# ElastiCache's newest Redis OSS is 7.1 (the image table's 7.2 is not offered there).
ELASTICACHE_DEFAULT_VERSION = {"valkey": "8.1", "redis": "7.1"}
# Serverless caches: Valkey 7.2+ and Redis OSS 7.0+, addressed by major version only.
SERVERLESS_MAJORS = {"valkey": ("7", "8", "9"), "redis": ("7",)}
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)
# ElastiCache ids (replication group, serverless cache, user, user group): at most 40 characters,
# a letter first, no "--", no trailing "-" (terraform-provider-aws validateReplicationGroupID).
ELASTICACHE_ID_MAX = 40


@dataclass(frozen=True, kw_only=True)
class ExternalCache:
    pattern: str
    kind: str
    engine: str
    version: str
    maxmemory_policy: str
    default_ttl: int | None
    auth: bool
    tls: bool
    # elasticache / elasticache-serverless
    node_type: str | None
    replicas: int
    shards: int | None
    at_rest_encryption: bool
    kms_key_arn: str | None
    snapshot_retention: int
    snapshot_window: str | None
    maintenance_window: str | None
    auto_minor_version_upgrade: bool
    parameters: Mapping[str, str]
    logs: LogDelivery
    rotation: Rotation
    limits: ServerlessLimits | None
    # endpoint
    host: str | None
    port: int
    read_host: str | None
    read_port: int | None
    username: str | None
    ca_certificate: str | None
    cluster: bool
    l1: L1Config | None
    capacity: Capacity | None

    @property
    def engine_version(self) -> str:
        """The ElastiCache engine version (major.minor): `version`, else the default of the engine."""
        return self.version or ELASTICACHE_DEFAULT_VERSION[self.engine]

    @property
    def parameter_family(self) -> str | None:
        """The parameter group family of (engine, version), or None where ElastiCache has none."""
        return ELASTICACHE_FAMILIES.get((self.engine, self.engine_version))

    @property
    def cluster_mode(self) -> bool:
        """Sharded (Redis Cluster protocol): `shards` set, any serverless cache, or `cluster: true`."""
        return self.shards is not None or self.kind == "elasticache-serverless" or self.cluster

    @property
    def reserved_percent(self) -> int:
        """ElastiCache's reserved-memory-percent: from `parameters`, else its default (25)."""
        value = self.parameters.get("reserved-memory-percent", "")
        return int(value) if value.isdigit() and int(value) < 100 else planning.DEFAULT_RESERVED_PERCENT

    @cached_property
    def nodes(self) -> planning.NodePlan | None:
        """kind: elasticache with `capacity`: the node type that holds it (and `nodeType` checked)."""
        w = workload(self)
        if w is None or self.kind != "elasticache":
            return None
        return planning.plan_nodes(w, engine_of(self), self.node_type, self.reserved_percent)

    @property
    def effective_node_type(self) -> str | None:
        """`nodeType`, else the smallest node type that holds `capacity`."""
        if self.node_type is not None or self.nodes is None or self.nodes.smallest is None:
            return self.node_type
        return self.nodes.smallest.name


@dataclass(frozen=True, kw_only=True)
class OperatorCache(InClusterCache):
    kind: str
    replicas: int
    shards: int
    sentinels: int
    storage: int | None
    storage_class: str | None
    auth: bool
    tls: TlsConfig
    exporter: bool
    sentinel_image: str | None
    l1: L1Config | None

    @property
    def member_replicas(self) -> int:
        return self.replicas

    @property
    def persistence_mode(self) -> str:
        # Planned as RDB when there is a volume to save to (what each operator's image writes there is
        # not checked here; AOF would need a larger volume, which `storage` then has to give).
        return "rdb" if self.storage is not None else "none"

    @property
    def operator(self) -> str:
        """The operator that reconciles this cache's custom resource (a key of `operators`)."""
        return "spotahome" if self.kind == "spotahome-failover" else "ot-container-kit"


CacheConfig = SidecarCache | StatefulSetCache | ExternalCache | OperatorCache


@dataclass(frozen=True, kw_only=True)
class NetworkFrom:
    stack: str
    vpc_id_output: str
    subnet_ids_output: str
    client_security_group_ids_output: str


@dataclass(frozen=True, kw_only=True)
class AwsConfig:
    region: str
    vpc_id: str | None
    subnet_ids: tuple[str, ...]
    client_security_group_ids: tuple[str, ...]
    network_from: NetworkFrom | None
    tags: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class OperatorInstall:
    install: bool
    release: str | None
    namespace: str
    chart: str
    repository: str
    chart_path: str | None
    version: str | None
    values: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class _TopKeys:
    """The top-level `cache-patterns:*` keys, as the schema parses them."""

    environment: str
    namespace: str
    kubernetes_version: str
    kube_context: str | None
    cluster_domain: str
    manage_namespaces: bool
    caches: Mapping[str, CacheConfig]
    apps: tuple[AppConfig, ...]
    aws: AwsConfig | None
    operators: Mapping[str, OperatorInstall]
    observability: observability.ObservabilityConfig
    # Plaintext of `cache-patterns:passwords` (a secret key): only read to validate its shape and
    # wrapped in pulumi.Output.secret before any resource sees it. Never printed.
    passwords: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class StackConfig(_TopKeys):
    """The whole stack's config: every top-level key (see `_TopKeys`), the stack's name, and the
    warnings parsing found (settings the plan advises against where they do not stop a deployment)."""

    stack: str
    warnings: tuple[tuple[str, str], ...] = ()

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def k8s_version(self) -> tuple[int, int]:
        return _version(self.kubernetes_version)

    @property
    def native_sidecars(self) -> bool:
        return self.k8s_version >= NATIVE_SIDECAR_SINCE

    def apps_of(self, cache: str) -> tuple[AppConfig, ...]:
        return tuple(a for a in self.apps if a.cache == cache)


def engine_of(c: Any) -> planning.Engine:
    """The engine a plan is for: the cache's engine and version (official images: jemalloc quantum 8)."""
    if c.pattern == "external":
        version = c.engine_version
    elif c.pattern == "operator":
        version = c.version or DEFAULT_OPERATOR_VERSION[c.operator]
    else:
        version = c.version or DEFAULT_ENGINE_VERSION[c.engine]
    return planning.Engine(c.engine, version)


def workload(c: Any, pods: int | None = None) -> planning.Workload | None:
    """A cache's `capacity` as the planner's workload: persistence, replicas and shards come from the
    pattern's own keys, the TTL share from `defaultTtl` unless given; `pods` (sidecar and L1 copies)
    from `capacity.pods`, else the caller's count of bound app pods."""
    cap = c.capacity
    if cap is None:
        return None
    ttl = cap.ttl_percent if cap.ttl_percent is not None else (100 if c.default_ttl is not None else 0)
    if c.pattern == "external":
        replicas = c.replicas if c.kind == "elasticache" else 0
        shards = c.shards or 1
    else:
        replicas = c.member_replicas
        shards = c.shards if c.pattern == "operator" and c.kind == "ot-cluster" else 1
    return planning.Workload(
        keys=cap.keys, key_bytes=cap.key_bytes, value_bytes=cap.value_bytes, ttl_share=ttl / 100,
        writes_per_second=cap.writes_per_second, reads_per_second=cap.reads_per_second,
        persistence=c.persistence_mode if c.pattern != "external" else "none", replicas=replicas,
        shards=shards, pods=cap.pods if cap.pods is not None else pods, evicts=c.maxmemory_policy != "noeviction")


def report_plan(findings: tuple[planning.Finding, ...], path: str, ctx: Ctx) -> None:
    """Findings of the plan as problems or warnings. A setting that cannot run is an error; one that
    can be OOM-killed, fill its volume or refuse writes is an error in production and staging and a
    warning in development; one that only evicts or throttles sooner is a warning."""
    for f in findings:
        hard = f.severity == planning.FATAL or (f.severity == planning.UNSAFE and ctx.environment != "development")
        (ctx.error if hard else ctx.warn)(f"{path}.{f.key}", f.message)


# ---------------------------------------------------------------------------------------------
# Schema.

def _check_name(ctx: Ctx, path: str, *, max_len: int, what: str, suffix: str = "") -> str | None:
    """The physical name `<stack>-<cache>[-<suffix>]` a cache at `path` (`caches.<name>`) will get, or
    None after reporting, on `path`, that it breaks its consumer's limit."""
    try:
        return naming.physical_name(ctx.stack, path.rsplit(".", 1)[-1], suffix, max_len=max_len, what=what)
    except naming.NameError_ as exc:
        ctx.error(path, str(exc).split(": ", 1)[1])
        return None


def _env_default(production: Any, staging: Any, development: Any) -> Any:
    return lambda ctx: {"production": production, "staging": staging}.get(ctx.environment, development)


MEMORY_LIMIT = Quantity("bytes", min=sizing.MIN_REDIS_MEMORY, max=1024 * sizing.GI)
CPU = Quantity("cpu", min=1, max=64_000)
PERCENT = Int(10, 95)
TTL = Duration(min_ms=1000, max_ms=365 * 86_400_000, whole_seconds=True)

@dataclass(frozen=True, kw_only=True)
class _SizeRange:
    min: int
    max: int
    shape: str


def _check_size_range(r: _SizeRange, path: str, ctx: Ctx) -> None:
    if r.min >= r.max:
        ctx.error(f"{path}.max", f"must be above min ({r.min}), got {r.max}; a fixed size is a plain quantity")


class SizeSpec(schema.Spec):
    """A length in bytes: a quantity (fixed), or {min, max, shape} for lengths that vary."""

    def __init__(self, max_bytes: int):
        self.fixed = Quantity("bytes", min=1, max=max_bytes)
        self.range = Obj(_SizeRange, [
            Field("min", Quantity("bytes", min=1, max=max_bytes), REQUIRED, "Shortest."),
            Field("max", Quantity("bytes", min=1, max=max_bytes), REQUIRED, "Longest."),
            Field("shape", Str(choices=["uniform", "log-uniform"]), "uniform", "How lengths spread between them."),
        ], "a size range", check=_check_size_range)

    def describe(self) -> str:
        return f"{self.fixed.describe()}; or {{min, max, shape: uniform | log-uniform}}"

    def parse(self, value, path, ctx):
        if isinstance(value, dict):
            r = self.range.parse(value, path, ctx)
            return INVALID if r is INVALID else planning.Size(r.min, r.max, r.shape)
        n = self.fixed.parse(value, path, Ctx(stack=ctx.stack))
        return self.wrong(value, path, ctx) if n is INVALID else planning.Size.fixed(n)


CAPACITY = Obj(Capacity, [
    Field("keys", Int(1, 10**10), REQUIRED, "How many keys the cache must hold (the working set, if it evicts)."),
    Field("valueBytes", SizeSpec(512 * sizing.MI), REQUIRED, "Value length: fixed (512, 4Ki) or a range."),
    Field("keyBytes", SizeSpec(512 * sizing.MI), planning.Size.fixed(32), "Key length: fixed or a range.",
          default_doc="32"),
    Field("ttlPercent", Int(0, 100), None, "Share of keys with a TTL, in percent.",
          default_doc="100 with `defaultTtl`, else 0"),
    Field("writesPerSecond", Int(0, 10**8), None, "Peak keys written per second (sizes fork copy-on-write, "
          "the replica buffer and the backlog).", default_doc="unknown: a fork may copy all of maxmemory"),
    Field("readsPerSecond", Int(0, 10**9), None, "Peak reads per second (serverless ECPU).", default_doc="unknown"),
    Field("pods", Int(1, 10_000), None, "Pods that each hold a copy (sidecar, L1).",
          default_doc="the bound apps' replicas"),
], "the workload", doc="The workload: maxmemory, memory limit and request, replica buffer, volume, ElastiCache "
                       "node type and serverless figures are planned from it (see docs/planning.md).")


def _check_l1(l1: L1Config, path: str, ctx: Ctx) -> None:
    try:
        sizing.maxmemory_for_limit(l1.memory, l1.maxmemory_percent)
    except sizing.SizingError as exc:
        ctx.error(f"{path}.memory", f"{exc}, got {sizing.format_bytes(l1.memory)}")


L1 = Obj(L1Config, [
    Field("memory", Quantity("bytes", min=sizing.MIN_REDIS_MEMORY, max=16 * sizing.GI), 64 * sizing.MI,
          "Memory limit of the L1 sidecar in each app pod (never persistent).", default_doc="64Mi"),
    Field("cpu", CPU, 25, "CPU request of the L1 sidecar.", default_doc="25m"),
    Field("ttlCap", Duration(min_ms=1000, max_ms=86_400_000, whole_seconds=True), 30_000,
          "Longest an L1 copy lives; also bounded by the L2 entry's remaining TTL.", default_doc="30s"),
    Field("maxmemoryPolicy", Str(choices=MAXMEMORY_POLICIES), "allkeys-lru", "Eviction in L1."),
    Field("maxmemoryPercent", PERCENT, 80, "Share of the L1 memory limit given to `maxmemory`."),
], "two-tier L1", check=_check_l1,
    doc="Two-tier: a sidecar L1 in every bound app pod in front of this shared cache.")


def _common(pattern: str, engine_default: str = "valkey") -> list[Field]:
    return [
        Field("pattern", Str(choices=[pattern]), REQUIRED,
              "external | statefulset | sidecar | operator: where the cache runs."),
        Field("engine", Str(choices=ENGINES), engine_default,
              "redis or valkey (Valkey is BSD-licensed; Redis 7.4+ is not)."),
        Field("version", Str(pattern=r"\d+(\.\d+){0,2}", pattern_doc="a version such as 8.1"), None,
              "Engine version; picks the default image or the ElastiCache engine version.",
              default_doc="newest in the image table for the engine"),
        Field("maxmemoryPolicy", Str(choices=MAXMEMORY_POLICIES), "allkeys-lru",
              "What Redis does at maxmemory: evict (allkeys-*) or refuse writes (noeviction, for session stores)."),
        Field("defaultTtl", TTL, None, "TTL apps apply when they give none (CACHE_DEFAULT_TTL); bounds `l1.ttlCap`."),
    ]


def _in_cluster(memory_default: str) -> list[Field]:
    return [
        Field("image", IMAGE, None, "Engine image; pin a digest in production.", default_doc="from the image table"),
        Field("memory", MEMORY_LIMIT, None, "Container memory limit (and request); checked against `capacity`.",
              default_doc=f"planned from `capacity`, else {memory_default}"),
        Field("capacity", CAPACITY, None, "The workload the resources are planned from (docs/planning.md)."),
        Field("cpu", CPU, 100, "CPU request.", default_doc="100m"),
        Field("cpuLimit", CPU, None, "CPU limit (absent: none, so Redis is never throttled)."),
        Field("maxmemoryPercent", PERCENT, None, "Share of the memory limit given to `maxmemory`.",
              default_doc="planned: from `capacity`; else what leaves room for forks (persistence, replicas), "
                          "else 80"),
    ]


def default_image(engine: str, version: str | None) -> str | None:
    """The image table's entry for an in-cluster cache, or None where the table has none."""
    entry = ENGINE_IMAGES.get((engine, version or DEFAULT_ENGINE_VERSION[engine]))
    return entry[0] if entry else None


def _check_memory(c: Any, path: str, ctx: Ctx) -> None:
    if c.image is None and c.pattern != "operator" and default_image(c.engine, c.version) is None:
        known = ", ".join(v for e, v in ENGINE_IMAGES if e == c.engine)
        ctx.error(f"{path}.version", f"no default {c.engine} image for version {c.version!r} (table: {known}); "
                                     f"set `image` to a pinned image of that version")
    if c.maxmemory_percent is not None:
        try:
            sizing.maxmemory_for_limit(c.memory_limit, c.maxmemory_percent)
        except sizing.SizingError as exc:
            ctx.error(f"{path}.memory", str(exc))
            return
    report_plan(c.pod.findings, path, ctx)
    if c.cpu_limit is not None and c.cpu > c.cpu_limit:
        ctx.error(f"{path}.cpu", f"request {sizing.format_millicores(c.cpu)} is above cpuLimit "
                                 f"{sizing.format_millicores(c.cpu_limit)}")


def cluster_mode(c: Any) -> bool:
    """Whether a cache speaks the Redis Cluster protocol: ElastiCache with shards or serverless, an
    endpoint declared cluster, or an OT-CONTAINER-KIT RedisCluster."""
    if c.pattern == "external":
        return c.cluster_mode
    return c.pattern == "operator" and c.kind == "ot-cluster"


def _check_l1_ttl(c: Any, path: str, ctx: Ctx) -> None:
    l1 = getattr(c, "l1", None)
    if l1 is None:
        return
    if c.default_ttl is not None and l1.ttl_cap > c.default_ttl:
        ctx.error(f"{path}.l1.ttlCap", f"must not be longer than defaultTtl "
                                       f"({schema.Duration.fmt(c.default_ttl)}), got {schema.Duration.fmt(l1.ttl_cap)}")


def _check_sidecar(c: SidecarCache, path: str, ctx: Ctx) -> None:
    _check_memory(c, path, ctx)


SIDECAR = Obj(SidecarCache, _common("sidecar") + _in_cluster("128Mi") + [
    Field("port", Int(1024, 65535), 6379, "Loopback port of the sidecar (it also listens on a unix socket)."),
], "pattern: sidecar", check=_check_sidecar,
    doc="Pattern 3: a Redis next to every app container, on 127.0.0.1 and a unix socket; no auth, no persistence.")


TLS = Obj(TlsConfig, [
    Field("certificateSecret", Str(pattern=DNS_LABEL, pattern_doc="a Secret name"), None,
          "A kubernetes.io/tls Secret (with ca.crt) you provide, in the cache's namespace.", reference=True),
    Field("issuer", Str(pattern=DNS_LABEL, pattern_doc="a cert-manager issuer name"), None,
          "A cert-manager issuer that issues the certificate (instead of certificateSecret)."),
    Field("issuerKind", Str(choices=["Issuer", "ClusterIssuer"]), "ClusterIssuer", "Kind of that issuer."),
], "TLS: on when a certificate source is given")


def _check_tls(tls: TlsConfig, path: str, ctx: Ctx) -> None:
    if tls.certificate_secret is not None and tls.issuer is not None:
        ctx.error(f"{path}.tls", "give one of certificateSecret or issuer, not both")
    elif not tls.enabled and ctx.environment == "production":
        ctx.error(f"{path}.tls", "production requires TLS for every cache reached over the network: "
                                 "set tls.certificateSecret or tls.issuer")


def _check_auth(c: Any, path: str, ctx: Ctx) -> None:
    if not c.auth and ctx.environment != "development":
        ctx.error(f"{path}.auth", f"auth can only be turned off in development, got false in {ctx.environment}")


def _check_replicas(c: Any, path: str, ctx: Ctx) -> None:
    if ctx.environment == "production" and c.replicas < 1:
        ctx.error(f"{path}.replicas", f"production needs at least 1 replica for failover, got {c.replicas}")


def _check_statefulset(c: StatefulSetCache, path: str, ctx: Ctx) -> None:
    _check_memory(c, path, ctx)
    _check_auth(c, path, ctx)
    _check_replicas(c, path, ctx)
    _check_tls(c.tls, path, ctx)
    _check_l1_ttl(c, path, ctx)
    if c.persistence != "none" and c.volume is None:
        ctx.error(f"{path}.persistence", f"{c.persistence!r} needs `storage` (a volume size) or `capacity` to plan it")
    if c.sentinels % 2 == 0:
        ctx.error(f"{path}.sentinels", f"must be odd so a majority exists after a partition, got {c.sentinels}")
    quorum = c.quorum if c.quorum is not None else c.sentinels // 2 + 1
    if not c.sentinels // 2 + 1 <= quorum <= c.sentinels:
        ctx.error(f"{path}.quorum", f"must be a majority of {c.sentinels} Sentinels "
                                    f"({c.sentinels // 2 + 1} to {c.sentinels}), got {quorum}")
    if c.min_replicas_to_write > c.replicas:
        ctx.error(f"{path}.minReplicasToWrite", f"must be <= replicas ({c.replicas}) or every write is refused, "
                                                f"got {c.min_replicas_to_write}")
    if c.acl_users and not c.auth:
        ctx.error(f"{path}.aclUsers", "need auth: true (with auth off every client is the default user, "
                                      "with every permission)")
    seen: dict[str, int] = {}
    for i, user in enumerate(c.acl_users):
        if user.name in seen:
            ctx.error(f"{path}.aclUsers[{i}].name",
                      f"{user.name!r} is already the name of aclUsers[{seen[user.name]}]; user names are unique")
        seen.setdefault(user.name, i)
    _check_name(ctx, path, max_len=STATEFULSET_NAME_LIMIT, what="StatefulSet")


# `<stack>-<cache>` names the Redis StatefulSet, its Services and pods; the Sentinel StatefulSet is
# `<name>-sentinel`, and a StatefulSet's pods carry a controller-revision-hash label
# `<statefulset>-<up to 10 characters>` that must fit a 63-character label value: 63 - 11 - 9 = 43.
STATEFULSET_NAME_LIMIT = 43


def _check_acl_user(u: AclUser, path: str, ctx: Ctx) -> None:
    for problem in redis_conf.acl_name_problems(u.name):
        ctx.error(f"{path}.name", problem)
    for problem in redis_conf.acl_rule_problems(u.permissions):
        ctx.error(f"{path}.permissions", problem)


ACL_USER = Obj(AclUser, [
    Field("name", Str(pattern=redis_conf.ACL_NAME.pattern, max_len=32,
                      pattern_doc="an ACL user name (a lower-case letter, then lower-case letters, digits, '_', '-')"),
          REQUIRED, "The user name clients authenticate as (not `default`)."),
    Field("permissions", Str(max_len=2048), REQUIRED,
          "Redis ACL rules, as in ACL SETUSER: keys (`~app:*`, `%R~ref:*`), channels (`&events:*`), commands "
          "and categories (`+@read`, `-@dangerous`, `+get`), selectors (`(...)`). Not `on`/`off`/`nopass`/"
          "`reset`/`resetpass` or password rules: the user is always on with a generated password."),
], "an ACL user", check=_check_acl_user)


STATEFULSET = Obj(StatefulSetCache, _common("statefulset") + _in_cluster("512Mi") + [
    Field("replicas", Int(0, 8), _env_default(2, 1, 1), "Read replicas beside the primary (pods = 1 + replicas).",
          default_doc="2 in production, else 1"),
    Field("storage", Quantity("bytes", min=sizing.MI), None, "Volume size per pod (absent: no persistence)."),
    Field("storageClass", Str(pattern=r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", pattern_doc="a StorageClass name"), None,
          "StorageClass of the volumes.", default_doc="the cluster's default"),
    Field("persistence", Str(choices=["none", "rdb", "aof"]), "none",
          "none: a pure cache; rdb: snapshots on the volume; aof: append-only file (needs storage)."),
    Field("retainVolumes", Bool(), _env_default(True, False, False),
          "Keep the volumes when the StatefulSet is deleted or scaled down.", default_doc="true in production, else false"),
    Field("auth", Bool(), True, "Require a password (generated, 48 alphanumeric characters)."),
    Field("tls", TLS, NO_TLS, "TLS for clients, replication and Sentinel (required in production).",
          default_doc="off"),
    Field("sentinels", Int(3, 7), 3, "Sentinel processes (odd, at least 3)."),
    Field("quorum", Int(1, 7), None, "Sentinels that must agree the primary is down.", default_doc="a majority"),
    Field("downAfter", Duration(min_ms=1000, max_ms=600_000), 5000,
          "Silence before a Sentinel calls the primary down.", default_doc="5s"),
    Field("failoverTimeout", Duration(min_ms=3000, max_ms=3_600_000), 30_000, "Sentinel failover-timeout.",
          default_doc="30s"),
    Field("minReplicasToWrite", Int(0, 8), 0,
          "Refuse writes unless this many replicas are connected (bounds write loss on a partition)."),
    Field("minReplicasMaxLag", Duration(min_ms=1000, max_ms=600_000), 10_000,
          "How stale a replica may be and still count for minReplicasToWrite.", default_doc="10s"),
    Field("exporter", Bool(), lambda ctx: ctx.observability,
          "Run redis_exporter beside every Redis and Sentinel (scraped from `observability.prometheus.namespace` only).",
          default_doc="`observability.enabled`"),
    Field("aclUsers", ListOf(ACL_USER, max_items=16), (),
          "Up to 16 Redis ACL users beside `default` (which replication, Sentinel and HAProxy use), each with its own "
          "generated password in the cache's Secret (key `user-<name>`); an app authenticates as one with "
          "`cacheUser` (needs auth).", default_doc="none"),
    Field("l1", L1, None, "Two-tier: a sidecar L1 in every bound app pod."),
], "pattern: statefulset", check=_check_statefulset,
    doc="Pattern 2: a StatefulSet with one primary, `replicas` replicas and Sentinel failover.")


def _window(text: str, path: str, ctx: Ctx) -> tuple[int, int] | None:
    """(start, length) in minutes of a `hh:mm-hh:mm` (daily) or `ddd:hh:mm-ddd:hh:mm` (weekly) window,
    start counted from Monday 00:00 for weekly ones; None (after an error) when out of range."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    points = []
    for part in text.split("-"):
        *day, hh, mm = part.split(":")
        if int(hh) > 23 or int(mm) > 59:
            ctx.error(path, f"{part!r} is not a time of day (hh:mm, UTC), got {text!r}")
            return None
        points.append((days.index(day[0]) * 1440 if day else 0) + int(hh) * 60 + int(mm))
    period = 7 * 1440 if text[0].isalpha() else 1440
    length = (points[1] - points[0]) % period
    # ElastiCache refuses windows shorter than 60 minutes, and maintenance windows over 24 hours.
    if not 60 <= length <= 1440:
        ctx.error(path, f"must span 60 minutes to 24 hours, got {length} minutes ({text!r})")
        return None
    return points[0], length


def _elasticache_id(ctx: Ctx, path: str, suffix: str, what: str) -> None:
    """Report, as a config error on `path`, a derived ElastiCache id AWS would refuse."""
    name = _check_name(ctx, path, max_len=ELASTICACHE_ID_MAX, what=what, suffix=suffix)
    if name is not None and "--" in name:
        ctx.error(path, f"the {what} name {name!r} contains '--', which ElastiCache refuses (rename the stack or cache)")


def endpoint_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address an endpoint host names, or None for a DNS name. In-cluster names differ by
    kind: an ExternalName Service for a DNS name, a selector-less Service with an EndpointSlice for an
    IP (Kubernetes' DNS answers an ExternalName with a CNAME, which an IP cannot be)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _check_endpoint_host(host: str | None, path: str, ctx: Ctx) -> None:
    """An IP must be one Kubernetes accepts in an EndpointSlice (ValidateEndpointIP in
    pkg/apis/core/validation, used by the discovery.k8s.io validation); a host that only looks like
    an IPv4 address (`10.0.0.256`, `010.0.0.1`) is neither an address nor a DNS name."""
    if host is None:
        return
    ip = endpoint_ip(host)
    if ip is None:
        if ":" in host or re.fullmatch(r"[0-9.]+", host):
            ctx.error(path, f"must be a host name, an IPv4 or an IPv6 address, got {host!r}")
        return
    special = [what for what, hit in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                                      ("link-local", ip.is_link_local),
                                      ("link-local multicast", ip.is_multicast and ip in _LINK_LOCAL_MULTICAST[ip.version]))
               if hit]
    if special:
        ctx.error(path, f"{host!r} is a {special[0]} address, which Kubernetes refuses as an endpoint "
                        f"(and no pod could reach a cache there)")


_LINK_LOCAL_MULTICAST = {4: ipaddress.ip_network("224.0.0.0/24"), 6: ipaddress.ip_network("ff02::/16")}


def _check_external(c: ExternalCache, path: str, ctx: Ctx) -> None:
    _check_l1_ttl(c, path, ctx)
    _check_auth(c, path, ctx)
    cache = path.rpartition(".")[2]
    only = {
        "elasticache": ("nodeType", "shards", "parameters", "maintenanceWindow"),
        "elasticache-serverless": ("limits",),
        "endpoint": ("host", "readHost", "readPort", "username", "caCertificate", "cluster"),
    }
    given = {"nodeType": c.node_type, "shards": c.shards, "parameters": c.parameters or None,
             "maintenanceWindow": c.maintenance_window, "limits": c.limits, "host": c.host,
             "readHost": c.read_host, "readPort": c.read_port, "username": c.username,
             "caCertificate": c.ca_certificate, "cluster": c.cluster or None}
    if c.kind == "endpoint":
        given.update(kmsKeyArn=c.kms_key_arn, snapshotWindow=c.snapshot_window)
        only["elasticache"] += ("kmsKeyArn", "snapshotWindow")
    for kind, keys in only.items():
        for key in keys:
            if kind != c.kind and given.get(key) is not None:
                hint = " (cluster mode on ElastiCache: set `shards`)" if key == "cluster" else ""
                ctx.error(f"{path}.{key}", f"only applies to kind: {kind}, got {show(given[key])} "
                                           f"with kind: {c.kind}{hint}")
    if c.kind == "endpoint":
        if c.host is None:
            ctx.error(f"{path}.host", "is required with kind: endpoint")
        _check_endpoint_host(c.host, f"{path}.host", ctx)
        _check_endpoint_host(c.read_host, f"{path}.readHost", ctx)
        if not c.tls and ctx.environment == "production":
            ctx.error(f"{path}.tls", "production requires TLS to an external cache, got false")
        if c.ca_certificate is not None and not c.tls:
            ctx.error(f"{path}.caCertificate", "is only used with tls: true")
        if c.read_port is not None and c.read_host is None:
            ctx.error(f"{path}.readPort", "needs readHost")
        if c.rotation != Rotation(generation=1, strategy="rotate"):
            ctx.error(f"{path}.rotation", "does not apply to kind: endpoint: change the password at its source, then "
                                          f"`pulumi config set --secret --path 'passwords.{cache}'`")
        return
    if not c.tls:
        ctx.error(f"{path}.tls", "ElastiCache in-transit encryption is always on, got false")
    if c.parameter_family is None:
        known = ", ".join(v for e, v in ELASTICACHE_FAMILIES if e == c.engine)
        ctx.error(f"{path}.version", f"ElastiCache has no {c.engine} {c.engine_version!r} with a parameter group "
                                     f"family (major.minor, one of: {known})")
    if c.snapshot_retention < 1 and ctx.environment == "production":
        ctx.error(f"{path}.snapshotRetention", "production keeps at least 1 day of snapshots, got 0")
    if c.kms_key_arn is not None and not c.at_rest_encryption:
        ctx.error(f"{path}.kmsKeyArn", "needs atRestEncryption: true")
    if c.logs.retention_days not in LOG_RETENTION_DAYS:
        ctx.error(f"{path}.logs.retentionDays", f"CloudWatch Logs only keeps logs for one of "
                                                f"{', '.join(map(str, LOG_RETENTION_DAYS))} days, got {c.logs.retention_days}")
    for key in ("maxmemory-policy", "cluster-enabled"):
        if key in c.parameters:
            instead = "maxmemoryPolicy" if key == "maxmemory-policy" else "shards (cluster mode)"
            ctx.error(f"{path}.parameters.{key}", f"is derived from {instead}; set that instead")
    snapshot = _window(c.snapshot_window, f"{path}.snapshotWindow", ctx) if c.snapshot_window else None
    if c.kind == "elasticache":
        if c.node_type is None and c.capacity is None:
            ctx.error(f"{path}.nodeType", "is required with kind: elasticache (such as cache.r7g.large), "
                                          "unless `capacity` plans it")
        elif c.effective_node_type is None:
            ctx.error(f"{path}.capacity", f"no node type holds it per shard; set shards to at least "
                                          f"{planning.aws.shards_needed(c.nodes.need_per_node * (c.shards or 1), c.reserved_percent)}")
        if c.nodes is not None:
            report_plan(c.nodes.findings, path, ctx)
        _check_replicas(c, path, ctx)
        _elasticache_id(ctx, path, "", "replication group id")
        maint = _window(c.maintenance_window, f"{path}.maintenanceWindow", ctx) if c.maintenance_window else None
        if snapshot and maint:
            week = 7 * 1440
            busy = {(maint[0] + m) % week for m in range(maint[1])}
            if any((day * 1440 + snapshot[0] + m) % week in busy for day in range(7) for m in range(snapshot[1])):
                ctx.error(f"{path}.snapshotWindow", f"{c.snapshot_window!r} overlaps maintenanceWindow "
                                                    f"{c.maintenance_window!r}; ElastiCache refuses overlapping windows")
    if c.kind == "elasticache-serverless":
        if c.limits is None:
            ctx.error(f"{path}.limits", "is required with kind: elasticache-serverless (it caps the bill)")
        elif c.capacity is not None:
            report_plan(planning.plan_serverless(workload(c), engine_of(c), c.limits.data_storage_gb,
                                                 c.limits.ecpu_per_second).findings, path, ctx)
        if c.engine_version.split(".")[0] not in SERVERLESS_MAJORS[c.engine]:
            ctx.error(f"{path}.version", f"serverless {c.engine} needs major version "
                                         f"{' or '.join(SERVERLESS_MAJORS[c.engine])}, got {c.engine_version!r}")
        if c.port != 6379:
            ctx.error(f"{path}.port", f"serverless caches listen on 6379 (and 6380 for reads), got {c.port}")
        if not c.at_rest_encryption:
            ctx.error(f"{path}.atRestEncryption", "serverless caches are always encrypted at rest, got false")
        for suffix, what in (("", "serverless cache"), ("default", "ElastiCache user id")):
            _elasticache_id(ctx, path, suffix, what)


ROTATION = Obj(Rotation, [
    Field("generation", Int(1, 10_000), 1, "Bump (with strategy: rotate) to generate a new AUTH token or serverless "
          "user password; ElastiCache kinds only."),
    Field("strategy", Str(choices=["rotate", "set"]), "rotate",
          "rotate: old and new password both work (roll the apps); set: only the new one."),
], "password rotation")

LOGS = Obj(LogDelivery, [
    Field("slow", Bool(), True, "Deliver the slow log to CloudWatch Logs."),
    Field("engine", Bool(), True, "Deliver the engine log to CloudWatch Logs."),
    Field("retentionDays", Int(1, 3653), 30, "CloudWatch Logs retention: one of the periods it accepts "
          "(1, 3, 5, 7, 14, 30, 60, 90, 180, 365, ...)."),
], "log delivery")

LIMITS = Obj(ServerlessLimits, [
    Field("dataStorageGb", Int(1, 5000), REQUIRED, "Maximum data storage in GB."),
    Field("ecpuPerSecond", Int(1000, 15_000_000), REQUIRED, "Maximum ElastiCache Processing Units per second."),
], "serverless usage limits")

# A node type such as cache.r7g.large: the cache.<family>.<size> ElastiCache sells (not an EC2 or RDS type).
NODE_TYPE = Str(pattern=r"cache\.(t[234]g?|m[3-7]g?d?|r[3-7]g?d?|c7gn)\.(micro|small|medium|large|[1-9]?[0-9]?xlarge)",
                pattern_doc="an ElastiCache node type such as cache.r7g.large or cache.m7g.xlarge")
EXTERNAL_VERSION = Field("version", Str(pattern=r"\d+(\.\d+){0,2}", pattern_doc="a version such as 8.1"), None,
                         "Engine version (major.minor) of an ElastiCache cache; informational for kind: endpoint.",
                         default_doc="valkey 8.1, redis 7.1")

EXTERNAL = Obj(ExternalCache, [EXTERNAL_VERSION if f.key == "version" else f for f in _common("external")] + [
    Field("kind", Str(choices=["elasticache", "elasticache-serverless", "endpoint"]), "elasticache",
          "elasticache (replication group), elasticache-serverless, or endpoint (any existing Redis)."),
    Field("auth", Bool(), True, "Require a password (AUTH token / user password)."),
    Field("tls", Bool(), True, "Connect with TLS (always on for ElastiCache)."),
    Field("nodeType", NODE_TYPE, None, "ElastiCache node type (kind: elasticache)."),
    Field("replicas", Int(0, 5), _env_default(2, 1, 0), "kind: elasticache: read replicas per shard (Multi-AZ and "
          "automatic failover with 1 or more).", default_doc="2 in production, 1 in staging, else 0"),
    Field("shards", Int(1, 500), None, "kind: elasticache: cluster mode with this many shards, each with `replicas` "
          "replicas (absent: cluster mode off, one primary)."),
    Field("atRestEncryption", Bool(), True, "Encrypt data at rest."),
    Field("kmsKeyArn", Str(pattern=r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[-a-f0-9]+", pattern_doc="a KMS key ARN"),
          None, "Customer-managed KMS key for at-rest encryption.", default_doc="the AWS-managed key"),
    Field("snapshotRetention", Int(0, 35), _env_default(7, 1, 1), "Days of automatic snapshots (at least 1 in "
          "production).",
          default_doc="7 in production, else 1"),
    Field("snapshotWindow", Str(pattern=r"\d\d:\d\d-\d\d:\d\d", pattern_doc="hh:mm-hh:mm (UTC)"), None, "Daily snapshot window."),
    Field("maintenanceWindow", Str(pattern=r"(mon|tue|wed|thu|fri|sat|sun):\d\d:\d\d-(mon|tue|wed|thu|fri|sat|sun):\d\d:\d\d",
                                   pattern_doc="ddd:hh:mm-ddd:hh:mm (UTC)"), None, "Weekly maintenance window."),
    Field("autoMinorVersionUpgrade", Bool(), True, "Apply minor engine upgrades in the maintenance window."),
    Field("parameters", MapOf(Str(pattern=r".+", pattern_doc="a value"), Str(pattern=r"[a-z][-a-z0-9]*",
          pattern_doc="a parameter name")), {}, "Extra parameter-group parameters.", default_doc="none"),
    Field("logs", LOGS, lambda ctx: LogDelivery(slow=True, engine=True, retention_days=30),
          "Log delivery to CloudWatch.", default_doc="slow and engine logs, 30 days"),
    Field("rotation", ROTATION, lambda ctx: Rotation(generation=1, strategy="rotate"),
          "AUTH password rotation (see the rotation workflow).", default_doc="generation 1"),
    Field("limits", LIMITS, None, "kind: elasticache-serverless: usage limits (required; they cap the bill)."),
    Field("host", Str(pattern=ENDPOINT_HOST, pattern_doc="a host name, an IPv4 or an IPv6 address"),
          None, "kind: endpoint: the primary endpoint (an IP gets a Service with an EndpointSlice, a name an "
          "ExternalName Service)."),
    Field("port", Int(1, 65535), 6379, "Port of the primary endpoint; for kind: elasticache the port the nodes "
          "listen on (changing it replaces the cache)."),
    Field("readHost", Str(pattern=ENDPOINT_HOST, pattern_doc="a host name, an IPv4 or an IPv6 address"),
          None, "kind: endpoint: a read endpoint (replicas)."),
    Field("readPort", Int(1, 65535), None, "Port of the read endpoint.", default_doc="`port`"),
    Field("username", Str(pattern=r"[A-Za-z0-9_-]+", pattern_doc="an ACL user name"), None,
          "kind: endpoint: ACL user (absent: the default user)."),
    Field("caCertificate", Str(pattern=r"(?s)-----BEGIN CERTIFICATE-----.+-----END CERTIFICATE-----\s*",
                               pattern_doc="a PEM CA certificate"), None,
          "kind: endpoint: CA that signed the server certificate (Memorystore uses a private CA)."),
    Field("cluster", Bool(), False, "kind: endpoint: the server runs in cluster mode."),
    Field("l1", L1, None, "Two-tier: a sidecar L1 in every bound app pod."),
    Field("capacity", CAPACITY, None, "The workload: plans the node type (kind: elasticache; `nodeType` is checked "
          "against it) and checks serverless `limits` (docs/planning.md)."),
], "pattern: external", check=_check_external,
    doc="Pattern 1: AWS ElastiCache, or an existing endpoint (Memorystore, Azure Cache, any Redis).")


# Default images of operator caches, by (operator, Redis version): (Redis image, Sentinel image).
# OT-CONTAINER-KIT needs its own images (their entrypoints turn the operator's env vars into
# redis.conf / sentinel.conf); Spotahome configures stock Redis images itself.
OPERATOR_IMAGES = {
    ("ot-container-kit", "7.0"): ("quay.io/opstree/redis:v7.0.15", "quay.io/opstree/redis-sentinel:v7.0.15"),
    ("spotahome", "7.2"): ("redis:7.2.11-alpine", "redis:7.2.11-alpine"),
}
DEFAULT_OPERATOR_VERSION = {"ot-container-kit": "7.0", "spotahome": "7.2"}
# Longest custom resource name each kind takes. Spotahome refuses names over 48 characters
# (api/redisfailover/v1/validate.go, maxNameLength). For OT the limit comes from the names it
# derives: the StatefulSet `<name>-s` (Sentinel) / `<name>-follower` gets a controller-revision-hash
# label `<statefulset>-<hash of up to 10 characters>`, and label values hold at most 63 characters.
OPERATOR_NAME_LIMITS = {"ot-replication": 50, "ot-cluster": 43, "spotahome-failover": 48}


def _check_operator(c: OperatorCache, path: str, ctx: Ctx) -> None:
    _check_memory(c, path, ctx)
    _check_auth(c, path, ctx)
    _check_replicas(c, path, ctx)
    _check_l1_ttl(c, path, ctx)
    if c.engine != "redis":
        ctx.error(f"{path}.engine", f"the operators run their own Redis images, got {c.engine!r} (allowed: redis)")
    if c.kind == "spotahome-failover":
        if c.tls.enabled:
            ctx.error(f"{path}.tls", "kind spotahome-failover has no TLS (RedisFailover has no TLS setting); "
                                     "use kind: ot-replication for TLS")
        elif ctx.environment == "production":
            ctx.error(f"{path}.kind", "spotahome-failover cannot be used in production: production requires TLS, "
                                      "which the (unmaintained) Spotahome operator does not offer; use ot-replication")
    else:
        _check_tls(c.tls, path, ctx)
    if c.kind == "ot-cluster":
        if c.sentinel_image is not None:
            ctx.error(f"{path}.sentinelImage", "kind ot-cluster runs no Sentinel (cluster mode fails over by itself)")
    elif c.sentinels % 2 == 0:
        ctx.error(f"{path}.sentinels", f"must be odd so a majority exists after a partition, got {c.sentinels}")
    version = c.version or DEFAULT_OPERATOR_VERSION[c.operator]
    needs_table = c.image is None or (c.kind != "ot-cluster" and c.sentinel_image is None)
    if needs_table and (c.operator, version) not in OPERATOR_IMAGES:
        known = ", ".join(v for op, v in OPERATOR_IMAGES if op == c.operator)
        ctx.error(f"{path}.version", f"no default {c.operator} image for Redis {version!r} (table: {known}); "
                                     f"set `image`{'' if c.kind == 'ot-cluster' else ' and `sentinelImage`'} to pinned "
                                     f"images of that version")
    _check_name(ctx, path, max_len=OPERATOR_NAME_LIMITS[c.kind], what=f"{c.kind} resource")


OPERATOR = Obj(OperatorCache, _common("operator", engine_default="redis") + _in_cluster("512Mi") + [
    Field("kind", Str(choices=["ot-replication", "ot-cluster", "spotahome-failover"]), "ot-replication",
          "Which custom resource: OT-CONTAINER-KIT RedisReplication (+Sentinel) or RedisCluster, or Spotahome RedisFailover."),
    Field("replicas", Int(0, 8), _env_default(2, 1, 1), "Read replicas per primary (per shard for ot-cluster).",
          default_doc="2 in production, else 1"),
    Field("shards", Int(3, 100), 3, "ot-cluster: number of shards (primaries)."),
    Field("sentinels", Int(3, 7), 3, "Sentinels (ot-replication, spotahome-failover)."),
    Field("storage", Quantity("bytes", min=sizing.MI), None, "Volume size per pod (absent: no persistence)."),
    Field("storageClass", Str(pattern=r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", pattern_doc="a StorageClass name"), None,
          "StorageClass of the volumes."),
    Field("auth", Bool(), True, "Require a password."),
    Field("tls", TLS, NO_TLS, "TLS (OT-CONTAINER-KIT only; required in production).", default_doc="off"),
    Field("exporter", Bool(), lambda ctx: ctx.observability,
          "Run the operator's redis_exporter beside Redis (and, for spotahome-failover, the Sentinels).",
          default_doc="`observability.enabled`"),
    Field("sentinelImage", IMAGE, None, "Sentinel image (ot-replication, spotahome-failover); pin a digest in production.",
          default_doc="from the operator image table"),
    Field("l1", L1, None, "Two-tier: a sidecar L1 in every bound app pod."),
], "pattern: operator", check=_check_operator,
    doc="Pattern 5: custom resources of a Redis operator (which may be installed by this stack).")

CACHE = Tagged("pattern", {"external": EXTERNAL, "statefulset": STATEFULSET, "sidecar": SIDECAR,
                           "operator": OPERATOR}, "a cache")


def _check_resources(r: Resources, path: str, ctx: Ctx) -> None:
    if r.memory > r.memory_limit:
        ctx.error(f"{path}.memory", f"request {sizing.format_bytes(r.memory)} is above memoryLimit "
                                    f"{sizing.format_bytes(r.memory_limit)}")
    if r.cpu_limit is not None and r.cpu > r.cpu_limit:
        ctx.error(f"{path}.cpu", f"request {sizing.format_millicores(r.cpu)} is above cpuLimit "
                                 f"{sizing.format_millicores(r.cpu_limit)}")


RESOURCES = Obj(Resources, [
    Field("cpu", CPU, 100, "CPU request.", default_doc="100m"),
    Field("cpuLimit", CPU, None, "CPU limit.", default_doc="none"),
    Field("memory", Quantity("bytes", min=4 * sizing.MI), 128 * sizing.MI, "Memory request.", default_doc="128Mi"),
    Field("memoryLimit", Quantity("bytes", min=4 * sizing.MI), 256 * sizing.MI, "Memory limit.", default_doc="256Mi"),
], "app resources", check=_check_resources)

PROBES = Obj(Probes, [
    Field("readinessPath", HTTP_PATH, None, "HTTP readiness path.", default_doc="a TCP check of `port`"),
    Field("livenessPath", HTTP_PATH, None, "HTTP liveness path.", default_doc="a TCP check of `port`"),
    Field("startupPath", HTTP_PATH, None, "HTTP startup path.", default_doc="the liveness check"),
    Field("initialDelay", Int(0, 600), 0, "Seconds before the first readiness and liveness check."),
], "probes")

PEER = Obj(Peer, [
    Field("namespace", NAMESPACE_NAME, REQUIRED, "Namespace of the pods allowed in."),
    Field("podLabels", MapOf(LABEL_VALUE, LABEL_KEY), {}, "Only pods with these labels.", default_doc="all pods"),
], "ingress source")

RESERVED_ENV = re.compile(r"CACHE_.*")
SECRETISH = re.compile(r"(?i).*(passw(or)?d|secret|token|api_?key|credential).*")


def _check_app(app: AppConfig, path: str, ctx: Ctx) -> None:
    for key in app.env:
        if RESERVED_ENV.fullmatch(key):
            ctx.error(f"{path}.env.{key}", "CACHE_* variables are set by the cache binding (see the env contract)")
        elif SECRETISH.fullmatch(key):
            ctx.error(f"{path}.env.{key}", "looks like a secret: env values are plain text in the Deployment; "
                                           "use a Kubernetes Secret, not stack config")
    for p in app.writable_paths:
        if p in ("/", "/etc", "/etc/cache-patterns", "/run/cache"):
            ctx.error(f"{path}.writablePaths", f"{p!r} would hide files the pod needs")
    if app.port in (6379, 26379) :
        ctx.error(f"{path}.port", f"{app.port} is taken by the cache sidecar or Sentinel; pick another port")


APP = Obj(AppConfig, [
    Field("name", APP_NAME, REQUIRED, "Deployment and Service name (stable; renaming replaces the app)."),
    Field("namespace", NAMESPACE_NAME, lambda ctx: ctx.namespace, "Namespace.", default_doc="the stack's `namespace`"),
    Field("image", IMAGE, REQUIRED, "Image (`name:tag`, `name@sha256:...` or both)."),
    Field("replicas", Int(0, 100), 1, "Pods in the app's Deployment (for apps, the Kubernetes meaning)."),
    Field("port", Int(1024, 65535), 8080, "Container port, also the Service port."),
    Field("resources", RESOURCES, lambda ctx: Resources(cpu=100, cpu_limit=None, memory=128 * sizing.MI,
                                                        memory_limit=256 * sizing.MI),
          "Requests and limits.", default_doc="100m / 128Mi, limit 256Mi"),
    Field("probes", PROBES, lambda ctx: Probes(readiness_path=None, liveness_path=None, startup_path=None,
                                               initial_delay=0),
          "Readiness, liveness and startup probes.", default_doc="TCP checks of `port`"),
    Field("env", MapOf(Str(min_len=0, max_len=4096), ENV_NAME), {}, "Extra plain environment variables.",
          default_doc="none"),
    Field("cache", CACHE_NAME, REQUIRED, "Name of the cache (under `caches`) the app binds to."),
    Field("passwordEnv", Bool(), False,
          "Also put the password in CACHE_PASSWORD (secretKeyRef) and CACHE_URL; by default it is only a file."),
    Field("allowFrom", ListOf(PEER), None, "Who may reach the app's port.", default_doc="pods of its own namespace"),
    Field("writablePaths", ListOf(Str(pattern=r"/[-A-Za-z0-9_./]*", pattern_doc="an absolute path")), ("/tmp",),
          "emptyDir mounts (the root filesystem is read-only).", default_doc="/tmp"),
    Field("runAsUser", Int(10000, 2**31 - 1), 10001, "UID (and GID) the app runs as."),
    Field("mountServiceAccountToken", Bool(), False, "Mount the service account token."),
    Field("cacheUser", Str(pattern=redis_conf.ACL_NAME.pattern, pattern_doc="an ACL user name", max_len=32), None,
          "Authenticate as this user of the cache's `aclUsers` (pattern statefulset): CACHE_USERNAME and that "
          "user's password file; no Sentinel variables (the Sentinels take only the default password).",
          default_doc="the default user"),
], "an app", check=_check_app)


def AWS_ID(prefix: str, doc: str) -> Str:
    return Str(pattern=prefix + r"-[0-9a-f]{8,17}", pattern_doc=doc)

NETWORK_FROM = Obj(NetworkFrom, [
    Field("stack", Str(pattern=r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}", pattern_doc="a stack name org/project/stack"),
          REQUIRED, "The stack that owns the cluster and its VPC."),
    Field("vpcIdOutput", Str(pattern=r"[A-Za-z_][A-Za-z0-9_]*", pattern_doc="an output name"), "vpcId",
          "Its output holding the VPC id."),
    Field("subnetIdsOutput", Str(pattern=r"[A-Za-z_][A-Za-z0-9_]*", pattern_doc="an output name"), "privateSubnetIds",
          "Its output holding the private subnet ids."),
    Field("clientSecurityGroupIdsOutput", Str(pattern=r"[A-Za-z_][A-Za-z0-9_]*", pattern_doc="an output name"),
          "nodeSecurityGroupIds", "Its output holding the node/pod security group id(s)."),
], "network from a stack")


def _check_aws(a: AwsConfig, path: str, ctx: Ctx) -> None:
    explicit = a.vpc_id is not None or a.subnet_ids or a.client_security_group_ids
    if a.network_from is not None and explicit:
        ctx.error(f"{path}.networkFrom", "give the network explicitly (vpcId, subnetIds, clientSecurityGroupIds) "
                                         "or networkFrom, not both")
    elif a.network_from is None:
        if a.vpc_id is None:
            ctx.error(f"{path}.vpcId", "is required unless networkFrom names the cluster's stack")
        if len(a.subnet_ids) < 2:
            ctx.error(f"{path}.subnetIds", f"needs at least 2 private subnets (in different AZs), got {len(a.subnet_ids)}")
        if not a.client_security_group_ids:
            ctx.error(f"{path}.clientSecurityGroupIds", "needs the cluster's node/pod security group(s)")
    for key, ids in (("subnetIds", a.subnet_ids), ("clientSecurityGroupIds", a.client_security_group_ids)):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            ctx.error(f"{path}.{key}", f"lists {', '.join(dupes)} more than once")


AWS = Obj(AwsConfig, [
    Field("region", Str(pattern=r"[a-z]{2}(-[a-z]+)+-\d", pattern_doc="an AWS region such as eu-west-1"), REQUIRED,
          "Region of the ElastiCache resources."),
    Field("vpcId", AWS_ID("vpc", "a VPC id"), None, "VPC of the cluster."),
    Field("subnetIds", ListOf(AWS_ID("subnet", "a subnet id")), (), "Private subnets for the subnet group.",
          default_doc="none"),
    Field("clientSecurityGroupIds", ListOf(AWS_ID("sg", "a security group id")), (),
          "Security groups of the cluster's nodes/pods: the only sources admitted.", default_doc="none"),
    Field("networkFrom", NETWORK_FROM, None, "Read the network from the cluster's stack (StackReference)."),
    Field("tags", MapOf(Str(max_len=256, min_len=0), Str(pattern=r"[^\s].{0,127}", pattern_doc="a tag key")), {},
          "Tags on every AWS resource.", default_doc="none"),
], "AWS", check=_check_aws)

def _check_operator_install(o: OperatorInstall, path: str, ctx: Ctx) -> None:
    if o.install and o.version is None:
        ctx.error(f"{path}.version", "is required with install: true (pin the chart version)")
    if o.chart_path is None:
        return
    for key, value in (("chart", o.chart), ("repository", o.repository)):
        if value is not None:
            ctx.error(f"{path}.{key}", f"is set with chartPath: a local chart is named by its folder's Chart.yaml "
                                       f"and comes from no repository (drop {key} or chartPath)")
    declared, problem = local_chart_version(o.chart_path)
    if problem:
        ctx.error(f"{path}.chartPath", problem)
    elif o.version is not None and declared != o.version.removeprefix("v"):
        # Helm installs whatever the folder holds and ignores a version for a folder: the pin is
        # checked here instead, so it still says what is installed.
        ctx.error(f"{path}.version", f"{o.version!r} is not the version of the chart in {o.chart_path!r}, whose "
                                     f"Chart.yaml says {declared!r}: pin {declared!r}, or point chartPath at "
                                     f"the folder of {o.version!r}")


def local_chart_version(chart_path: str) -> tuple[str | None, str | None]:
    """The `version` a local chart folder's Chart.yaml declares (relative paths: from the project
    directory, where the engine runs the program), or the problem that stops reading it."""
    import yaml

    chart_yaml = Path(chart_path) / "Chart.yaml"
    try:
        data = yaml.safe_load(chart_yaml.read_text())
    except OSError as exc:
        return None, f"{chart_path!r} is not a chart folder: {chart_yaml} cannot be read ({exc.strerror})"
    except yaml.YAMLError as exc:
        return None, f"{chart_yaml} is not YAML: {str(exc).splitlines()[0]}"
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str):
        return None, f"{chart_yaml} declares no chart version (a `version:` string)"
    return version, None


OPERATOR_INSTALL = Obj(OperatorInstall, [
    Field("install", Bool(), False, "Install the operator with its Helm chart (else: assume it is installed)."),
    Field("release", Str(pattern=r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
                         pattern_doc="a Helm release name", max_len=charts.RELEASE_MAX), None,
          "Helm release name (changing it replaces the release: the operator is uninstalled, then installed).",
          default_doc="`redis-operator` (OT-CONTAINER-KIT), `spotahome-redis-operator` (Spotahome)"),
    Field("namespace", NAMESPACE_NAME, "redis-operator", "Namespace of the operator."),
    Field("chart", Str(pattern=r"[a-z0-9][-a-z0-9]*", pattern_doc="a chart name"), None,
          "Chart name.", default_doc="the operator's chart"),
    Field("repository", Str(pattern=r"(https|oci)://\S+", pattern_doc="an https:// or oci:// URL"), None,
          "Chart repository (a mirror, for air-gapped clusters).", default_doc="the operator's repository"),
    Field("chartPath", Str(pattern=r"\S+", pattern_doc="a folder path"), None,
          "A local chart folder instead of a repository (relative: to the project directory). `version` must "
          "equal its Chart.yaml's.", default_doc="none: the chart comes from the repository"),
    Field("version", Str(pattern=r"v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", pattern_doc="a pinned chart version"), None,
          "Chart version (required with install: true): what Helm fetches from the repository, or what a "
          "chartPath folder's Chart.yaml must say."),
    Field("values", MapOf(Anything(), Str(pattern=r".+", pattern_doc="a key")), {}, "Extra chart values.",
          default_doc="none"),
], "operator install", check=_check_operator_install)


OBSERVABILITY = observability.spec(LABEL_KEY, LABEL_VALUE, NAMESPACE_NAME)


def _top_fields() -> list[Field]:
    return [
        Field("environment", Str(choices=ENVIRONMENTS), REQUIRED,
              "What the stack is for; production and staging tighten defaults and checks (see the table)."),
        Field("namespace", NAMESPACE_NAME, lambda ctx: ctx.stack, "Namespace of the stack's caches and default namespace of its apps.",
              default_doc="the stack name"),
        Field("kubernetesVersion", K8S_VERSION, "1.33",
              "Kubernetes minor version of the target cluster: selects native or plain-container sidecars and "
              "the schema the render is validated against."),
        Field("kubeContext", Str(pattern=r"\S+", pattern_doc="a kubeconfig context name"), None,
              "kubeconfig context of the explicit Kubernetes provider.", default_doc="the current context"),
        Field("clusterDomain", Str(pattern=r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
                                   pattern_doc="a DNS domain"), "cluster.local", "The cluster's DNS domain."),
        Field("manageNamespaces", Bool(), True,
              "Create the namespaces (labelled for the restricted Pod Security Standard); false: they exist."),
        Field("caches", MapOf(CACHE, CACHE_NAME, min_items=1, what="caches"), REQUIRED,
              "Named caches; each app binds to one by name."),
        Field("apps", ListOf(APP), (), "Apps wired to a cache.", default_doc="none"),
        Field("aws", AWS, None, "AWS region and network (for ElastiCache)."),
        Field("operators", MapOf(OPERATOR_INSTALL, Str(choices=["ot-container-kit", "spotahome"])), {},
              "Operator installs, by operator.", default_doc="none: operators are assumed installed"),
        Field("observability", OBSERVABILITY, lambda ctx: OBSERVABILITY.parse({}, "observability", ctx),
              "Metrics, alert rules, dashboards and cloud alarms for every cache (docs/observability.md).",
              default_doc="on in production and staging"),
        Field("passwords", MapOf(Str(secret=True, min_len=1), CACHE_NAME), {},
              "Secret: passwords of `kind: endpoint` caches by cache name "
              "(`pulumi config set --secret --path 'passwords.<cache>'`).", default_doc="none"),
    ]


TOP = Obj(_TopKeys, _top_fields(), "stack config")
TOP_KEYS = tuple(TOP.keys())
# Keys whose value is an object or list: Pulumi passes them to the program as JSON text.
STRUCTURED_KEYS = frozenset({"caches", "apps", "aws", "operators", "observability", "passwords"})
SECRET_KEYS = frozenset({"passwords"})


def _check_stack(top: _TopKeys, ctx: Ctx) -> None:
    names: dict[str, int] = {}
    for i, app in enumerate(top.apps):
        if app.name in names:
            ctx.error(f"apps[{i}].name", f"{app.name!r} is already the name of apps[{names[app.name]}]; app names are unique")
        names.setdefault(app.name, i)
        cache = top.caches.get(app.cache)
        if cache is None:
            ctx.error(f"apps[{i}].cache", f"{app.cache!r} is not a cache of this stack (caches: {', '.join(top.caches)})")
            continue
        if app.password_env and not _has_auth(cache):
            ctx.error(f"apps[{i}].passwordEnv", f"cache {app.cache!r} has no password to put in the environment")
        if app.cache_user is not None:
            _check_cache_user(app, f"apps[{i}].cacheUser", cache, ctx)
        if app.password_env and cache.pattern == "external" and cache.kind == "endpoint":
            pw = top.passwords.get(app.cache, "")
            if not re.fullmatch(r"[A-Za-z0-9._~-]*", pw):
                ctx.error(f"passwords.{app.cache}", "must be URL-safe (letters, digits, ._~-) for CACHE_URL with "
                                                    f"passwordEnv (apps[{i}]), got <secret>")
    for name, cache in top.caches.items():
        if cache.pattern == "external" and cache.kind == "endpoint":
            if cache.auth and name not in top.passwords:
                ctx.error(f"passwords.{name}", "is required for an endpoint cache with auth: set it with "
                                               f"`pulumi config set --secret --path 'passwords.{name}' <password>`")
            if not cache.auth and name in top.passwords:
                ctx.error(f"passwords.{name}", "is set but the cache has auth: false")
        if cache.pattern == "external" and cache.kind != "endpoint" and top.aws is None:
            ctx.error(f"caches.{name}", f"kind: {cache.kind} needs the `aws` key (region and network)")
    for name in top.passwords:
        cache = top.caches.get(name)
        if cache is None or not (cache.pattern == "external" and cache.kind == "endpoint"):
            ctx.error(f"passwords.{name}", "only endpoint caches take a password from config; the others generate one")
    observability.check_stack(top.observability, top.caches, ctx)
    installs = [charts.install_of(op, o.release, o.namespace, o.chart, o.repository, o.values)
                for op, o in top.operators.items() if o.install]
    for key, message in charts.clashes(installs):
        ctx.error(key, message)
    used = {c.kind.split("-")[0] for c in top.caches.values() if c.pattern == "operator"}
    for op in top.operators:
        short = {"ot-container-kit": "ot", "spotahome": "spotahome"}[op]
        if short not in used:
            ctx.error(f"operators.{op}", "no cache of this stack uses this operator")


def _check_cache_user(app: AppConfig, path: str, cache: CacheConfig, ctx: Ctx) -> None:
    if cache.pattern != "statefulset":
        ctx.error(path, f"only caches with pattern: statefulset define ACL users (aclUsers); cache {app.cache!r} "
                        f"has pattern: {cache.pattern}")
        return
    users = [u.name for u in cache.acl_users]
    if app.cache_user not in users:
        ctx.error(path, f"{app.cache_user!r} is not an ACL user of cache {app.cache!r} (aclUsers: "
                        f"{', '.join(users) or 'none'})")
    if cache.l1 is not None:
        ctx.error(path, f"cache {app.cache!r} is two-tier (l1), whose invalidation protocol is not yet wired for "
                        f"ACL users (it needs pub/sub on the shared tier); bind this app without cacheUser or drop l1")


def _has_auth(cache: CacheConfig) -> bool:
    return cache.pattern != "sidecar" and cache.auth


def parse(values: Mapping[str, Any], stack: str) -> StackConfig:
    """Parse a stack's `cache-patterns:*` config (short keys, decoded values) into a StackConfig.

    Raises ConfigError listing every problem."""
    ctx = Ctx(stack=stack)
    env = values.get("environment")
    if env in ENVIRONMENTS:
        ctx.environment = env
    # Apps default to the stack's namespace; it is parsed here first so the default can use it.
    ns = values.get("namespace", stack)
    ctx.namespace = ns if isinstance(ns, str) else stack  # type: ignore[attr-defined]
    if "namespace" not in values and not re.fullmatch(DNS_LABEL, stack):
        ctx.error("namespace", f"is required: the stack name {stack!r} is not a valid namespace name")
    owner_problem = ownership.label_value_problem(stack)
    if owner_problem:
        ctx.error("(stack name)", owner_problem)
    # Exporters default to whether observability is on, before that key itself is parsed.
    ctx.observability = observability.requested(values.get("observability"), ctx.environment)
    k8s = values.get("kubernetesVersion")
    if isinstance(k8s, (int, float, str)) and not isinstance(k8s, bool) and re.fullmatch(r"1\.[1-9]", str(k8s)):
        ctx.error("kubernetesVersion", f"must be a quoted minor version such as \"1.30\" (YAML reads an unquoted "
                                       f"1.30 as the number 1.3), got {k8s!r}")
        values = {k: v for k, v in values.items() if k != "kubernetesVersion"}
    top = TOP.parse(dict(values), "", ctx)
    if top is not schema.INVALID:
        _check_stack(top, ctx)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    return StackConfig(stack=stack, warnings=tuple(ctx.warnings), **{f.attr: getattr(top, f.attr) for f in TOP.fields})


# ---------------------------------------------------------------------------------------------
# Reading what the engine passed.

def decode(raw: Mapping[str, str], stack: str) -> dict[str, Any]:
    """Turn the engine's flat config (`cache-patterns:caches` -> JSON text) into parse() input.

    Keys of other namespaces are left alone, except provider namespaces: this program builds its
    providers explicitly, so `kubernetes:*` and `aws:*` would silently do nothing."""
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for full_key, text in sorted(raw.items()):
        ns, _, key = full_key.partition(":")
        if ns in ("kubernetes", "aws"):
            hint = {"kubernetes:context": "kubeContext", "aws:region": "aws.region"}.get(full_key, "the cache-patterns keys")
            problems.append((full_key, f"is ignored because this program's providers are explicit; set {hint} instead"))
            continue
        if ns != NAMESPACE:
            continue
        if key not in TOP_KEYS:
            ctx = Ctx(stack=stack)
            schema.unknown_key(ctx, f"{NAMESPACE}:{key}", key, list(TOP_KEYS))
            problems.extend(ctx.problems)
            continue
        if key in STRUCTURED_KEYS:
            try:
                values[key] = json.loads(text) if isinstance(text, str) else text
            except json.JSONDecodeError:
                problems.append((key, f"must be an object or list, got {show(text, key in SECRET_KEYS)}"))
        elif key == "manageNamespaces" and text in ("true", "false"):
            values[key] = text == "true"
        else:
            values[key] = text
    if problems:
        raise ConfigError(problems)
    return values


def load() -> StackConfig:
    """Read and validate this program's config from the Pulumi engine, before any resource exists."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    raw = dict(runtime_config.CONFIG.get()) or runtime_config.get_config_env()
    stack = pulumi.get_stack()
    return parse(decode(raw, stack), stack)
