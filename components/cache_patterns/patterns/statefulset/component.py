"""Pattern 2, in-cluster StatefulSet: one primary and `replicas` replicas with Sentinel failover, a
stable write endpoint (HAProxy) for clients that do not speak Sentinel, and per-pod DNS names.

Choose it for a shared cache inside the cluster with automatic failover and no cloud dependency.
It costs three small workloads to operate (Redis, Sentinels, HAProxy) and their volumes and upgrades.
"""
import dataclasses
import json
from typing import Any, NotRequired, Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.config.args import args_type
from cache_patterns.config.common import image_key
from cache_patterns.config.images import ImagesConfig
from cache_patterns.config.placement import Placement
from cache_patterns.core import component as api
from cache_patterns.core import contract, passwords, sizing, tls, values
from cache_patterns.core import k8s as kb, placement as placing
from cache_patterns.core.image_set import CATALOGUE
from cache_patterns.core.contract import CacheBinding, CacheConnection, SecretRef
from cache_patterns.observability import component as monitoring
from cache_patterns.observability.settings import ObservabilityConfig
from cache_patterns.patterns.base import BuildContext, parse_pods, parse_settings
from cache_patterns.patterns.statefulset import backup_component as backups
from cache_patterns.patterns.statefulset import autoscaling, ha, pods, rollout_step
from cache_patterns.patterns.statefulset.binding import connection
from cache_patterns.patterns.statefulset.exporter import (EXPORTER_PASSWORD_KEY, exporter_container, exporter_target,
                                                          monitoring_target)
from cache_patterns.patterns.statefulset.endpoint import endpoint_replicas, haproxy_pod
from cache_patterns.patterns.statefulset.expose import external_service
from cache_patterns.patterns.statefulset.network import ingress_rules
from cache_patterns.patterns.statefulset.pods import USER_KEY_PREFIX, user_key
from cache_patterns.patterns.statefulset.settings import TAG, StatefulSetSettings
from cache_patterns.patterns.statefulset.tls_reload import tls_reload_container
from cache_patterns.patterns.statefulset.volumes import CLAIM_SIZE, data_volumes, grow_claims
from cache_patterns.patterns.two_tier.component import discovery_with_l1, with_l1

__all__ = ["RedisStatefulSet", "RedisStatefulSetArgs", "build", "endpoint_replicas", "user_key", "USER_KEY_PREFIX"]

HAPROXY_IMAGE = CATALOGUE["haproxy"].reference
# Kubernetes cannot change these StatefulSet fields in place; a change replaces the StatefulSet
# (explicitly named, so the old one is deleted first); the claims' size is the exception (volumes.py).
IMMUTABLE = ["spec.selector", "spec.serviceName", "spec.volumeClaimTemplates", "spec.podManagementPolicy"]
StatefulSetSettingsArgs = args_type(StatefulSetSettings)
ObservabilityConfigArgs = args_type(ObservabilityConfig)
PlacementArgs = args_type(Placement)
ImagesConfigArgs = args_type(ImagesConfig)


class RedisStatefulSetArgs(TypedDict):
    """The args of every cache component: its settings, where it runs, who uses it."""

    settings: NotRequired[StatefulSetSettingsArgs]
    """The cache's settings: the keys of `caches.<name>` with `pattern: statefulset` (replicas, Sentinels,
    sizing, storage, auth, TLS, exporter; docs/reference/config.md), or a StatefulSetSettings from
    `parse_settings`. Default: every key's default."""
    namespace: NotRequired[str]
    """Namespace of the Redis, Sentinel and HAProxy workloads. Default: the stack name."""
    apps: NotRequired[list[api.AppRef]]
    """The apps bound to this cache: a password Secret in each of their namespaces (holding the
    passwords of exactly the users its apps authenticate as), and the only pods the NetworkPolicies
    admit. Default: none."""
    environment: NotRequired[str]
    """production (protects the data workload, keeps its volumes), staging or development (no PDBs).
    Default: the environment the settings were parsed for, else development."""
    cluster_domain: NotRequired[str]
    """The cluster's DNS domain, for per-pod names. Default: cluster.local."""
    kubernetes_version: NotRequired[str]
    """The cluster's Kubernetes minor version (such as "1.30"): from 1.29 the two-tier L1 is a native
    sidecar. Default: 1.33."""
    observability: NotRequired[ObservabilityConfigArgs]
    """The stack's `observability` block: who may scrape the exporters, and whether PodMonitors, rules
    and a dashboard are made. Default: off."""
    images: NotRequired[ImagesConfigArgs]
    """The stack's `images` block: the registry, per-image overrides and pull Secrets (an ImagesConfig or
    an ImageSet also do). Default: every image as the catalogue names it (core/image_set.py)."""
    placement: NotRequired[PlacementArgs]
    """The stack's `placement` block: where every pod of the cache runs unless its own `placement` says
    otherwise (docs/production.md). Default: the defaults (zone spread, host anti-affinity)."""
    kube_context: NotRequired[str]
    """The kubeconfig context the rollout driver's `kubectl` uses (the Kubernetes provider's). Default: current."""


class RedisStatefulSet(pulumi.ComponentResource):
    """Redis StatefulSet + headless Service, a Sentinel StatefulSet + headless Service, an HAProxy
    Deployment behind the write and read Services, PDBs, NetworkPolicies, ConfigMaps and the password."""

    host: pulumi.Output[str]
    """The write endpoint's host name (the HAProxy Service, which follows the primary)."""
    port: pulumi.Output[int]
    """The port of the write and read endpoints."""
    read_host: pulumi.Output[str]
    """The read endpoint's host name (replicas, through HAProxy)."""
    sentinels: pulumi.Output[list[str]]
    """`host:port` of every Sentinel, for Sentinel-aware clients."""
    sentinel_master: pulumi.Output[str]
    """The master name to ask the Sentinels for."""
    password_secret: Optional[pulumi.Output[str]]
    """The Secret (in the cache's namespace) holding the generated passwords; absent without auth."""
    bindings: pulumi.Output[dict[str, CacheBinding]]
    """What each app namespace's pods get from this cache (env, files, sidecars), keyed `<namespace>`
    (or `<namespace>/<user>` for the apps of an ACL user): a program in another language passes one to
    AppDeployment's `binding` (in Python, `binding(namespace)` gives the same)."""

    def __init__(self, name: str, args: RedisStatefulSetArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(api.type_token(RedisStatefulSet), name, None, opts)
        args = api.check_args(RedisStatefulSet, name, args, RedisStatefulSetArgs)
        s, obs = parse_settings(RedisStatefulSet, name, args, StatefulSetSettings)
        self.settings, self.cache, self.stack = s, name, api.stack()
        self.environment = api.environment(args, s)
        self.apps = api.clients(args.get("apps"))
        self.ns = args.get("namespace") or self.stack
        self.cluster_domain = args.get("cluster_domain") or api.DEFAULT_CLUSTER_DOMAIN
        self.plan = ha.stack_plan(self.stack, name, s, self.ns, self.cluster_domain)
        self.names = self.plan.names
        self.write_service, self.read_service = self.names.statefulset, f"{self.names.statefulset}-read"
        self.labels, self.selectors = pods.labels(self.names.statefulset), pods.selectors(self.names.statefulset)
        self.stack_placement, self.images = parse_pods(RedisStatefulSet, name, args)
        self.image = self.images.pick(s.image, image_key(s.engine, s.version))
        self.production = self.environment == "production"
        self.native_sidecars = api.native_sidecars(args)

        self._passwords: dict[tuple[str, Optional[str]], SecretRef] = {}
        self.server_secret = self._make_passwords(name) if s.auth else None
        self._tls = self._make_certificates(name)
        self.backup_plan, self.backup_sa = backups.setup(self, name)
        self.pods = pods.Pods(s, self.names.statefulset, self._make_config_maps(name),
                              self.server_secret.name if self.server_secret is not None else None,
                              self._tls.server_secret, self._placement(), self.images.pull_secrets)
        self._make_redis(name)
        self._make_sentinels(name)
        self._make_endpoints(name)
        self.rollout = rollout_step.wire(self, name, self.ns, self.names.statefulset, self.redis_template,
                                         args.get("kube_context"), [self.statefulset, self.sentinel_set, self.endpoint])
        self._make_policies(name, obs)
        backups.wire(self, name)
        self.monitoring = monitoring.attach(name, self, monitoring_target(
            self.stack, self.cache, s, self.plan, self.selectors, self.apps), obs)
        self._connections = {(a.namespace, a.cache_user): self._connection(a.namespace, a.cache_user) for a in self.apps}
        self._outputs()

    def _outputs(self) -> None:
        names = self.names
        self.host = pulumi.Output.from_input(names.domain(self.write_service))
        self.port = pulumi.Output.from_input(ha.REDIS_PORT)
        self.read_host = pulumi.Output.from_input(names.domain(self.read_service))
        self.sentinels = pulumi.Output.from_input([str(a) for a in names.sentinel_addresses()])
        self.sentinel_master = pulumi.Output.from_input(self.plan.topology.master_name)
        self.password_secret = (pulumi.Output.from_input(self.server_secret.name)
                                if self.server_secret is not None else None)
        self.bindings = values.bindings(self, self.apps)   # served, not registered: the state keeps refs only
        self.register_outputs({"host": self.host, "port": self.port, "readHost": self.read_host,
                               "sentinels": self.sentinels, "sentinelMaster": self.sentinel_master,
                               **({"passwordSecret": self.password_secret} if self.password_secret else {})})

    def _placement(self) -> dict[str, placing.Placed]:
        """Each role's placement: the stack's, the cache's, the component's (core/placement.py)."""
        stack, cache = self.stack_placement, self.settings.placement
        return {"redis": placing.merge(stack, cache, cache.redis), "sentinel": placing.merge(stack, cache, cache.sentinel),
                "endpoint": placing.merge(stack, cache, cache.haproxy)}

    def _make_passwords(self, name: str) -> SecretRef:
        """The password: generated once, in a Secret beside the workloads (mounted as a file) and in
        every app namespace (pods only mount Secrets of their own namespace). Each ACL user has its own
        password: all of them in the workloads' Secret (Redis renders the users from it), and in an app
        namespace only those its apps authenticate as. The default password reaches an app namespace
        only if one of its apps uses the default user."""
        s, ns, labels = self.settings, self.ns, self.labels["redis"]
        gen = s.rotation.generation   # a bump replaces every generator (their keepers change)
        password = self._password = passwords.generate(f"{name}-password", self, gen, protect=self.production)
        user_passwords = {u: passwords.generate(f"{name}-user-{u}", self, gen, protect=self.production)
                          for u in pods.acl_user_names(s)}
        extra = {user_key(user): pw for user, pw in user_passwords.items()}
        if s.exporter:
            # One map for both roles: the Sentinels take the same password.
            extra[EXPORTER_PASSWORD_KEY] = password.apply(lambda pw: json.dumps(
                {exporter_target(s.tls.enabled, port): pw for port in (ha.REDIS_PORT, ha.SENTINEL_PORT)}))
        server_secret = passwords.namespace_secret(f"{name}-auth", ns, password, self, labels, extra=extra)
        for app_ns in sorted({a.namespace for a in self.apps}):
            users = {a.cache_user for a in self.apps if a.namespace == app_ns}
            secret = server_secret if app_ns == ns else passwords.namespace_secret(
                f"{name}-auth-{app_ns}", app_ns, password if None in users else None, self, labels,
                extra={user_key(u): user_passwords[u] for u in sorted(u for u in users if u is not None)})
            for user in users:
                key = contract.PASSWORD_KEY if user is None else user_key(user)
                self._passwords[(app_ns, user)] = dataclasses.replace(secret, key=key)
        return server_secret

    def _make_certificates(self, name: str) -> tls.Tls:
        dns = tls.dns_names([self.write_service, self.read_service, self.names.headless, self.names.sentinel_headless],
                            [self.names.headless, self.names.sentinel_headless], self.ns, self.cluster_domain)
        if self.settings.expose is not None:
            dns += list(self.settings.expose.hostnames)
        made = tls.certificates(self, name, tls=self.settings.tls, stack=self.stack, cache=self.cache,
                                namespace=self.ns, names=dns, app_namespaces=sorted({a.namespace for a in self.apps}),
                                labels=self.labels["redis"])
        self.tls_names = dns if self.settings.tls.enabled else []
        return made

    def _make_config_maps(self, name: str) -> dict[str, Any]:
        confs = {role: k8s.core.v1.ConfigMap(
            f"{name}-{role}-conf", metadata={"namespace": self.ns, "labels": self.labels[key]},
            data=self.plan.files(role), opts=pulumi.ResourceOptions(parent=self))
            for role, key in (("redis", "redis"), ("sentinel", "sentinel"), ("haproxy", "endpoint"))}
        return {role: conf.metadata.name for role, conf in confs.items()}

    def _headless(self, name: str, service: str, role: str, port_name: str, port: int) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            name, metadata={"name": service, "namespace": self.ns, "labels": self.labels[role]},
            spec={"clusterIP": "None", "publishNotReadyAddresses": True, "selector": self.selectors[role],
                  "ports": [{"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"}]},
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))

    def _make_redis(self, name: str) -> None:
        s, plan = self.settings, self.plan
        memory = sizing.format_bytes(s.memory_limit)
        resources = {"requests": {"cpu": sizing.format_millicores(s.cpu), "memory": memory}, "limits": {"memory": memory}}
        if s.cpu_limit is not None:
            resources["limits"]["cpu"] = sizing.format_millicores(s.cpu_limit)
        mounts = self.pods.mounts("redis")
        containers = [{
            "name": "redis", **self.image,
            "command": plan.command("redis"), "env": plan.env("redis"),
            "ports": [{"name": "redis", "containerPort": ha.REDIS_PORT, "protocol": "TCP"}],
            "resources": resources, "securityContext": kb.container_security_context(),
            "volumeMounts": mounts + [{"name": "data", "mountPath": ha.DATA_DIR}],
            "lifecycle": plan.lifecycle(), **plan.probes("redis"),
        }]
        if plan.tls:
            containers.append(tls_reload_container(plan, "redis", self.image, mounts, self._resources("tlsReload")))
        if s.exporter:
            containers.append(exporter_container(s, self.names, "redis", self.images))
        empty_dirs, claims = data_volumes(s, self.labels["redis"])
        self.headless = self._headless(f"{name}-headless", self.names.headless, "redis", "redis", ha.REDIS_PORT)
        retention = "Retain" if s.retain_volumes else "Delete"
        spec: dict = {
            "serviceName": self.names.headless,
            "replicas": s.replicas + 1,
            # Parallel: after a full outage every pod starts at once and the start-up script finds the
            # primary among them. OrderedReady would hold pod-1 until pod-0 is Ready, while pod-0 may
            # be waiting to learn that pod-1 is the primary Sentinel last elected.
            "podManagementPolicy": "Parallel",
            # OnDelete: a template change (engine, memory limit) replaces no pod by itself; the rollout
            # driver (rollout.py) deletes the replicas one by one, then the primary, whose preStop hands
            # over once. RollingUpdate would go from the highest ordinal down and move the primary twice
            # whenever it is not on ordinal 0 (docs/upgrades.md).
            "updateStrategy": {"type": "OnDelete"},
            "selector": {"matchLabels": self.selectors["redis"]},
            "template": self.pods.pod("redis", containers, empty_dirs, plan.termination_grace_period_s),
        }
        if claims:
            spec["volumeClaimTemplates"] = claims
            spec["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": retention, "whenScaled": retention}
        self.redis_template = spec["template"]
        backups.restore_into(self, spec["template"], mounts + [{"name": "data", "mountPath": ha.DATA_DIR}])
        self.statefulset = k8s.apps.v1.StatefulSet(
            f"{name}-redis",
            metadata={"name": self.names.statefulset, "namespace": self.ns, "labels": self.labels["redis"]},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True, replace_on_changes=IMMUTABLE,
                                        ignore_changes=([CLAIM_SIZE] if claims else []) + autoscaling.owned_fields(s),
                                        protect=self.production, depends_on=[self.headless, *self._tls.waits],
                                        # A restore downloads and loads the data set before the pods are ready.
                                        custom_timeouts=pulumi.CustomTimeouts(create="60m") if s.restore else None),
        )
        grow_claims(self, name, self.statefulset, self.names.statefulset, self.ns, s)
        self.hpa = autoscaling.hpa(self, name, s, self.names.statefulset, self.ns, self.labels["redis"], self.statefulset)

    def _make_sentinels(self, name: str) -> None:
        """The Sentinels, in their own StatefulSet (see docs/patterns/statefulset.md for why)."""
        s, plan = self.settings, self.plan
        headless = self._headless(f"{name}-sentinel-headless", self.names.sentinel_headless, "sentinel", "sentinel",
                                  ha.SENTINEL_PORT)
        sentinel = {
            "name": "sentinel", **self.image,
            "command": plan.command("sentinel"), "env": plan.env("sentinel"),
            "ports": [{"name": "sentinel", "containerPort": ha.SENTINEL_PORT, "protocol": "TCP"}],
            "resources": self._resources("sentinel"), "securityContext": kb.container_security_context(),
            "volumeMounts": self.pods.mounts("sentinel"), **plan.probes("sentinel"),
        }
        self.sentinel_set = k8s.apps.v1.StatefulSet(
            f"{name}-sentinel",
            metadata={"name": self.names.sentinel_statefulset, "namespace": self.ns, "labels": self.labels["sentinel"]},
            spec={"serviceName": self.names.sentinel_headless, "replicas": s.sentinels,
                  "podManagementPolicy": "Parallel", "updateStrategy": {"type": "RollingUpdate"},
                  # Ready = SENTINEL CKQUORUM (probe.sh sentinel), then available only once the endpoints
                  # have seen it again: the next Sentinel never goes while they count less than a majority.
                  "minReadySeconds": plan.sentinel_min_ready_s,
                  "selector": {"matchLabels": self.selectors["sentinel"]},
                  "template": self.pods.pod("sentinel", [sentinel] +
                                            ([exporter_container(s, self.names, "sentinel", self.images)]
                                             if s.exporter else []))},
            # With a restore, no Sentinel exists before the restored primary is loaded and its replicas
            # synced (the Redis StatefulSet is ready): it is the primary before any Sentinel monitors it.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True, replace_on_changes=IMMUTABLE,
                                        depends_on=[headless, *self._tls.waits] +
                                        ([self.statefulset] if s.restore is not None else [])),
        )

    def _make_endpoints(self, name: str) -> None:
        """The write and read endpoints: HAProxy, and a Service for each."""
        replicas = endpoint_replicas(self.environment)
        pod = haproxy_pod(self.plan, self.pods, self.images, self._resources)
        self.endpoint = k8s.apps.v1.Deployment(
            f"{name}-endpoint",
            metadata={"namespace": self.ns, "labels": self.labels["endpoint"]},
            spec={"replicas": replicas, "selector": {"matchLabels": self.selectors["endpoint"]},
                  "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                  "template": pod},
            opts=pulumi.ResourceOptions(parent=self),
        )
        for service, port, suffix in ((self.write_service, "write", "write"), (self.read_service, "read", "read")):
            k8s.core.v1.Service(
                f"{name}-{suffix}",
                metadata={"name": service, "namespace": self.ns, "labels": self.labels["endpoint"]},
                spec={"type": "ClusterIP", "selector": self.selectors["endpoint"],
                      "ports": [{"name": "redis", "port": ha.REDIS_PORT, "targetPort": port, "protocol": "TCP"}]},
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
            )
        if self.settings.expose is not None:
            self.external = external_service(self, name, self.settings.expose, self.ns, self.labels["endpoint"],
                                             self.selectors["endpoint"])

    def _resources(self, component: str) -> dict:
        """A container's requests and limits beside Redis: config over the planned default."""
        return self.settings.resources.planned()[component].k8s()

    def _make_policies(self, name: str, obs: ObservabilityConfig) -> None:
        """Disruption budgets (staging and production) and who may reach each role."""
        child = pulumi.ResourceOptions(parent=self)
        if self.environment != "development":
            limits = self.plan.pdb_max_unavailable
            for role, max_unavailable in (("redis", limits["redis"]), ("sentinel", limits["sentinel"]), ("endpoint", 1)):
                if role == "endpoint" and endpoint_replicas(self.environment) < 2:
                    continue
                k8s.policy.v1.PodDisruptionBudget(
                    f"{name}-{role}-pdb", metadata={"namespace": self.ns, "labels": self.labels[role]},
                    spec={"maxUnavailable": max_unavailable, "selector": {"matchLabels": self.selectors[role]}},
                    opts=child)
        for role, ingress in ingress_rules(self.apps, self.selectors, self.settings, obs).items():
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{role}-ingress", metadata={"namespace": self.ns, "labels": self.labels[role]},
                spec={"podSelector": {"matchLabels": self.selectors[role]}, "policyTypes": ["Ingress"],
                      "ingress": ingress},
                opts=child)

    def _connection(self, namespace: str, user: Optional[str]) -> CacheConnection:
        return connection(self.settings, self.names, self.plan.topology.master_name, user=user,
                          password=self._passwords.get((namespace, user)), ca=self._tls.ca.get(namespace))

    def binding(self, namespace: str, user: Optional[str] = None) -> CacheBinding:
        """The binding of the apps of `namespace` that authenticate as `user` (None: the default user),
        with the L1 sidecar when the settings have `l1` (two-tier)."""
        if (namespace, user) not in self._connections:
            as_user = f" as ACL user {user!r}" if user is not None else ""
            raise ValueError(f"cache {self.cache!r} has no app in namespace {namespace!r}{as_user}: list it in "
                             f"the `apps` arg")
        s = self.settings
        return with_l1(CacheBinding(cache=self.cache, pattern=TAG, connection=self._connections[(namespace, user)],
                                    default_ttl_seconds=s.default_ttl_seconds), self.stack, s, self.native_sidecars, self.images)

    @property
    def discovery(self) -> dict:
        names = self.names
        out = {
            "pattern": TAG,
            "statefulset": names.statefulset,
            "namespace": names.namespace,
            "headlessService": names.domain(names.headless),
            "pods": [str(a.host) for a in names.server_addresses()],
            "write": f"{names.domain(self.write_service)}:{ha.REDIS_PORT}",
            "read": f"{names.domain(self.read_service)}:{ha.REDIS_PORT}",
            "sentinels": [str(a) for a in names.sentinel_addresses()],
            "sentinelMaster": self.plan.topology.master_name,
            "tls": self.settings.tls.enabled,
            "maxmemoryBytes": self.plan.server.maxmemory,
        }
        if self.tls_names:
            out["certificateNames"] = self.tls_names
        if self.settings.expose is not None:
            out["external"] = {"type": self.settings.expose.type, "service": self.external.metadata.name}
        if self.monitoring is not None:
            out["monitoring"] = self.monitoring.discovery
        if self.settings.acl_users and self.server_secret is not None:
            # Where clients outside this stack's apps find a user's password (a name, never the value).
            out["aclUsers"] = {u.name: {"secret": self.server_secret.name, "key": user_key(u.name)}
                               for u in self.settings.acl_users}
        return discovery_with_l1(out, self.stack, self.cache, self.settings)


def build(name: str, settings: StatefulSetSettings, context: BuildContext,
          opts: pulumi.ResourceOptions) -> RedisStatefulSet:
    """The registry's entry point."""
    return RedisStatefulSet(name, {"settings": settings, "namespace": context.namespace, "apps": list(context.apps),
                                   "environment": context.environment, "cluster_domain": context.cluster_domain,
                                   "kubernetes_version": context.kubernetes_version, "kube_context": context.kube_context,
                                   "observability": context.observability, "placement": context.placement,
                                   "images": context.images}, opts)
