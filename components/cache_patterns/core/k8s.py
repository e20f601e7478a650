"""Kubernetes building blocks every pattern shares: labels, restricted security contexts, probes,
and NetworkPolicy peers for the apps bound to a cache."""
from __future__ import annotations

from typing import Iterable, Protocol


class _App(Protocol):
    name: str
    namespace: str

PART_OF = "cache-patterns"
MANAGED_BY = "pulumi"
# UID/GID of every container this program defines unless an app says otherwise: >= 10000, so it
# never matches a host user (scanners flag lower UIDs), and shared by the Redis sidecars so the
# unix socket (group 660) is reachable from the app container.
DEFAULT_UID = 10001


def labels(name: str, component: str, instance: str) -> dict[str, str]:
    """Recommended `app.kubernetes.io/*` labels, from inputs that never change for a live object."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def selector(name: str, instance: str) -> dict[str, str]:
    """The immutable subset of `labels` used in selectors (selectors cannot change in place)."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": instance}


def app_selector(app: _App) -> dict[str, str]:
    return selector(app.name, app.name)


def container_security_context(uid: int = DEFAULT_UID) -> dict:
    """What the "restricted" Pod Security Standard asks of a container, plus a read-only root."""
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context(uid: int = DEFAULT_UID) -> dict:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def exec_probe(command: list[str], period: int = 10, timeout: int = 3, failures: int = 3,
               initial_delay: int = 0) -> dict:
    probe = {"exec": {"command": command}, "periodSeconds": period, "timeoutSeconds": timeout,
             "failureThreshold": failures}
    if initial_delay:
        probe["initialDelaySeconds"] = initial_delay
    return probe


def namespace_peer(namespace: str, pod_labels: dict[str, str] | None = None) -> dict:
    """A NetworkPolicy peer: pods of one namespace (by its immutable name label), optionally by label."""
    peer: dict = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
    if pod_labels:
        peer["podSelector"] = {"matchLabels": dict(pod_labels)}
    return peer


def app_peers(apps: Iterable[_App]) -> list[dict]:
    """NetworkPolicy peers admitting exactly the pods of these apps, in whatever namespaces they run."""
    return [namespace_peer(a.namespace, app_selector(a)) for a in sorted(apps, key=lambda a: (a.namespace, a.name))]
