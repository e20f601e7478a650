"""What every component of the package shares: its type token, made from its class name (so the two
never disagree); the check of its args (a misspelt or missing arg is named, with what is allowed,
instead of a KeyError); the apps a cache admits; and what the component knows without being told
(its cache name is its resource name, its stack the current stack).

No `from __future__ import annotations` in the component modules: Pulumi's component analyzer
(pulumi.provider.experimental) reads their annotations at run time.
"""
from dataclasses import dataclass
from typing import Any, Mapping, NotRequired, TypedDict

import pulumi
from pydantic import ValidationError

from cache_patterns.config.base import unknown_key
from cache_patterns.config.errors import ConfigError, problems_of
from cache_patterns.config.types import show

PACKAGE = "cache-patterns"
DEFAULT_CLUSTER_DOMAIN = "cluster.local"
DEFAULT_ENVIRONMENT = "development"
DEFAULT_KUBERNETES_VERSION = "1.33"
# Native sidecars (init containers with restartPolicy: Always) are on by default from 1.29.
NATIVE_SIDECAR_SINCE = (1, 29)


def type_token(cls: type) -> str:
    """`cache-patterns:index:<Class>`: Pulumi's component package convention (one module, `index`)."""
    return f"{PACKAGE}:index:{cls.__name__}"


class ArgsError(ConfigError):
    """Every problem of one component's args. A pulumi.RunError: the CLI prints it without a traceback."""

    def __init__(self, component: str, problems: list[tuple[str, str]]):
        self.component = component
        super().__init__(problems)
        n = len(self.problems)
        lines = "\n".join(f"  - {key}: {msg}" for key, msg in self.problems)
        self.args = (f"invalid args of {component} ({n} problem{'s' if n != 1 else ''}):\n{lines}",)

    def __str__(self) -> str:
        return self.args[0]


def check_args(component: type, name: str, args: Any, spec: type) -> dict[str, Any]:
    """`args` as a dict of `spec`'s keys (a TypedDict): an unknown key (a misspelling) or a missing
    required one is an ArgsError naming the component, the key and what it takes."""
    where = f"{component.__name__} {name!r}"
    if not isinstance(args, Mapping):
        raise ArgsError(where, [("args", f"must be a dict ({spec.__name__}), got {show(args)}")])
    allowed = list(spec.__annotations__)
    problems = [(str(key), unknown_key(key, allowed).replace("unknown key", "unknown arg"))
                for key in args if key not in allowed]
    problems += [(key, f"is required ({spec.__name__}: {', '.join(sorted(spec.__required_keys__))})")
                 for key in allowed if key in spec.__required_keys__ and key not in args]
    if problems:
        raise ArgsError(where, problems)
    return dict(args)


def parse(component: type, name: str, key: str, model: type, value: Any, context: dict | None = None) -> Any:
    """An arg holding config (a cache's settings, an app): a parsed model as is, plain values (stack-file
    keys or attribute names) through the model's checks, every problem named under `key`."""
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value, context=context or {})
    except ValidationError as exc:
        problems = [(f"{key}.{k}" if k != "<root>" else key, m) for k, m in problems_of(exc, {}, root=model)]
        raise ArgsError(f"{component.__name__} {name!r}", problems) from None


class AppRef(TypedDict):
    """An app bound to a cache: the cache admits its pods and puts its password where they run."""

    name: str
    """The app's name (its pods carry it in `app.kubernetes.io/name`)."""
    namespace: str
    """The app's namespace: the cache's password Secret (and CA) is made there."""
    cache_user: NotRequired[str]
    """The ACL user the app authenticates as (pattern statefulset with aclUsers). Default: the default user."""


@dataclass(frozen=True)
class Client:
    """An app as a cache sees it (from an AppRef, or an app's parsed config)."""

    name: str
    namespace: str
    cache_user: str | None = None


def clients(apps: Any) -> tuple[Client, ...]:
    """The `apps` arg, whichever form each app takes (an AppRef dict, or a parsed AppConfig)."""
    out = []
    for app in apps or ():
        get = app.get if isinstance(app, Mapping) else (lambda k, d=None, a=app: getattr(a, k, d))
        out.append(Client(get("name"), get("namespace"), get("cache_user")))
    return tuple(out)


def stack() -> str:
    """The current stack: part of every name a cache derives."""
    return pulumi.get_stack()


def native_sidecars(args: Mapping[str, Any]) -> bool:
    """Whether the `kubernetes_version` arg (a minor version such as "1.33") runs native sidecars."""
    version = str(args.get("kubernetes_version") or DEFAULT_KUBERNETES_VERSION)
    try:
        major, minor = (int(p) for p in version.split(".")[:2])
    except ValueError:
        raise ArgsError("kubernetes_version", [("kubernetes_version", f"must be a minor version such as "
                                                                      f"\"1.33\", got {show(version)}")]) from None
    return (major, minor) >= NATIVE_SIDECAR_SINCE


def environment(args: Mapping[str, Any], settings: Any = None) -> str:
    """The `environment` arg, else the one the settings were parsed for, else development."""
    return args.get("environment") or getattr(settings, "environment", None) or DEFAULT_ENVIRONMENT
