"""From a workload to the figures each pattern needs: pods (maxmemory, limit, request, replica buffer,
volume), ElastiCache nodes, serverless storage and ECPU; and where an explicit setting contradicts
the plan, a finding that says so with the numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from . import aws, headroom as hr
from .headroom import GI, KI, MI, Headroom
from .memory import Engine, KeyCost, Size, key_cost, regions

PERSISTENCE = ("none", "rdb", "aof")
# maxmemory below this is not a cache (the replication and client buffers alone are larger).
MIN_MAXMEMORY = 8 * MI
# The smallest container limit planned: an empty redis-server is 6-12 MiB RSS (components.sizing
# refuses limits below this too).
MIN_LIMIT = 32 * MI
# The percentage rule keeps at least this below the limit (as components.sizing always has).
PERCENT_HEADROOM = 8 * MI
# Severities: `fatal` can never run; `unsafe` can be OOM-killed or fail a save (an error outside
# development); `short` holds less than the workload (a warning: it evicts or throttles).
FATAL, UNSAFE, SHORT = "fatal", "unsafe", "short"


@dataclass(frozen=True)
class Workload:
    """What a cache must hold and how it is written; persistence and replicas come from the pattern."""

    keys: int
    key_bytes: Size
    value_bytes: Size
    ttl_share: float = 0.0
    writes_per_second: float | None = None
    reads_per_second: float | None = None
    persistence: str = "none"
    replicas: int = 0
    shards: int = 1
    pods: int | None = None
    evicts: bool = True

    def __post_init__(self) -> None:
        if self.persistence not in PERSISTENCE:
            raise ValueError(f"persistence must be one of {', '.join(PERSISTENCE)}, got {self.persistence!r}")
        if self.keys < 1 or self.replicas < 0 or self.shards < 1:
            raise ValueError("keys >= 1, replicas >= 0 and shards >= 1 are required")

    @property
    def forks(self) -> bool:
        """Saves (RDB, AOF rewrite) and replica full syncs fork the server."""
        return self.persistence != "none" or self.replicas > 0

    @property
    def wire_bytes(self) -> float:
        """One write in the replication stream."""
        return self.key_bytes.mean + self.value_bytes.mean + hr.WIRE_OVERHEAD

    @property
    def write_bytes_per_s(self) -> float | None:
        return None if self.writes_per_second is None else self.writes_per_second * self.wire_bytes

    @property
    def requests_per_second(self) -> float | None:
        if self.writes_per_second is None or self.reads_per_second is None:
            return None
        return self.writes_per_second + self.reads_per_second


@dataclass(frozen=True)
class Finding:
    """An explicit setting the plan contradicts: the config key (under the cache), the numbers."""

    key: str
    message: str
    severity: str


@dataclass(frozen=True)
class PodPlan:
    """One Redis pod holding the whole workload (a sidecar, a StatefulSet member)."""

    workload: Workload
    engine: Engine
    cost: KeyCost
    dataset: int
    backlog: int
    maxmemory: int
    headroom: Headroom
    limit: int
    pvc: int

    @property
    def request(self) -> int:
        return self.limit

    @property
    def replica_buffer(self) -> int:
        return self.headroom.parts(self.maxmemory)["replica_buffer"]


def headroom_for(w: Workload, engine: Engine, maxmemory: int) -> Headroom:
    allocations = regions(w.keys, w.key_bytes, w.value_bytes, w.ttl_share, engine)
    cow = hr.cow_fraction(w.writes_per_second, allocations, hr.fork_seconds(w.keys, maxmemory))
    return Headroom(forks=w.forks, replicas=w.replicas, cow=cow, shift=w.value_bytes.spread >= hr.SHIFT_SPREAD,
                    write_bytes_per_s=w.write_bytes_per_s, keys=w.keys)


def default_headroom(forks: bool, replicas: int) -> Headroom:
    """Headroom without a workload: the worst case (every page copied, replica buffer at its floor)."""
    return Headroom(forks=forks, replicas=replicas, cow=1.0, shift=False, write_bytes_per_s=None)


def plan_pod(w: Workload, engine: Engine) -> PodPlan:
    """One member (primary or replica) of one shard: a sharded workload splits its keys evenly."""
    if w.shards > 1:
        w = replace(w, keys=math.ceil(w.keys / w.shards), shards=1)
    cost = key_cost(w.keys, w.key_bytes, w.value_bytes, w.ttl_share, engine)
    dataset = math.ceil(w.keys * cost.total)
    backlog = hr.backlog(dataset, w.write_bytes_per_s) if w.replicas else 0
    maxmemory = max(hr.maxmemory_for_dataset(dataset, backlog), MIN_MAXMEMORY)
    head = headroom_for(w, engine, maxmemory)
    rdb = hr.rdb_bytes(w.keys, w.key_bytes.mean, w.value_bytes.mean, w.ttl_share)
    return PodPlan(workload=w, engine=engine, cost=cost, dataset=dataset, backlog=backlog, maxmemory=maxmemory,
                   headroom=head, limit=max(head.limit(maxmemory), MIN_LIMIT),
                   pvc=hr.pvc(w.persistence, rdb, maxmemory))


def percent_maxmemory(limit: int, percent: int) -> int:
    return min(limit * percent // 100, limit - PERCENT_HEADROOM)


def fmt(n: float) -> str:
    """Bytes for a message: the largest IEC unit with two decimals (3.43 GiB, 97.00 MiB, 664 B)."""
    for unit, size in (("TiB", 1024 * GI), ("GiB", GI), ("MiB", MI), ("KiB", KI)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n:.0f} B"


@dataclass(frozen=True)
class PodSettings:
    """What a Redis pod runs with: the plan, with explicit settings applied and checked."""

    limit: int
    maxmemory: int
    maxmemory_rule: str
    replica_buffer: int | None
    backlog: int | None
    storage: int | None
    findings: tuple[Finding, ...] = ()


def pod_settings(plan: PodPlan | None, head: Headroom, *, memory: int | None, percent: int | None,
                 storage: int | None, default_memory: int, default_percent: int) -> PodSettings:
    """Explicit `memory`, `maxmemoryPercent` and `storage` win; the plan (when there is a workload)
    fills what is not given and checks what is. Without a workload: a forking pod keeps the worst-case
    fork and replica-buffer headroom, any other pod the default percentage."""
    limit = memory if memory is not None else plan.limit if plan else default_memory
    if percent is not None:
        maxmemory, rule = percent_maxmemory(limit, percent), "maxmemory-from-percent"
    elif plan is not None and memory is None:
        maxmemory, rule = plan.maxmemory, "maxmemory"
    elif plan is not None or head.forks:
        maxmemory, rule = head.max_maxmemory(limit), "maxmemory-from-memory"
    else:
        maxmemory, rule = percent_maxmemory(limit, default_percent), "maxmemory-from-percent"
    findings: list[Finding] = []
    if maxmemory < MIN_MAXMEMORY:
        smallest = head.limit(MIN_MAXMEMORY)
        findings.append(Finding("memory", (
            f"a memory limit of {fmt(limit)} leaves {fmt(max(maxmemory, 0))} for maxmemory once the headroom is "
            f"set aside ({_parts_text(head, MIN_MAXMEMORY)} at the smallest maxmemory of {fmt(MIN_MAXMEMORY)}); "
            f"give at least {fmt(smallest)}"), FATAL))
    if head.replicas > 0:
        replica_buffer = head.parts(maxmemory)["replica_buffer"]
        backlog = plan.backlog if plan else hr.backlog(maxmemory / hr.DATASET_MARGIN, None)
    else:
        replica_buffer = backlog = None
    planned_storage = plan.pvc if plan and plan.pvc else None
    if plan is not None and not findings:
        findings += _check_pod(plan, head, limit, maxmemory, percent, memory, storage, planned_storage)
    return PodSettings(limit=limit, maxmemory=maxmemory, maxmemory_rule=rule, replica_buffer=replica_buffer,
                       backlog=backlog, storage=storage if storage is not None else planned_storage,
                       findings=tuple(findings))


def _parts_text(head: Headroom, maxmemory: int) -> str:
    p = head.parts(maxmemory)
    text = f"{head.steady_factor:.2f} x maxmemory + 16 MiB = {fmt(p['steady'])}"
    if p["fork"]:
        text += f", fork copy-on-write {head.cow:.2f} x {head.steady_factor:.2f} x maxmemory = {fmt(p['fork'])}"
    if p["replica_buffer"]:
        text += f", replica buffer {fmt(p['replica_buffer'])}"
    return text


def _check_pod(plan: PodPlan, head: Headroom, limit: int, maxmemory: int, percent: int | None,
               memory: int | None, storage: int | None, planned_storage: int | None) -> list[Finding]:
    out = []
    key = "maxmemoryPercent" if percent is not None else "memory"
    needed = head.limit(maxmemory)
    if needed > limit:
        what = f"maxmemoryPercent {percent} (maxmemory {fmt(maxmemory)})" if percent is not None else \
            f"maxmemory {fmt(maxmemory)}"
        out.append(Finding(key, (
            f"{what} needs a memory limit of {fmt(needed)} ({_parts_text(head, maxmemory)}), "
            f"the limit is {fmt(limit)}: a {'fork or full sync' if head.forks else 'fragmentation peak'} "
            f"can exceed it and the kernel OOM-kills the pod"), UNSAFE))
    if maxmemory < plan.maxmemory:
        severity = SHORT if plan.workload.evicts else UNSAFE
        effect = "it evicts before the workload fits" if plan.workload.evicts else \
            "with noeviction, writes are refused before the workload fits"
        source = f"maxmemoryPercent {percent}" if percent is not None else f"memory {fmt(limit)}"
        why = "" if percent is not None else f" once the headroom is set aside ({_parts_text(head, maxmemory)})"
        out.append(Finding(key, (
            f"{source} gives maxmemory {fmt(maxmemory)}{why}, the workload needs {fmt(plan.maxmemory)} (data set "
            f"{fmt(plan.dataset)}; planned limit {fmt(plan.limit)}): {effect}"), severity))
    if storage is not None and planned_storage is not None and storage < planned_storage:
        w = plan.workload
        dump = min(plan.maxmemory, hr.rdb_bytes(w.keys, w.key_bytes.mean, w.value_bytes.mean, w.ttl_share))
        out.append(Finding("storage", (
            f"{fmt(storage)} is below the planned {fmt(planned_storage)} for {w.persistence} (dump up to "
            f"{fmt(dump)} x {hr.PVC_FACTOR[w.persistence]} copies + 20 %): a save or rewrite can fill the volume"),
            UNSAFE))
    return out


@dataclass(frozen=True)
class NodePlan:
    """Node-based ElastiCache: the node type that holds the workload per shard."""

    need_per_node: int
    reserved_percent: int
    shards: int
    replicas: int
    smallest: aws.NodeType | None
    chosen: aws.NodeType | None
    explicit: str | None
    findings: tuple[Finding, ...] = ()

    @property
    def nodes(self) -> int:
        return self.shards * (1 + self.replicas)


def plan_nodes(w: Workload, engine: Engine, node_type: str | None, reserved_percent: int) -> NodePlan:
    cost = key_cost(w.keys, w.key_bytes, w.value_bytes, w.ttl_share, engine)
    per_shard = w.keys * cost.total / w.shards
    need = hr.maxmemory_for_dataset(per_shard, hr.BACKLOG_MIN if w.replicas else 0)
    smallest = aws.smallest_node(need, reserved_percent)
    chosen = smallest
    findings: list[Finding] = []
    if node_type is not None:
        chosen = aws.node_types().get(node_type)
        if chosen is not None and chosen.usable(reserved_percent) < need:
            instead = f"smallest that fits: {smallest.name}" if smallest else \
                f"no node type holds it: use at least {aws.shards_needed(need * w.shards, reserved_percent)} shards"
            effect = "it evicts before the workload fits" if w.evicts else \
                "with noeviction, writes are refused before the workload fits"
            findings.append(Finding("nodeType", (
                f"{node_type} holds {fmt(chosen.usable(reserved_percent))} of data at {reserved_percent} % "
                f"reserved memory, the workload needs {fmt(need)} per shard ({instead}): {effect}"),
                SHORT if w.evicts else UNSAFE))
    return NodePlan(need_per_node=need, reserved_percent=reserved_percent, shards=w.shards, replicas=w.replicas,
                    smallest=smallest, chosen=chosen, explicit=node_type, findings=tuple(findings))


@dataclass(frozen=True)
class ServerlessPlan:
    storage_gb: float
    ecpu_per_request: float
    ecpu_per_second: float | None
    findings: tuple[Finding, ...] = ()


def plan_serverless(w: Workload, engine: Engine, limit_gb: int | None = None,
                    limit_ecpu: int | None = None) -> ServerlessPlan:
    cost = key_cost(w.keys, w.key_bytes, w.value_bytes, w.ttl_share, engine)
    stored = max(aws.gb(hr.maxmemory_for_dataset(w.keys * cost.total, 0)), aws.serverless_minimum_gb(engine.name))
    per_request = aws.ecpu_per_request(w.key_bytes.mean + w.value_bytes.mean)
    rps = w.requests_per_second
    ecpu = None if rps is None else rps * per_request
    findings = []
    if limit_gb is not None and stored > limit_gb:
        effect = "it evicts before the workload fits" if w.evicts else \
            "with noeviction, writes are refused before the workload fits"
        findings.append(Finding("limits.dataStorageGb", (
            f"{limit_gb} GB is below the {stored:.2f} GB the workload stores: {effect}"),
            SHORT if w.evicts else UNSAFE))
    if limit_ecpu is not None and ecpu is not None and ecpu > limit_ecpu:
        findings.append(Finding("limits.ecpuPerSecond", (
            f"{limit_ecpu} ECPU/s is below the {ecpu:,.0f} ECPU/s of {rps:,.0f} requests/s at "
            f"{per_request:.2f} ECPU each: requests are throttled"), SHORT))
    return ServerlessPlan(storage_gb=stored, ecpu_per_request=per_request, ecpu_per_second=ecpu,
                          findings=tuple(findings))


def sidecar_workload(w: Workload) -> Workload:
    """The same workload in a sidecar: one private copy per pod, nothing persisted or replicated."""
    return replace(w, persistence="none", replicas=0, shards=1)


__all__ = ["Workload", "Finding", "PodPlan", "PodSettings", "NodePlan", "ServerlessPlan", "plan_pod",
           "pod_settings", "plan_nodes", "plan_serverless", "default_headroom", "headroom_for", "fmt",
           "FATAL", "UNSAFE", "SHORT"]
