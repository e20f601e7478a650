"""Pattern 5, operator: a Redis operator's custom resource (OT-CONTAINER-KIT RedisReplication with
Sentinel or RedisCluster, or Spotahome RedisFailover), optionally with the operator's Helm chart.

Choose it where a platform team already runs an operator and wants failover, resharding and upgrades
handled in-cluster by it. It costs a controller with cluster-wide rights, CRDs to upgrade by hand, and
behaviour you only control through the fields its CRD offers (checked offline by tools/crds.py).
"""
from typing import Any, NotRequired, Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.config.app import AppConfig
from cache_patterns.config.args import args_type
from cache_patterns.config.images import ImagesConfig
from cache_patterns.config.placement import Placement
from cache_patterns.core import component as api
from cache_patterns.core import k8s as kb
from cache_patterns.core import naming, passwords, tls
from cache_patterns.core import placement as placing
from cache_patterns.core import values
from cache_patterns.core.contract import CacheBinding, CacheConnection, FileRef, SecretRef, SentinelRef
from cache_patterns.observability import component as monitoring
from cache_patterns.observability import scrape
from cache_patterns.observability.settings import ObservabilityConfig
from cache_patterns.patterns.base import BuildContext, parse_pods, parse_settings
from cache_patterns.patterns.operator import pods
from cache_patterns.patterns.operator.install import DEFAULT_OPERATOR_NAMESPACE
from cache_patterns.patterns.operator.monitoring import monitoring_target
from cache_patterns.patterns.operator.settings import TAG, OperatorSettings
from cache_patterns.patterns.operator.specs import (API_VERSIONS, EXPORTER_PORT, KINDS, MASTER_NAME,
                                                    OT_EXTRA_CONF_KEY, REDIS_PORT, SENTINEL_PORT,
                                                    SPOTAHOME_SENTINEL_EXPORTER_PORT, endpoints, maxmemory,
                                                    ot_cluster_spec, ot_extra_conf, ot_replication_spec, pod_selector,
                                                    spotahome_spec)
from cache_patterns.patterns.two_tier.component import discovery_with_l1, with_l1

__all__ = ["RedisOperatorCache", "RedisOperatorCacheArgs", "build", "shape"]

OperatorSettingsArgs = args_type(OperatorSettings)
ObservabilityConfigArgs = args_type(ObservabilityConfig)
ImagesConfigArgs = args_type(ImagesConfig)
PlacementArgs = args_type(Placement)


class RedisOperatorCacheArgs(TypedDict):
    """The args of every cache component (settings, where, who, environment), and the operator's."""

    settings: NotRequired[OperatorSettingsArgs]
    """The cache's settings: the keys of `caches.<name>` with `pattern: operator` (kind, replicas, shards,
    Sentinels, sizing, storage, auth, TLS, exporter; docs/reference/config.md), or an OperatorSettings
    from `parse_settings`. Default: every key's default (an OT-CONTAINER-KIT RedisReplication)."""
    namespace: NotRequired[str]
    """Namespace of the custom resource and of the pods the operator creates. Default: the stack name."""
    apps: NotRequired[list[api.AppRef]]
    """The apps bound to this cache: a password Secret in each of their namespaces, and the only pods the
    NetworkPolicy admits besides the cache's own and the operator's. Default: none."""
    environment: NotRequired[str]
    """production protects the resource and keeps its volumes; staging and production add PDBs.
    Default: the environment the settings were parsed for, else development."""
    cluster_domain: NotRequired[str]
    """The cluster's DNS domain, for the Service names handed to apps. Default: cluster.local."""
    kubernetes_version: NotRequired[str]
    """The cluster's Kubernetes minor version: from 1.29 the two-tier L1 is a native sidecar. Default: 1.33."""
    observability: NotRequired[ObservabilityConfigArgs]
    """The stack's `observability` block: who may scrape the exporters, and whether PodMonitors, rules and
    a dashboard are made. Default: off."""
    images: NotRequired[ImagesConfigArgs]
    """The stack's `images` block: registry, per-image overrides and the pull Secrets the custom resource
    hands the operator for its pods. Default: the catalogue's (core/image_set.py)."""
    placement: NotRequired[PlacementArgs]
    """The stack's `placement` block, under the cache's own `placement`, written into the custom resource's
    fields (docs/production.md). Default: none (the operator's defaults)."""
    operator_namespace: NotRequired[str]
    """Where the operator runs: it connects to Redis and Sentinel to configure them. Default: redis-operator."""
    install: NotRequired[k8s.helm.v3.Release]
    """The operator's Helm release, when this stack installs it: the custom resource waits for it (its
    chart brings the CRD). Default: the operator is assumed installed."""


class RedisOperatorCache(pulumi.ComponentResource):
    """One cache run by an operator: its custom resource, the password Secret it references, TLS,
    a NetworkPolicy, and a password Secret per app namespace. A BoundCache."""

    host: pulumi.Output[str]
    """The host apps write to (the operator's master Service, or the cluster's Service)."""
    port: pulumi.Output[int]
    """The port apps connect to."""
    read_host: Optional[pulumi.Output[str]]
    """The host apps read from, where the operator makes a read Service."""
    sentinels: Optional[pulumi.Output[list[str]]]
    """`host:port` of every Sentinel (ot-replication, spotahome-failover)."""
    resource_name: pulumi.Output[str]
    """The name of the custom resource the operator reconciles."""
    bindings: pulumi.Output[dict[str, CacheBinding]]
    """What each app namespace's pods get from this cache (env, files, sidecars), keyed `<namespace>`
    (or `<namespace>/<user>` for the apps of an ACL user): a program in another language passes one to
    AppDeployment's `binding` (in Python, `binding(namespace)` gives the same)."""

    def __init__(self, name: str, args: RedisOperatorCacheArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(api.type_token(RedisOperatorCache), name, None, opts)
        args = api.check_args(RedisOperatorCache, name, args, RedisOperatorCacheArgs)
        s, obs = parse_settings(RedisOperatorCache, name, args, OperatorSettings)
        self.settings, self.cache, self.stack = s, name, api.stack()
        self.namespace = args.get("namespace") or self.stack
        self.environment = api.environment(args, s)
        self.native_sidecars = api.native_sidecars(args)
        self.apps = api.clients(args.get("apps"))
        self.cluster_domain = args.get("cluster_domain") or api.DEFAULT_CLUSTER_DOMAIN
        self.stack_placement, self.images = parse_pods(RedisOperatorCache, name, args)
        self.name_of_resource = naming.operator_resource(self.stack, name, s.kind)
        self.labels = kb.labels(name, "cache", self.name_of_resource)
        self.endpoints = endpoints(s.kind, self.name_of_resource, self.namespace, self.cluster_domain, s.sentinels)
        app_namespaces = sorted({a.namespace for a in self.apps})
        self._passwords: dict[str, SecretRef] = {}
        server_secret = self._make_passwords(name, app_namespaces) if s.auth else None
        tls_secret, self._ca, waits = self._tls(name, app_namespaces)
        if args.get("install") is not None:
            waits.append(args["install"])
        self.resource = self._make_resource(name, server_secret, tls_secret, waits)
        self._make_policy(name, args.get("operator_namespace") or DEFAULT_OPERATOR_NAMESPACE, obs)
        self._connections = {ns: self._connection(ns) for ns in app_namespaces}
        self.monitoring = monitoring.attach(name, self, monitoring_target(
            s, self.stack, name, self.namespace, self.name_of_resource, app_namespaces, self.labels,
            self.endpoints.sentinels, {"placed": self.placed()["exporter"], "images": self.images,
                                       "resources": s.resources.exporter.of("exporter").k8s()}), obs)
        e = self.endpoints
        self.host, self.port = pulumi.Output.from_input(e.host), pulumi.Output.from_input(REDIS_PORT)
        self.read_host = pulumi.Output.from_input(e.read_host) if e.read_host else None
        self.sentinels = pulumi.Output.from_input(list(e.sentinels)) if e.sentinels else None
        self.resource_name = pulumi.Output.from_input(self.name_of_resource)
        self.bindings = values.bindings(self, self.apps)
        self.register_outputs({"resource": self.name_of_resource, "kind": KINDS[s.kind], "host": self.host,
                               "port": self.port, "namespace": self.namespace,
                               **({"readHost": self.read_host} if self.read_host is not None else {}),
                               **({"sentinels": self.sentinels} if self.sentinels is not None else {})})

    def _make_passwords(self, name: str, app_namespaces: list[str]) -> SecretRef:
        """One generated password: in a Secret next to the resource (the operator reads it) and in
        each app namespace (pods can only mount Secrets of their own namespace)."""
        password = passwords.generate(f"{name}-password", self, protect=self.environment == "production")
        server_secret = passwords.namespace_secret(f"{name}-auth", self.namespace, password, self, self.labels)
        for ns in app_namespaces:
            self._passwords[ns] = (server_secret if ns == self.namespace else
                                   passwords.namespace_secret(f"{name}-auth-{ns}", ns, password, self, self.labels))
        return server_secret

    def _make_resource(self, name: str, server_secret: Optional[SecretRef], tls_secret: Any,
                       waits: list) -> k8s.apiextensions.CustomResource:
        s, namespace = self.settings, self.namespace
        production, disruption_budget = self.environment == "production", self.environment != "development"
        secret_name = server_secret.name if server_secret is not None else None
        extra_conf = None
        if s.kind in ("ot-replication", "ot-cluster"):
            # Auto-named: new contents make a new ConfigMap, the resource names it, and the operator
            # rolls the pods onto it (Redis reads the file only at start).
            self.extra_conf = k8s.core.v1.ConfigMap(
                f"{name}-redis-conf", metadata={"namespace": namespace, "labels": self.labels},
                data={OT_EXTRA_CONF_KEY: ot_extra_conf(s)}, opts=pulumi.ResourceOptions(parent=self))
            extra_conf = self.extra_conf.metadata.name
            waits.append(self.extra_conf)
        if s.kind == "ot-replication":
            spec = ot_replication_spec(s, secret_name, tls_secret, production, disruption_budget, extra_conf)
        elif s.kind == "ot-cluster":
            spec = ot_cluster_spec(s, secret_name, tls_secret, production, disruption_budget, extra_conf)
        else:
            spec = spotahome_spec(s, secret_name, production, disruption_budget)
        placed = self.placed()
        spec = pods.decorate(spec, s.kind, self.name_of_resource, pods.Pods(self.images, placed, s.image_keys()))
        meta = pods.resource_metadata(s.kind, placed["cache"])
        return k8s.apiextensions.CustomResource(
            f"{name}-{s.kind}",
            api_version=API_VERSIONS[s.kind],
            kind=KINDS[s.kind],
            metadata={"name": self.name_of_resource, "namespace": namespace,
                      "labels": {**meta.get("labels", {}), **self.labels},
                      **({"annotations": meta["annotations"]} if "annotations" in meta else {})},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, protect=production, delete_before_replace=True,
                                        depends_on=waits),
        )

    def placed(self) -> dict[str, placing.Placed]:
        """Each component's placement (the stack's, the cache's, the component's), and the cache's own."""
        stack, cache = self.stack_placement, self.settings.placement
        return {"cache": placing.merge(stack, cache), "redis": placing.merge(stack, cache, cache.redis),
                "sentinel": placing.merge(stack, cache, cache.sentinel),
                "exporter": placing.merge(stack, cache, cache.exporter)}

    def _make_policy(self, name: str, operator_namespace: str, obs: ObservabilityConfig) -> None:
        s = self.settings
        ports = [REDIS_PORT] + ([SENTINEL_PORT] if s.kind != "ot-cluster" else [])
        selector = pod_selector(s.kind, self.name_of_resource)
        ingress: list[dict] = []
        if self.apps:
            ingress.append({"from": kb.app_peers(self.apps), "ports": [{"port": p, "protocol": "TCP"} for p in ports]})
        # The cache's own pods reach each other on every port: replication, Sentinel gossip and,
        # in cluster mode, the cluster bus (6379 + 10000).
        ingress.append({"from": [{"podSelector": selector}]})
        # The operator configures Redis and Sentinel over the network (REPLICAOF, CLUSTER MEET, INFO).
        ingress.append({"from": [kb.namespace_peer(operator_namespace)],
                        "ports": [{"port": p, "protocol": "TCP"} for p in ports]})
        if s.exporter:
            # Metrics only (no data, no commands), from the scraper's namespace only.
            ports = [EXPORTER_PORT] + ([SPOTAHOME_SENTINEL_EXPORTER_PORT] if s.kind == "spotahome-failover" else [])
            ingress.append(scrape.scraper_ingress(obs.prometheus, ports))
        k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress",
            metadata={"namespace": self.namespace, "labels": self.labels},
            spec={"podSelector": selector, "policyTypes": ["Ingress"], "ingress": ingress},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _tls(self, name: str, app_namespaces: list[str]) -> tuple[Any, dict[str, FileRef], list[pulumi.Resource]]:
        """(server certificate Secret name, CA file per app namespace, resources to wait for)."""
        names = tls.dns_names(self.endpoints.services, self.endpoints.pod_services, self.namespace,
                              self.cluster_domain)
        made = tls.certificates(self, name, tls=self.settings.tls, stack=self.stack, cache=self.cache,
                                namespace=self.namespace, names=names, app_namespaces=app_namespaces,
                                labels=self.labels)
        return made.server_secret, made.ca, made.waits

    def _connection(self, namespace: str) -> CacheConnection:
        s, e = self.settings, self.endpoints
        sentinel = SentinelRef(addresses=e.sentinels, master_name=MASTER_NAME) if e.sentinels else None
        return CacheConnection(
            host=e.host, port=REDIS_PORT, tls=s.tls.enabled, ca=self._ca.get(namespace),
            password=self._passwords.get(namespace), read_host=e.read_host, sentinel=sentinel,
            cluster=s.kind == "ot-cluster",
        )

    def binding(self, namespace: str, user: Optional[str] = None) -> CacheBinding:
        """The binding of the apps of `namespace` (with the L1 sidecar when the settings have `l1`)."""
        if user is not None:
            raise ValueError(f"cache {self.cache!r}: operator caches have no ACL users")
        if namespace not in self._connections:
            raise ValueError(f"cache {self.cache!r} has no app in namespace {namespace!r}: "
                             f"its password Secret is only made in {sorted(self._connections)}")
        s = self.settings
        return with_l1(CacheBinding(cache=self.cache, pattern=TAG, connection=self._connections[namespace],
                                    default_ttl_seconds=s.default_ttl_seconds), self.stack, s, self.native_sidecars,
                       self.images)

    @property
    def discovery(self) -> dict[str, pulumi.Input]:
        s, e = self.settings, self.endpoints
        out: dict[str, Any] = {
            "pattern": TAG, "operator": s.operator, "apiVersion": API_VERSIONS[s.kind], "kind": KINDS[s.kind],
            "resource": self.name_of_resource, "namespace": self.namespace, "host": e.host, "port": REDIS_PORT,
            "tls": s.tls.enabled, "cluster": s.kind == "ot-cluster", "maxmemoryBytes": maxmemory(s),
        }
        if e.read_host:
            out["readHost"] = e.read_host
        if e.sentinels:
            out["sentinels"] = list(e.sentinels)
            out["sentinelMaster"] = MASTER_NAME
        if self.monitoring is not None:
            out["monitoring"] = self.monitoring.discovery
        return discovery_with_l1(out, self.stack, self.cache, s)


def build(name: str, settings: OperatorSettings, context: BuildContext,
          opts: pulumi.ResourceOptions) -> RedisOperatorCache:
    """The registry's entry point: the cache, after its operator's Helm release if the stack installs it
    (the program builds the releases first: `context.shared["operators"]`)."""
    operators = context.shared.get("operators", {})
    install = context.shared.get("installs", {}).get(settings.operator)
    operator_settings = operators.get(settings.operator)
    args: dict = {
        "settings": settings, "namespace": context.namespace, "environment": context.environment,
        "cluster_domain": context.cluster_domain, "kubernetes_version": context.kubernetes_version,
        "apps": list(context.apps), "observability": context.observability, "images": context.images,
        "placement": context.placement,
        "operator_namespace": operator_settings.namespace if operator_settings else DEFAULT_OPERATOR_NAMESPACE,
    }
    if install is not None:
        args["install"] = install.release
    return RedisOperatorCache(name, args, opts)


def shape(name: str, s: OperatorSettings, app: AppConfig) -> CacheBinding:
    """The binding `app` would get, with placeholder names and Secret references."""
    e = endpoints(s.kind, "shape", app.namespace, "cluster.local", s.sentinels)
    connection = CacheConnection(
        host=e.host, port=REDIS_PORT, tls=s.tls.enabled, ca=FileRef("secret", "shape") if s.tls.enabled else None,
        password=SecretRef("shape") if s.auth else None, read_host=e.read_host,
        sentinel=SentinelRef(addresses=e.sentinels, master_name=MASTER_NAME) if e.sentinels else None,
        cluster=s.kind == "ot-cluster")
    return CacheBinding(cache=name, pattern=TAG, connection=connection, default_ttl_seconds=s.default_ttl_seconds)
