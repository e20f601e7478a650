"""What pattern 1 hands an app, as a shape: pure, so config can check the contract before any resource
exists (the component's `_bind` makes the real one; a test keeps both in step)."""
from __future__ import annotations

from cache_patterns.config.app import AppConfig
from cache_patterns.core.contract import CacheBinding, CacheConnection, FileRef, SecretRef
from cache_patterns.patterns.external.settings import ExternalSettings


def shape(name: str, s: ExternalSettings, app: AppConfig) -> CacheBinding:
    """The binding `app` would get, with placeholder hosts and Secret references (see `_bind`)."""
    endpoint = s.kind == "endpoint"
    replica = (endpoint and s.read_host is not None) or s.kind == "elasticache-serverless" or \
        (s.kind == "elasticache" and s.replicas > 0 and s.shards is None)
    username = (s.username if endpoint else "app" if s.kind == "elasticache-serverless" and s.auth else None)
    connection = CacheConnection(
        host="shape", port=s.port, tls=s.tls, cluster=s.cluster_mode, username=username,
        ca=FileRef("configMap", "shape") if endpoint and s.tls and s.ca_certificate is not None else None,
        password=SecretRef("shape") if s.auth else None,
        read_host="shape" if replica else None, read_port=s.port if replica else None)
    return CacheBinding(cache=name, pattern="external", connection=connection, default_ttl_seconds=s.default_ttl_seconds)
