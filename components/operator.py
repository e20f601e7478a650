"""Pattern 5, operator: a Redis operator's custom resource (OT-CONTAINER-KIT RedisReplication with
Sentinel or RedisCluster, or Spotahome RedisFailover), optionally with the operator's Helm chart.

Choose it where a platform team already runs an operator and wants failover, resharding and upgrades
handled in-cluster by it. It costs a controller with cluster-wide rights, CRDs to upgrade by hand, and
behaviour you only control through the fields its CRD offers (checked offline by tools/crds.py).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, NotRequired, Sequence, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from . import images
from . import k8s as kb
from . import charts, passwords, sizing, tls
from .config import (DEFAULT_OPERATOR_VERSION, OPERATOR_IMAGES, OPERATOR_NAME_LIMITS, AppConfig,
                     OperatorCache, OperatorInstall, StackConfig)
from .contract import CacheBinding, CacheConnection, FileRef, SecretRef, SentinelRef
from .naming import physical_name
from .observability import component as monitoring, exporter as metrics, scrape
from .observability import settings as observability_settings
from .observability.settings import ObservabilityConfig
from .observability.target import CacheTarget, ClientTarget, Scrape

OT_API = "redis.redis.opstreelabs.in/v1beta2"
SPOTAHOME_API = "databases.spotahome.com/v1"
KINDS = {"ot-replication": "RedisReplication", "ot-cluster": "RedisCluster", "spotahome-failover": "RedisFailover"}
API_VERSIONS = {"ot-replication": OT_API, "ot-cluster": OT_API, "spotahome-failover": SPOTAHOME_API}
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
# Both operators set the exporter's environment themselves (REDIS_ADDR, REDIS_PASSWORD from the
# Secret), so the upstream scratch image of the project's one exporter version serves both: OT's own
# quay.io/opstree/redis-exporter stopped at v1.44.0, Spotahome's default at v1.43.0.
OT_EXPORTER_IMAGE = metrics.IMAGE
SPOTAHOME_EXPORTER_IMAGE = metrics.IMAGE
REDIS_PORT, SENTINEL_PORT, EXPORTER_PORT = 6379, 26379, metrics.PORT
# Exporter ports and their container port names, as the operators define them: OT
# (internal/controller/common/constants.go v0.26.0) `redis-exporter` on 9121; Spotahome
# (operator/redisfailover/service/generator.go v1.3.0-rc1) `metrics` on 9121, and on 9355 for the
# Sentinel exporter (sentinelExporterPort). OT's embedded Sentinels have no exporter setting.
OT_EXPORTER_PORT_NAME = "redis-exporter"
SPOTAHOME_EXPORTER_PORT_NAME = "metrics"
SPOTAHOME_SENTINEL_EXPORTER_PORT = 9355
# Both operators name the Sentinel master group `mymaster` and offer no setting for it: OT in
# api/redisreplication/v1beta2/redisreplication_types_helper.go (GetConnectionInfo) and the sentinel
# image's MASTER_GROUP_NAME default; Spotahome in operator/redisfailover/service/generator.go.
MASTER_NAME = "mymaster"
# The OT images run as UID/GID 1000 and their entrypoints append to /etc/redis/redis.conf, which the
# image grants to 1000:0 (OT-CONTAINER-KIT/redis Dockerfile): another UID or a read-only root
# filesystem stops Redis from starting. Spotahome runs stock Redis images with config on volumes.
OT_UID = 1000
# The default of `operators.<operator>.namespace`, where an operator is assumed to run when the stack
# does not say (the NetworkPolicy admits it there).
DEFAULT_OPERATOR_NAMESPACE = "redis-operator"
SENTINEL_RESOURCES = {"requests": {"cpu": "25m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}}
EXPORTER_RESOURCES = metrics.RESOURCES


@dataclass(frozen=True)
class Endpoints:
    """The Services (and pod DNS names) an operator creates for one custom resource, as apps use them."""

    host: str                      # Service of the primary (or any cluster node)
    read_host: str | None          # Service of the replicas
    sentinels: tuple[str, ...]     # "host:port" of each Sentinel
    services: tuple[str, ...]      # every Service name, for the certificate's DNS names
    pod_services: tuple[str, ...]  # headless Services whose pods get DNS names `<pod>.<service>`


def endpoints(kind: str, name: str, namespace: str, domain: str, sentinels: int) -> Endpoints:
    """Fully qualified names of what the operator creates for the custom resource `name`."""
    def fqdn(service: str) -> str:
        return f"{service}.{namespace}.svc.{domain}"

    if kind == "ot-replication":
        # OT-CONTAINER-KIT/redis-operator v0.26.0, internal/k8sutils/redis-replication.go,
        # CreateReplicationService: `<name>`, `<name>-headless`, `<name>-additional`, and
        # `<name>-master` / `<name>-replica` selecting the `redis-role` label the operator keeps on
        # the pods. Sentinel (embedded): api/redisreplication/v1beta2/redisreplication_types_helper.go,
        # SentinelStatefulSet `<name>-s` and SentinelHLService `<name>-s-hl` (headless, port 26379,
        # internal/controller/redisreplication/redisreplication_sentinel.go, newSentinelService).
        sentinel_service = f"{name}-s-hl"
        return Endpoints(
            host=fqdn(f"{name}-master"), read_host=fqdn(f"{name}-replica"),
            sentinels=tuple(f"{name}-s-{i}.{fqdn(sentinel_service)}:{SENTINEL_PORT}" for i in range(sentinels)),
            services=(name, f"{name}-master", f"{name}-replica", f"{name}-headless", f"{name}-additional",
                      sentinel_service),
            pod_services=(f"{name}-headless", sentinel_service),
        )
    if kind == "ot-cluster":
        # OT-CONTAINER-KIT/redis-operator v0.26.0, internal/k8sutils/redis-cluster.go,
        # CreateRedisClusterService: `<name>-<role>`, `<name>-<role>-headless` and
        # `<name>-<role>-additional` for role leader and follower. Cluster clients discover every
        # node from the one they reach first (CLUSTER SLOTS), so the leader Service is the seed.
        roles = ("leader", "follower")
        return Endpoints(
            host=fqdn(f"{name}-leader"), read_host=None, sentinels=(),
            services=tuple(s for r in roles for s in (f"{name}-{r}", f"{name}-{r}-headless", f"{name}-{r}-additional")),
            pod_services=tuple(f"{name}-{r}-headless" for r in roles),
        )
    # spotahome/redis-operator v1.3.0-rc1, operator/redisfailover/service/constants.go (baseName "rf",
    # redisMasterName "rm", redisSlaveName "rs", sentinelName "s") and names.go (generateName
    # "%s%s-%s"): `rfrm-<name>` selects the master, `rfrs-<name>` the replicas, `rfs-<name>` the
    # Sentinels on 26379 (generator.go: generateRedisMasterService, generateRedisSlaveService,
    # generateSentinelService). The Sentinels are a Deployment: no stable pod names, so the Service.
    return Endpoints(
        host=fqdn(f"rfrm-{name}"), read_host=fqdn(f"rfrs-{name}"),
        sentinels=(f"{fqdn(f'rfs-{name}')}:{SENTINEL_PORT}",),
        services=(f"rfrm-{name}", f"rfrs-{name}", f"rfs-{name}", f"rfr-{name}"), pod_services=(),
    )


def pod_selector(kind: str, name: str) -> dict:
    """A label selector for every pod the operator runs for the custom resource `name`."""
    if kind == "spotahome-failover":
        # spotahome/redis-operator, operator/redisfailover/service/client.go, generateSelectorLabels:
        # app.kubernetes.io/{name: <name>, component: redis|sentinel, part-of: redis-failover}.
        return {"matchLabels": {"app.kubernetes.io/part-of": "redis-failover", "app.kubernetes.io/name": name}}
    # OT-CONTAINER-KIT/redis-operator v0.26.0, internal/controller/common/labels.go (getRedisStableLabels):
    # `app: <statefulset>`, `redis_setup_type`, `role`; the StatefulSets are `<name>` and `<name>-s`
    # (replication with Sentinel) or `<name>-leader` and `<name>-follower` (cluster).
    if kind == "ot-cluster":
        apps, setup = [f"{name}-leader", f"{name}-follower"], ["cluster"]
    else:
        apps, setup = [name, f"{name}-s"], ["replication", "sentinel"]
    return {"matchExpressions": [{"key": "app", "operator": "In", "values": apps},
                                 {"key": "redis_setup_type", "operator": "In", "values": setup}]}


def images(s: OperatorCache) -> tuple[str, str]:
    """(Redis image, Sentinel image): the configured ones, else the operator image table's."""
    table = OPERATOR_IMAGES.get((s.operator, s.version or DEFAULT_OPERATOR_VERSION[s.operator]), ("", ""))
    return s.image or table[0], s.sentinel_image or table[1]


def maxmemory(s: OperatorCache) -> int:
    return s.maxmemory


# OT: the file the Redis image's entrypoint includes last when it exists (OT-CONTAINER-KIT/redis
# entrypoint.sh, EXTERNAL_CONFIG_FILE default), inside the folder where the operator mounts the
# ConfigMap named by `redisConfig.additionalRedisConfig` (redis-operator v0.26.0,
# internal/k8sutils/statefulset.go, externalConfigMount /etc/redis/external.conf.d).
OT_EXTRA_CONF_KEY = "redis-additional.conf"
# Spotahome: the operator starts Redis with `redis-server /redis/redis.conf` (generator.go,
# getRedisCommand; /redis is filled by its init container) unless `redis.command` is given.
SPOTAHOME_REDIS_CONF = "/redis/redis.conf"


def memory_directives(s: OperatorCache) -> list[str]:
    """maxmemory (the planned bytes), the eviction policy and, with replicas, the planned replica
    output-buffer limit and backlog (docs/planning.md), as `name value` lines."""
    lines = [f"maxmemory {maxmemory(s)}", f"maxmemory-policy {s.maxmemory_policy}"]
    if s.pod.replica_buffer is not None:
        lines += [f"client-output-buffer-limit replica {s.pod.replica_buffer} 0 0", f"repl-backlog-size {s.pod.backlog}"]
    return lines


def ot_extra_conf(s: OperatorCache) -> str:
    """The OT caches' extra redis.conf. Why a file: operator v0.26.0 turns
    `maxMemoryPercentOfLimit` into maxmemory only in its init-config agent, behind the feature gate
    GenerateConfigInInitContainer (off by default), and the image's entrypoint never reads the env
    var it sets otherwise; the entrypoint does include this file, last, so it wins either way."""
    return "".join(f"{line}\n" for line in memory_directives(s))


def spotahome_command(s: OperatorCache) -> list[str]:
    """Spotahome applies `customConfig` only by CONFIG SET from its reconcile loop, after every Redis
    pod runs: a restarted pod would run without maxmemory until then. The same values as flags on
    its own command line hold from the first second."""
    flags = [part for line in memory_directives(s) for part in (f"--{line.split(' ', 1)[0]}", line.split(" ", 1)[1])]
    return ["redis-server", SPOTAHOME_REDIS_CONF, *flags]


def redis_resources(s: OperatorCache) -> dict:
    # Memory request = limit: Redis memory is not elastic, and a pod above its request is the first
    # evicted under node pressure. No CPU limit unless asked: a throttled Redis stalls every client.
    resources: dict = {
        "requests": {"cpu": sizing.format_millicores(s.cpu), "memory": sizing.format_bytes(s.memory_limit)},
        "limits": {"memory": sizing.format_bytes(s.memory_limit)},
    }
    if s.cpu_limit is not None:
        resources["limits"]["cpu"] = sizing.format_millicores(s.cpu_limit)
    return resources


def volume_claim(s: OperatorCache) -> dict:
    spec: dict = {"accessModes": ["ReadWriteOnce"],
                  "resources": {"requests": {"storage": sizing.format_bytes(s.storage or 0)}}}
    if s.storage_class:
        spec["storageClassName"] = s.storage_class
    return spec


def _ot_pod_security() -> dict:
    return kb.pod_security_context(OT_UID)


def _ot_container_security() -> dict:
    return {**kb.container_security_context(OT_UID), "readOnlyRootFilesystem": False}


def _ot_redis_config(s: OperatorCache, extra_conf: pulumi.Input[str] | None) -> dict:
    """`redisConfig`: maxmemory and the policy in the ConfigMap `extra_conf` (read at every start), and
    the same as CONFIG SET the operator applies to running pods (dynamicConfig), so a changed value
    reaches them before the pods roll onto the new ConfigMap."""
    config: dict = {"dynamicConfig": memory_directives(s)}
    if extra_conf is not None:
        config["additionalRedisConfig"] = extra_conf
    return config


def _ot_common(s: OperatorCache, secret: pulumi.Input[str] | None, tls_secret: Any, production: bool,
               extra_conf: pulumi.Input[str] | None = None) -> dict:
    """The fields RedisReplication and RedisCluster share (api/common/v1beta2 in OT's source)."""
    image, _ = images(s)
    kubernetes_config: dict = {"image": image, "imagePullPolicy": "IfNotPresent", "resources": redis_resources(s)}
    if secret is not None:
        kubernetes_config["redisSecret"] = {"name": secret, "key": passwords.PASSWORD_KEY}
    spec: dict = {
        "kubernetesConfig": kubernetes_config,
        "redisConfig": _ot_redis_config(s, extra_conf),
        "podSecurityContext": _ot_pod_security(),
    }
    if s.storage is not None:
        spec["storage"] = {"volumeClaimTemplate": {"spec": volume_claim(s)}, "keepAfterDelete": production}
    if s.exporter:
        spec["redisExporter"] = {"enabled": True, "image": OT_EXPORTER_IMAGE, "imagePullPolicy": "IfNotPresent",
                                 "resources": EXPORTER_RESOURCES, "securityContext": kb.container_security_context()}
    if tls_secret is not None:
        # Key names in a cert-manager (or kubernetes.io/tls + ca.crt) Secret.
        spec["TLS"] = {"ca": "ca.crt", "cert": "tls.crt", "key": "tls.key", "secret": {"secretName": tls_secret}}
    return spec


def ot_replication_spec(s: OperatorCache, secret: pulumi.Input[str] | None, tls_secret: Any,
                        production: bool, disruption_budget: bool, extra_conf: pulumi.Input[str] | None = None) -> dict:
    """RedisReplication: 1 + replicas pods, with the Sentinels embedded in the same resource."""
    _, sentinel_image = images(s)
    spec = _ot_common(s, secret, tls_secret, production, extra_conf)
    spec.update({
        "clusterSize": 1 + s.replicas,
        "securityContext": _ot_container_security(),
        # Embedded Sentinel (spec.sentinel) rather than a separate RedisSentinel: one resource to
        # create, protect and delete; the operator then follows Sentinel's choice of master and
        # labels the pods for `<name>-master`. The Sentinels authenticate to Redis with the
        # kubernetesConfig.redisSecret; `sentinel.redisSecret` is left unset on purpose (see README).
        "sentinel": {
            "size": s.sentinels,
            "image": sentinel_image,
            "imagePullPolicy": "IfNotPresent",
            "quorum": str(s.sentinels // 2 + 1),
            "resources": SENTINEL_RESOURCES,
            "podSecurityContext": _ot_pod_security(),
            "securityContext": _ot_container_security(),
        },
    })
    if disruption_budget:
        spec["pdb"] = {"enabled": True, "maxUnavailable": 1}
    return spec


def ot_cluster_spec(s: OperatorCache, secret: pulumi.Input[str] | None, tls_secret: Any,
                    production: bool, disruption_budget: bool, extra_conf: pulumi.Input[str] | None = None) -> dict:
    """RedisCluster: `shards` leaders and `shards * replicas` followers.

    `redisFollower.replicas` is the size of the follower StatefulSet, a total: follower i replicates
    leader i % leaders (internal/k8sutils/redis.go, ExecuteRedisReplicationCommand, v0.26.0). The
    operator mounts an extra config only from `redisLeader.redisConfig` / `redisFollower.redisConfig`
    (internal/k8sutils/redis-cluster.go, CreateRedisLeader/CreateRedisFollower), so both name it."""
    spec = _ot_common(s, secret, tls_secret, production)
    role: dict = {"securityContext": _ot_container_security()}
    if extra_conf is not None:
        role["redisConfig"] = {"additionalRedisConfig": extra_conf}
    if disruption_budget:
        role["pdb"] = {"enabled": True, "maxUnavailable": 1}
    spec.update({
        "clusterSize": s.shards,
        "clusterVersion": "v7",
        "port": REDIS_PORT,
        "redisLeader": {**role, "replicas": s.shards},
        "redisFollower": {**role, "replicas": s.shards * s.replicas},
    })
    if s.storage is not None:
        # Data persistence and nodes.conf on a volume: a restarted node keeps its cluster identity.
        spec["persistenceEnabled"] = True
        spec["storage"]["nodeConfVolume"] = True
        spec["storage"]["nodeConfVolumeClaimTemplate"] = {
            "spec": {**volume_claim(s), "resources": {"requests": {"storage": "1Gi"}}}}
    return spec


def spotahome_spec(s: OperatorCache, secret: pulumi.Input[str] | None, production: bool,
                   disruption_budget: bool) -> dict:
    """RedisFailover: `redis.replicas` counts every Redis pod (primary included), Sentinels apart."""
    image, sentinel_image = images(s)
    container = kb.container_security_context()
    redis: dict = {
        "replicas": 1 + s.replicas,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "port": REDIS_PORT,
        "resources": redis_resources(s),
        # No maxmemory-from-limit in this operator: the planned value, applied by its CONFIG SET
        # (customConfig) to running pods and on the command line from each start.
        "customConfig": memory_directives(s),
        "command": spotahome_command(s),
        "securityContext": kb.pod_security_context(),
        "containerSecurityContext": container,
        "disablePodDisruptionBudget": not disruption_budget,
    }
    if s.storage is not None:
        redis["storage"] = {"keepAfterDeletion": production,
                            "persistentVolumeClaim": {"metadata": {"name": "redis-data"}, "spec": volume_claim(s)}}
    if s.exporter:
        redis["exporter"] = {"enabled": True, "image": SPOTAHOME_EXPORTER_IMAGE, "containerSecurityContext": container,
                             "resources": EXPORTER_RESOURCES}
    sentinel: dict = {
        "replicas": s.sentinels,
        "image": sentinel_image,
        "imagePullPolicy": "IfNotPresent",
        "resources": SENTINEL_RESOURCES,
        "securityContext": kb.pod_security_context(),
        "containerSecurityContext": container,
        "configCopy": {"containerSecurityContext": container},
        "disablePodDisruptionBudget": not disruption_budget,
    }
    if s.exporter:
        sentinel["exporter"] = {"enabled": True, "image": SPOTAHOME_EXPORTER_IMAGE,
                                "containerSecurityContext": container, "resources": EXPORTER_RESOURCES}
    spec: dict = {"redis": redis, "sentinel": sentinel}
    if secret is not None:
        # The operator reads key `password` of this Secret (generator.go: REDIS_PASSWORD secretKeyRef).
        spec["auth"] = {"secretPath": secret}
    return spec


class OperatorInstallationArgs(TypedDict):
    operator: str
    """ot-container-kit or spotahome: picks the default chart and repository."""
    settings: OperatorInstall
    """Namespace, chart, repository, pinned version and extra values of the Helm release."""
    production: bool
    """Protect the release from `pulumi destroy` (every cache of the operator depends on it)."""
    namespace_managed: bool
    """The program creates the operator's namespace (manageNamespaces); else Helm creates it if missing."""


class OperatorInstallation(pulumi.ComponentResource):
    """The operator's Helm chart, installed once per stack for every cache that uses it."""

    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: OperatorInstallationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cache-patterns:index:OperatorInstallation", name, None, opts)
        settings = args["settings"]
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
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            # An explicit release name, distinct per operator (config refuses clashing installs):
            # Spotahome's chart names its objects after it.
            name=install.release,
            **source,
            namespace=settings.namespace,
            # Where the program manages namespaces it creates (labels, deletes) this one too: Helm
            # would leave the one it created behind after `pulumi destroy`.
            create_namespace=not args["namespace_managed"],
            values=_merged(RESTRICTED_CHART_VALUES.get(args["operator"], {}), settings.values),
            # Roll back a failed upgrade instead of leaving a half-upgraded controller.
            atomic=True,
            # Children do not inherit the component's depends_on, and Helm fails at once (no retry)
            # when the namespace is not there yet: wait for the stack's namespaces explicitly.
            opts=pulumi.ResourceOptions(parent=self, protect=args["production"], delete_before_replace=True,
                                        depends_on=(opts.depends_on if opts else None)),
        )
        self.register_outputs({"release": self.release.name, "namespace": settings.namespace,
                               "chart": self.chart, "version": settings.version})


def _merged(base: Any, override: Any) -> Any:
    """`override` over `base`, maps merged key by key (Helm's own rule for values)."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merged(base.get(k), v) for k, v in override.items()}}
    return override if override is not None else base


# build() in caches.py runs once per cache, but an operator is installed once per stack: the
# installations made for one StackConfig (one program evaluation), keyed by its id and checked by
# a weak reference so a later evaluation never sees an earlier one's resources.
_INSTALLATIONS: dict[int, tuple[weakref.ref, dict[str, OperatorInstallation]]] = {}


def installation(cfg: StackConfig, operator: str, opts: pulumi.ResourceOptions) -> OperatorInstallation | None:
    """The stack's Helm release of `operator`, if the stack installs it (made on first use)."""
    settings = cfg.operators.get(operator)
    if settings is None or not settings.install:
        return None
    for key in [k for k, (ref, _) in _INSTALLATIONS.items() if ref() is None]:
        del _INSTALLATIONS[key]
    ref, made = _INSTALLATIONS.get(id(cfg), (None, {}))
    if ref is None or ref() is not cfg:
        made = {}
        _INSTALLATIONS[id(cfg)] = (weakref.ref(cfg), made)
    if operator not in made:
        made[operator] = OperatorInstallation(
            f"operator-{operator}", {"operator": operator, "settings": settings, "production": cfg.production,
                                    "namespace_managed": cfg.manage_namespaces}, opts)
    return made[operator]


class RedisOperatorCacheArgs(TypedDict):
    settings: OperatorCache
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
        self.resource_name = physical_name(args["stack"], cache, max_len=OPERATOR_NAME_LIMITS[s.kind],
                                           what=f"{s.kind} resource")
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
                                                                          labels), obs)
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

    def binding(self, namespace: str) -> CacheBinding:
        if namespace not in self._connections:
            raise ValueError(f"cache {self.cache!r} has no app in namespace {namespace!r}: "
                             f"its password Secret is only made in {sorted(self._connections)}")
        s = self.settings
        return CacheBinding(cache=self.cache, pattern="operator", connection=self._connections[namespace],
                            default_ttl_seconds=s.default_ttl // 1000 if s.default_ttl else None)

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


def monitoring_target(s: OperatorCache, stack: str, cache: str, namespace: str, resource: str,
                      app_namespaces: Sequence[str], labels: dict) -> CacheTarget:
    """What the rules and dashboard are generated from: the custom resource this component wrote."""
    data = sentinel = None
    if s.exporter and s.kind == "spotahome-failover":
        base = {"app.kubernetes.io/part-of": "redis-failover", "app.kubernetes.io/name": resource}
        data, sentinel = (Scrape(name=f"{resource}-{role}", namespace=namespace, port=SPOTAHOME_EXPORTER_PORT_NAME,
                                 selector={"matchLabels": {**base, "app.kubernetes.io/component": role}}, role=role)
                          for role in ("redis", "sentinel"))
    elif s.exporter:
        # Only the data pods: OT's Sentinel pods carry no exporter.
        apps = [f"{resource}-leader", f"{resource}-follower"] if s.kind == "ot-cluster" else [resource]
        setup = "cluster" if s.kind == "ot-cluster" else "replication"
        data = Scrape(name=f"{resource}-redis", namespace=namespace, port=OT_EXPORTER_PORT_NAME, role="redis",
                      selector={"matchExpressions": [{"key": "app", "operator": "In", "values": apps},
                                                     {"key": "redis_setup_type", "operator": "In",
                                                      "values": [setup]}]})
    return CacheTarget(
        stack=stack, cache=cache, pattern="operator", kind=s.kind, namespace=namespace, data=data, sentinel=sentinel,
        shards=s.shards if s.kind == "ot-cluster" else 1, replicas=s.replicas,
        sentinels=0 if s.kind == "ot-cluster" else s.sentinels, quorum=s.sentinels // 2 + 1,
        maxmemory=maxmemory(s), maxmemory_policy=s.maxmemory_policy,
        client=ClientTarget(cache=cache, namespaces=tuple(app_namespaces)) if s.l1 is not None else None,
        labels={**labels, "app.kubernetes.io/component": "monitoring"},
    )


def build(name: str, cfg: StackConfig, opts: pulumi.ResourceOptions) -> RedisOperatorCache:
    """The operator cache `name` of the stack, after the operator's Helm release if the stack installs it."""
    settings = cfg.caches[name]
    assert isinstance(settings, OperatorCache)
    install = installation(cfg, settings.operator, opts)
    operator_settings = cfg.operators.get(settings.operator)
    return RedisOperatorCache(name, {
        "settings": settings, "cache": name, "stack": cfg.stack, "namespace": cfg.namespace,
        "environment": cfg.environment, "cluster_domain": cfg.cluster_domain, "apps": cfg.apps_of(name),
        "operator_namespace": operator_settings.namespace if operator_settings else DEFAULT_OPERATOR_NAMESPACE,
        "install": install.release if install is not None else None, "observability": cfg.observability,
    }, opts)
