"""Pattern 2's write endpoint reached from outside the cluster (`expose:`, off by default): a
LoadBalancer or NodePort Service in front of the HAProxy pods, and the NetworkPolicy rule that admits
the configured source ranges to HAProxy's write port and nothing else.

`externalTrafficPolicy: Local` keeps the client's address (with `Cluster` a node would forward the
connection under its own address and the NetworkPolicy could not tell clients apart); the cost is that
only nodes running an HAProxy pod answer, which a cloud load balancer's health checks handle. Auth and
TLS are required by config: the traffic crosses networks the cluster does not control.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.patterns.statefulset import ha
from cache_patterns.patterns.statefulset.settings import Expose


def external_ingress(expose: Expose | None) -> list[dict]:
    """The endpoint's ingress rule for clients outside the cluster (none without `expose`)."""
    if expose is None:
        return []
    return [{"from": [{"ipBlock": {"cidr": c}} for c in expose.source_ranges],
             "ports": [{"port": ha.REDIS_PORT, "protocol": "TCP"}]}]


def external_spec(expose: Expose, selector: dict) -> dict:
    """The external Service's spec: the write port only."""
    port: dict = {"name": "redis", "port": ha.REDIS_PORT, "targetPort": "write", "protocol": "TCP"}
    if expose.node_port is not None:
        port["nodePort"] = expose.node_port
    spec: dict = {"type": expose.type, "selector": dict(selector), "externalTrafficPolicy": "Local",
                  "ports": [port]}
    if expose.type == "LoadBalancer":
        spec["loadBalancerSourceRanges"] = list(expose.source_ranges)
    return spec


def external_service(parent: pulumi.Resource, name: str, expose: Expose, namespace: str, labels: dict,
                     selector: dict) -> k8s.core.v1.Service:
    metadata: dict = {"namespace": namespace, "labels": labels}
    if expose.annotations:
        metadata["annotations"] = dict(expose.annotations)
    return k8s.core.v1.Service(f"{name}-external", metadata=metadata, spec=external_spec(expose, selector),
                               opts=pulumi.ResourceOptions(parent=parent))
