"""This repository's program, as functions: explicit providers and namespaces, then every cache through
the pattern registry (shared parts first), then the apps. `__main__.py` only calls `deploy()`.
Another program can call the same functions, or use the components directly (see examples/)."""
from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.app import AppDeployment
from cache_patterns.config.app import AppConfig
from cache_patterns.core import deployed
from cache_patterns.core.contract import CacheBinding
from cache_patterns.core.image_set import ImageSet
from cache_patterns.patterns import PATTERNS, BoundCache, BuildContext
from cache_patterns.patterns.operator import install_operators
from cache_patterns.patterns.operator.install import RESTRICTED_CHART_VALUES
from cache_patterns.stack import StackConfig

PSS_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}
OPERATOR_PSS = {"pod-security.kubernetes.io/enforce": "baseline"}


def kubernetes_provider(cfg: StackConfig, gate: pulumi.Input[list] | None = None) -> k8s.Provider:
    """The explicit Kubernetes provider every component inherits: built from this stack's config,
    never from ambient `kubernetes:*` settings, so a stack cannot deploy to the wrong cluster by
    accident of whatever kubeconfig context is current. A context set as a secret stays one."""
    context: Any = cfg.kube_context
    if context is not None and "kubeContext" in cfg.secret_keys:
        context = pulumi.Output.secret(context)
    return k8s.Provider("k8s", context=context, delete_unreachable=False,
                        opts=pulumi.ResourceOptions(depends_on=gate) if gate is not None else None)


def aws_provider(cfg: StackConfig, gate: pulumi.Input[list] | None = None):
    """The explicit AWS provider, only for stacks with ElastiCache (tags on every resource)."""
    if cfg.aws is None:
        return None
    import pulumi_aws as aws

    tags = {"cache-patterns:stack": cfg.stack, "cache-patterns:environment": cfg.environment, **cfg.aws.tags}
    return aws.Provider("aws", region=cfg.aws.region, default_tags={"tags": tags},
                        opts=pulumi.ResourceOptions(depends_on=gate) if gate is not None else None)


def namespaces(cfg: StackConfig, opts: pulumi.ResourceOptions) -> list[k8s.core.v1.Namespace]:
    """The stack's namespace and every app namespace, labelled to enforce the restricted Pod Security
    Standard. Protected in production: deleting a namespace deletes everything in it."""
    if not cfg.manage_namespaces:
        return []
    names = {a.namespace for a in cfg.apps}
    if any(PATTERNS[c.pattern].stack_namespace for c in cfg.caches.values()) or monitored_in_namespace(cfg):
        names.add(cfg.namespace)
    # The namespaces of operators this stack installs. An operator whose chart the program cannot
    # make restricted (install.RESTRICTED_CHART_VALUES) gets `baseline` (restricted still warned
    # about and audited).
    operator_namespaces = {o.namespace for op, o in cfg.operators.items() if o.install}
    baseline = {o.namespace for op, o in cfg.operators.items()
                if o.install and op not in RESTRICTED_CHART_VALUES} - names
    names |= operator_namespaces
    return [
        k8s.core.v1.Namespace(
            f"ns-{name}",
            metadata={"name": name, "labels": {**PSS_LABELS, **(OPERATOR_PSS if name in baseline else {}),
                                               "app.kubernetes.io/part-of": "cache-patterns"}},
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=cfg.production)),
        )
        for name in sorted(names)
    ]


def monitored_in_namespace(cfg: StackConfig) -> bool:
    """Whether observability puts objects in the stack's namespace for a cache that has none there: the
    rules and dashboard of the two-tier clients of a cache outside it (an external cache with `l1`)."""
    return cfg.observability.enabled and any(getattr(c, "l1", None) is not None and cfg.apps_of(name)
                                             for name, c in cfg.caches.items())


def build_caches(cfg: StackConfig, opts: pulumi.ResourceOptions) -> dict[str, BoundCache]:
    """Every cache of the stack, by name: the parts several caches share first (operator installs),
    then each cache through its pattern's build (which adds the two-tier layer where `l1` is set)."""
    used = {c.operator_install for c in cfg.caches.values()} - {None}
    images = ImageSet(cfg.images)
    installs = install_operators(cfg.operators, used, cfg.environment, opts,
                                 secret_values="operators" in cfg.secret_keys, namespace_managed=cfg.manage_namespaces,
                                 placement=cfg.placement, images=images)
    shared = {"operators": cfg.operators, "installs": installs}
    built: dict[str, BoundCache] = {}
    for name, settings in cfg.caches.items():
        context = BuildContext(stack=cfg.stack, environment=cfg.environment, namespace=cfg.namespace,
                               cluster_domain=cfg.cluster_domain, native_sidecars=cfg.native_sidecars,
                               kubernetes_version=cfg.kubernetes_version, apps=cfg.apps_of(name), shared=shared, aws=cfg.aws, password=cfg.passwords.get(name),
                               observability=cfg.observability, placement=cfg.placement, images=images,
                               kube_context=cfg.kube_context)
        built[name] = PATTERNS[settings.pattern].build(name, settings, context, opts)
    return built


def binding(cache: BoundCache, app: AppConfig) -> CacheBinding:
    """What `app` gets from its cache: the binding of its namespace, as its ACL user when it names one."""
    return cache.binding(app.namespace, user=app.cache_user)


def deploy(cfg: StackConfig) -> dict[str, Any]:
    """Everything the stack deploys, and its outputs: config -> providers, namespaces -> caches -> apps.
    The providers wait for the check of the change against what the stack last deployed (a downgrade,
    an unprepared scale-down: core/deployed.py), so a refused change registers no resource at all."""
    gate = deployed.gate(cfg.caches)
    providers = [p for p in (kubernetes_provider(cfg, gate), aws_provider(cfg, gate)) if p is not None]
    made = namespaces(cfg, pulumi.ResourceOptions(provider=providers[0]))
    opts = pulumi.ResourceOptions(providers=providers, depends_on=made)
    caches = build_caches(cfg, opts)
    apps = {
        app.name: AppDeployment(app.name, {"settings": app, "binding": binding(caches[app.cache], app),
                                           "environment": cfg.environment, "cluster_domain": cfg.cluster_domain,
                                           "images": ImageSet(cfg.images)},
                                opts)
        for app in cfg.apps
    }
    out = {
        "environment": cfg.environment,
        "caches": {name: cache.discovery for name, cache in caches.items()},
        "apps": {a.name: {"namespace": a.namespace, "cache": a.cache, "dnsName": apps[a.name].dns_name,
                          "deployment": apps[a.name].deployment.metadata.name} for a in cfg.apps},
    }
    facts = deployed.facts(cfg.caches)
    if facts:
        out[deployed.OUTPUT] = facts
    if cfg.images.pull_secrets:
        out["imagePullSecrets"] = {"secrets": list(cfg.images.pull_secrets), "namespaces": pod_namespaces(cfg)}
    return out


def pod_namespaces(cfg: StackConfig) -> list[str]:
    """Every namespace the stack runs pods in: where the pull Secrets must exist."""
    names = {a.namespace for a in cfg.apps}
    if any(PATTERNS[c.pattern].in_cluster and PATTERNS[c.pattern].stack_namespace for c in cfg.caches.values()):
        names.add(cfg.namespace)
    names |= {o.namespace for o in cfg.operators.values() if o.install}
    return sorted(names)
