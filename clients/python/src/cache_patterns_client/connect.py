"""Build redis-py clients for each tier from the contract settings: auth from files, TLS, Sentinel, cluster.

Called once by `TwoTierCache.from_env()`. Every client gets short timeouts and at most `retries`
immediate retries, so no cache call waits longer than about (retries + 1) x timeout.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.credentials import CredentialProvider
from redis.retry import Retry
from redis.sentinel import Sentinel

from .errors import ConfigurationError
from .settings import TierSettings

L2Client = Union[redis.Redis, RedisCluster]


@dataclass(frozen=True)
class ClientOptions:
    """Timeouts and back-off. Defaults suit an L1 on loopback and an L2 one network hop away."""

    l1_connect_timeout: float = 0.25
    """Seconds to open a connection to the L1 sidecar."""
    l1_timeout: float = 0.25
    """Seconds to wait for an L1 reply. A slower L1 is treated as down."""
    l2_connect_timeout: float = 0.5
    """Seconds to open a connection to L2 (or to ask a Sentinel)."""
    l2_timeout: float = 0.5
    """Seconds to wait for an L2 reply before raising L2Unavailable."""
    retries: int = 1
    """Immediate retries after a connection error: one lets a pooled connection that died with a
    server restart (or a rotated password) be replaced without the caller seeing an error."""
    l1_retry_interval: float = 1.0
    """After an L1 error, skip L1 for this long, then flush it and use it again."""
    l2_retry_interval: float = 0.5
    """After an L2 connection error, raise L2Unavailable at once for this long instead of waiting
    for another timeout on every call."""
    health_check_interval: float = 2.0
    """The invalidation subscription is pinged when idle this long; no reply within another
    interval counts as a lost connection (then L1 is flushed on resubscribe)."""
    subscribe_wait: float = 1.0
    """How long the constructor waits for the first subscription before returning. Until it is up,
    reads go to L2 and L1 is not populated."""
    publish_version: int = 2
    """The invalidation format this client publishes: 2 announces each written value (readers that
    read exactly it keep their copy); 1 for a rolling update while readers older than protocol 2
    still run (they flush their whole L1 on every message of a version they do not know)."""

    def __post_init__(self) -> None:
        if self.publish_version not in (1, 2):
            raise ValueError(f"publish_version: must be 1 or 2, got {self.publish_version!r}")


class PasswordFile(CredentialProvider):
    """Reads the password file on every new connection, so a rotated Secret is picked up on the next
    reconnect without a restart. The kubelet swaps the file atomically (symlink), so a read never sees
    half a password."""

    def __init__(self, path: str, username: Optional[str] = None) -> None:
        self.path = path
        self.username = username

    def get_credentials(self) -> Union[Tuple[str], Tuple[str, str]]:
        try:
            password = Path(self.path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            # A ConnectionError, so the caller sees L2Unavailable rather than a stray OSError.
            raise redis.exceptions.ConnectionError(f"cannot read password file {self.path}: {exc}") from exc
        if self.username is not None:
            return (self.username, password)
        return (password,)

    def __repr__(self) -> str:
        return f"PasswordFile({self.path!r}, username={self.username!r})"


def _auth(tier: TierSettings) -> Dict[str, Any]:
    if tier.password_file is not None:
        return {"credential_provider": PasswordFile(tier.password_file, tier.username)}
    if tier.password is not None:
        return {"username": tier.username, "password": tier.password}
    return {}


def _tls(tier: TierSettings) -> Dict[str, Any]:
    if not tier.tls:
        return {}
    # No CA file: the system trust store (managed services with public CAs). Hostnames are checked.
    return {"ssl": True, "ssl_cert_reqs": "required", "ssl_ca_certs": tier.tls_ca_file, "ssl_check_hostname": True}


def _common(connect_timeout: float, timeout: float, retries: int) -> Dict[str, Any]:
    return {
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": timeout,
        "socket_keepalive": True,
        "retry": Retry(NoBackoff(), retries),
    }


def l1_client(tier: TierSettings, options: ClientOptions) -> redis.Redis:
    """The L1 sidecar: a unix socket when the contract offers one (about 1.4x the TCP loopback rate)."""
    common = _common(options.l1_connect_timeout, options.l1_timeout, options.retries)
    if tier.socket:
        return redis.Redis(unix_socket_path=tier.socket, **common)
    return redis.Redis(host=tier.host, port=tier.port, **common)


def l2_client(tier: TierSettings, options: ClientOptions, **extra: Any) -> L2Client:
    """The shared tier: Sentinel-managed primary, cluster, or a plain endpoint (socket preferred)."""
    common = _common(options.l2_connect_timeout, options.l2_timeout, options.retries)
    common.update(extra)
    common.update(_auth(tier))
    common.update(_tls(tier))
    if tier.cluster:
        if tier.sentinels:
            raise ConfigurationError("CACHE_L2_CLUSTER: cluster mode and Sentinel cannot both be set")
        retry = common.pop("retry")
        common.pop("socket_keepalive")
        return RedisCluster(host=tier.host, port=tier.port, retry=retry, **common)
    if tier.sentinels:
        sentinel_kwargs: Dict[str, Any] = _common(options.l2_connect_timeout, options.l2_timeout, 0)
        sentinel_kwargs.update(_tls(tier))
        if tier.sentinel_password_file is not None:
            sentinel_kwargs["credential_provider"] = PasswordFile(tier.sentinel_password_file)
        sentinel = Sentinel(list(tier.sentinels), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
        assert tier.sentinel_master is not None  # checked by settings
        client: redis.Redis = sentinel.master_for(tier.sentinel_master, **common)  # type: ignore[no-untyped-call]
        return client
    if tier.socket and not tier.tls:
        # With TLS on, the socket is ignored: the contract only offers it for plain local endpoints.
        return redis.Redis(unix_socket_path=tier.socket, **common)
    return redis.Redis(host=tier.host, port=tier.port, **common)


def subscriber_client(tier: TierSettings, l2: L2Client, options: ClientOptions) -> redis.Redis:
    """The connection the invalidation subscription runs on. In cluster mode plain PUBLISH reaches
    every node, so any node will do: the configured endpoint (a configuration endpoint or Service
    that resolves to a live node on reconnect)."""
    if isinstance(l2, RedisCluster):
        common = _common(options.l2_connect_timeout, options.l2_timeout, options.retries)
        common.update(_auth(tier))
        common.update(_tls(tier))
        return redis.Redis(host=tier.host, port=tier.port, **common)
    return l2


def tracking_client(tier: TierSettings, options: ClientOptions) -> redis.Redis:
    """The in-process L1's tracking connection comes from this client: the same server as L2 (through
    Sentinel when there are Sentinels), speaking RESP2, where the server sends invalidations redirected
    to a subscribed connection as Pub/Sub messages on `__redis__:invalidate`."""
    client = l2_client(tier, options, protocol=2)
    assert isinstance(client, redis.Redis)  # settings refuse an in-process L1 over a cluster
    return client
