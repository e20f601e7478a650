"""Pattern 5, operator: a Redis operator's custom resource (OT-CONTAINER-KIT RedisReplication with
Sentinel or RedisCluster, or Spotahome RedisFailover), optionally with the operator's Helm chart.

Choose it where a platform team already runs an operator and wants failover, resharding and upgrades
handled in-cluster by it. It costs a controller with cluster-wide rights, CRDs to upgrade by hand, and
behaviour you only control through the fields its CRD offers (checked offline by tools/crds.py).
"""
from __future__ import annotations

from typing import Any, NotRequired, Sequence, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.config.app import AppConfig
from cache_patterns.core import k8s as kb
from cache_patterns.core import naming, passwords, tls
from cache_patterns.core.contract import CacheBinding, CacheConnection, FileRef, SecretRef, SentinelRef
from cache_patterns.observability import component as monitoring
from cache_patterns.observability import scrape
from cache_patterns.observability import settings as observability_settings
from cache_patterns.observability.settings import ObservabilityConfig
from cache_patterns.patterns.base import BuildContext
from cache_patterns.patterns.operator.install import DEFAULT_OPERATOR_NAMESPACE
from cache_patterns.patterns.operator.monitoring import monitoring_target
from cache_patterns.patterns.operator.settings import OperatorSettings
from cache_patterns.patterns.operator.specs import (API_VERSIONS, EXPORTER_PORT, KINDS, MASTER_NAME,
                                                    OT_EXTRA_CONF_KEY, REDIS_PORT, SENTINEL_PORT,
                                                    SPOTAHOME_SENTINEL_EXPORTER_PORT, endpoints, maxmemory,
                                                    ot_cluster_spec, ot_extra_conf, ot_replication_spec, pod_selector,
                                                    spotahome_spec)


class RedisOperatorCacheArgs(TypedDict):
    settings: OperatorSettings
    """The cache's config: kind, replicas/shards/sentinels, sizing, storage, auth, TLS, exporter."""
    cache: str
    """The cache's name in the stack config (part of every derived name)."""
    stack: str
    """The stack name (part of the custom resource name, so stacks sharing a namespace never collide)."""
    namespace: str
    """Namespace of the custom resource and of the pods the operator creates."""
    environment: str
    """production protects the resource and keeps its volumes; staging and production add PDBs."""
    cluster_domain: str
    """The cluster's DNS domain, for the Service names handed to apps."""
    apps: Sequence[AppConfig]
    """The apps bound to this cache: a password Secret in each of their namespaces, and the only pods
    the NetworkPolicy admits besides the cache's own and the operator's."""
    operator_namespace: str
    """Where the operator runs: it connects to Redis and Sentinel to configure them."""
    observability: NotRequired[ObservabilityConfig]
    """The stack's `observability` block: who may scrape the exporters, and whether PodMonitors,
    rules and a dashboard are made. Absent: off."""
    install: NotRequired[k8s.helm.v3.Release | None]
    """The operator's Helm release, when this stack installs it: the custom resource waits for it
    (its chart brings the CRD). Absent: the operator is assumed installed."""


class RedisOperatorCache(pulumi.ComponentResource):
    """One cache run by an operator: its custom resource, the password Secret it references, TLS,
    a NetworkPolicy, and a password Secret per app namespace. A BoundCache."""

    resource: k8s.apiextensions.CustomResource
    resource_name: str

    def __init__(self, name: str, args: RedisOperatorCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cache-patterns:index:RedisOperatorCache", name, None, opts)
        s = args["settings"]
        namespace, cache, apps = args["namespace"], args["cache"], list(args["apps"])
        production = args["environment"] == "production"
        disruption_budget = args["environment"] != "development"
        self.settings, self.cache, self.namespace = s, cache, namespace
        self.resource_name = naming.operator_resource(args["stack"], cache, s.kind)
        labels = kb.labels(cache, "cache", self.resource_name)
        self.endpoints = endpoints(s.kind, self.resource_name, namespace, args["cluster_domain"], s.sentinels)
        app_namespaces = sorted({a.namespace for a in apps})

        # One generated password: in a Secret next to the resource (the operator reads it) and in
        # each app namespace (pods can only mount Secrets of their own namespace).
        self._passwords: dict[str, SecretRef] = {}
        server_secret: SecretRef | None = None
        if s.auth:
            password = passwords.generate(f"{name}-password", self, protect=production)
            server_secret = passwords.namespace_secret(f"{name}-auth", namespace, password, self, labels)
            for ns in app_namespaces:
                self._passwords[ns] = (server_secret if ns == namespace else
                                       passwords.namespace_secret(f"{name}-auth-{ns}", ns, password, self, labels))

        tls_secret, self._ca, waits = self._tls(name, args, labels, app_namespaces)
        install = args.get("install")
        if install is not None:
            waits.append(install)

        secret_name = server_secret.name if server_secret is not None else None
        extra_conf = None
        if s.kind in ("ot-replication", "ot-cluster"):
            # Auto-named: new contents make a new ConfigMap, the resource names it, and the operator
            # rolls the pods onto it (Redis reads the file only at start).
            self.extra_conf = k8s.core.v1.ConfigMap(
                f"{name}-redis-conf", metadata={"namespace": namespace, "labels": labels},
                data={OT_EXTRA_CONF_KEY: ot_extra_conf(s)}, opts=pulumi.ResourceOptions(parent=self))
            extra_conf = self.extra_conf.metadata.name
            waits.append(self.extra_conf)
        if s.kind == "ot-replication":
            spec = ot_replication_spec(s, secret_name, tls_secret, production, disruption_budget, extra_conf)
        elif s.kind == "ot-cluster":
            spec = ot_cluster_spec(s, secret_name, tls_secret, production, disruption_budget, extra_conf)
        else:
            spec = spotahome_spec(s, secret_name, production, disruption_budget)
        self.resource = k8s.apiextensions.CustomResource(
            f"{name}-{s.kind}",
            api_version=API_VERSIONS[s.kind],
            kind=KINDS[s.kind],
            metadata={"name": self.resource_name, "namespace": namespace, "labels": labels},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, protect=production, delete_before_replace=True,
                                        depends_on=waits),
        )

        ports = [REDIS_PORT] + ([SENTINEL_PORT] if s.kind != "ot-cluster" else [])
        selector = pod_selector(s.kind, self.resource_name)
        ingress: list[dict] = []
        if apps:
            ingress.append({"from": kb.app_peers(apps), "ports": [{"port": p, "protocol": "TCP"} for p in ports]})
        # The cache's own pods reach each other on every port: replication, Sentinel gossip and,
        # in cluster mode, the cluster bus (6379 + 10000).
        ingress.append({"from": [{"podSelector": selector}]})
        # The operator configures Redis and Sentinel over the network (REPLICAOF, CLUSTER MEET, INFO).
        ingress.append({"from": [kb.namespace_peer(args["operator_namespace"])],
                        "ports": [{"port": p, "protocol": "TCP"} for p in ports]})
        obs = args.get("observability") or observability_settings.defaults()
        if s.exporter:
            # Metrics only (no data, no commands), from the scraper's namespace only.
            ports = [EXPORTER_PORT] + ([SPOTAHOME_SENTINEL_EXPORTER_PORT] if s.kind == "spotahome-failover" else [])
            ingress.append(scrape.scraper_ingress(obs.prometheus, ports))
        k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress",
            metadata={"namespace": namespace, "labels": labels},
            spec={"podSelector": selector, "policyTypes": ["Ingress"], "ingress": ingress},
            opts=pulumi.ResourceOptions(parent=self),
        )

        self._connections = {ns: self._connection(ns) for ns in app_namespaces}
        self.monitoring = monitoring.attach(name, self, monitoring_target(s, args["stack"], cache, namespace,
                                                                          self.resource_name, app_namespaces,
                                                                          labels, self.endpoints.sentinels), obs)
        self.register_outputs({"resource": self.resource_name, "kind": KINDS[s.kind],
                               "host": self.endpoints.host, "namespace": namespace})

    def _tls(self, name: str, args: RedisOperatorCacheArgs, labels: dict,
             app_namespaces: list[str]) -> tuple[Any, dict[str, FileRef], list[pulumi.Resource]]:
        """(server certificate Secret name, CA file per app namespace, resources to wait for)."""
        names = tls.dns_names(self.endpoints.services, self.endpoints.pod_services, self.namespace,
                              args["cluster_domain"])
        made = tls.certificates(self, name, tls=args["settings"].tls, stack=args["stack"], cache=args["cache"],
                                namespace=self.namespace, names=names, app_namespaces=app_namespaces,
                                labels=labels)
        return made.server_secret, made.ca, made.waits

    def _connection(self, namespace: str) -> CacheConnection:
        s, e = self.settings, self.endpoints
        sentinel = SentinelRef(addresses=e.sentinels, master_name=MASTER_NAME) if e.sentinels else None
        return CacheConnection(
            host=e.host, port=REDIS_PORT, tls=s.tls.enabled, ca=self._ca.get(namespace),
            password=self._passwords.get(namespace), read_host=e.read_host, sentinel=sentinel,
            cluster=s.kind == "ot-cluster",
        )

    def binding(self, namespace: str, user: str | None = None) -> CacheBinding:
        if user is not None:
            raise ValueError(f"cache {self.cache!r}: operator caches have no ACL users")
        if namespace not in self._connections:
            raise ValueError(f"cache {self.cache!r} has no app in namespace {namespace!r}: "
                             f"its password Secret is only made in {sorted(self._connections)}")
        s = self.settings
        return CacheBinding(cache=self.cache, pattern="operator", connection=self._connections[namespace],
                            default_ttl_seconds=s.default_ttl_seconds)

    @property
    def discovery(self) -> dict[str, pulumi.Input]:
        s, e = self.settings, self.endpoints
        out: dict[str, Any] = {
            "pattern": "operator", "operator": s.operator, "apiVersion": API_VERSIONS[s.kind], "kind": KINDS[s.kind],
            "resource": self.resource_name, "namespace": self.namespace, "host": e.host, "port": REDIS_PORT,
            "tls": s.tls.enabled, "cluster": s.kind == "ot-cluster", "maxmemoryBytes": maxmemory(s),
        }
        if e.read_host:
            out["readHost"] = e.read_host
        if e.sentinels:
            out["sentinels"] = list(e.sentinels)
            out["sentinelMaster"] = MASTER_NAME
        if self.monitoring is not None:
            out["monitoring"] = self.monitoring.discovery
        return out


def build(name: str, settings: OperatorSettings, context: BuildContext,
          opts: pulumi.ResourceOptions) -> RedisOperatorCache:
    """The registry's entry point: the cache, after its operator's Helm release if the stack installs it
    (the program builds the releases first: `context.shared["operators"]`)."""
    operators = context.shared.get("operators", {})
    install = context.shared.get("installs", {}).get(settings.operator)
    operator_settings = operators.get(settings.operator)
    return RedisOperatorCache(name, {
        "settings": settings, "cache": name, "stack": context.stack, "namespace": context.namespace,
        "environment": context.environment, "cluster_domain": context.cluster_domain, "apps": context.apps,
        "operator_namespace": operator_settings.namespace if operator_settings else DEFAULT_OPERATOR_NAMESPACE,
        "install": install.release if install is not None else None, "observability": context.observability,
    }, opts)


def shape(name: str, s: OperatorSettings, app: AppConfig) -> CacheBinding:
    """The binding `app` would get, with placeholder names and Secret references."""
    e = endpoints(s.kind, "shape", app.namespace, "cluster.local", s.sentinels)
    connection = CacheConnection(
        host=e.host, port=REDIS_PORT, tls=s.tls.enabled, ca=FileRef("secret", "shape") if s.tls.enabled else None,
        password=SecretRef("shape") if s.auth else None, read_host=e.read_host,
        sentinel=SentinelRef(addresses=e.sentinels, master_name=MASTER_NAME) if e.sentinels else None,
        cluster=s.kind == "ot-cluster")
    return CacheBinding(cache=name, pattern="operator", connection=connection, default_ttl_seconds=s.default_ttl_seconds)
