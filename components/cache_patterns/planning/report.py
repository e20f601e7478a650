"""A cache's plan as a report: its inputs, every derived figure with the rule that produced it (beside
what the stack runs with now), the same workload in every shape that could serve it (with a cost only
where a price has a source), and the findings where an explicit setting contradicts the plan. The
text and JSON forms are in `planning.text`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from . import aws, headroom as hr
from .headroom import GI, MI
from .memory import Engine, Size
from .plan import (Finding, Workload, fmt, plan_nodes, plan_pod, plan_serverless, pod_settings,
                   sidecar_workload)
from .prices import HOURS_PER_MONTH, NO_PRICES, Prices

# The shapes a cache runs in pods, planned pod by pod (the others are ElastiCache's or not managed here).
POD_SHAPES = ("sidecar", "statefulset")
DEFAULT_REGION = "us-east-1"
# The reason of a cost left unknown because no price file was given (said once, not in every cell).
NO_PRICE_FILE = "no price file given"


@dataclass(frozen=True)
class PodGroup:
    """Pods a cache runs beside its Redis pods (Sentinels, HAProxy): how many, and each one's memory limit."""

    role: str
    count: int
    memory: int


@dataclass(frozen=True)
class CacheInput:
    """One cache as the config describes it: the workload and the settings given explicitly."""

    stack: str
    name: str
    pattern: str                 # the planner's shape: sidecar | statefulset | elasticache | elasticache-serverless | endpoint
    engine: Engine
    workload: Workload
    origins: Mapping[str, str]   # input -> the config key it came from
    memory: int | None = None
    maxmemory_percent: int | None = None
    storage: int | None = None
    default_memory: int = 512 * MI
    default_percent: int = 80
    node_type: str | None = None
    reserved_percent: int = aws.DEFAULT_RESERVED_PERCENT
    limits: tuple[int, int] | None = None     # serverless dataStorageGb, ecpuPerSecond
    l1_memory: int | None = None
    region: str | None = None
    label: str = ""              # the cache's own `pattern:` (its shape if empty)
    other_pods: tuple[PodGroup, ...] = ()     # what the cache runs beside its Redis pods

@dataclass(frozen=True)
class Row:
    name: str
    value: Any
    unit: str       # bytes | count | per_s | ratio | share | gb | ecpu | text
    rule: str       # a rule id, or "input"
    origin: str = ""
    current: Any = None    # what the stack runs with now (explicit or by default), where the row is a setting

    def shown(self) -> str:
        return show(self.value, self.unit)

    def shown_current(self) -> str:
        return "" if self.current is None else show(self.current, self.unit)


@dataclass(frozen=True)
class Cost:
    usd_per_month: float | None
    formula: str
    sources: tuple[str, ...] = ()

    def shown(self) -> str:
        if self.usd_per_month is None:
            return f"price unknown ({self.formula})"
        return f"${self.usd_per_month:,.2f}/month"

    def cell(self) -> str:
        """The cost in a table: the price, or "-" (the reason is said once, below the table)."""
        return "-" if self.usd_per_month is None else f"${self.usd_per_month:,.2f}/month"


@dataclass(frozen=True)
class Option:
    pattern: str
    fits: bool
    units: str
    each: int | None
    total: int | None
    rule: str
    cost: Cost
    note: str = ""
    current: bool = False


@dataclass(frozen=True)
class CacheReport:
    stack: str
    name: str
    pattern: str          # `pattern (shape)` when the two differ
    engine: str
    coverage: str
    region: str
    inputs: tuple[Row, ...]
    derived: tuple[Row, ...]
    options: tuple[Option, ...]
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def rules(self) -> list[str]:
        used = [r.rule for r in self.derived if r.rule != "input"] + [o.rule for o in self.options]
        used += [rule for o in self.options for rule in _cost_rules(o)]
        return list(dict.fromkeys(used))


def show(value: Any, unit: str) -> str:
    if value is None:
        return "unknown"
    if unit == "bytes":
        return fmt(value)
    if unit == "bytes_per_key":
        return f"{value:,.1f} B"
    if unit == "count":
        return f"{value:,}"
    if unit == "per_s":
        return f"{value:,.0f}/s"
    if unit == "share":
        return f"{value * 100:.0f} %"
    if unit == "ratio":
        return f"{value:.2f}"
    if unit == "gb":
        return f"{value:,.2f} GB"
    if unit == "ecpu":
        return f"{value:,.0f} ECPU/s"
    if unit == "size":
        size = Size(value["min"], value["max"], value["shape"])
        return size.describe()
    if unit == "seconds":
        return f"{value:,.1f} s"
    return str(value)


def _size(s: Size) -> dict:
    return {"min": s.min, "max": s.max, "shape": s.shape, "mean": s.mean}


def _inputs(inp: CacheInput) -> list[Row]:
    w, o = inp.workload, inp.origins
    rows = [Row("keys", w.keys, "count", "input", o.get("keys", "")),
            Row("key size", _size(w.key_bytes), "size", "input", o.get("keyBytes", "")),
            Row("value size", _size(w.value_bytes), "size", "input", o.get("valueBytes", "")),
            Row("keys with a TTL", w.ttl_share, "share", "input", o.get("ttlPercent", "")),
            Row("writes", w.writes_per_second, "per_s", "input", o.get(
                "writesPerSecond", "not given: a fork is planned to copy all of maxmemory" if w.forks else "not given")),
            Row("reads", w.reads_per_second, "per_s", "input", o.get("readsPerSecond", "not given"))]
    rows += [Row("persistence", w.persistence, "text", "input", o.get("persistence", "")),
             Row("replicas", w.replicas, "count", "input", o.get("replicas", ""))]
    if w.shards > 1:
        rows.append(Row("shards", w.shards, "count", "input", o.get("shards", "")))
    if w.pods is not None:
        rows.append(Row("pods", w.pods, "count", "input", o.get("pods", "")))
    rows.append(Row("eviction", "evicts" if w.evicts else "noeviction (a store)", "text", "input",
                    o.get("maxmemoryPolicy", "")))
    rows.append(Row("engine", inp.engine.describe(), "text", "input", o.get("engine", "")))
    return rows


def _pod_rows(inp: CacheInput, w: Workload) -> tuple[list[Row], list[Finding], int, int]:
    """The figures of one Redis pod, planned and as the stack runs it; the findings; both memory limits."""
    plan = plan_pod(w, inp.engine)
    settings = pod_settings(plan, plan.headroom, memory=inp.memory, percent=inp.maxmemory_percent,
                            storage=inp.storage, default_memory=inp.default_memory,
                            default_percent=inp.default_percent)
    head = plan.headroom
    rows = [Row("bytes per key", plan.cost.total, "bytes_per_key", "bytes-per-key"),
            Row("data set", plan.dataset, "bytes", "dataset")]
    if settings.backlog:
        rows.append(Row("repl-backlog-size", settings.backlog, "bytes", "backlog"))
    given = "memory" if inp.memory is not None else "planned"
    from_percent = "maxmemoryPercent" if inp.maxmemory_percent is not None else given
    rows.append(Row("maxmemory", plan.maxmemory, "bytes", "maxmemory", from_percent, settings.maxmemory))
    parts = head.parts(settings.maxmemory)
    at = f" at maxmemory {fmt(settings.maxmemory)}"
    rows.append(Row(f"fragmentation and process ({head.steady_factor:.2f} x){at}", parts["steady"], "bytes", "steady"))
    if head.forks:
        rows.append(Row(f"fork lifetime{at}", hr.fork_seconds(plan.workload.keys, settings.maxmemory), "seconds", "cow"))
        rows.append(Row(f"fork copy-on-write (c = {head.cow:.2f}){at}", parts["fork"], "bytes", "cow"))
    if parts["replica_buffer"]:
        rows.append(Row(f"client-output-buffer-limit replica{at}", parts["replica_buffer"], "bytes", "replica-buffer"))
    rows.append(Row("memory limit", plan.limit, "bytes", "limit", given, settings.limit))
    rows.append(Row("memory request", plan.limit, "bytes", "request", given, settings.limit))
    if plan.pvc or settings.storage:
        rows.append(Row("volume per pod", plan.pvc, "bytes", "pvc", "storage" if inp.storage else "planned",
                        settings.storage))
    return rows, list(settings.findings), plan.limit, settings.limit


def _k8s_cost(total: int, inp: CacheInput, prices: Prices, region: str) -> Cost:
    price = prices.find("kubernetes-memory-gib", region, inp.engine.name)
    if price is None:
        return Cost(None, NO_PRICE_FILE if prices is NO_PRICES else f"no kubernetes-memory-gib price for {region} in --prices")
    usd = total / GI * price.usd_per_hour * HOURS_PER_MONTH
    return Cost(usd, f"{total / GI:.2f} GiB x ${price.usd_per_hour}/GiB-h x {HOURS_PER_MONTH} h", (price.cite(),))


def _node_cost(node: str, nodes: int, inp: CacheInput, prices: Prices, region: str) -> Cost:
    price = prices.find(node, region, inp.engine.name)
    if price is None:
        return Cost(None, NO_PRICE_FILE if prices is NO_PRICES else f"no {node} price for {region} in --prices")
    usd = price.usd_per_hour * nodes * HOURS_PER_MONTH
    return Cost(usd, f"${price.usd_per_hour}/h x {nodes} nodes x {HOURS_PER_MONTH} h", (price.cite(),))


def _serverless_cost(gb: float, ecpu: float | None, inp: CacheInput, prices: Prices, region: str) -> Cost:
    engine = inp.engine.name
    gb_row = prices.find("serverless-gb", region, engine)
    ecpu_row = prices.find("serverless-million-ecpu", region, engine)
    published = aws.serverless_rates().get((engine, region))
    if gb_row is not None:
        gb_rate, gb_src = gb_row.usd_per_hour, gb_row.cite()
    elif published is not None:
        gb_rate, gb_src = published.usd_per_gb_hour, f"{published.source}, {published.date} (published, {region})"
    else:
        return Cost(None, f"no published serverless rate for {engine} in {region}; add serverless-gb and "
                          f"serverless-million-ecpu rows to --prices")
    if ecpu_row is not None:
        ecpu_rate, ecpu_src = ecpu_row.usd_per_hour, ecpu_row.cite()
    elif published is not None:
        ecpu_rate, ecpu_src = published.usd_per_million_ecpu, f"{published.source}, {published.date} (published, {region})"
    else:
        ecpu_rate, ecpu_src = None, ""
    storage = gb * gb_rate * HOURS_PER_MONTH
    if ecpu is None or ecpu_rate is None:
        why = "reads/writes per second not given" if ecpu is None else f"no ECPU rate for {region}"
        return Cost(None, f"storage alone ${storage:,.2f}/month ({gb:.2f} GB x ${gb_rate}/GB-h x {HOURS_PER_MONTH} h); "
                          f"requests unpriced: {why}", (gb_src,))
    requests = ecpu * 3600 * HOURS_PER_MONTH / 1e6 * ecpu_rate
    return Cost(storage + requests,
                f"{gb:.2f} GB x ${gb_rate}/GB-h x {HOURS_PER_MONTH} h + {ecpu:,.0f} ECPU/s x 3600 x {HOURS_PER_MONTH} / 10^6 "
                f"x ${ecpu_rate}", tuple(dict.fromkeys((gb_src, ecpu_src))))


def _cost_rules(o: Option) -> list[str]:
    return {"sidecar": ["cost-kubernetes"], "statefulset": ["cost-kubernetes"], "elasticache": ["cost-node"],
            "elasticache-serverless": ["cost-serverless"]}.get(o.pattern, [])


def compare(inp: CacheInput, prices: Prices = NO_PRICES, region: str = DEFAULT_REGION) -> list[Option]:
    """The workload under each pattern: memory per unit, total footprint and monthly cost."""
    w = inp.workload
    current = inp.pattern
    out = []
    # Sidecar: a private copy per pod; nothing shared, persisted or replicated.
    blockers = [why for cond, why in ((not w.evicts, "noeviction: a store must be shared, not copied per pod"),
                                      (w.persistence != "none", f"persistence {w.persistence}"),
                                      (w.replicas > 0, f"{w.replicas} replica(s) for failover"),
                                      (w.shards > 1, "sharded")) if cond]
    side = plan_pod(sidecar_workload(w), inp.engine)
    pods = w.pods or 1
    total = side.limit * pods
    note = "" if w.pods else "pods unknown (no bound apps and no capacity.pods): 1 assumed"
    out.append(Option("sidecar", not blockers, f"{pods} pod(s), each holding a copy", side.limit, total,
                      "sidecar-total", _k8s_cost(total, inp, prices, region), "; ".join(blockers) or note,
                      current == "sidecar"))
    # StatefulSet (and the operators' equivalent): every member holds the whole data set; the pods
    # beside them (Sentinels, HAProxy) are counted where the cache is in this shape.
    sts = plan_pod(w, inp.engine)
    members = (1 + w.replicas) * w.shards
    others = inp.other_pods if current == "statefulset" else ()
    total = sts.limit * members + sum(g.count * g.memory for g in others)
    shards = f" x {w.shards} shards" if w.shards > 1 else ""
    beside = "".join(f" + {g.count} {g.role}" for g in others)
    note = "" if others or current == "statefulset" else "plus the pattern's Sentinel and endpoint pods"
    out.append(Option("statefulset", True, f"{members} Redis (1 primary + {w.replicas} replica(s){shards}){beside}",
                      sts.limit, total, "statefulset-total", _k8s_cost(total, inp, prices, region), note,
                      current == "statefulset"))
    # ElastiCache node-based: no fork headroom, reserved memory instead.
    explicit = inp.node_type if inp.pattern == "elasticache" else None
    nodes = plan_nodes(w, inp.engine, explicit, inp.reserved_percent)
    node = nodes.chosen or nodes.smallest
    if node is None:
        shards = aws.shards_needed(nodes.need_per_node * w.shards, inp.reserved_percent)
        out.append(Option("elasticache", False, "no single node type holds a shard", None, None, "elasticache-total",
                          Cost(None, "no node type fits"), f"set shards >= {shards}", current == "elasticache"))
    else:
        total = node.maxmemory * nodes.nodes
        note = "; ".join(filter(None, ["memory assumed equal to the previous generation" if node.assumed else "",
                                       "burstable (CPU credits)" if node.burstable else ""]))
        if explicit and node is not nodes.smallest and nodes.smallest is not None:
            note = "; ".join(filter(None, [note, f"nodeType given; smallest that fits: {nodes.smallest.name}"]))
        out.append(Option("elasticache", not nodes.findings, f"{node.name} x {nodes.nodes} node(s)", node.maxmemory,
                          total, "elasticache-total", _node_cost(node.name, nodes.nodes, inp, prices, region), note,
                          current == "elasticache"))
    # Serverless: pay for GB stored and ECPU.
    limits = inp.limits if inp.pattern == "elasticache-serverless" and inp.limits else (None, None)
    sl = plan_serverless(w, inp.engine, *limits)
    fits = sl.storage_gb <= aws.SERVERLESS_MAX_GB
    units = f"{sl.storage_gb:,.2f} GB" + (f" + {sl.ecpu_per_second:,.0f} ECPU/s" if sl.ecpu_per_second is not None else "")
    out.append(Option("elasticache-serverless", fits, units, None, int(sl.storage_gb * 1e9), "serverless-storage",
                      _serverless_cost(sl.storage_gb, sl.ecpu_per_second, inp, prices, region),
                      "" if fits else f"above the {aws.SERVERLESS_MAX_GB} GB serverless maximum",
                      current == "elasticache-serverless"))
    return out


def build(inp: CacheInput, prices: Prices = NO_PRICES, region: str | None = None) -> CacheReport:
    region = region or inp.region or DEFAULT_REGION
    w = inp.workload
    findings: list[Finding] = []
    notes: list[str] = []
    derived: list[Row] = []
    if inp.pattern in POD_SHAPES:
        pod_w = sidecar_workload(w) if inp.pattern == "sidecar" else w
        rows, found, planned, limit = _pod_rows(inp, pod_w)
        derived += rows
        findings += found
        if inp.pattern == "sidecar":
            pods = w.pods or 1
            derived.append(Row("memory in all pods", planned * pods, "bytes", "sidecar-total", "", limit * pods))
        else:
            members = (1 + w.replicas) * w.shards
            derived.append(Row("memory of all Redis pods", planned * members, "bytes", "statefulset-total", "",
                               limit * members))
            others = sum(g.count * g.memory for g in inp.other_pods)
            for g in inp.other_pods:
                derived.append(Row(f"{g.role} pods ({g.count} x {fmt(g.memory)})", g.count * g.memory, "bytes",
                                   "statefulset-total", "", g.count * g.memory))
            if inp.other_pods:
                derived.append(Row("memory of all pods", planned * members + others, "bytes", "statefulset-total",
                                   "", limit * members + others))
    elif inp.pattern == "elasticache":
        nodes = plan_nodes(w, inp.engine, inp.node_type, inp.reserved_percent)
        findings += nodes.findings
        derived.append(Row("maxmemory needed per shard", nodes.need_per_node, "bytes", "maxmemory"))
        node = nodes.chosen
        if node is None and inp.node_type:
            notes.append(f"{inp.node_type} is not in the planner's node table: its memory is not checked")
        if nodes.smallest is not None:
            derived.append(Row("smallest node type that fits", f"{nodes.smallest.name} ({fmt(nodes.smallest.maxmemory)}, "
                               f"{fmt(nodes.smallest.usable(inp.reserved_percent))} usable at {inp.reserved_percent} % "
                               f"reserved)", "text", "node-type"))
        if node is not None:
            derived.append(Row("node type", nodes.smallest.name if nodes.smallest else "-", "text", "node-type",
                               "nodeType" if inp.node_type else "planned", node.name))
            derived.append(Row("nodes", nodes.nodes, "count", "node-type"))
            derived.append(Row("memory of all nodes", node.maxmemory * nodes.nodes, "bytes", "elasticache-total"))
    elif inp.pattern == "elasticache-serverless":
        sl = plan_serverless(w, inp.engine, *(inp.limits or (None, None)))
        findings += sl.findings
        derived.append(Row("data stored", sl.storage_gb, "gb", "serverless-storage"))
        derived.append(Row("ECPU per request", sl.ecpu_per_request, "ratio", "serverless-ecpu"))
        derived.append(Row("ECPU", sl.ecpu_per_second, "ecpu", "serverless-ecpu"))
    else:
        notes.append("kind: endpoint: the server is not managed here; the figures below size it")
    if inp.l1_memory is not None:
        pods = w.pods or 1
        derived.append(Row("L1 sidecars (l1.memory x pods)", inp.l1_memory * pods, "bytes", "sidecar-total"))
    coverage = inp.engine.coverage
    if coverage == "upper bound":
        notes.append(f"{inp.engine.name} {inp.engine.version}: the per-key model here is Redis 7's, an upper bound "
                     f"(Valkey 8.0's keyspace is denser); memory figures are upper bounds")
    elif coverage == "not measured":
        notes.append(f"{inp.engine.name} {inp.engine.version}: the per-key model is measured on Redis 7.0-7.2 and "
                     f"Valkey 7.2, 8.1 and 9.1 only (Valkey 9.0 is modelled as 9.1 from its sources); figures are "
                     f"estimates")
    if region == DEFAULT_REGION and inp.region is None:
        notes.append(f"prices for {DEFAULT_REGION} (the stack names no AWS region; --region sets one)")
    label = inp.label if inp.label in ("", inp.pattern) else f"{inp.label} ({inp.pattern})"
    return CacheReport(stack=inp.stack, name=inp.name, pattern=label or inp.pattern, engine=inp.engine.describe(),
                       coverage=coverage, region=region, inputs=tuple(_inputs(inp)), derived=tuple(derived),
                       options=tuple(compare(inp, prices, region)), findings=tuple(findings), notes=tuple(notes))


