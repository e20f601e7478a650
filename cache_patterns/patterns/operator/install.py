"""The operators' Helm releases: one per operator a stack installs (`operators.<operator>.install`),
built once, before any cache, and shared by every cache of that operator."""
from __future__ import annotations

from typing import Iterable, Mapping, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.patterns.operator import charts
from cache_patterns.patterns.operator.settings import OperatorInstall

# The default of `operators.<operator>.namespace`, where an operator is assumed to run when the stack
# does not say (the NetworkPolicy admits it there).
DEFAULT_OPERATOR_NAMESPACE = "redis-operator"


class OperatorInstallationArgs(TypedDict):
    operator: str
    """ot-container-kit or spotahome: picks the default chart and repository."""
    settings: OperatorInstall
    """Namespace, chart, repository, pinned version and extra values of the Helm release."""
    production: bool
    """Protect the release from `pulumi destroy` (every cache of the operator depends on it)."""
    secret_values: NotRequired[bool]
    """The values came from secret config (`pulumi config set --secret`): pass them as a secret."""


class OperatorInstallation(pulumi.ComponentResource):
    """The operator's Helm chart, installed once per stack for every cache that uses it."""

    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: OperatorInstallationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cache-patterns:index:OperatorInstallation", name, None, opts)
        settings = args["settings"]
        install = charts.install_of(args["operator"], settings.release, settings.namespace, settings.chart,
                                    settings.repository, settings.values)
        self.chart, self.repository = install.chart, install.repository
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            # An explicit release name, distinct per operator (config refuses clashing installs):
            # Spotahome's chart names its objects after it.
            name=install.release,
            chart=self.chart,
            version=settings.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=self.repository),
            namespace=settings.namespace,
            create_namespace=True,
            values=pulumi.Output.secret(dict(settings.values)) if args.get("secret_values") else dict(settings.values),
            # Roll back a failed upgrade instead of leaving a half-upgraded controller.
            atomic=True,
            opts=pulumi.ResourceOptions(parent=self, protect=args["production"], delete_before_replace=True),
        )
        self.register_outputs({"release": self.release.name, "namespace": settings.namespace,
                               "chart": self.chart, "version": settings.version})


def install_operators(operators: Mapping[str, OperatorInstall], used: Iterable[str], production: bool,
                      opts: pulumi.ResourceOptions, secret_values: bool = False) -> dict[str, OperatorInstallation]:
    """The stack's Helm release of each operator that a cache uses and the stack installs."""
    return {op: OperatorInstallation(f"operator-{op}", {"operator": op, "settings": operators[op],
                                                        "production": production, "secret_values": secret_values},
                                     opts)
            for op in sorted(set(used)) if op in operators and operators[op].install}
