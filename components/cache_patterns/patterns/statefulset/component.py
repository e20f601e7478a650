"""Pattern 2, in-cluster StatefulSet: one primary and `replicas` replicas with Sentinel failover, a
stable write endpoint (HAProxy) for clients that do not speak Sentinel, and per-pod DNS names.

Choose it for a shared cache inside the cluster with automatic failover and no cloud dependency.
It costs three small workloads to operate (Redis, Sentinels, HAProxy) and their volumes and upgrades.
"""
from __future__ import annotations

import dataclasses
import json
from typing import NotRequired, Sequence, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.config.app import AppConfig
from cache_patterns.config.common import default_image
from cache_patterns.core import contract, naming, passwords, sizing, tls
from cache_patterns.core import k8s as kb
from cache_patterns.core.contract import CacheBinding, CacheConnection, SecretRef
from cache_patterns.observability import component as monitoring
from cache_patterns.observability import settings as observability_settings
from cache_patterns.observability.settings import ObservabilityConfig
from cache_patterns.patterns.base import BuildContext
from cache_patterns.patterns.statefulset import ha
from cache_patterns.patterns.statefulset.binding import connection
from cache_patterns.patterns.statefulset.exporter import (EXPORTER_PASSWORD_KEY, exporter_container, exporter_target,
                                                          monitoring_target)
from cache_patterns.patterns.statefulset.network import ingress_rules
from cache_patterns.patterns.statefulset.settings import StatefulSetSettings
from cache_patterns.patterns.statefulset.tls_reload import tls_reload_container
from cache_patterns.patterns.statefulset.volumes import CLAIM_SIZE, data_volumes, grow_claims

HAPROXY_IMAGE = "haproxy:3.2-alpine"
SENTINEL_RESOURCES = {"requests": {"cpu": "25m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}}
HAPROXY_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}
# Secret key of an ACL user's password (beside `password`, the default user's).
USER_KEY_PREFIX = "user-"
# Kubernetes cannot change these StatefulSet fields in place; a change replaces the StatefulSet
# (explicitly named, so the old one is deleted first); the claims' size is the exception (volumes.py).
IMMUTABLE = ["spec.selector", "spec.serviceName", "spec.volumeClaimTemplates", "spec.podManagementPolicy"]


class RedisStatefulSetArgs(TypedDict):
    cache: str
    """The cache's name in the stack config (`caches.<name>`)."""
    settings: StatefulSetSettings
    """Its settings: replicas, Sentinels, sizing, storage, auth, TLS, exporter."""
    stack: str
    """The stack name; with `cache` it derives the names apps and Sentinels resolve."""
    namespace: str
    """Namespace of the Redis, Sentinel and HAProxy workloads."""
    apps: Sequence[AppConfig]
    """The apps bound to this cache: a password Secret in each of their namespaces (holding the
    passwords of exactly the users its apps authenticate as), and the only pods the NetworkPolicies
    admit."""
    environment: str
    """production protects the data workload and keeps its volumes; development has no PDBs."""
    cluster_domain: str
    """The cluster's DNS domain, for per-pod names."""
    observability: NotRequired[ObservabilityConfig]
    """The stack's `observability` block: who may scrape the exporters, and whether PodMonitors,
    rules and a dashboard are made. Absent: off."""


class RedisStatefulSet(pulumi.ComponentResource):
    """Redis StatefulSet + headless Service, a Sentinel StatefulSet + headless Service, an HAProxy
    Deployment behind the write and read Services, PDBs, NetworkPolicies, ConfigMaps and the password."""

    def __init__(self, name: str, args: RedisStatefulSetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cache-patterns:index:RedisStatefulSet", name, None, opts)
        s, ns, apps = args["settings"], args["namespace"], list(args["apps"])
        production = args["environment"] == "production"
        budgets = args["environment"] != "development"
        self.plan = ha.stack_plan(args["stack"], args["cache"], s, ns, args["cluster_domain"])
        self.names = self.plan.names
        sts_name = self.names.statefulset
        self.settings, self.cache = s, args["cache"]
        self.write_service, self.read_service = sts_name, f"{sts_name}-read"
        app_namespaces = sorted({a.namespace for a in apps})
        image = s.image or default_image(s.engine, s.version)
        child = pulumi.ResourceOptions(parent=self)
        named = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        labels = {role: kb.labels(sts_name, role, sts_name) for role in ("redis", "sentinel", "endpoint")}
        selectors = {role: {**kb.selector(sts_name, sts_name), "app.kubernetes.io/component": role}
                     for role in labels}

        # The password: generated once, in a Secret beside the workloads (mounted as a file) and in
        # every app namespace (pods only mount Secrets of their own namespace). Each ACL user has its
        # own password: all of them in the workloads' Secret (Redis renders the users from it), and in
        # an app namespace only those its apps authenticate as. The default password reaches an app
        # namespace only if one of its apps uses the default user.
        self._passwords: dict[tuple[str, str | None], SecretRef] = {}
        server_secret: SecretRef | None = None
        if s.auth:
            password = passwords.generate(f"{name}-password", self, protect=production)
            user_passwords = {u.name: passwords.generate(f"{name}-user-{u.name}", self, protect=production)
                              for u in s.acl_users}
            extra = {user_key(user): pw for user, pw in user_passwords.items()}
            if s.exporter:
                # One map for both roles: the Sentinels take the same password.
                extra[EXPORTER_PASSWORD_KEY] = password.apply(lambda pw: json.dumps(
                    {exporter_target(s.tls.enabled, port): pw for port in (ha.REDIS_PORT, ha.SENTINEL_PORT)}))
            server_secret = passwords.namespace_secret(f"{name}-auth", ns, password, self, labels["redis"],
                                                       extra=extra)
            for app_ns in app_namespaces:
                users = {a.cache_user for a in apps if a.namespace == app_ns}
                secret = server_secret if app_ns == ns else passwords.namespace_secret(
                    f"{name}-auth-{app_ns}", app_ns, password if None in users else None, self, labels["redis"],
                    extra={user_key(u): user_passwords[u] for u in sorted(u for u in users if u is not None)})
                for user in users:
                    key = contract.PASSWORD_KEY if user is None else user_key(user)
                    self._passwords[(app_ns, user)] = dataclasses.replace(secret, key=key)
        self.server_secret = server_secret

        dns = tls.dns_names([self.write_service, self.read_service, self.names.headless, self.names.sentinel_headless],
                            [self.names.headless, self.names.sentinel_headless], ns, args["cluster_domain"])
        self._tls = tls.certificates(self, name, tls=s.tls, stack=args["stack"], cache=args["cache"], namespace=ns,
                                     names=dns, app_namespaces=app_namespaces, labels=labels["redis"])
        self.tls_names = dns if s.tls.enabled else []

        confs = {role: k8s.core.v1.ConfigMap(
            f"{name}-{role}-conf", metadata={"namespace": ns, "labels": labels[key]}, data=self.plan.files(role),
            opts=child) for role, key in (("redis", "redis"), ("sentinel", "sentinel"), ("haproxy", "endpoint"))}

        def volumes(role: str) -> list[dict]:
            vols = [{"name": "conf", "configMap": {"name": confs[role].metadata.name, "defaultMode": 0o555}},
                    {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}]
            if server_secret is not None:
                items = [{"key": contract.PASSWORD_KEY, "path": "password"}]
                if role == "redis":
                    # Only Redis renders the ACL users; Sentinel and HAProxy never see their passwords.
                    items += [{"key": user_key(u.name), "path": f"{ha.ACL_PASSWORD_SUBDIR}/{u.name}"}
                              for u in s.acl_users]
                if s.exporter and role in ("redis", "sentinel"):
                    items.append({"key": EXPORTER_PASSWORD_KEY, "path": EXPORTER_PASSWORD_KEY})
                vols.append({"name": contract.AUTH_VOLUME, "secret": {
                    "secretName": server_secret.name, "defaultMode": 0o440, "items": items}})
            if self._tls.server_secret is not None and role != "haproxy":
                vols.append({"name": "tls", "secret": {"secretName": self._tls.server_secret, "defaultMode": 0o440}})
            elif self._tls.server_secret is not None:
                vols.append({"name": "tls", "secret": {"secretName": self._tls.server_secret, "defaultMode": 0o440,
                                                       "items": [{"key": "ca.crt", "path": "ca.crt"}]}})
            if self._tls.server_secret is not None:
                # The certificate files the processes load, kept in step with the Secret (tls-reload.sh).
                vols.append({"name": ha.TLS_LIVE_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}})
            return vols

        def mounts(role: str) -> list[dict]:
            out = [{"name": "conf", "mountPath": ha.CONF_DIR, "readOnly": True},
                   {"name": "run", "mountPath": ha.RUN_DIR}]
            if server_secret is not None:
                out.append({"name": contract.AUTH_VOLUME, "mountPath": contract.AUTH_DIR, "readOnly": True})
            if self._tls.server_secret is not None:
                out.append({"name": "tls", "mountPath": ha.TLS_DIR, "readOnly": True})
                out.append({"name": ha.TLS_LIVE_VOLUME, "mountPath": ha.TLS_LIVE_DIR})
            return out

        def spread(role: str) -> dict:
            """Pods of one role on different nodes and zones where the cluster has them (preferred, so a
            small cluster still schedules them)."""
            return {
                "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                       "labelSelector": {"matchLabels": selectors[role]}}}]}},
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                               "whenUnsatisfiable": "ScheduleAnyway",
                                               "labelSelector": {"matchLabels": selectors[role]}}],
            }

        def pod(role: str, containers: list[dict], extra_volumes: list[dict] = (), grace: int = 30) -> dict:
            return {
                "metadata": {"labels": labels[role]},
                "spec": {
                    "securityContext": kb.pod_security_context(),
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": grace,
                    "containers": containers,
                    "volumes": volumes({"endpoint": "haproxy"}.get(role, role)) + list(extra_volumes),
                    **spread(role),
                },
            }

        # --- Redis -------------------------------------------------------------------------------
        memory = sizing.format_bytes(s.memory_limit)
        redis_resources = {"requests": {"cpu": sizing.format_millicores(s.cpu), "memory": memory},
                           "limits": {"memory": memory}}
        if s.cpu_limit is not None:
            redis_resources["limits"]["cpu"] = sizing.format_millicores(s.cpu_limit)
        redis_container = {
            "name": "redis", "image": image, "imagePullPolicy": "IfNotPresent",
            "command": self.plan.command("redis"), "env": self.plan.env("redis"),
            "ports": [{"name": "redis", "containerPort": ha.REDIS_PORT, "protocol": "TCP"}],
            "resources": redis_resources, "securityContext": kb.container_security_context(),
            "volumeMounts": mounts("redis") + [{"name": "data", "mountPath": ha.DATA_DIR}],
            "lifecycle": self.plan.lifecycle(), **self.plan.probes("redis"),
        }
        containers = [redis_container]
        if self.plan.tls:
            containers.append(tls_reload_container(self.plan, "redis", image, mounts("redis")))
        if s.exporter:
            containers.append(exporter_container(s, self.names, "redis"))
        empty_dirs, claims = data_volumes(s, labels["redis"])

        self.headless = k8s.core.v1.Service(
            f"{name}-headless",
            metadata={"name": self.names.headless, "namespace": ns, "labels": labels["redis"]},
            spec={"clusterIP": "None", "publishNotReadyAddresses": True, "selector": selectors["redis"],
                  "ports": [{"name": "redis", "port": ha.REDIS_PORT, "targetPort": "redis", "protocol": "TCP"}]},
            opts=named,
        )
        retention = "Retain" if s.retain_volumes else "Delete"
        sts_spec: dict = {
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
            "selector": {"matchLabels": selectors["redis"]},
            "template": pod("redis", containers, empty_dirs, self.plan.termination_grace_period_s),
        }
        if claims:
            sts_spec["volumeClaimTemplates"] = claims
            sts_spec["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": retention, "whenScaled": retention}
        self.statefulset = k8s.apps.v1.StatefulSet(
            f"{name}-redis",
            metadata={"name": sts_name, "namespace": ns, "labels": labels["redis"]},
            spec=sts_spec,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True, replace_on_changes=IMMUTABLE,
                                        ignore_changes=[CLAIM_SIZE] if claims else None,
                                        protect=production, depends_on=[self.headless, *self._tls.waits]),
        )
        grow_claims(self, name, self.statefulset, sts_name, ns, s)

        # --- Sentinels (their own StatefulSet: see the README for why) ------------------------------
        sentinel_headless = k8s.core.v1.Service(
            f"{name}-sentinel-headless",
            metadata={"name": self.names.sentinel_headless, "namespace": ns, "labels": labels["sentinel"]},
            spec={"clusterIP": "None", "publishNotReadyAddresses": True, "selector": selectors["sentinel"],
                  "ports": [{"name": "sentinel", "port": ha.SENTINEL_PORT, "targetPort": "sentinel",
                             "protocol": "TCP"}]},
            opts=named,
        )
        sentinel_container = {
            "name": "sentinel", "image": image, "imagePullPolicy": "IfNotPresent",
            "command": self.plan.command("sentinel"), "env": self.plan.env("sentinel"),
            "ports": [{"name": "sentinel", "containerPort": ha.SENTINEL_PORT, "protocol": "TCP"}],
            "resources": SENTINEL_RESOURCES, "securityContext": kb.container_security_context(),
            "volumeMounts": mounts("sentinel"), **self.plan.probes("sentinel"),
        }
        k8s.apps.v1.StatefulSet(
            f"{name}-sentinel",
            metadata={"name": self.names.sentinel_statefulset, "namespace": ns, "labels": labels["sentinel"]},
            spec={"serviceName": self.names.sentinel_headless, "replicas": s.sentinels,
                  "podManagementPolicy": "Parallel", "updateStrategy": {"type": "RollingUpdate"},
                  # Ready = SENTINEL CKQUORUM (probe.sh sentinel), then available only once the endpoints
                  # have seen it again: the next Sentinel never goes while they count less than a majority.
                  "minReadySeconds": self.plan.sentinel_min_ready_s,
                  "selector": {"matchLabels": selectors["sentinel"]},
                  "template": pod("sentinel", [sentinel_container] +
                                  ([exporter_container(s, self.names, "sentinel")] if s.exporter else []))},
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True, replace_on_changes=IMMUTABLE,
                                        depends_on=[sentinel_headless, *self._tls.waits]),
        )

        # --- The write and read endpoints (HAProxy) ------------------------------------------------
        endpoint_replicas = 2 if budgets else 1
        haproxy_container = {
            "name": "haproxy", "image": HAPROXY_IMAGE, "imagePullPolicy": "IfNotPresent",
            "command": self.plan.command("haproxy"), "env": self.plan.env("haproxy"),
            "ports": [{"name": "write", "containerPort": ha.REDIS_PORT, "protocol": "TCP"},
                      {"name": "read", "containerPort": ha.READ_PORT, "protocol": "TCP"},
                      {"name": "health", "containerPort": ha.HEALTH_PORT, "protocol": "TCP"}],
            "resources": HAPROXY_RESOURCES, "securityContext": kb.container_security_context(),
            # With TLS, the run volume holds the master CLI socket and the servers' saved states.
            "volumeMounts": [m for m in mounts("haproxy") if m["name"] != "run" or self.plan.tls],
            **self.plan.probes("haproxy"),
        }
        endpoint_containers = [haproxy_container]
        if self.plan.tls:
            endpoint_containers.append(tls_reload_container(self.plan, "haproxy", HAPROXY_IMAGE, mounts("haproxy")))
        endpoint_pod = pod("endpoint", endpoint_containers)
        if not self.plan.tls:
            endpoint_pod["spec"]["volumes"] = [v for v in endpoint_pod["spec"]["volumes"] if v["name"] != "run"]
        k8s.apps.v1.Deployment(
            f"{name}-endpoint",
            metadata={"namespace": ns, "labels": labels["endpoint"]},
            spec={"replicas": endpoint_replicas, "selector": {"matchLabels": selectors["endpoint"]},
                  "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                  "template": endpoint_pod},
            opts=child,
        )
        for service, port, suffix in ((self.write_service, "write", "write"), (self.read_service, "read", "read")):
            k8s.core.v1.Service(
                f"{name}-{suffix}",
                metadata={"name": service, "namespace": ns, "labels": labels["endpoint"]},
                spec={"type": "ClusterIP", "selector": selectors["endpoint"],
                      "ports": [{"name": "redis", "port": ha.REDIS_PORT, "targetPort": port, "protocol": "TCP"}]},
                opts=named,
            )

        # --- Disruption budgets and network policies ----------------------------------------------
        if budgets:
            limits = self.plan.pdb_max_unavailable
            for role, max_unavailable in (("redis", limits["redis"]), ("sentinel", limits["sentinel"]),
                                          ("endpoint", 1)):
                if role == "endpoint" and endpoint_replicas < 2:
                    continue
                k8s.policy.v1.PodDisruptionBudget(
                    f"{name}-{role}-pdb",
                    metadata={"namespace": ns, "labels": labels[role]},
                    spec={"maxUnavailable": max_unavailable, "selector": {"matchLabels": selectors[role]}},
                    opts=child,
                )
        obs = args.get("observability") or observability_settings.defaults()
        for role, ingress in ingress_rules(apps, selectors, s, obs).items():
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{role}-ingress", metadata={"namespace": ns, "labels": labels[role]},
                spec={"podSelector": {"matchLabels": selectors[role]}, "policyTypes": ["Ingress"], "ingress": ingress},
                opts=child)
        self.monitoring = monitoring.attach(
            name, self, monitoring_target(args["stack"], self.cache, s, self.plan, selectors, apps), obs)

        self._connections = {(a.namespace, a.cache_user): self._connection(a.namespace, a.cache_user) for a in apps}
        self.register_outputs({"statefulset": sts_name, "headless": self.names.headless,
                               "write": self.write_service, "read": self.read_service})

    def _connection(self, namespace: str, user: str | None) -> CacheConnection:
        return connection(self.settings, self.names, self.plan.topology.master_name, user=user,
                          password=self._passwords.get((namespace, user)), ca=self._tls.ca.get(namespace))

    def binding(self, namespace: str, user: str | None = None) -> CacheBinding:
        """The binding of the apps of `namespace` that authenticate as `user` (None: the default user)."""
        if (namespace, user) not in self._connections:
            as_user = f" as ACL user {user!r}" if user is not None else ""
            raise ValueError(f"cache {self.cache!r} has no app in namespace {namespace!r}{as_user}")
        s = self.settings
        return CacheBinding(cache=self.cache, pattern="statefulset", connection=self._connections[(namespace, user)],
                            default_ttl_seconds=s.default_ttl_seconds)

    @property
    def discovery(self) -> dict:
        names = self.names
        out = {
            "pattern": "statefulset",
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
        if self.monitoring is not None:
            out["monitoring"] = self.monitoring.discovery
        if self.settings.acl_users and self.server_secret is not None:
            # Where clients outside this stack's apps find a user's password (a name, never the value).
            out["aclUsers"] = {u.name: {"secret": self.server_secret.name, "key": user_key(u.name)}
                               for u in self.settings.acl_users}
        return out


def user_key(user: str) -> str:
    """The Secret key holding an ACL user's password."""
    return f"{USER_KEY_PREFIX}{user}"


def build(name: str, settings: StatefulSetSettings, context: BuildContext,
          opts: pulumi.ResourceOptions) -> RedisStatefulSet:
    """The registry's entry point."""
    return RedisStatefulSet(name, {
        "cache": name, "settings": settings, "stack": context.stack, "namespace": context.namespace,
        "apps": context.apps, "environment": context.environment, "cluster_domain": context.cluster_domain,
        "observability": context.observability,
    }, opts)
