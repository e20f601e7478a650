"""The small typed description of one monitored cache that every generator reads: what the stack
created (pattern, replicas, Sentinel quorum, maxmemory, eviction policy) and where its metrics come
from (the scrape jobs). Components build one; rules, dashboards and scrape objects are pure
functions of it, so the same inputs give the same alerts in a render, a test and a cluster.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

EVICTING_POLICIES = ("allkeys-lru", "allkeys-lfu", "allkeys-random")
VOLATILE_POLICIES = ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl")
EXPORTER_PORT = 9121


@dataclass(frozen=True, kw_only=True)
class Standalone:
    """An exporter of this program's own for servers whose pods carry none (OT-CONTAINER-KIT's
    Sentinels: RedisReplication's embedded `spec.sentinel` has no exporter and no sidecar setting).
    One exporter in multi-target mode scrapes each address through `/scrape?target=`; the scraped
    pods admit it on `port`."""

    addresses: tuple[str, ...]  # host:port of each server, as the exporter reaches it
    pods: Mapping               # LabelSelector of the scraped pods
    port: int
    # Its own pod: the cache's placement for it (core/placement.Placed), the stack's images (an
    # ImageSet) and its container's resources; None: the defaults.
    placed: Any = None
    images: Any = None
    resources: Mapping | None = None


@dataclass(frozen=True, kw_only=True)
class Scrape:
    """One PodMonitor: the pods it selects, the container port it scrapes, and the name it has.

    The Prometheus Operator sets `job` to `<namespace>/<PodMonitor name>` (pkg/prometheus/promcfg.go,
    generatePodMonitorConfig), so the job every rule selects is known before anything is deployed."""

    name: str
    namespace: str
    selector: Mapping          # a LabelSelector: {matchLabels: ...} and/or {matchExpressions: [...]}
    port: str                  # container port name
    role: str                  # "redis" (data nodes) or "sentinel"
    # Set when the exporter is a Deployment of this program's own (then `selector` selects its pod).
    standalone: Standalone | None = None

    @property
    def job(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, kw_only=True)
class ClientTarget:
    """Two-tier: the apps whose cache client exports per-tier counters, labelled cache=<name>."""

    cache: str
    namespaces: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class BackupTarget:
    """Scheduled backups whose results a Pushgateway receives (patterns/statefulset/scripts/backup.sh):
    every series carries `cache=<statefulset>` from the push's grouping key."""

    cache: str
    interval_s: int                    # the schedule's longest time between two runs


@dataclass(frozen=True, kw_only=True)
class CacheTarget:
    """One cache as the monitoring sees it."""

    stack: str
    cache: str
    pattern: str                       # statefulset | operator | external
    kind: str | None = None            # operator or external kind
    namespace: str                     # where its monitoring objects live (and its pods run)
    data: Scrape | None = None         # the data nodes' exporters
    sentinel: Scrape | None = None     # the Sentinels' exporters
    shards: int = 1                    # primaries expected (cluster mode: one per shard)
    replicas: int = 0                  # replicas each primary should have
    sentinels: int = 0
    quorum: int = 0
    maxmemory: int | None = None       # bytes the stack configured; None: not set by this program
    maxmemory_policy: str = "noeviction"
    replication_lag_s: int = 30        # seconds a replica may lag before it is a problem
    # RDB save points, after whose failed save Redis refuses writes (stop-writes-on-bgsave-error);
    # None: not known (an operator's own configuration).
    rdb_saves: bool | None = None
    client: ClientTarget | None = None
    backup: BackupTarget | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    # "l1" for the two-tier clients' own objects (kept apart, so adding an L1 changes no object of the
    # shared cache); part of the names of the rule, its group and the dashboard.
    part: str = ""

    @property
    def evicting(self) -> bool:
        """A cache that evicts any key at maxmemory: being full is its steady state."""
        return self.maxmemory_policy in EVICTING_POLICIES

    @property
    def store(self) -> bool:
        """noeviction: at maxmemory writes are refused, and an eviction would be data loss."""
        return self.maxmemory_policy == "noeviction"

    @property
    def title(self) -> str:
        return f"{self.stack}/{self.cache}" + (f" {self.part}" if self.part else "")

    @property
    def object_name(self) -> str:
        """`<stack>-<cache>[-<part>]`: the PrometheusRule's name and the dashboard's prefix."""
        return "-".join(filter(None, (self.stack, self.cache, self.part)))

    @property
    def jobs(self) -> tuple[str, ...]:
        return tuple(s.job for s in (self.data, self.sentinel) if s is not None)

    @property
    def monitored(self) -> bool:
        """Whether anything in the cluster produces metrics about this cache."""
        return self.data is not None or self.client is not None or self.backup is not None
