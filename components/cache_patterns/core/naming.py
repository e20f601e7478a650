"""Every name this program derives, and the limit of whatever consumes it, in one place.

Physical names that are contracts (DNS names apps resolve, operator resources, AWS ids, certificate
names) are derived from the stack and the cache name, never random, and refused when too long:
truncating or hashing would make a name nobody can predict. Config calls `problems()` so a stack that
would produce an invalid name fails before any resource exists, naming the input to shorten.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable

# A DNS label (RFC 1123, starting with a letter as RFC 1035 Services need): namespaces, Services,
# cache and app names. Label values and DNS labels hold at most 63 characters.
DNS_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
DNS_LABEL_DOC = "a DNS label (lower-case letters, digits, '-')"
LABEL_MAX = 63
CACHE_NAME_MAX = 24       # cache names are parts of `<stack>-<cache>-...` names below
APP_NAME_MAX = 40
# A StatefulSet's pods carry `controller-revision-hash: <statefulset>-<up to 10 characters>`, a label
# value: the StatefulSet name is at most 63 - 11 = 52 characters.
STATEFULSET_MAX = LABEL_MAX - 11
SENTINEL_SUFFIX = "-sentinel"
# ElastiCache ids (replication group, serverless cache, user, user group): at most 40 characters, a
# letter first, no "--", no trailing "-" (terraform-provider-aws validateReplicationGroupID).
ELASTICACHE_ID_MAX = 40
AWS_NAME_MAX = 255        # security group, subnet group and parameter group names
# cert-manager's webhook refuses a commonName over 64 characters (the X.509 upper bound, RFC 5280).
COMMON_NAME_MAX = 64
# Longest custom resource name each operator kind takes. Spotahome refuses names over 48 characters
# (api/redisfailover/v1/validate.go, maxNameLength). For OT the limit comes from the names it derives:
# the StatefulSet `<name>-s` (Sentinel) / `<name>-follower` carries a controller-revision-hash label.
OPERATOR_NAME_LIMITS = {"ot-replication": STATEFULSET_MAX - len("-s"),
                        "ot-cluster": STATEFULSET_MAX - len("-follower"),
                        "spotahome-failover": 48}

_LABEL = re.compile(DNS_LABEL)


class NameError_(ValueError):
    """A derived name that would break its consumer's limit. `key` is the config key to shorten."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


def is_label(name: str, limit: int = LABEL_MAX) -> bool:
    return len(name) <= limit and bool(_LABEL.fullmatch(name))


def physical_name(stack: str, cache: str, suffix: str = "", *, max_len: int, what: str) -> str:
    """`<stack>-<cache>[-<suffix>]`, lower-case, checked to be a DNS label of at most `max_len`."""
    base = re.sub(r"[^a-z0-9-]+", "-", f"{stack}-{cache}".lower()).strip("-")
    name = f"{base}-{suffix}" if suffix else base
    if len(name) > max_len or not _LABEL.fullmatch(name):
        raise NameError_(f"caches.{cache}", f"the {what} name {name!r} is {len(name)} characters; at most {max_len} "
                                            f"are allowed (shorten the cache name or the stack name)")
    return name


def instance(stack: str, cache: str) -> str:
    """The `app.kubernetes.io/instance` label of a cache's objects (a label value)."""
    return physical_name(stack, cache, max_len=LABEL_MAX, what="app.kubernetes.io/instance label")


def statefulset(stack: str, cache: str) -> str:
    """Pattern 2's Redis StatefulSet (and write Service). Its Sentinel StatefulSet adds `-sentinel`."""
    return physical_name(stack, cache, max_len=STATEFULSET_MAX - len(SENTINEL_SUFFIX), what="StatefulSet")


def check_statefulset_names(names: Iterable[str]) -> None:
    """StatefulSet names given directly (tests, the pod-name planner): DNS labels within the limit."""
    for name in names:
        if not is_label(name, STATEFULSET_MAX):
            raise ValueError(f"{name!r} must be a DNS label of at most {STATEFULSET_MAX} characters "
                             f"(shorten the stack or cache name)")


def operator_resource(stack: str, cache: str, kind: str) -> str:
    return physical_name(stack, cache, max_len=OPERATOR_NAME_LIMITS[kind], what=f"{kind} resource")


def tls_secret(stack: str, cache: str) -> str:
    return physical_name(stack, cache, "tls", max_len=LABEL_MAX, what="TLS Secret")


def ca_secret(stack: str, cache: str) -> str:
    return physical_name(stack, cache, "ca", max_len=LABEL_MAX, what="CA Secret")


def ca_common_name(stack: str, cache: str, namespace: str, key: str) -> str:
    """The commonName of the small certificate that brings the CA into an app namespace; `key` is
    the config key of that namespace (an app's), named when the result is too long."""
    name = f"{ca_secret(stack, cache)}.{namespace}"
    if len(name) > COMMON_NAME_MAX:
        raise NameError_(key, f"the CA certificate commonName {name!r} for cache {cache!r} is {len(name)} characters; "
                              f"cert-manager allows at most {COMMON_NAME_MAX} (shorten the namespace, the cache name "
                              f"or the stack name)")
    return name


def elasticache_id(stack: str, cache: str, suffix: str, what: str) -> str:
    name = physical_name(stack, cache, suffix, max_len=ELASTICACHE_ID_MAX, what=what)
    if "--" in name:
        raise NameError_(f"caches.{cache}", f"the {what} name {name!r} contains '--', which ElastiCache refuses "
                                            f"(rename the stack or cache)")
    return name


def aws_name(stack: str, cache: str, suffix: str = "") -> str:
    return physical_name(stack, cache, suffix, max_len=AWS_NAME_MAX, what="ElastiCache")


def external_service(stack: str, cache: str, suffix: str = "") -> str:
    """The ExternalName Service that gives an endpoint cache a stable in-cluster name."""
    return physical_name(stack, cache, suffix, max_len=LABEL_MAX, what="Service")


def log_group(stack: str, cache: str, log_type: str) -> str:
    return f"/cache-patterns/{stack}/{cache}/{log_type}"


def invalidation_channel(stack: str, cache: str) -> str:
    """The pub/sub channel on L2 that carries invalidations for one cache (one per stack and cache,
    so two stacks sharing an L2 never flush each other's L1)."""
    return f"cache-patterns:{stack}:{cache}:invalidate"


def problems(checks: Iterable[Callable[[], object]]) -> list[tuple[str, str]]:
    """Run name derivations; every one that fails, as a (config key, message) problem."""
    out: list[tuple[str, str]] = []
    for check in checks:
        try:
            check()
        except NameError_ as exc:
            if (exc.key, exc.message) not in out:
                out.append((exc.key, exc.message))
    return out
