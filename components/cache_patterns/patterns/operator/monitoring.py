"""What the monitoring of an operator cache (PodMonitors, rules, dashboard) is generated from: the
pods the operator creates from the custom resource, and their exporters' ports as each operator
names them."""
from __future__ import annotations

from typing import Mapping, Sequence

from cache_patterns.core import k8s as kb
from cache_patterns.observability import exporter as metrics
from cache_patterns.observability.target import CacheTarget, ClientTarget, Scrape, Standalone
from cache_patterns.patterns.operator.settings import OperatorSettings
from cache_patterns.patterns.operator.specs import (OT_EXPORTER_PORT_NAME, SENTINEL_PORT, SPOTAHOME_EXPORTER_PORT_NAME,
                                                    maxmemory)


def ot_sentinel_scrape(resource: str, namespace: str, addresses: Sequence[str], pod: Mapping | None = None) -> Scrape:
    """OT's embedded Sentinels (RedisReplication `spec.sentinel`) have no exporter or sidecar setting
    (CRD v1beta2, v0.26.0), so an exporter Deployment of this program's own scrapes each of them over
    the network. They run without TLS and without a password of their own (the operator's sentinel
    container: internal/controller/redisreplication/redisreplication_sentinel.go, buildSentinelEnv).
    `pod`: the exporter pod's placement, images and resources (Standalone's fields)."""
    exporter = f"{resource}-sentinel-exporter"
    return Scrape(name=f"{resource}-sentinel", namespace=namespace, port=metrics.PORT_NAME, role="sentinel",
                  selector={"matchLabels": kb.selector(exporter, resource)},
                  standalone=Standalone(addresses=tuple(addresses), port=SENTINEL_PORT, pods={"matchExpressions": [
                      {"key": "app", "operator": "In", "values": [f"{resource}-s"]},
                      {"key": "redis_setup_type", "operator": "In", "values": ["sentinel"]}]}, **(pod or {})))


def monitoring_target(s: OperatorSettings, stack: str, cache: str, namespace: str, resource: str,
                      app_namespaces: Sequence[str], labels: dict, sentinels: Sequence[str] = (),
                      exporter_pod: Mapping | None = None) -> CacheTarget:
    """What the rules and dashboard are generated from: the custom resource the component wrote.
    `sentinels`: the address of each Sentinel the operator runs; `exporter_pod`: the placement,
    images and resources of the Sentinel exporter's pod."""
    data = sentinel = None
    if s.exporter and s.kind == "spotahome-failover":
        base = {"app.kubernetes.io/part-of": "redis-failover", "app.kubernetes.io/name": resource}
        data, sentinel = (Scrape(name=f"{resource}-{role}", namespace=namespace, port=SPOTAHOME_EXPORTER_PORT_NAME,
                                 selector={"matchLabels": {**base, "app.kubernetes.io/component": role}}, role=role)
                          for role in ("redis", "sentinel"))
    elif s.exporter:
        # The data pods carry the operator's exporter; OT's Sentinel pods carry none (see above).
        apps = [f"{resource}-leader", f"{resource}-follower"] if s.kind == "ot-cluster" else [resource]
        setup = "cluster" if s.kind == "ot-cluster" else "replication"
        data = Scrape(name=f"{resource}-redis", namespace=namespace, port=OT_EXPORTER_PORT_NAME, role="redis",
                      selector={"matchExpressions": [{"key": "app", "operator": "In", "values": apps},
                                                     {"key": "redis_setup_type", "operator": "In",
                                                      "values": [setup]}]})
        if s.kind == "ot-replication" and sentinels:
            sentinel = ot_sentinel_scrape(resource, namespace, sentinels, exporter_pod)
    return CacheTarget(
        stack=stack, cache=cache, pattern="operator", kind=s.kind, namespace=namespace, data=data, sentinel=sentinel,
        shards=s.shards if s.kind == "ot-cluster" else 1, replicas=s.replicas,
        sentinels=0 if s.kind == "ot-cluster" else s.sentinels, quorum=s.sentinels // 2 + 1,
        maxmemory=maxmemory(s), maxmemory_policy=s.maxmemory_policy,
        client=ClientTarget(cache=cache, namespaces=tuple(app_namespaces)) if s.l1 is not None else None,
        labels={**labels, "app.kubernetes.io/component": "monitoring"},
    )
