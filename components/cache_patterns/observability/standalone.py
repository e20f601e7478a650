"""An exporter of this program's own for servers whose pods carry none (OT-CONTAINER-KIT's embedded
Sentinels): redis_exporter in multi-target mode as a one-pod Deployment, a NetworkPolicy that admits
only the scraper to it, and one that admits it to the scraped pods' port (NetworkPolicies add up: the
cache's own policy still selects those pods and keeps everything else out). Children of the cache's
monitoring component."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.core import k8s as kb
from cache_patterns.core import placement as placing
from cache_patterns.core.image_set import DEFAULT_IMAGES
from cache_patterns.observability import exporter as metrics
from cache_patterns.observability import scrape
from cache_patterns.observability.settings import PrometheusSettings
from cache_patterns.observability.target import Scrape


def exporter_pod(s: Scrape, labels: dict) -> dict:
    """The exporter's pod template: no address of its own (`REDIS_ADDR` empty, so `/metrics` carries
    only the exporter's own metrics); each server is scraped through `/scrape?target=`. Placed where the
    cache's placement says (core/placement.py), pulled as the stack's `images` say."""
    health = {"httpGet": {"path": "/health", "port": metrics.PORT_NAME}}
    standalone = s.standalone
    images = standalone.images if standalone is not None and standalone.images is not None else DEFAULT_IMAGES
    container = {
        "name": "exporter", **images.container("exporter-scratch"),
        # No value is the empty string (the API server stores `value: ""` as no value, so none is sent).
        "env": [{"name": "REDIS_ADDR"}],
        "ports": [{"name": metrics.PORT_NAME, "containerPort": metrics.PORT, "protocol": "TCP"}],
        "resources": dict(standalone.resources) if standalone is not None and standalone.resources else
        metrics.RESOURCES, "securityContext": kb.container_security_context(),
        "readinessProbe": health | {"periodSeconds": 10, "failureThreshold": 3},
        "livenessProbe": health | {"periodSeconds": 30},
    }
    template = {"metadata": {"labels": labels},
                "spec": {"securityContext": kb.pod_security_context(), "automountServiceAccountToken": False,
                         "enableServiceLinks": False, "containers": [container]}}
    placed = standalone.placed if standalone is not None and standalone.placed is not None else placing.Placed()
    return placing.place(template, placed, dict(s.selector["matchLabels"]), pull_secrets=images.pull_secrets)


def standalone_exporter(name: str, parent: pulumi.Resource, s: Scrape, labels: dict,
                        prometheus: PrometheusSettings) -> k8s.apps.v1.Deployment:
    """The Deployment and the two NetworkPolicies of one standalone scrape job."""
    assert s.standalone is not None
    selector = dict(s.selector["matchLabels"])
    pod_labels = {**labels, **selector}
    opts = pulumi.ResourceOptions(parent=parent)
    meta = {"namespace": s.namespace, "labels": pod_labels}
    deployment = k8s.apps.v1.Deployment(
        f"{name}-exporter", metadata=meta,
        spec={"replicas": 1, "selector": {"matchLabels": selector}, "template": exporter_pod(s, pod_labels)},
        opts=opts)
    k8s.networking.v1.NetworkPolicy(
        f"{name}-exporter-ingress", metadata=meta,
        spec={"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"],
              "ingress": [scrape.scraper_ingress(prometheus, [metrics.PORT])]},
        opts=opts)
    k8s.networking.v1.NetworkPolicy(
        f"{name}-exporter-admitted", metadata=meta,
        spec={"podSelector": dict(s.standalone.pods), "policyTypes": ["Ingress"],
              "ingress": [{"from": [{"podSelector": {"matchLabels": selector}}],
                           "ports": [{"port": s.standalone.port, "protocol": "TCP"}]}]},
        opts=opts)
    return deployment
