"""Pattern 2's write endpoint as pure data: how many HAProxy pods run, and their pod template (HAProxy
and, with TLS, its certificate watcher); the component makes the Deployment and Services around it."""
from __future__ import annotations

from typing import Callable

from cache_patterns.core import k8s as kb
from cache_patterns.core.image_set import ImageSet
from cache_patterns.patterns.statefulset import ha
from cache_patterns.patterns.statefulset.pods import Pods
from cache_patterns.patterns.statefulset.tls_reload import tls_reload_container


def endpoint_replicas(environment: str) -> int:
    """HAProxy pods: two where disruption budgets apply (staging, production), so one survives a drain."""
    return 1 if environment == "development" else 2


def haproxy_pod(plan: ha.HaPlan, pods: Pods, images: ImageSet, resources: Callable[[str], dict]) -> dict:
    """The HAProxy pods' template; `resources(component)` gives a container's requests and limits."""
    mounts = pods.mounts("haproxy")
    haproxy = {
        "name": "haproxy", **images.container("haproxy"),
        "command": plan.command("haproxy"), "env": plan.env("haproxy"),
        "ports": [{"name": "write", "containerPort": ha.REDIS_PORT, "protocol": "TCP"},
                  {"name": "read", "containerPort": ha.READ_PORT, "protocol": "TCP"},
                  {"name": "health", "containerPort": ha.HEALTH_PORT, "protocol": "TCP"}],
        "resources": resources("haproxy"), "securityContext": kb.container_security_context(),
        # With TLS, the run volume holds the master CLI socket and the servers' saved states.
        "volumeMounts": [m for m in mounts if m["name"] != "run" or plan.tls],
        **plan.probes("haproxy"),
    }
    containers = [haproxy]
    if plan.tls:
        containers.append(tls_reload_container(plan, "haproxy", images.container("haproxy"), mounts,
                                               resources("tlsReload")))
    pod = pods.pod("endpoint", containers)
    if not plan.tls:
        pod["spec"]["volumes"] = [v for v in pod["spec"]["volumes"] if v["name"] != "run"]
    return pod
