"""Pattern 2's certificate reload: cert-manager renews a Secret in place and the kubelet swaps the
mounted files, but Redis and HAProxy read them only at start; a small container beside each runs
tls-reload.sh, which makes the process load the new files without a restart (Sentinel's own
container supervises it instead: Sentinel has to restart)."""
from __future__ import annotations

from typing import Literal

from cache_patterns.core import contract
from cache_patterns.core import k8s as kb
from cache_patterns.patterns.statefulset import ha


def tls_reload_container(plan: ha.HaPlan, role: Literal["redis", "haproxy"], image: dict,
                         mounts: list[dict], resources: dict) -> dict:
    """The container that makes Redis or HAProxy load a renewed certificate (tls-reload.sh), given
    the mounts of the container it sits beside (and its `image` and `imagePullPolicy`: it runs that
    image's shell and tools). Beside Redis it needs the password (CONFIG SET); beside HAProxy only the
    master socket. `resources`: a shell polling a few files (planning/footprint.py)."""
    keep = {"redis": {"conf", contract.AUTH_VOLUME, "tls", ha.TLS_LIVE_VOLUME},
            "haproxy": {"conf", "run", "tls", ha.TLS_LIVE_VOLUME}}[role]
    return {
        "name": "tls-reload", **image,
        "command": plan.tls_reload_command(role),
        "env": [e for e in plan.env(role) if role == "redis" or e["name"] != "PASSWORD_FILE"],
        "resources": resources, "securityContext": kb.container_security_context(),
        "volumeMounts": [m for m in mounts if m["name"] in keep],
        "livenessProbe": plan.tls_reload_probe(role),
    }
