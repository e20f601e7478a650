"""Program runs beyond the committed stacks, for the generated-object checks: each monitored kind
of cache (OT replication and cluster, Spotahome, an evicting StatefulSet with two-tier clients,
ElastiCache with an L1). Evaluated once per session."""
from __future__ import annotations

import copy
from functools import lru_cache

from tools import harness


def _with_cache(stack: str, **changes) -> dict:
    cfg = copy.deepcopy(harness.load_stack_config(stack))
    (name,) = [n for n in cfg["cache-patterns:caches"] if n == "sessions"]
    cfg["cache-patterns:caches"][name].update(changes)
    return cfg


def _spotahome() -> dict:
    cfg = copy.deepcopy(harness.load_stack_config("platform"))
    cfg["cache-patterns:caches"]["sessions"] = {"pattern": "operator", "kind": "spotahome-failover", "replicas": 2,
                                                "memory": "256Mi", "maxmemoryPolicy": "allkeys-lfu"}
    cfg["cache-patterns:operators"] = {}
    return cfg


def _ot_cluster() -> dict:
    cfg = copy.deepcopy(harness.load_stack_config("platform"))
    cfg["cache-patterns:caches"]["sessions"] = {"pattern": "operator", "kind": "ot-cluster", "shards": 3,
                                                "replicas": 1, "memory": "512Mi"}
    return cfg


VARIANTS = {
    "statefulset-evicting-two-tier": lambda: ("staging", _with_cache(
        "staging", maxmemoryPolicy="allkeys-lru", l1={"memory": "64Mi", "ttlCap": "30s"})),
    "ot-replication-two-tier": lambda: ("platform", _with_cache("platform", l1={"memory": "64Mi", "ttlCap": "30s"})),
    "ot-cluster": lambda: ("platform", _ot_cluster()),
    "spotahome-failover": lambda: ("platform", _spotahome()),
}


@lru_cache(maxsize=None)
def variant_run(name: str) -> harness.Run:
    stack, cfg = VARIANTS[name]()
    return harness.run(stack, cfg)


def variant_runs() -> dict[str, harness.Run]:
    return {name: variant_run(name) for name in VARIANTS}
