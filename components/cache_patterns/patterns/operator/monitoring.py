"""What the monitoring of an operator cache (PodMonitors, rules, dashboard) is generated from: the
pods the operator creates from the custom resource, and their exporters' ports as each operator
names them."""
from __future__ import annotations

from typing import Sequence

from cache_patterns.observability.target import CacheTarget, ClientTarget, Scrape
from cache_patterns.patterns.operator.settings import OperatorSettings
from cache_patterns.patterns.operator.specs import OT_EXPORTER_PORT_NAME, SPOTAHOME_EXPORTER_PORT_NAME, maxmemory


def monitoring_target(s: OperatorSettings, stack: str, cache: str, namespace: str, resource: str,
                      app_namespaces: Sequence[str], labels: dict) -> CacheTarget:
    """What the rules and dashboard are generated from: the custom resource the component wrote."""
    data = sentinel = None
    if s.exporter and s.kind == "spotahome-failover":
        base = {"app.kubernetes.io/part-of": "redis-failover", "app.kubernetes.io/name": resource}
        data, sentinel = (Scrape(name=f"{resource}-{role}", namespace=namespace, port=SPOTAHOME_EXPORTER_PORT_NAME,
                                 selector={"matchLabels": {**base, "app.kubernetes.io/component": role}}, role=role)
                          for role in ("redis", "sentinel"))
    elif s.exporter:
        # Only the data pods: OT's Sentinel pods carry no exporter.
        apps = [f"{resource}-leader", f"{resource}-follower"] if s.kind == "ot-cluster" else [resource]
        setup = "cluster" if s.kind == "ot-cluster" else "replication"
        data = Scrape(name=f"{resource}-redis", namespace=namespace, port=OT_EXPORTER_PORT_NAME, role="redis",
                      selector={"matchExpressions": [{"key": "app", "operator": "In", "values": apps},
                                                     {"key": "redis_setup_type", "operator": "In",
                                                      "values": [setup]}]})
    return CacheTarget(
        stack=stack, cache=cache, pattern="operator", kind=s.kind, namespace=namespace, data=data, sentinel=sentinel,
        shards=s.shards if s.kind == "ot-cluster" else 1, replicas=s.replicas,
        sentinels=0 if s.kind == "ot-cluster" else s.sentinels, quorum=s.sentinels // 2 + 1,
        maxmemory=maxmemory(s), maxmemory_policy=s.maxmemory_policy,
        client=ClientTarget(cache=cache, namespaces=tuple(app_namespaces)) if s.l1 is not None else None,
        labels={**labels, "app.kubernetes.io/component": "monitoring"},
    )
