"""App-side client for caches deployed by cache-patterns: a two-tier (pod-local L1 + shared L2) cache.

`TwoTierCache.from_env()` reads the CACHE_* env contract; with no L1 in the pod it is a plain client.
The L1 is a sidecar Redis, or (CACHE_L1_MODE=in-process, from 2.1.0) `NearL1` in this process,
invalidated by the L2 server's client tracking.
`get_or_load()` is the cache-aside loader (single flight per key); `aio.AsyncTwoTierCache` is the
asyncio interface. Importing costs only redis-py; nothing connects until from_env() or the constructor runs.
The major version is the invalidation protocol's (docs/protocol.md).
"""
from .cache import CacheStats, TwoTierCache
from .connect import ClientOptions, PasswordFile
from .errors import CacheError, ConfigurationError, L2Unavailable
from .l1store import L1Store, RedisL1
from .near import NearL1
from .settings import CacheSettings, NearSettings, TierSettings

__version__ = "2.1.0"
PROTOCOL_VERSION = 2

__all__ = [
    "CacheError",
    "CacheSettings",
    "CacheStats",
    "ClientOptions",
    "ConfigurationError",
    "L1Store",
    "L2Unavailable",
    "NearL1",
    "NearSettings",
    "PROTOCOL_VERSION",
    "PasswordFile",
    "RedisL1",
    "TierSettings",
    "TwoTierCache",
    "__version__",
]
