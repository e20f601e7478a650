"""Pattern 1, external: a managed cache (AWS ElastiCache, node-based or serverless) or an existing
endpoint (GCP Memorystore, Azure Cache for Redis, any Redis), wired into every app namespace.

Choose it when nobody should operate Redis: failover, patching, snapshots and encryption are the
provider's. It costs money by the hour (node type x nodes, or serverless ECPUs and GB-hours), pays
for cross-AZ traffic, and puts a network hop outside the cluster in front of every request.
"""
from typing import NotRequired, Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.config.args import args_type
from cache_patterns.config.images import ImagesConfig
from cache_patterns.core import component as api
from cache_patterns.core import k8s as kb
from cache_patterns.core import naming, passwords
from cache_patterns.core import values
from cache_patterns.core.contract import CacheBinding, CacheConnection, FileRef, SecretRef
from cache_patterns.observability import component as monitoring
from cache_patterns.observability.settings import ObservabilityConfig
from cache_patterns.patterns.base import BuildContext, parse_pods, parse_settings
from cache_patterns.patterns.external import elasticache
from cache_patterns.patterns.external import monitoring as watch
from cache_patterns.patterns.external.elasticache import PRIMARY_PORT, SERVERLESS_READ_PORT, Endpoint
from cache_patterns.patterns.external.endpoint import in_cluster_name
from cache_patterns.patterns.external.network import network_of
from cache_patterns.patterns.external.settings import TAG, AwsConfig, ExternalSettings
from cache_patterns.patterns.two_tier.component import discovery_with_l1, with_l1

__all__ = ["ExternalCache", "ExternalCacheArgs", "build", "PRIMARY_PORT", "SERVERLESS_READ_PORT"]

ExternalSettingsArgs = args_type(ExternalSettings)
AwsConfigArgs = args_type(AwsConfig)
ObservabilityConfigArgs = args_type(ObservabilityConfig)
ImagesConfigArgs = args_type(ImagesConfig)


class ExternalCacheArgs(TypedDict):
    """The args of every cache component (settings, where, who, environment), and AWS's."""

    settings: NotRequired[ExternalSettingsArgs]
    """The cache's settings: the keys of `caches.<name>` with `pattern: external` (kind, node type, replicas,
    auth, TLS, endpoint host; docs/reference/config.md), or an ExternalSettings from `parse_settings`.
    Default: every key's default (kind: elasticache, which needs `nodeType` or `capacity`)."""
    namespace: NotRequired[str]
    """The cache's namespace: where the two-tier clients' PrometheusRule and dashboard go. Default: the
    stack name."""
    apps: NotRequired[list[api.AppRef]]
    """The apps bound to this cache: each of their namespaces gets the password Secret (and CA ConfigMap,
    in-cluster Service). Default: none."""
    environment: NotRequired[str]
    """production protects and retains the cache itself (never the token: rotating it replaces its
    generator). Default: the environment the settings were parsed for, else development."""
    cluster_domain: NotRequired[str]
    """The cluster's DNS domain, for the in-cluster Service host names. Default: cluster.local."""
    kubernetes_version: NotRequired[str]
    """The cluster's Kubernetes minor version: from 1.29 the two-tier L1 is a native sidecar. Default: 1.33."""
    observability: NotRequired[ObservabilityConfigArgs]
    """The stack's `observability` block: CloudWatch alarms and their SNS topic for ElastiCache, and the
    two-tier clients' rules and dashboard. Default: off."""
    images: NotRequired[ImagesConfigArgs]
    """The stack's `images` block: where the two-tier L1's image comes from, and the pull Secrets the app
    pods carry for it. Default: the catalogue's (core/image_set.py)."""
    aws: NotRequired[AwsConfigArgs]
    """Region and network; required for the ElastiCache kinds, unused for kind: endpoint."""
    password: NotRequired[pulumi.Input[str]]
    """kind: endpoint: the password (a secret); absent without auth."""


class ExternalCache(pulumi.ComponentResource):
    """An ElastiCache replication group or serverless cache, or an existing endpoint, as a BoundCache:
    the same binding shape as every other pattern, with the password in a Secret of each app namespace."""

    host: pulumi.Output[str]
    """The primary endpoint's host (for an endpoint without TLS, the in-cluster Service in front of it)."""
    port: pulumi.Output[int]
    """The primary endpoint's port."""
    read_host: Optional[pulumi.Output[str]]
    """The read endpoint's host, where the cache has replicas to read from."""
    bindings: pulumi.Output[dict[str, CacheBinding]]
    """What each app namespace's pods get from this cache (env, files, sidecars), keyed `<namespace>`
    (or `<namespace>/<user>` for the apps of an ACL user): a program in another language passes one to
    AppDeployment's `binding` (in Python, `binding(namespace)` gives the same)."""

    def __init__(self, name: str, args: ExternalCacheArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(api.type_token(ExternalCache), name, None, opts)
        args = api.check_args(ExternalCache, name, args, ExternalCacheArgs)
        s, self._obs = parse_settings(ExternalCache, name, args, ExternalSettings)
        self._name, self._settings, self._stack = name, s, api.stack()
        self._production = api.environment(args, s) == "production"
        self._native = api.native_sidecars(args)
        _, self._images = parse_pods(ExternalCache, name, args)
        self._labels = kb.labels(name, "cache", naming.instance(self._stack, name))
        self._ids: dict[str, pulumi.Input[str]] = {}
        self._alarm_topic = watch.alarm_topic(self, name, self._stack, s, self._obs, self._tags)
        if self._alarm_topic is not None:
            self._ids["alarmTopicArn"] = self._alarm_topic
        if s.kind == "endpoint":
            endpoint = Endpoint(host=s.host, port=s.port, read_host=s.read_host,
                                 read_port=(s.read_port or s.port) if s.read_host is not None else None,
                                 username=s.username, password=args.get("password") if s.auth else None)
        else:
            if args.get("aws") is None:
                raise api.ArgsError(f"ExternalCache {name!r}", [("aws", f"is required with kind: {s.kind} "
                                                                        f"(region and network)")])
            aws_cfg = api.parse(ExternalCache, name, "aws", AwsConfig, args["aws"])
            network = network_of(aws_cfg, name, self)
            ports = [PRIMARY_PORT, SERVERLESS_READ_PORT] if s.kind == "elasticache-serverless" else [s.port]
            sg = elasticache.security_group(self, network, ports)
            self._ids["securityGroupId"] = sg.id
            make = elasticache.replication_group if s.kind == "elasticache" else elasticache.serverless
            endpoint = make(self, network, sg)

        self.host = pulumi.Output.from_input(endpoint.host)
        self.port = pulumi.Output.from_input(endpoint.port)
        self.read_host = pulumi.Output.from_input(endpoint.read_host) if endpoint.read_host is not None else None
        self._endpoint = endpoint
        namespaces = sorted({a.namespace for a in api.clients(args.get("apps"))})
        domain = args.get("cluster_domain") or api.DEFAULT_CLUSTER_DOMAIN
        self._bindings = {ns: self._bind(ns, endpoint, domain) for ns in namespaces}
        self.bindings = values.bindings(self, api.clients(args.get("apps")))
        self.monitoring = monitoring.attach(name, self, watch.monitoring_target(
            self._stack, name, s, namespaces, args.get("namespace") or self._stack, self._labels), self._obs)
        self.register_outputs({"host": self.host, "port": self.port,
                               **({"readHost": self.read_host} if self.read_host is not None else {}), **self._ids})

    # -----------------------------------------------------------------------------------------
    # What the program sees.

    def binding(self, namespace: str, user: Optional[str] = None) -> CacheBinding:
        """The binding of the apps of `namespace` (with the L1 sidecar when the settings have `l1`)."""
        if user is not None:
            raise ValueError(f"caches.{self._name}: an external cache takes no ACL user from config")
        if namespace not in self._bindings:
            raise KeyError(f"caches.{self._name}: no binding for namespace {namespace!r} "
                           f"(bound namespaces: {', '.join(self._bindings) or 'none'}; list its apps in `apps`)")
        return with_l1(self._bindings[namespace], self._stack, self._settings, self._native, self._images)

    @property
    def discovery(self) -> dict[str, pulumi.Input]:
        s, e = self._settings, self._endpoint
        out: dict[str, pulumi.Input] = {
            "pattern": TAG, "kind": s.kind, "host": e.host, "port": e.port, "tls": s.tls,
            "cluster": s.cluster_mode, "auth": s.auth,
        }
        if s.kind != "endpoint":
            out.update(engine=s.engine, version=s.engine_version, **self._ids)
        if e.read_host is not None:
            out.update(readHost=e.read_host, readPort=e.read_port)
        if e.username is not None:
            out["username"] = e.username
        if self.monitoring is not None:
            out["monitoring"] = self.monitoring.discovery
        return discovery_with_l1(out, self._stack, self._name, s)

    def _tags(self, physical: str) -> dict[str, str]:
        # Stack and environment come from the provider's default tags.
        return {"Name": physical, "cache-patterns:cache": self._name}

    # -----------------------------------------------------------------------------------------
    # One app namespace's view.

    def _bind(self, ns: str, e: Endpoint, cluster_domain: str) -> CacheBinding:
        s = self._settings
        host, read_host = e.host, e.read_host
        ca = None
        if s.kind == "endpoint" and not s.tls:
            # A stable in-cluster name only without TLS: a TLS client checks the certificate against
            # the host it dialled, which must then be the real endpoint.
            host = in_cluster_name(self, self._stack, self._name, self._labels, ns, "", s.host, s.port,
                                   cluster_domain)
            if e.read_host is not None:
                read_host = in_cluster_name(self, self._stack, self._name, self._labels, ns, "read", s.read_host,
                                            e.read_port, cluster_domain)
        if s.kind == "endpoint" and s.tls and s.ca_certificate is not None:
            config_map = k8s.core.v1.ConfigMap(
                f"{self._name}-ca-{ns}", metadata={"namespace": ns, "labels": self._labels},
                data={"ca.crt": s.ca_certificate}, opts=pulumi.ResourceOptions(parent=self))
            ca = FileRef(kind="configMap", name=config_map.metadata.name)
        secret: SecretRef | None = None
        if e.password is not None:
            secret = passwords.namespace_secret(f"{self._name}-password-{ns}", ns, e.password, self, self._labels)
        connection = CacheConnection(
            host=host, port=e.port, tls=s.tls, ca=ca, username=e.username, password=secret,
            read_host=read_host, read_port=e.read_port if read_host is not None else None,
            cluster=s.cluster_mode,
        )
        return CacheBinding(cache=self._name, pattern=TAG, connection=connection,
                            default_ttl_seconds=s.default_ttl_seconds)


def build(name: str, settings: ExternalSettings, context: BuildContext, opts: pulumi.ResourceOptions) -> ExternalCache:
    """The registry's entry point."""
    args: dict = {
        "settings": settings, "namespace": context.namespace, "apps": list(context.apps),
        "environment": context.environment, "cluster_domain": context.cluster_domain,
        "kubernetes_version": context.kubernetes_version, "observability": context.observability,
        "images": context.images,
    }
    if context.aws is not None:
        args["aws"] = context.aws
    if context.password is not None:
        # The one place the plaintext of an endpoint password meets a resource: wrapped here.
        args["password"] = pulumi.Output.secret(context.password)
    return ExternalCache(name, args, opts)
