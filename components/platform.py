"""What every stack needs before any cache: explicit providers and the namespaces (restricted PSS)."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from .config import StackConfig
from .operator import RESTRICTED_CHART_VALUES

PSS_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}
OPERATOR_PSS = {"pod-security.kubernetes.io/enforce": "baseline"}


def kubernetes_provider(cfg: StackConfig) -> k8s.Provider:
    """The explicit Kubernetes provider every component inherits: built from this stack's config,
    never from ambient `kubernetes:*` settings, so a stack cannot deploy to the wrong cluster by
    accident of whatever kubeconfig context is current."""
    return k8s.Provider("k8s", context=cfg.kube_context, delete_unreachable=False)


def aws_provider(cfg: StackConfig):
    """The explicit AWS provider, only for stacks with ElastiCache (tags on every resource)."""
    if cfg.aws is None:
        return None
    import pulumi_aws as aws

    tags = {"cache-patterns:stack": cfg.stack, "cache-patterns:environment": cfg.environment, **cfg.aws.tags}
    return aws.Provider("aws", region=cfg.aws.region, default_tags={"tags": tags})


def namespaces(cfg: StackConfig, opts: pulumi.ResourceOptions) -> list[k8s.core.v1.Namespace]:
    """The stack's namespace and every app namespace, labelled to enforce the restricted Pod Security
    Standard. Protected in production: deleting a namespace deletes everything in it."""
    if not cfg.manage_namespaces:
        return []
    names = {a.namespace for a in cfg.apps}
    if any(c.pattern in ("statefulset", "operator") for c in cfg.caches.values()) or monitored_in_namespace(cfg):
        names.add(cfg.namespace)
    # The namespaces of operators this stack installs. An operator whose chart the program cannot
    # make restricted (operator.RESTRICTED_CHART_VALUES) gets `baseline` (restricted still warned
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
    rules and dashboard of the two-tier clients of an external cache."""
    return cfg.observability.enabled and any(c.pattern == "external" and c.l1 is not None and cfg.apps_of(name)
                                             for name, c in cfg.caches.items())
