"""ElastiCache: node types that hold a workload, and the serverless figures (storage, ECPU).

Node-based ElastiCache saves without forking, so a node needs no copy-on-write headroom; it keeps
`reserved-memory-percent` (25 % by default) of its maxmemory for the engine's own buffers. The node
table and the serverless rates are data files beside this module, each stating its source and date.
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
# ElastiCache's default reserved-memory-percent (redis-memory-management: "recommended for most cases").
DEFAULT_RESERVED_PERCENT = 25
# Data-tiering nodes move values to SSD; their RAM is not the whole story, so they are never picked.
DATA_TIERING = re.compile(r"cache\.r\d+gd\.")
# Serverless: the most data a cache can hold (its dataStorageGb limit accepts up to 5000).
SERVERLESS_MAX_GB = 5000
# ElastiCache Serverless bills 1 ECPU per KB transferred by a simple GET/SET, at least 1 per request.
ECPU_BYTES = 1024


def read_table(path: Path) -> list[dict[str, str]]:
    """A CSV data file whose leading '#' lines state its source and date."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines))


@dataclass(frozen=True)
class NodeType:
    name: str
    maxmemory: int
    vcpu: int
    memory_source: str

    @property
    def family(self) -> str:
        return self.name.split(".")[1]

    @property
    def generation(self) -> int:
        return int(re.search(r"\d+", self.family).group())

    @property
    def assumed(self) -> bool:
        return self.memory_source.startswith("assumed")

    @property
    def burstable(self) -> bool:
        return self.family.startswith("t")

    def usable(self, reserved_percent: int) -> int:
        """Memory left for data once `reserved-memory-percent` of maxmemory is set aside."""
        return self.maxmemory * (100 - reserved_percent) // 100


@cache
def node_types() -> dict[str, NodeType]:
    rows = read_table(DATA / "elasticache_nodes.csv")
    return {r["node_type"]: NodeType(r["node_type"], int(r["maxmemory_bytes"]), int(r["vcpu"]), r["memory_source"])
            for r in rows}


def smallest_node(need_per_node: int, reserved_percent: int) -> NodeType | None:
    """The node type with the least memory whose usable memory holds `need_per_node`; among equals, the
    newest generation (m7g over m6g). Data-tiering types are left out. None when nothing fits."""
    fits = [n for n in node_types().values()
            if not DATA_TIERING.match(n.name) and n.usable(reserved_percent) >= need_per_node]
    if not fits:
        return None
    return min(fits, key=lambda n: (n.maxmemory, -n.generation, n.name))


def largest_node(reserved_percent: int) -> NodeType:
    return max((n for n in node_types().values() if not DATA_TIERING.match(n.name)),
               key=lambda n: (n.usable(reserved_percent), n.generation))


@dataclass(frozen=True)
class ServerlessRate:
    engine: str
    region: str
    usd_per_gb_hour: float
    usd_per_million_ecpu: float
    minimum_gb: float
    source: str
    date: str


@cache
def serverless_rates() -> dict[tuple[str, str], ServerlessRate]:
    out = {}
    for r in read_table(DATA / "serverless_rates.csv"):
        out[(r["engine"], r["region"])] = ServerlessRate(
            r["engine"], r["region"], float(r["usd_per_gb_hour"]), float(r["usd_per_million_ecpu"]),
            float(r["minimum_gb"]), r["source"], r["date"])
    return out


def serverless_minimum_gb(engine: str) -> float:
    """The least data a serverless cache is billed for: 1 GB (Redis OSS), 0.1 GB (Valkey)."""
    rates = [r for (e, _), r in serverless_rates().items() if e == engine]
    return rates[0].minimum_gb if rates else 1.0


def ecpu_per_request(mean_bytes: float) -> float:
    """ECPUs of one simple GET or SET moving `mean_bytes` of key and value: 1 per KB, at least 1."""
    return max(1.0, mean_bytes / ECPU_BYTES)


def gb(n_bytes: float) -> float:
    """Bytes in GB as ElastiCache bills them (10^9 bytes, which counts more GB than GiB would)."""
    return n_bytes / 1e9


def shards_needed(need_total: int, reserved_percent: int) -> int:
    """Shards (cluster mode) the largest node type needs to hold `need_total`."""
    return max(1, math.ceil(need_total / largest_node(reserved_percent).usable(reserved_percent)))
