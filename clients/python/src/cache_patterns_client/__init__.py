"""App-side client for caches deployed by cache-patterns: a two-tier (pod-local L1 + shared L2) cache.

`TwoTierCache.from_env()` reads the CACHE_* env contract; with no L1 in the pod it is a plain client.
Importing costs only redis-py; nothing connects until from_env() or the constructor runs.
"""
from .cache import CacheStats, TwoTierCache
from .connect import ClientOptions, PasswordFile
from .errors import CacheError, ConfigurationError, L2Unavailable
from .settings import CacheSettings, TierSettings

__version__ = "0.1.0"

__all__ = [
    "CacheError",
    "CacheSettings",
    "CacheStats",
    "ClientOptions",
    "ConfigurationError",
    "L2Unavailable",
    "PasswordFile",
    "TierSettings",
    "TwoTierCache",
    "__version__",
]
