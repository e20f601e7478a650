"""What pattern 2 hands an app: the write and read endpoints (HAProxy), the Sentinels, the password
file and the CA. Pure, so config can check the contract before any resource exists."""
from __future__ import annotations

from cache_patterns.config.app import AppConfig
from cache_patterns.core.contract import CacheBinding, CacheConnection, FileRef, SecretRef, SentinelRef
from cache_patterns.patterns.statefulset import ha
from cache_patterns.patterns.statefulset.settings import StatefulSetSettings


def connection(s: StatefulSetSettings, names: ha.PodNames, master_name: str, *, user: str | None,
               password: SecretRef | None, ca: FileRef | None) -> CacheConnection:
    # The Sentinels take only the default password, which an app bound as an ACL user must not
    # hold: such an app gets the write and read endpoints (HAProxy follows the primary), no Sentinels.
    sentinel = None if user is not None else SentinelRef(
        addresses=tuple(str(a) for a in names.sentinel_addresses()), master_name=master_name, password=password)
    return CacheConnection(
        host=names.domain(names.statefulset), port=ha.REDIS_PORT, tls=s.tls.enabled, ca=ca, username=user,
        password=password, read_host=names.domain(f"{names.statefulset}-read"), read_port=ha.REDIS_PORT,
        sentinel=sentinel,
    )


def shape(name: str, s: StatefulSetSettings, app: AppConfig) -> CacheBinding:
    """The binding `app` would get, with placeholder names and Secret references."""
    names = ha.PodNames(statefulset="shape", namespace=app.namespace, servers=s.replicas + 1, sentinels=s.sentinels)
    password = SecretRef("shape") if s.auth else None
    ca = FileRef("secret", "shape") if s.tls.enabled else None
    return CacheBinding(cache=name, pattern="statefulset", default_ttl_seconds=s.default_ttl_seconds,
                        connection=connection(s, names, "shape", user=app.cache_user, password=password, ca=ca))
