"""TLS for in-cluster caches: the server certificate (a Secret the user provides, or a cert-manager
Certificate) and the CA each app namespace needs to verify it. Shared by the StatefulSet and operator
patterns, so both hand apps `CACHE_TLS_CA_FILE` the same way."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s

from .config import TlsConfig
from .contract import FileRef
from .naming import physical_name

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


# The components that issue a cache's certificates, one per in-cluster pattern, both made at the top
# of the stack under the cache's name. A pattern switch (statefulset <-> operator) moves the cache's
# Certificates, which keep their names (the Secrets the pods mount), from one to the other. Without
# an alias the engine creates the "new" Certificate before deleting the "old" one, and server-side
# apply makes that create an upsert of the same object: a field conflict with the old resource's
# field manager (labels, DNS names) that fails the switch, or, had every field been equal, an object
# the old resource's delete then removes. With the alias it is one resource, updated in place.
ISSUING_COMPONENTS = ("cache-patterns:index:RedisStatefulSet", "cache-patterns:index:RedisOperatorCache")


def moved_from(parent: pulumi.Resource, name: str) -> list[pulumi.Alias]:
    """Aliases of a child of `parent` (an issuing component named `name`) to the same child under
    the other issuing components."""
    return [pulumi.Alias(parent=pulumi.resource.create_urn(name, other)) for other in ISSUING_COMPONENTS
            if other != parent.pulumi_resource_type]


def certificates(parent: pulumi.Resource, name: str, *, tls: TlsConfig, stack: str, cache: str, namespace: str,
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
    secret = physical_name(stack, cache, "tls", max_len=63, what="TLS Secret")
    certificate = k8s.apiextensions.CustomResource(
        f"{name}-certificate",
        api_version="cert-manager.io/v1",
        kind="Certificate",
        metadata={"name": secret, "namespace": namespace, "labels": labels},
        spec={"secretName": secret, "issuerRef": issuer, "dnsNames": list(names), "privateKey": KEY,
              "usages": ["server auth", "client auth"]},
        opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True, aliases=moved_from(parent, name)),
    )
    ca_secret = physical_name(stack, cache, "ca", max_len=63, what="CA Secret")
    ca: dict[str, FileRef] = {}
    for ns in app_namespaces:
        k8s.apiextensions.CustomResource(
            f"{name}-ca-{ns}",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata={"name": ca_secret, "namespace": ns, "labels": labels},
            spec={"secretName": ca_secret, "issuerRef": issuer, "commonName": f"{ca_secret}.{ns}",
                  "privateKey": KEY, "usages": ["client auth"]},
            opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True, aliases=moved_from(parent, name)),
        )
        ca[ns] = FileRef("secret", ca_secret)
    return Tls(server_secret=secret, ca=ca, waits=[certificate])
