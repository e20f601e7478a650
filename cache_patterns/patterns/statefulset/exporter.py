"""Pattern 2's metrics: a redis_exporter container beside each Redis (`exporter: true`)."""
from __future__ import annotations

from cache_patterns.core import contract
from cache_patterns.core import k8s as kb
from cache_patterns.patterns.statefulset import ha
from cache_patterns.patterns.statefulset.settings import StatefulSetSettings

EXPORTER_IMAGE = "oliver006/redis_exporter:v1.62.0-alpine"
EXPORTER_PORT = 9121
EXPORTER_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}


def exporter_container(s: StatefulSetSettings, names: ha.PodNames) -> dict:
    """redis_exporter beside Redis. The password is read from the mounted file into the exporter's
    own environment at start, never written into the pod spec."""
    target = f"redis{'s' if s.tls.enabled else ''}://$(POD_NAME).{names.domain(names.headless)}:{ha.REDIS_PORT}"
    env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "REDIS_ADDR", "value": target}]
    if s.tls.enabled:
        env.append({"name": "REDIS_EXPORTER_TLS_CA_CERT_FILE", "value": f"{ha.TLS_DIR}/ca.crt"})
    start = ('REDIS_PASSWORD="$(cat ' + contract.PASSWORD_FILE + ')" exec redis_exporter') if s.auth \
        else "exec redis_exporter"
    mounts = []
    if s.auth:
        mounts.append({"name": contract.AUTH_VOLUME, "mountPath": contract.AUTH_DIR, "readOnly": True})
    if s.tls.enabled:
        mounts.append({"name": "tls", "mountPath": ha.TLS_DIR, "readOnly": True})
    return {
        "name": "exporter", "image": EXPORTER_IMAGE, "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", start], "env": env,
        "ports": [{"name": "metrics", "containerPort": EXPORTER_PORT, "protocol": "TCP"}],
        "resources": EXPORTER_RESOURCES, "securityContext": kb.container_security_context(),
        "volumeMounts": mounts,
        "livenessProbe": {"httpGet": {"path": "/health", "port": "metrics"}, "periodSeconds": 30},
    }
