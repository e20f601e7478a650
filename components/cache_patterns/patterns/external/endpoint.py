"""Pattern 1 with `kind: endpoint`: an existing Redis by host name or IP, given a stable in-cluster
name in each app namespace when the connection is plain (TLS clients must dial the real host)."""
from __future__ import annotations

import ipaddress
import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.core import naming

# An endpoint host: a DNS name or IPv4 address, or an IPv6 address (written without brackets).
ENDPOINT_HOST = r"[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*"
_LINK_LOCAL_MULTICAST = {4: ipaddress.ip_network("224.0.0.0/24"), 6: ipaddress.ip_network("ff02::/16")}


def endpoint_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address an endpoint host names, or None for a DNS name. In-cluster names differ by
    kind: an ExternalName Service for a DNS name, a selector-less Service with an EndpointSlice for an
    IP (Kubernetes' DNS answers an ExternalName with a CNAME, which an IP cannot be)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def host_problems(host: str | None, key: str) -> list[tuple[str, str]]:
    """An IP must be one Kubernetes accepts in an EndpointSlice (ValidateEndpointIP in
    pkg/apis/core/validation, used by the discovery.k8s.io validation); a host that only looks like
    an IPv4 address (`10.0.0.256`, `010.0.0.1`) is neither an address nor a DNS name."""
    if host is None:
        return []
    ip = endpoint_ip(host)
    if ip is None:
        if ":" in host or re.fullmatch(r"[0-9.]+", host):
            return [(key, f"must be a host name, an IPv4 or an IPv6 address, got {host!r}")]
        return []
    special = [what for what, hit in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                                      ("link-local", ip.is_link_local),
                                      ("link-local multicast",
                                       ip.is_multicast and ip in _LINK_LOCAL_MULTICAST[ip.version]))
               if hit]
    if special:
        return [(key, f"{host!r} is a {special[0]} address, which Kubernetes refuses as an endpoint "
                      f"(and no pod could reach a cache there)")]
    return []


def in_cluster_name(parent: pulumi.Resource, stack: str, cache: str, labels: dict[str, str], ns: str, suffix: str,
                    target: str, port: Any, cluster_domain: str) -> str:
    """A Service in the app namespace that leads to `target`: ExternalName for a DNS name; for
    an IP, a selector-less Service with an EndpointSlice holding the address (Kubernetes answers
    an ExternalName with a CNAME record, and a CNAME to an IP does not resolve).

    Both shapes are the same resource, so a host switching between a name and an IP, or between
    IPv4 and IPv6, replaces the Service (delete first: its name is fixed). Apps keep the same DNS
    name; it does not resolve for the seconds between delete and create."""
    service = naming.external_service(stack, cache, suffix)
    tail = f"{'-' + suffix if suffix else ''}-{ns}"
    ip = endpoint_ip(target)
    replace = pulumi.ResourceOptions(parent=parent, delete_before_replace=True,
                                     replace_on_changes=["spec.type", "spec.ipFamilies"])
    metadata = {"name": service, "namespace": ns, "labels": labels}
    if ip is None:
        k8s.core.v1.Service(
            f"{cache}-endpoint{tail}", metadata=metadata,
            spec={"type": "ExternalName", "externalName": target,
                  "ports": [{"name": "redis", "port": port, "protocol": "TCP"}]},
            opts=replace)
    else:
        family = f"IPv{ip.version}"
        k8s.core.v1.Service(
            f"{cache}-endpoint{tail}", metadata=metadata,
            spec={"type": "ClusterIP", "ipFamilyPolicy": "SingleStack", "ipFamilies": [family],
                  "ports": [{"name": "redis", "port": port, "targetPort": port, "protocol": "TCP"}]},
            opts=replace)
        # Without a selector, the EndpointSlice controller leaves this Service alone; the slice
        # joins it by the kubernetes.io/service-name label and its port by name.
        k8s.discovery.v1.EndpointSlice(
            f"{cache}-endpoint-slice{tail}",
            metadata={**metadata, "labels": {**labels, "kubernetes.io/service-name": service,
                                             "endpointslice.kubernetes.io/managed-by": "cache-patterns"}},
            address_type=family,
            endpoints=[{"addresses": [str(ip)], "conditions": {"ready": True}}],
            ports=[{"name": "redis", "port": port, "protocol": "TCP"}],
            # addressType cannot change in place; the name is fixed.
            opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True,
                                        replace_on_changes=["addressType"]))
    return f"{service}.{ns}.svc.{cluster_domain}"
