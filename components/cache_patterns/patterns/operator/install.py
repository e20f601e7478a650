"""The operators' Helm releases: one per operator a stack installs (`operators.<operator>.install`),
built once, before any cache, and shared by every cache of that operator."""
from typing import Any, Iterable, Mapping, NotRequired, Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.config.args import args_type
from cache_patterns.config.images import ImagesConfig
from cache_patterns.config.placement import Placement
from cache_patterns.core import component as api
from cache_patterns.core import placement as placing
from cache_patterns.patterns.base import parse_pods
from cache_patterns.patterns.operator import charts
from cache_patterns.patterns.operator.chart_values import chart_values
from cache_patterns.patterns.operator.settings import OPERATORS, OperatorInstall

# The default of `operators.<operator>.namespace`, where an operator is assumed to run when the stack
# does not say (the NetworkPolicy admits it there).
DEFAULT_OPERATOR_NAMESPACE = "redis-operator"
# What the restricted Pod Security Standard asks of the operator's own pod, as chart values. The OT
# chart sets no security context by default; its image is distroless `nonroot` (USER 65532:65532, the
# repository's Dockerfile), so it runs under these. Values of the stack (`operators.<op>.values`) win.
# Operators without an entry here run in a namespace that enforces `baseline` instead.
RESTRICTED_CHART_VALUES: dict[str, dict] = {
    "ot-container-kit": {
        "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
    },
}


OperatorInstallArgs = args_type(OperatorInstall)
ImagesConfigArgs = args_type(ImagesConfig)
PlacementArgs = args_type(Placement)


class OperatorInstallationArgs(TypedDict):
    """The args of the operator's Helm release: which operator, its settings, and the environment."""

    operator: str
    """ot-container-kit or spotahome: picks the default chart and repository."""
    settings: NotRequired[OperatorInstallArgs]
    """The keys of the stack file's `operators.<operator>` (namespace, chart, repository, pinned version,
    extra values; docs/reference/config.md), or an OperatorInstall. `version` is required."""
    environment: NotRequired[str]
    """production protects the release from `pulumi destroy` (every cache of the operator depends on
    it). Default: development."""
    namespace_managed: NotRequired[bool]
    """The program creates the operator's namespace; else Helm creates it if missing. Default: false."""
    secret_values: NotRequired[bool]
    """The values came from secret config (`pulumi config set --secret`): pass them as a secret.
    Default: false."""
    images: NotRequired[ImagesConfigArgs]
    """The stack's `images` block: the operator's image (`images.ot-operator`, `images.spotahome-operator`,
    the registry) and the pull Secrets, as chart values. Default: the chart's own."""
    placement: NotRequired[PlacementArgs]
    """The stack's `placement` block, under the install's own `placement`, as chart values. Default: none."""


class OperatorInstallation(pulumi.ComponentResource):
    """The operator's Helm chart, installed once per stack for every cache that uses it."""

    release: k8s.helm.v3.Release
    """The operator's Helm release."""

    def __init__(self, name: str, args: OperatorInstallationArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(api.type_token(OperatorInstallation), name, None, opts)
        args = api.check_args(OperatorInstallation, name, args, OperatorInstallationArgs)
        if args["operator"] not in OPERATORS:
            raise api.ArgsError(f"OperatorInstallation {name!r}", [("operator", f"{args['operator']!r} is not one of "
                                                                               f"{', '.join(OPERATORS)}")])
        settings = args.get("settings") or {}
        settings = api.parse(OperatorInstallation, name, "settings", OperatorInstall,
                             settings if isinstance(settings, OperatorInstall) else {"install": True, **settings})
        install = charts.install_of(args["operator"], settings.release, settings.namespace, settings.chart,
                                    settings.repository, settings.values)
        self.chart, self.repository = install.chart, install.repository
        if settings.chart_path is not None:
            # A local folder (air-gapped clusters): Helm ignores a version for a folder; the config
            # check has compared the pin with the folder's Chart.yaml instead.
            self.repository = None
            source: dict = {"chart": settings.chart_path}
        else:
            source = {"chart": self.chart, "version": settings.version,
                      "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=self.repository)}
        stack_placement, images = parse_pods(OperatorInstallation, name, args)
        derived = chart_values(args["operator"], placing.merge(stack_placement, settings.placement), images,
                               install.release, settings.values)
        values = _merged(_merged(RESTRICTED_CHART_VALUES.get(args["operator"], {}), derived), settings.values)
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            # An explicit release name, distinct per operator (config refuses clashing installs):
            # Spotahome's chart names its objects after it.
            name=install.release,
            **source,
            namespace=settings.namespace,
            # Where the program manages namespaces it creates (labels, deletes) this one too: Helm
            # would leave the one it created behind after `pulumi destroy`.
            create_namespace=not args.get("namespace_managed", False),
            values=pulumi.Output.secret(values) if args.get("secret_values") else values,
            # Roll back a failed upgrade instead of leaving a half-upgraded controller.
            atomic=True,
            # Children do not inherit the component's depends_on, and Helm fails at once (no retry)
            # when the namespace is not there yet: wait for the stack's namespaces explicitly.
            opts=pulumi.ResourceOptions(parent=self, protect=args.get("environment") == "production",
                                        delete_before_replace=True,
                                        depends_on=(opts.depends_on if opts else None)),
        )
        self.register_outputs({"release": self.release.name, "namespace": settings.namespace,
                               "chart": self.chart, "version": settings.version})


def _merged(base: Any, override: Any) -> Any:
    """`override` over `base`, maps merged key by key (Helm's own rule for values)."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merged(base.get(k), v) for k, v in override.items()}}
    return override if override is not None else base


def install_operators(operators: Mapping[str, OperatorInstall], used: Iterable[str], environment: str,
                      opts: pulumi.ResourceOptions, secret_values: bool = False,
                      namespace_managed: bool = True, placement: Any = None,
                      images: Any = None) -> dict[str, OperatorInstallation]:
    """The stack's Helm release of each operator that a cache uses and the stack installs."""
    return {op: OperatorInstallation(f"operator-{op}", {"operator": op, "settings": operators[op],
                                                        "environment": environment, "secret_values": secret_values,
                                                        "namespace_managed": namespace_managed,
                                                        "placement": placement, "images": images},
                                     opts)
            for op in sorted(set(used)) if op in operators and operators[op].install}
