"""AppDeployment: an app wired to a CacheBinding (Deployment, Service, NetworkPolicy, PodDisruptionBudget).

It never asks which pattern made the binding: the same Deployment name, selector, URN, image and env
var names whatever the cache is, so an app survives its cache changing pattern with one rolling update.
"""
from typing import NotRequired, Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.config.app import AppConfig, Peer
from cache_patterns.config.args import args_type
from cache_patterns.config.images import ImagesConfig
from cache_patterns.core import component as api
from cache_patterns.core import k8s as kb
from cache_patterns.core import placement as placing
from cache_patterns.core import sizing, values
from cache_patterns.core.image_set import DEFAULT_IMAGES, ImageSet
from cache_patterns.core.contract import CHECKSUM_ANNOTATION, CacheBinding

# An app's settings: the keys of a stack file's `apps[]` entry; its name and cache have defaults here.
AppSettingsArgs = args_type(AppConfig, exclude=(), optional=("name", "cache"), name="AppSettingsArgs")
ImagesConfigArgs = args_type(ImagesConfig)


class AppDeploymentArgs(TypedDict):
    """The args of an app: its settings, the binding of its cache, and where it runs."""

    settings: AppSettingsArgs
    """The app: the keys of an `apps[]` entry of a stack file (image, replicas, port, resources, probes,
    env, ingress, reads; docs/reference/config.md), or an AppConfig from `parse_app`. `name` defaults
    to the resource name, `namespace` to `default`, `cache` to the binding's cache."""
    binding: CacheBinding
    """What the app's cache puts into its pods (env, files, sidecars): `cache.binding(namespace)`, or,
    from a program in another language, one of the cache's `bindings` (then `settings.cache` names it)."""
    environment: NotRequired[str]
    """production, staging (a PodDisruptionBudget when the app runs 2+ pods) or development.
    Default: development."""
    cluster_domain: NotRequired[str]
    """The cluster's DNS domain, for the exported Service DNS name. Default: cluster.local."""
    images: NotRequired[ImagesConfigArgs]
    """The stack's `images` block: the app containers' pull policy and the pull Secrets every app pod
    carries (with those its binding's sidecars need). Default: IfNotPresent, none."""


def _probe(path: str | None, port: int, **timing) -> dict:
    check = {"httpGet": {"path": path, "port": port}} if path else {"tcpSocket": {"port": port}}
    # A zero timing is Kubernetes' default and is not stored: sent anyway, it differs on every read.
    return {**check, **{k: v for k, v in timing.items() if v}}


def pod_spec(app: AppConfig, binding: CacheBinding, images: ImageSet = DEFAULT_IMAGES) -> dict:
    """The pod of an app: its container first, then whatever the binding adds. Pure, for tests."""
    p = app.probes
    resources: dict = {
        "requests": {"cpu": sizing.format_millicores(app.resources.cpu),
                     "memory": sizing.format_bytes(app.resources.memory)},
        "limits": {"memory": sizing.format_bytes(app.resources.memory_limit)},
    }
    if app.resources.cpu_limit is not None:
        resources["limits"]["cpu"] = sizing.format_millicores(app.resources.cpu_limit)
    writable = [(f"writable-{i}", path) for i, path in enumerate(app.writable_paths)]
    extra_env = [{"name": k, "value": v} for k, v in sorted(app.env.items())]
    main = {
        "name": app.name,
        **images.given(app.image),
        "ports": [{"name": "http", "containerPort": app.port, "protocol": "TCP"}],
        "env": binding.env(app.wants_password_env) + extra_env,
        "resources": resources,
        "securityContext": kb.container_security_context(app.run_as_user),
        "readinessProbe": _probe(p.readiness_path, app.port, periodSeconds=5, failureThreshold=3,
                                 initialDelaySeconds=p.initial_delay),
        "livenessProbe": _probe(p.liveness_path, app.port, periodSeconds=10, failureThreshold=3,
                                initialDelaySeconds=p.initial_delay),
        # Slow starts get up to a minute before liveness may kill them.
        "startupProbe": _probe(p.startup_path or p.liveness_path, app.port, periodSeconds=2, failureThreshold=30),
        "volumeMounts": binding.mounts() + [{"name": n, "mountPath": path} for n, path in writable],
    }
    spec: dict = {
        "securityContext": kb.pod_security_context(kb.DEFAULT_UID),
        "automountServiceAccountToken": app.mount_service_account_token,
        "containers": [main, *binding.pod.containers],
        "volumes": binding.volumes() + [{"name": n, "emptyDir": {"sizeLimit": "256Mi"}} for n, _ in writable],
        "terminationGracePeriodSeconds": 30,
    }
    if binding.pod.init_containers:
        spec["initContainers"] = list(binding.pod.init_containers)
    return spec


def pod_template(app: AppConfig, binding: CacheBinding, images: ImageSet = DEFAULT_IMAGES) -> dict:
    """The app's pod template, placed (`placement`; by default, with 2+ replicas, spread over nodes and
    zones) and with the pull Secrets of the stack and of its binding's sidecars."""
    selector = kb.app_selector(app)
    template = {"metadata": {"labels": kb.labels(app.name, "app", app.name),
                             "annotations": {CHECKSUM_ANNOTATION: binding.checksum(app.wants_password_env)}},
                "spec": pod_spec(app, binding, images)}
    spread = placing.zone_spread(selector, ("kubernetes.io/hostname", "topology.kubernetes.io/zone")) \
        if app.replicas > 1 else None
    return placing.place(template, placing.merge(app.placement), selector, default_spread=spread,
                         pull_secrets=[*images.pull_secrets, *binding.pod.pull_secrets])


class AppDeployment(pulumi.ComponentResource):
    """An app's Deployment and Service (both named after the app: they are what people and DNS use),
    its ingress NetworkPolicy and, with 2+ pods, a PodDisruptionBudget."""

    deployment: k8s.apps.v1.Deployment
    """The app's Deployment, named after the app."""
    service: k8s.core.v1.Service
    """The app's Service, named after the app."""
    dns_name: pulumi.Output[str]
    """The Service's DNS name in the cluster."""

    def __init__(self, name: str, args: AppDeploymentArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(api.type_token(AppDeployment), name, None, opts)
        args = api.check_args(AppDeployment, name, args, AppDeploymentArgs)
        binding = args["binding"]
        # A binding as values (a cache's `bindings`, passed by a program in another language through the
        # component provider; an Output when it comes from the cache's outputs): rebuilt once known.
        served = None if isinstance(binding, CacheBinding) else pulumi.Output.from_input(binding).apply(values.from_value)
        app = args["settings"]
        if not isinstance(app, AppConfig):
            if served is not None and not app.get("cache"):
                raise api.ArgsError(f"AppDeployment {name!r}", [("settings.cache", "is required with a binding passed "
                                                                 "as a value (a cache's `bindings`): the cache's name")])
            cache = app.get("cache") if served is not None else binding.cache
            app = api.parse(AppDeployment, name, "settings", AppConfig, {"name": name, "cache": cache, **app},
                            {"namespace": "default"})
        environment = args.get("environment") or api.DEFAULT_ENVIRONMENT
        images = args.get("images")
        images = images if isinstance(images, ImageSet) else DEFAULT_IMAGES if images is None else ImageSet(
            api.parse(AppDeployment, name, "images", ImagesConfig, images))
        labels = kb.labels(app.name, "app", app.name)
        selector = kb.app_selector(app)
        child = pulumi.ResourceOptions(parent=self)
        # Explicit names can only be replaced by deleting first (the new object takes the same name).
        named = pulumi.ResourceOptions(parent=self, delete_before_replace=True)

        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={"name": app.name, "namespace": app.namespace, "labels": labels},
            spec={
                "replicas": app.replicas,
                "selector": {"matchLabels": selector},
                "revisionHistoryLimit": 5,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": pod_template(app, binding, images) if served is None
                else served.apply(lambda b: pod_template(app, b, images)),
            },
            opts=named,
        )
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": app.name, "namespace": app.namespace, "labels": labels},
            spec={"type": "ClusterIP", "selector": selector,
                  "ports": [{"name": "http", "port": app.port, "targetPort": "http", "protocol": "TCP"}]},
            opts=named,
        )
        # By default an app admits only pods of its own namespace.
        peers = app.allow_from or (Peer(namespace=app.namespace, pod_labels={}),)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress",
            metadata={"namespace": app.namespace, "labels": labels},
            spec={
                "podSelector": {"matchLabels": selector},
                "policyTypes": ["Ingress"],
                "ingress": [{
                    "from": [kb.namespace_peer(p.namespace, dict(p.pod_labels)) for p in peers],
                    "ports": [{"port": app.port, "protocol": "TCP"}],
                }],
            },
            opts=child,
        )
        if environment != "development" and app.replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata={"namespace": app.namespace, "labels": labels},
                spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}},
                opts=child,
            )
        domain = args.get("cluster_domain") or api.DEFAULT_CLUSTER_DOMAIN
        self.dns_name = pulumi.Output.from_input(f"{app.name}.{app.namespace}.svc.{domain}")
        self.register_outputs({"deployment": self.deployment.metadata.name, "service": self.service.metadata.name,
                               "dnsName": self.dns_name})

