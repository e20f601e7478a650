"""Builds each named cache with the pattern its config names, and adds an L1 where asked."""
from __future__ import annotations

import pulumi

from .config import AppConfig, StackConfig
from .contract import CacheBinding
from .external import ExternalCache
from .k8s import BoundCache
from .sidecar import Sidecar
from .statefulset import RedisStatefulSet
from .two_tier import TwoTier


def build(name: str, cfg: StackConfig, opts: pulumi.ResourceOptions):
    """The cache `name` as a BoundCache: `.binding(namespace)` and `.discovery`."""
    settings = cfg.caches[name]
    if settings.pattern == "sidecar":
        cache = Sidecar(name, settings, cfg.native_sidecars)
    elif settings.pattern == "external":
        cache = ExternalCache(name, {
            "settings": settings, "stack": cfg.stack, "production": cfg.production, "aws": cfg.aws,
            "namespaces": sorted({a.namespace for a in cfg.apps_of(name)}), "cluster_domain": cfg.cluster_domain,
            # The one place the plaintext of an endpoint password meets a resource: wrapped here.
            "password": pulumi.Output.secret(cfg.passwords[name]) if name in cfg.passwords else None,
            "observability": cfg.observability, "monitoring_namespace": cfg.namespace,
        }, opts)
    elif settings.pattern == "statefulset":
        cache = RedisStatefulSet(name, {
            "cache": name, "settings": settings, "stack": cfg.stack, "namespace": cfg.namespace,
            "apps": cfg.apps_of(name), "environment": cfg.environment, "cluster_domain": cfg.cluster_domain,
            "observability": cfg.observability,
        }, opts)
    else:
        from . import operator

        cache = operator.build(name, cfg, opts)
    l1 = getattr(settings, "l1", None)
    if l1 is not None:
        cache = TwoTier(cache, cfg.stack, name, l1, cfg.native_sidecars)
    return cache


def binding(cache: BoundCache, app: AppConfig) -> CacheBinding:
    """What `app` gets from its (built) cache: the binding of its namespace, as its ACL user when it
    names one (`cacheUser`, validated to be a user of a statefulset cache)."""
    if app.cache_user is None:
        return cache.binding(app.namespace)
    return cache.binding(app.namespace, user=app.cache_user)
