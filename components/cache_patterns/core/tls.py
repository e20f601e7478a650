"""TLS for in-cluster caches: the server certificate (a Secret the user provides, or a cert-manager
Certificate) and the CA each app namespace needs to verify it. Shared by the StatefulSet and operator
patterns, so both hand apps `CACHE_TLS_CA_FILE` the same way."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.core import moves, naming
from cache_patterns.core.contract import FileRef

if TYPE_CHECKING:
    from cache_patterns.config.common import TlsSettings

KEY = {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"}


@dataclass
class Tls:
    """The server certificate's Secret (in the cache namespace), the CA per app namespace, and the
    resources a workload must wait for."""

    server_secret: str | None = None
    ca: dict[str, FileRef] = field(default_factory=dict)
    waits: list[pulumi.Resource] = field(default_factory=list)


def dns_names(services: Sequence[str], pod_services: Sequence[str], namespace: str, domain: str) -> list[str]:
    """Every name a client may dial: each Service short, namespaced and fully qualified, and every pod
    behind a headless Service (a wildcard), so the certificate verifies whatever address Sentinel,
    a peer or an app uses."""
    names = [f"{svc}.{namespace}.svc" for svc in services]
    names += [f"*.{svc}.{namespace}.svc" for svc in pod_services]
    return list(services) + [n for base in names for n in (base, f"{base}.{domain}")]


def certificates(parent: pulumi.Resource, name: str, *, tls: "TlsSettings", stack: str, cache: str, namespace: str,
                 names: Sequence[str], app_namespaces: Sequence[str], labels: dict[str, str]) -> Tls:
    """What TLS needs for one cache. With `certificateSecret` the user provides a kubernetes.io/tls
    Secret (with ca.crt) of that name in the cache namespace and, since pods only mount Secrets of
    their own namespace, one with at least ca.crt in each app namespace. With `issuer`, cert-manager
    issues the server certificate, and the CA reaches each app namespace in a small client
    certificate's Secret issued there by the same issuer: no Secret is copied across namespaces."""
    if not tls.enabled:
        return Tls()
    if tls.certificate_secret is not None:
        return Tls(server_secret=tls.certificate_secret,
                   ca={ns: FileRef("secret", tls.certificate_secret) for ns in app_namespaces})
    issuer = {"name": tls.issuer, "kind": tls.issuer_kind, "group": "cert-manager.io"}
    secret = naming.tls_secret(stack, cache)
    certificate = k8s.apiextensions.CustomResource(
        f"{name}-certificate",
        api_version="cert-manager.io/v1",
        kind="Certificate",
        metadata={"name": secret, "namespace": namespace, "labels": labels},
        spec={"secretName": secret, "issuerRef": issuer, "dnsNames": list(names), "privateKey": KEY,
              "usages": ["server auth", "client auth"]},
        opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True, aliases=moves.moved_from(parent, name)),
    )
    ca_secret = naming.ca_secret(stack, cache)
    ca: dict[str, FileRef] = {}
    for ns in app_namespaces:
        k8s.apiextensions.CustomResource(
            f"{name}-ca-{ns}",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata={"name": ca_secret, "namespace": ns, "labels": labels},
            spec={"secretName": ca_secret, "issuerRef": issuer,
                  "commonName": naming.ca_common_name(stack, cache, ns, f"namespace {ns}"),
                  "privateKey": KEY, "usages": ["client auth"]},
            opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True, aliases=moves.moved_from(parent, name)),
        )
        ca[ns] = FileRef("secret", ca_secret)
    return Tls(server_secret=secret, ca=ca, waits=[certificate])
