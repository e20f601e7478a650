"""Memory beyond the data: maxmemory over the data set, and the container limit over maxmemory.

Redis holds its data set under `maxmemory`; the container also needs the allocator's fragmentation,
the process itself, a forked child's copy-on-write pages while it saves or feeds a replica, and the
replica output buffer that carries writes during a full sync. Every constant here is a measured or
published figure; docs/planning.md gives its source.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

KI = 1024
MI = 1024 * KI
GI = 1024 * MI

# Room above the modelled data set inside maxmemory: normal clients' output buffers count against it,
# and the model's own error (<= 0.75 %) must not turn into evictions of a store.
DATASET_MARGIN = 1.10
# used_memory of an empty server (0.93 MiB measured) plus one-time allocations, rounded up.
BASE_USED = 2 * MI
# RSS over maxmemory under eviction churn: <= 1.13 measured for fixed, uniform and log-uniform sizes.
STEADY_FACTOR = 1.15
# RSS over maxmemory after the value-size mix shifts (100 B values replaced by 1 kB): 1.40 settled.
SHIFT_FACTOR = 1.40
# Values whose sizes span this ratio (max/min) or more can shift their mix.
SHIFT_SPREAD = 10
# The process beyond the heap: an empty redis-server is 5.9 MiB (official build) to 11.9 MiB (Debian) RSS.
FIXED = 16 * MI
PAGE = 4096
# A write touches one slot (8 bytes) of a dict's slot array, which is a single allocation.
SLOT_TOUCH = 8
# How long a forked child lives (BGSAVE to disk, or a diskless sync to a replica): a cost per key and
# per byte. Measured under a load of 20 on 2 cores (the child got about a tenth of a core): 6.1 us per
# key + 1 s per 39.7 MB (1.5 M x 100 B in 17.9 s, 0.3 M x 1 kB in 10.9 s); idle, 1 M x 1 kB took 9.1 s.
# Planned slower than both.
FORK_SECONDS_PER_KEY = 8e-6
FORK_BYTES_PER_S = 30_000_000
# Bytes of one write in the replication stream beyond key and value: RESP framing of
# SET key value PXAT <ms> (Redis 7 propagates EX as PXAT).
WIRE_OVERHEAD = 64
# Replica output buffer: ElastiCache sets maxmemory/10 per node type; at least this much when the
# write rate is unknown (Redis's default soft limit), and this much when it is known.
REPL_FRACTION = 0.10
REPL_MIN_UNKNOWN = 64 * MI
REPL_MIN_KNOWN = 16 * MI
# Replication backlog: Redis's default 1 MiB; sized to cover a disconnection of this long (a pod
# restart) when that is at most 5 % of the data set.
BACKLOG_MIN = 1 * MI
BACKLOG_WINDOW_S = 60
BACKLOG_MAX_SHARE = 0.05
BACKLOG_SHARE_UNKNOWN = 0.01
# Persistence volume: RDB keeps the old dump while writing the new one (2x); 7.0 multi-part AOF keeps
# the old base and increments while writing the new base (3x); 20 % for the filesystem.
PVC_FACTOR = {"rdb": 2, "aof": 3}
PVC_MARGIN = 1.2
PVC_MIN = 1 * GI
RDB_KEY_OVERHEAD = 4
RDB_TTL_BYTES = 9


def ceil_to(n: float, unit: int) -> int:
    return int(math.ceil(n / unit) * unit)


def backlog(dataset: float, write_bytes_per_s: float | None) -> int:
    """repl-backlog-size: the writes of BACKLOG_WINDOW_S, between 1 MiB and 5 % of the data set;
    1 % of the data set when the write rate is unknown."""
    if write_bytes_per_s is None:
        return ceil_to(max(BACKLOG_MIN, BACKLOG_SHARE_UNKNOWN * dataset), KI)
    cap = max(BACKLOG_MIN, BACKLOG_MAX_SHARE * dataset)
    return ceil_to(min(cap, max(BACKLOG_MIN, write_bytes_per_s * BACKLOG_WINDOW_S)), KI)


def maxmemory_for_dataset(dataset: float, backlog_bytes: int) -> int:
    """maxmemory that holds the data set: margin for clients and model error, the backlog (counted in
    maxmemory by evict.c), the empty server; rounded up to a whole MiB."""
    return ceil_to(DATASET_MARGIN * dataset + backlog_bytes + BASE_USED, MI)


def fork_seconds(keys: int, maxmemory: float) -> float:
    """How long a BGSAVE or a full sync keeps its child alive."""
    return keys * FORK_SECONDS_PER_KEY + maxmemory / FORK_BYTES_PER_S


def cow_fraction(writes_per_s: float | None, regions: tuple[tuple[float, float], ...], seconds: float) -> float:
    """Share of the data set a fork copies: 1 when the write rate is unknown. Else each write during the
    child's life dirties one random page of every kind of allocation it touches (an allocation of a
    bytes spans 1 + a/4096 pages): a region of B bytes keeps 1 - exp(-W (1 + a/4096) 4096 / B) of its
    pages copied, W = writes/s x seconds. Every region counts for every write (inserts and evictions
    under churn touch the key, slot and expires regions too), so this is an upper bound."""
    if writes_per_s is None:
        return 1.0
    writes = writes_per_s * seconds
    total = copied = 0.0
    for count, size in regions:
        region = count * size
        total += region
        per_write = 1 + (size if count > 1 else SLOT_TOUCH) / PAGE
        copied += region * (1 - math.exp(-writes * per_write * PAGE / region))
    return min(1.0, copied / total) if total else 1.0


def replica_buffer(maxmemory: float, write_bytes_per_s: float | None, keys: int = 0) -> int:
    """client-output-buffer-limit replica (hard): maxmemory/10, and at least the writes of a whole sync
    (planned at the slow end, see fork_seconds), or a full sync can loop forever; whole MiB."""
    if write_bytes_per_s is None:
        return ceil_to(max(REPL_FRACTION * maxmemory, REPL_MIN_UNKNOWN), MI)
    during_sync = write_bytes_per_s * fork_seconds(keys, maxmemory)
    return ceil_to(max(REPL_FRACTION * maxmemory, during_sync, REPL_MIN_KNOWN), MI)


@dataclass(frozen=True)
class Headroom:
    """What a pod needs above maxmemory, and why."""

    forks: bool                          # persistence or replicas: saves and full syncs fork
    replicas: int
    cow: float                           # share of the resident heap a fork copies (c)
    shift: bool                          # value sizes may shift their mix (no fork headroom covers it)
    write_bytes_per_s: float | None      # replication stream, for the replica buffer
    keys: int = 0                        # keys a full sync walks (0: unknown)

    @property
    def steady_factor(self) -> float:
        return SHIFT_FACTOR if self.shift and not self.forks else STEADY_FACTOR

    def parts(self, maxmemory: int) -> dict[str, int]:
        """The limit's parts for this maxmemory: steady (fragmentation + process), fork, replica buffer."""
        out = {"steady": ceil_to(self.steady_factor * maxmemory + FIXED, KI)}
        # A fork copies resident pages, fragmentation included: c of the steady resident heap.
        out["fork"] = ceil_to(self.cow * self.steady_factor * maxmemory, KI) if self.forks else 0
        out["replica_buffer"] = replica_buffer(maxmemory, self.write_bytes_per_s, self.keys) if self.replicas > 0 else 0
        return out

    def limit(self, maxmemory: int) -> int:
        """The container memory limit (and request) for this maxmemory, rounded up to a whole MiB."""
        return ceil_to(sum(self.parts(maxmemory).values()), MI)

    def max_maxmemory(self, limit: int) -> int:
        """The largest maxmemory (a whole MiB) whose planned limit fits `limit`; 0 if none does."""
        lo, hi = 0, limit // MI
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.limit(mid * MI) <= limit:
                lo = mid
            else:
                hi = mid - 1
        return lo * MI


def rdb_bytes(keys: int, mean_key: float, mean_value: float, ttl_share: float) -> float:
    """An RDB of random (incompressible) values: n * (K + V + 4) plus 9 B per key with a TTL."""
    return keys * (mean_key + mean_value + RDB_KEY_OVERHEAD + RDB_TTL_BYTES * ttl_share)


def pvc(persistence: str, rdb_estimate: float, maxmemory: int) -> int:
    """Volume per persisting pod: k x the dump (at most maxmemory) + 20 %, at least 1 GiB, whole GiB."""
    if persistence not in PVC_FACTOR:
        return 0
    dump = min(rdb_estimate, maxmemory)
    return ceil_to(max(PVC_MIN, PVC_MARGIN * PVC_FACTOR[persistence] * dump), GI)
