"""The one small interface every pattern implements, and what a pattern's build gets from the stack.

A pattern is a folder under `patterns/` whose `__init__.py` exports `PATTERN`: its `tag` (the value of
`pattern:` in a cache's config), its `settings` model, `build(name, settings, context, opts)` (which
returns a BoundCache: the binding of an app namespace, and the cache's discovery outputs), `shape`,
and what the rest of the program asks of a pattern: where it runs, whether it needs the stack's
namespace, its one-line summary and its row in the docs. What depends on a cache's own values (its
cross-key problems, what it gives the planner) are methods of its settings model (`CacheSettings`).
Nothing outside the folder names a pattern: every list of them is made from the registry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

import pulumi

from cache_patterns.config.app import AppConfig
from cache_patterns.core.contract import CacheBinding


class BoundCache(Protocol):
    """What every pattern gives the program: a binding per app namespace (as an ACL user where the
    pattern has them), and discovery outputs."""

    def binding(self, namespace: str, user: str | None = None) -> CacheBinding: ...

    @property
    def discovery(self) -> dict[str, pulumi.Input]: ...


@dataclass(frozen=True, kw_only=True)
class BuildContext:
    """What one cache's build needs from the rest of the stack."""

    stack: str
    environment: str
    namespace: str
    cluster_domain: str
    native_sidecars: bool
    kubernetes_version: str = "1.33"
    apps: tuple[AppConfig, ...] = ()
    # Parts shared by several caches and built once, before any cache (operator installations).
    shared: Mapping[str, Any] = field(default_factory=dict)
    # Stack-level settings only some patterns read (the AWS network, an endpoint's password).
    aws: Any = None
    password: pulumi.Input[str] | None = None
    # The stack's `observability` block (who may scrape, what is made); None: off.
    observability: Any = None
    # The stack's `placement` (a Placement; None: none) and `images` (an ImagesConfig; None: defaults).
    placement: Any = None
    images: Any = None
    # The kubeconfig context of the stack's Kubernetes provider (`kubeContext`; None: the current one).
    kube_context: str | None = None

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def app_namespaces(self) -> list[str]:
        return sorted({a.namespace for a in self.apps})


def parse_settings(component: type, name: str, args: Mapping[str, Any], model: type) -> tuple[Any, Any]:
    """A cache component's `settings` and `observability` args as parsed models, with the defaults and
    checks of its `environment` arg (a parsed model is taken as it is). Exporters default to whether
    observability is on, as in a stack file."""
    from cache_patterns.core import component as api
    from cache_patterns.observability.settings import ObservabilityConfig, defaults

    env = args.get("environment") or api.DEFAULT_ENVIRONMENT
    obs = args.get("observability")
    obs = defaults() if obs is None else api.parse(component, name, "observability", ObservabilityConfig, obs,
                                                   {"environment": env})
    settings = args.get("settings") or {}
    if not isinstance(settings, model):
        settings = {"pattern": model.model_fields["pattern"].annotation.__args__[0], **settings}
    return api.parse(component, name, "settings", model, settings,
                     {"environment": env, "observability": obs.enabled}), obs


def parse_pods(component: type, name: str, args: Mapping[str, Any]) -> tuple[Any, Any]:
    """A component's `placement` and `images` args (the stack's blocks) as a Placement and an ImageSet:
    parsed models as they are, plain values through their checks, absent ones as the defaults."""
    from cache_patterns.config.images import ImagesConfig
    from cache_patterns.config.placement import NO_PLACEMENT, Placement
    from cache_patterns.core import component as api
    from cache_patterns.core.image_set import DEFAULT_IMAGES, ImageSet

    placement, images = args.get("placement"), args.get("images")
    placement = NO_PLACEMENT if placement is None else api.parse(component, name, "placement", Placement, placement)
    if not isinstance(images, ImageSet):
        images = DEFAULT_IMAGES if images is None else ImageSet(api.parse(component, name, "images", ImagesConfig,
                                                                          images))
    return placement, images


@dataclass(frozen=True)
class PatternDoc:
    """How the docs present a pattern: its number and title, and its row of the README's table."""

    number: int
    title: str
    config: str      # how a stack file selects it
    choose: str      # choose it when
    costs: str       # what it costs
    page: str        # its page, relative to the repository (in docs/patterns/, or the pattern's own folder)

    @property
    def name(self) -> str:
        """How lists of patterns name it (two_tier.md -> two-tier)."""
        return self.page.rsplit("/", 1)[-1].removesuffix(".md").removesuffix("README").replace("_", "-") or \
            self.title.lower()

    def row(self) -> str:
        cells = [f"[{self.number}. {self.title}]({self.page})", self.config, self.choose, self.costs]
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


@dataclass(frozen=True)
class Pattern:
    """`build` makes the cache's resources; `shape` is the binding an app would get, with placeholder
    values and no resource, so config can check the contract (the variables an app reads) before
    anything exists. A test keeps `shape` and `build` in step for every pattern."""

    tag: str
    settings: type
    build: Callable[[str, Any, BuildContext, pulumi.ResourceOptions], BoundCache]
    shape: Callable[[str, Any, AppConfig], CacheBinding]
    summary: str
    """One line: what the pattern is (the description of `pattern: <tag>`)."""
    doc: PatternDoc
    in_cluster: bool
    """It runs Redis pods in the cluster (the planner sizes them)."""
    stack_namespace: bool
    """It puts objects in the stack's namespace, which the program then creates."""
    component: type | None = None
    """Its ComponentResource class, when it makes one."""
    examples: Mapping[str, dict] = field(default_factory=dict)
    """Small valid configs of the pattern (one per kind), by name: the tests run every one."""
