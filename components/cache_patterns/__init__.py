"""cache-patterns: every proven way to put a Redis cache next to apps on Kubernetes, as Pulumi
components that hand apps one connection contract.

The public API is what `__all__` lists (documented in docs/package.md): the components, their
settings models and parsers, the contract types, and the stack-level entry points this
repository's own program uses. Everything else may change in a minor release.
"""
from typing import Any

from cache_patterns.app import AppDeployment, AppDeploymentArgs
from cache_patterns.config.app import AppConfig
from cache_patterns.config.cache import CacheSettings
from cache_patterns.config.errors import ConfigError
from cache_patterns.core.component import AppRef, ArgsError
from cache_patterns.core.contract import CacheBinding, CacheConnection, FileRef, SecretRef, SentinelRef
from cache_patterns.patterns import PATTERNS, BoundCache, BuildContext, Pattern
from cache_patterns.patterns.external import AwsConfig, ExternalCache, ExternalCacheArgs, ExternalSettings
from cache_patterns.patterns.operator import (OperatorInstall, OperatorInstallation, OperatorInstallationArgs,
                                              OperatorSettings, RedisOperatorCache, RedisOperatorCacheArgs)
from cache_patterns.patterns.sidecar import SidecarSettings, sidecar_binding
from cache_patterns.patterns.statefulset import RedisStatefulSet, RedisStatefulSetArgs, StatefulSetSettings
from cache_patterns.patterns.two_tier import L1Settings
from cache_patterns.stack import CacheConfig, StackConfig, parse

# The one place the version is written (pyproject.toml reads it); releases are tagged v<version>.
__version__ = "0.1.0"

# Every component of the package (Pulumi ComponentResources, one args shape): what a component
# provider serves (docs/package.md).
COMPONENTS = (RedisStatefulSet, ExternalCache, RedisOperatorCache, OperatorInstallation, AppDeployment)


def parse_settings(values: dict[str, Any], environment: str = "development") -> CacheSettings:
    """One cache's settings (`{"pattern": ..., ...}`, stack-file keys) as its pattern's settings model,
    with the defaults and checks of `environment` (a component given these settings runs in that
    environment unless told otherwise). Raises ConfigError listing every problem."""
    return _parse_one(CacheConfig, values, "cache", {"environment": environment})


def parse_app(values: dict[str, Any], namespace: str = "default") -> AppConfig:
    """One app's config (stack-file keys); `namespace` is its default namespace."""
    return _parse_one(AppConfig, values, "app", {"namespace": namespace})


def _parse_one(kind: Any, values: dict[str, Any], what: str, context: dict) -> Any:
    from pydantic import TypeAdapter, ValidationError

    from cache_patterns.config.errors import problems_of

    def key(k: str) -> str:
        head, _, rest = k.partition(".")
        k = rest if head in PATTERNS and rest else k      # pydantic's union tag
        return what if k == "<root>" else f"{what}.{k}"

    try:
        return TypeAdapter(kind).validate_python(values, context=context)
    except ValidationError as exc:
        raise ConfigError([(key(k), m) for k, m in problems_of(exc, {}, root=kind)]) from None


__all__ = [
    "__version__", "COMPONENTS",
    # components, their args, and the errors of args
    "AppDeployment", "AppDeploymentArgs", "RedisStatefulSet", "RedisStatefulSetArgs", "ExternalCache",
    "ExternalCacheArgs", "RedisOperatorCache", "RedisOperatorCacheArgs", "OperatorInstallation",
    "OperatorInstallationArgs", "AppRef", "ArgsError",
    # a plain helper: the binding of a sidecar cache (pattern 3 makes no resource)
    "sidecar_binding",
    # settings and parsing
    "AppConfig", "CacheSettings", "SidecarSettings", "StatefulSetSettings", "ExternalSettings", "OperatorSettings",
    "OperatorInstall", "L1Settings", "AwsConfig", "StackConfig", "parse", "parse_settings", "parse_app",
    "ConfigError",
    # the contract
    "CacheBinding", "CacheConnection", "SecretRef", "FileRef", "SentinelRef", "BoundCache",
    # the pattern registry
    "PATTERNS", "Pattern", "BuildContext",
]
