"""Parse the cache-patterns env contract (version 1) into frozen settings, without connecting.

Pure and cheap: `CacheSettings.from_env()` reads a mapping (os.environ by default) once at startup.
Error messages name the variable and the value that was refused.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from .errors import ConfigurationError

CONTRACT_VERSION = "1"
# Strict syntax, the same in every client (clients/conformance/env.json): no signs, exponents,
# underscores, hex or surrounding spaces, which some languages' number parsers accept and others refuse.
_PORT = re.compile(r"[0-9]{1,5}\Z")
_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?\Z")
_COUNT = re.compile(r"[0-9]{1,15}\Z")


@dataclass(frozen=True)
class TierSettings:
    """How to reach one tier (L1 sidecar or shared L2), as the contract describes it."""

    host: str
    port: int = 6379
    socket: Optional[str] = None
    tls: bool = False
    tls_ca_file: Optional[str] = None
    cluster: bool = False
    username: Optional[str] = None
    password_file: Optional[str] = None
    password: Optional[str] = None
    sentinels: Tuple[Tuple[str, int], ...] = ()
    sentinel_master: Optional[str] = None
    sentinel_password_file: Optional[str] = None
    # READ_HOST/READ_PORT are parsed for completeness; the client does not read from replicas
    # (a lagging replica would reopen the populate race, see the README).
    read_host: Optional[str] = None
    read_port: Optional[int] = None

    def __repr__(self) -> str:
        # The password never appears in logs or tracebacks.
        shown = "***" if self.password is not None else None
        return (f"TierSettings(host={self.host!r}, port={self.port}, socket={self.socket!r}, tls={self.tls}, "
                f"cluster={self.cluster}, sentinels={self.sentinels!r}, password_file={self.password_file!r}, "
                f"password={shown})")


@dataclass(frozen=True)
class NearSettings:
    """An in-process L1 (`CACHE_L1_MODE=in-process`): its bounds and how the server tracks keys for it."""

    max_entries: int
    max_bytes: int
    tracking: str = "default"           # "default" or "broadcast"
    prefixes: Tuple[bytes, ...] = ()    # broadcast: only keys under one of them are kept


@dataclass(frozen=True)
class CacheSettings:
    """The whole contract for one app container."""

    l2: TierSettings
    l1: Optional[TierSettings] = None
    name: Optional[str] = None
    pattern: Optional[str] = None
    default_ttl: Optional[float] = None        # seconds; None: entries written without ttl never expire
    l1_ttl_cap: Optional[float] = None         # seconds; set whenever l1 is
    invalidation_channel: Optional[str] = None  # set whenever l1 or near is
    near: Optional[NearSettings] = None         # an in-process L1 (then l1 is None)

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "CacheSettings":
        """Read the contract. Absent CACHE_L1_HOST means a single tier over CACHE_L2_* (or CACHE_*)."""
        env = os.environ if environ is None else environ
        version = env.get("CACHE_CONTRACT_VERSION")
        if version is not None and version != CONTRACT_VERSION:
            raise ConfigurationError(f"CACHE_CONTRACT_VERSION: this client speaks {CONTRACT_VERSION!r}, got {version!r}")
        # CACHE_L2_* and CACHE_* carry the same values; L2_ is preferred because it cannot be confused
        # with the L1 tier when both are present.
        prefix = "CACHE_L2" if "CACHE_L2_HOST" in env else "CACHE"
        l2 = _tier(env, prefix)
        l1: Optional[TierSettings] = None
        near: Optional[NearSettings] = None
        cap: Optional[float] = None
        channel: Optional[str] = None
        mode = env.get("CACHE_L1_MODE")
        if mode == "in-process":
            if "CACHE_L1_HOST" in env:
                raise ConfigurationError("CACHE_L1_MODE: in-process takes no CACHE_L1_HOST (the L1 is in the process)")
            if l2.cluster:
                raise ConfigurationError(f"CACHE_L1_MODE: in-process needs an L2 that is not a cluster (tracking is "
                                         f"per node), got {prefix}_CLUSTER=true")
            cap = _seconds(env, "CACHE_L1_TTL_CAP", required=True, when="CACHE_L1_MODE is in-process")
            channel = env.get("CACHE_L1_INVALIDATION_CHANNEL") or None
            if channel is None:
                raise ConfigurationError("CACHE_L1_INVALIDATION_CHANNEL: required when CACHE_L1_MODE is in-process")
            near = _near(env)
        elif "CACHE_L1_HOST" in env and mode in (None, "sidecar"):
            l1 = _tier(env, "CACHE_L1")
            if l1.cluster or l1.sentinels or l1.tls:
                raise ConfigurationError("CACHE_L1_*: the L1 tier must be a plain loopback redis (no TLS, cluster, Sentinel)")
            cap = _seconds(env, "CACHE_L1_TTL_CAP", required=True)
            channel = env.get("CACHE_L1_INVALIDATION_CHANNEL") or None
            if channel is None:
                raise ConfigurationError("CACHE_L1_INVALIDATION_CHANNEL: required when CACHE_L1_HOST is set")
        return cls(l2=l2, l1=l1, name=env.get("CACHE_NAME"), pattern=env.get("CACHE_PATTERN"),
                   default_ttl=_seconds(env, "CACHE_DEFAULT_TTL", required=False),
                   l1_ttl_cap=cap, invalidation_channel=channel, near=near)


def _tier(env: Mapping[str, str], prefix: str) -> TierSettings:
    host = env.get(f"{prefix}_HOST")
    if not host:
        raise ConfigurationError(f"{prefix}_HOST: required (is the container bound to a cache?)")
    sentinels = _sentinels(env, f"{prefix}_SENTINELS")
    master = env.get(f"{prefix}_SENTINEL_MASTER") or None
    if sentinels and master is None:
        raise ConfigurationError(f"{prefix}_SENTINEL_MASTER: required when {prefix}_SENTINELS is set")
    username = env.get(f"{prefix}_USERNAME") or None
    password_file = env.get(f"{prefix}_PASSWORD_FILE") or None
    password = env.get(f"{prefix}_PASSWORD")
    if username is not None and password_file is None and password is None:
        raise ConfigurationError(f"{prefix}_USERNAME: set, but neither {prefix}_PASSWORD_FILE nor {prefix}_PASSWORD is")
    cluster = _bool(env, f"{prefix}_CLUSTER")
    if cluster and sentinels:
        raise ConfigurationError(f"{prefix}_CLUSTER: cluster mode and Sentinel cannot both be set")
    read_host = env.get(f"{prefix}_READ_HOST") or None
    return TierSettings(
        host=host,
        port=_port(env, f"{prefix}_PORT", 6379),
        socket=env.get(f"{prefix}_SOCKET") or None,
        tls=_bool(env, f"{prefix}_TLS"),
        tls_ca_file=env.get(f"{prefix}_TLS_CA_FILE") or None,
        cluster=cluster,
        username=username,
        password_file=password_file,
        password=password,
        sentinels=sentinels,
        sentinel_master=master,
        sentinel_password_file=env.get(f"{prefix}_SENTINEL_PASSWORD_FILE") or None,
        read_host=read_host,
        read_port=_port(env, f"{prefix}_READ_PORT", 6379) if read_host else None,
    )


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "false").strip().lower()
    if raw not in ("true", "false"):
        raise ConfigurationError(f"{name}: must be 'true' or 'false', got {env.get(name)!r}")
    return raw == "true"


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    port = int(raw) if _PORT.match(raw) else -1
    if not 0 < port < 65536:
        raise ConfigurationError(f"{name}: must be a TCP port (1-65535), got {raw!r}")
    return port


def _seconds(env: Mapping[str, str], name: str, required: bool, when: str = "CACHE_L1_HOST is set") -> Optional[float]:
    raw = env.get(name)
    if raw is None or raw == "":
        if required:
            raise ConfigurationError(f"{name}: required when {when}")
        return None
    value = float(raw) if _SECONDS.match(raw) else -1.0
    if not value > 0:
        raise ConfigurationError(f"{name}: must be a number of seconds > 0, got {raw!r}")
    return value


def _sentinels(env: Mapping[str, str], name: str) -> Tuple[Tuple[str, int], ...]:
    raw = env.get(name)
    if not raw:
        return ()
    out = []
    for item in raw.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host:
            raise ConfigurationError(f"{name}: each entry must be host:port, got {item.strip()!r}")
        number = int(port) if _PORT.match(port) else -1
        if not 0 < number < 65536:
            raise ConfigurationError(f"{name}: each entry must be host:port, got {item.strip()!r}")
        out.append((host.strip("[]"), number))
    return tuple(out)


def _count(env: Mapping[str, str], name: str) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        raise ConfigurationError(f"{name}: required when CACHE_L1_MODE is in-process")
    value = int(raw) if _COUNT.match(raw) else 0
    if not value > 0:
        raise ConfigurationError(f"{name}: must be a whole number > 0, got {raw!r}")
    return value


def _near(env: Mapping[str, str]) -> NearSettings:
    tracking = env.get("CACHE_L1_TRACKING", "default")
    if tracking not in ("default", "broadcast"):
        raise ConfigurationError(f"CACHE_L1_TRACKING: must be 'default' or 'broadcast', got {tracking!r}")
    raw = env.get("CACHE_L1_TRACKING_PREFIXES")
    prefixes: Tuple[bytes, ...] = ()
    if tracking == "broadcast":
        if not raw:
            raise ConfigurationError("CACHE_L1_TRACKING_PREFIXES: required when CACHE_L1_TRACKING is broadcast")
        prefixes = tuple(p.encode("utf-8") for p in raw.split(","))
        if any(not p or p != p.strip() for p in prefixes):
            raise ConfigurationError(f"CACHE_L1_TRACKING_PREFIXES: comma-separated prefixes, none empty or with "
                                     f"spaces, got {raw!r}")
    elif raw:
        raise ConfigurationError(f"CACHE_L1_TRACKING_PREFIXES: only used when CACHE_L1_TRACKING is broadcast, got {raw!r}")
    return NearSettings(max_entries=_count(env, "CACHE_L1_MAX_ENTRIES"), max_bytes=_count(env, "CACHE_L1_MAX_BYTES"),
                        tracking=tracking, prefixes=prefixes)
