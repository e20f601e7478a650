"""Every rule the planner applies, with its source: the plan cites them by id, docs/planning.md lists
them (generated from this table, so the page and the code cannot drift)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    formula: str
    source: str


RULES: tuple[Rule, ...] = (
    Rule("bytes-per-key", "Bytes per key",
         "dictEntry + key sds + value (EMBSTR robj+sds up to 44 B, else robj + raw sds) + the key's share of the "
         "slot array (a power of two of 8-byte slots) + TTL share x (expires dictEntry + its slots); every "
         "allocation rounded up to its jemalloc size class (quantum 8 in the official images, 16 in Debian's "
         "package); distributions integrated over 4096 quantiles. Valkey 8.1+: one object (robj + key + TTL, "
         "and the value when the whole fits 64 B (8.1) or 128 B (9.x)) + a separate value sds otherwise + the "
         "key's share of the table's 64-byte buckets (doubled at 7 entries per bucket, overflow chains by "
         "Poisson occupancy) + TTL share x the expires table's",
         "Redis 7.0 dict.c, sds.c, object.c, jemalloc size classes (redis deps/Makefile --with-lg-quantum=3); "
         "checked against 84 measured data sets of Redis 7.0.15 (largest error 0.75 %) and live in the tests; "
         "Valkey 8.1.1 and 9.1.2 object.c (createStringObjectWithKeyAndExpire), hashtable.c, sds.c, checked "
         "live against both builds"),
    Rule("dataset", "Data set", "keys x bytes per key", "the per-key model"),
    Rule("backlog", "Replication backlog (repl-backlog-size)",
         "writes/s x (K + V + 64 B) x 60 s, between 1 MiB and 5 % of the data set; 1 % of the data set when the "
         "write rate is unknown; none without replicas",
         "Redis default 1 MiB; the backlog counts against maxmemory (evict.c freeMemoryGetNotCountedMemory); "
         "60 s covers a replica pod's restart without a full sync"),
    Rule("maxmemory", "maxmemory",
         "1.10 x data set + backlog + 2 MiB, rounded up to a whole MiB",
         "Redis admin docs (leave room for overhead and fragmentation); normal clients' output buffers count "
         "against maxmemory (evict.c); an empty server uses 0.93 MiB (measured)"),
    Rule("maxmemory-from-memory", "maxmemory under an explicit memory limit",
         "the largest whole MiB of maxmemory whose planned limit fits `memory`",
         "the limit rule, inverted"),
    Rule("maxmemory-from-percent", "maxmemory from maxmemoryPercent",
         "maxmemoryPercent x limit, leaving at least 8 MiB", "explicit setting"),
    Rule("steady", "Fragmentation and process",
         "1.15 x maxmemory + 16 MiB; 1.40 x when value sizes span 10x or more and nothing forks",
         "RSS/maxmemory under eviction churn 1.05-1.13 (official build and Debian's, fixed, uniform and log-uniform "
         "sizes); 1.39-1.40 settled after a value-size shift; an empty server's RSS is 5.9-11.9 MiB"),
    Rule("cow", "Fork copy-on-write",
         "c x 1.15 x maxmemory (a fork copies resident pages, fragmentation included) when persistence or replicas "
         "make the server fork; c = 1 when the write rate is unknown. "
         "Else the child lives T = keys x 8 us + maxmemory / 30 MB/s and each of the W = writes/s x T writes "
         "dirties one random page of every kind of allocation it touches (dict entry, key, robj, value, slots, "
         "expires): a region of B bytes in allocations of a bytes keeps 1 - exp(-W (1 + a/4096) 4096 / B) of its "
         "pages copied; c = copied / data set",
         "Redis admin docs (a save can use up to 2x the memory; replication forks even with persistence off); "
         "BGSAVE of 1 M x 1 kB values peaked at 1.04 / 1.24 / 1.59 / 1.96 x used_memory with 0 / 5k / 20k / 65k "
         "writes/s; the region model, given the measured child lifetime, is 6-36 % above the copies of the four runs "
         "with writes (three BGSAVE, one AOF rewrite) and "
         "6-40 % above 12 copies measured in a memory cgroup with 100 B and 1 kB values; children lived "
         "6.1 us per key + 1 s per 39.7 MB under a load of 20 on 2 cores, planned slower"),
    Rule("replica-buffer", "Replica output-buffer limit",
         "client-output-buffer-limit replica <hard> 0 0, hard = max(maxmemory/10, writes/s x (K + V + 64 B) x T, "
         "16 MiB) with T the fork lifetime above; max(maxmemory/10, 64 MiB) when the write rate is unknown; "
         "soft limit off",
         "full syncs at 45k writes/s looped forever against the default 256 MB limit, 5k writes/s buffered 55 MB "
         "during a 10 s sync (measured); ElastiCache sets maxmemory/10 per node type; Redis 7 shares one "
         "replication buffer among replicas, so it counts once"),
    Rule("limit", "Container memory limit",
         "steady + copy-on-write + replica buffer, rounded up to a whole MiB", "the rules above"),
    Rule("request", "Container memory request",
         "= limit (Guaranteed QoS: a copy-on-write spike must not make the pod the first evicted)",
         "Kubernetes pod QoS classes"),
    Rule("pvc", "Volume per persisting pod",
         "max(1 GiB, 1.2 x k x dump), dump = min(maxmemory, keys x (K + V + 4 + 9 x TTL share)); k = 2 for RDB, "
         "3 for AOF; rounded up to a whole GiB",
         "RDB of random values measured at n x (K + V + 4) + 9 per TTL key; the old dump stays until the new one "
         "replaces it; Redis 7 multi-part AOF keeps the old base and increments while writing the new base"),
    Rule("node-type", "ElastiCache node type",
         "the node type with the least memory whose maxmemory x (1 - reserved-memory-percent) holds the planned "
         "maxmemory per shard; among equals the newest generation; data tiering (r6gd) left out; "
         "nodes = shards x (1 + replicas)",
         "node table components/cache_patterns/planning/data/elasticache_nodes.csv (AWS node-type parameters, May 2023); "
         "reserved-memory-percent 25 % by default (AWS redis-memory-management); ElastiCache saves without "
         "forking (BestPractices.BGSAVE), so no copy-on-write headroom"),
    Rule("serverless-storage", "Serverless data stored",
         "1.10 x data set + 2 MiB, in GB of 10^9 bytes, at least the billed minimum (1 GB Redis OSS, 0.1 GB Valkey)",
         "the maxmemory rule without a backlog; ElastiCache Serverless pricing and FAQ"),
    Rule("serverless-ecpu", "Serverless ECPU",
         "(reads + writes)/s x max(1, (K + V) / 1 KB)",
         "AWS: a simple GET or SET uses 1 ECPU per KB transferred"),
    Rule("sidecar-total", "Sidecar footprint", "per-pod limit x pods (every pod holds its own copy)",
         "pattern 3: one Redis per app pod"),
    Rule("statefulset-total", "StatefulSet footprint", "per-pod limit x (1 + replicas), Redis pods only",
         "pattern 2: a primary and its replicas, each holding the whole data set"),
    Rule("elasticache-total", "ElastiCache footprint", "node maxmemory x shards x (1 + replicas)",
         "node-based ElastiCache"),
    Rule("cost-kubernetes", "Kubernetes memory cost",
         "memory request (GiB) x price per GiB-hour x 730 h", "a --prices row kubernetes-memory-gib"),
    Rule("cost-node", "ElastiCache node cost", "price per node-hour x nodes x 730 h",
         "a --prices row for the node type"),
    Rule("cost-serverless", "Serverless cost",
         "GB x price per GB-hour x 730 h + ECPU/s x 3600 x 730 / 10^6 x price per million ECPU",
         "published rates (components/cache_patterns/planning/data/serverless_rates.csv) or --prices rows"),
)

BY_ID = {r.id: r for r in RULES}


def rule(rule_id: str) -> Rule:
    return BY_ID[rule_id]
