"""Pattern 5's custom resources, as pure functions of a cache's settings: the spec of each kind, the
Services the operator creates for it (what apps are handed), and the labels of its pods. Every spec
is validated against the operator's real CRD by the tests."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from cache_patterns.config import resources
from cache_patterns.core import k8s as kb
from cache_patterns.core import passwords, sizing
from cache_patterns.observability import exporter as metrics
from cache_patterns.patterns.operator.settings import OperatorSettings

OT_API = "redis.redis.opstreelabs.in/v1beta2"
SPOTAHOME_API = "databases.spotahome.com/v1"
KINDS = {"ot-replication": "RedisReplication", "ot-cluster": "RedisCluster", "spotahome-failover": "RedisFailover"}
API_VERSIONS = {"ot-replication": OT_API, "ot-cluster": OT_API, "spotahome-failover": SPOTAHOME_API}
# Both operators set the exporter's environment themselves (REDIS_ADDR, REDIS_PASSWORD from the
# Secret), so the upstream scratch image of the project's one exporter version serves both: OT's own
# quay.io/opstree/redis-exporter stopped at v1.44.0, Spotahome's default at v1.43.0. The images are
# written here as the catalogue's defaults; operator/pods.py puts the stack's `images` in their place.
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
SENTINEL_RESOURCES = resources.default("sentinel")
EXPORTER_RESOURCES = resources.default("exporter")


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


def images(s: OperatorSettings) -> tuple[str, str]:
    """(Redis image, Sentinel image): the configured ones, else the operator image table's."""
    return s.images()


def maxmemory(s: OperatorSettings) -> int:
    return s.maxmemory


# OT: the file the Redis image's entrypoint includes last when it exists (OT-CONTAINER-KIT/redis
# entrypoint.sh, EXTERNAL_CONFIG_FILE default), inside the folder where the operator mounts the
# ConfigMap named by `redisConfig.additionalRedisConfig` (redis-operator v0.26.0,
# internal/k8sutils/statefulset.go, externalConfigMount /etc/redis/external.conf.d).
OT_EXTRA_CONF_KEY = "redis-additional.conf"
# Spotahome: the operator starts Redis with `redis-server /redis/redis.conf` (generator.go,
# getRedisCommand; /redis is filled by its init container) unless `redis.command` is given.
SPOTAHOME_REDIS_CONF = "/redis/redis.conf"


def memory_directives(s: OperatorSettings) -> list[str]:
    """maxmemory (the planned bytes), the eviction policy and, with replicas, the planned replica
    output-buffer limit and backlog (docs/planning.md), as `name value` lines."""
    lines = [f"maxmemory {maxmemory(s)}", f"maxmemory-policy {s.maxmemory_policy}"]
    if s.pod.replica_buffer is not None:
        lines += [f"client-output-buffer-limit replica {s.pod.replica_buffer} 0 0", f"repl-backlog-size {s.pod.backlog}"]
    return lines


def ot_extra_conf(s: OperatorSettings) -> str:
    """The OT caches' extra redis.conf. Why a file: operator v0.26.0 turns
    `maxMemoryPercentOfLimit` into maxmemory only in its init-config agent, behind the feature gate
    GenerateConfigInInitContainer (off by default), and the image's entrypoint never reads the env
    var it sets otherwise; the entrypoint does include this file, last, so it wins either way."""
    return "".join(f"{line}\n" for line in memory_directives(s))


def spotahome_command(s: OperatorSettings) -> list[str]:
    """Spotahome applies `customConfig` only by CONFIG SET from its reconcile loop, after every Redis
    pod runs: a restarted pod would run without maxmemory until then. The same values as flags on
    its own command line hold from the first second."""
    flags = [part for line in memory_directives(s) for part in (f"--{line.split(' ', 1)[0]}", line.split(" ", 1)[1])]
    return ["redis-server", SPOTAHOME_REDIS_CONF, *flags]


def redis_resources(s: OperatorSettings) -> dict:
    # Memory request = limit: Redis memory is not elastic, and a pod above its request is the first
    # evicted under node pressure. No CPU limit unless asked: a throttled Redis stalls every client.
    resources: dict = {
        "requests": {"cpu": sizing.format_millicores(s.cpu), "memory": sizing.format_bytes(s.memory_limit)},
        "limits": {"memory": sizing.format_bytes(s.memory_limit)},
    }
    if s.cpu_limit is not None:
        resources["limits"]["cpu"] = sizing.format_millicores(s.cpu_limit)
    return resources


def volume_claim(s: OperatorSettings) -> dict:
    spec: dict = {"accessModes": ["ReadWriteOnce"],
                  "resources": {"requests": {"storage": sizing.format_bytes(s.storage or 0)}}}
    if s.storage_class:
        spec["storageClassName"] = s.storage_class
    return spec


def _ot_pod_security() -> dict:
    return kb.pod_security_context(OT_UID)


def _ot_container_security() -> dict:
    return {**kb.container_security_context(OT_UID), "readOnlyRootFilesystem": False}


def _ot_redis_config(s: OperatorSettings, extra_conf: pulumi.Input[str] | None) -> dict:
    """`redisConfig`: maxmemory and the policy in the ConfigMap `extra_conf` (read at every start), and
    the same as CONFIG SET the operator applies to running pods (dynamicConfig), so a changed value
    reaches them before the pods roll onto the new ConfigMap."""
    config: dict = {"dynamicConfig": memory_directives(s)}
    if extra_conf is not None:
        config["additionalRedisConfig"] = extra_conf
    return config


def _ot_common(s: OperatorSettings, secret: pulumi.Input[str] | None, tls_secret: Any, production: bool,
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
                                 "resources": s.resources.exporter.of("exporter").k8s(),
                                 "securityContext": kb.container_security_context()}
    if tls_secret is not None:
        # Key names in a cert-manager (or kubernetes.io/tls + ca.crt) Secret.
        spec["TLS"] = {"ca": "ca.crt", "cert": "tls.crt", "key": "tls.key", "secret": {"secretName": tls_secret}}
    return spec


def ot_replication_spec(s: OperatorSettings, secret: pulumi.Input[str] | None, tls_secret: Any,
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
            "resources": s.resources.sentinel.of("sentinel").k8s(),
            "podSecurityContext": _ot_pod_security(),
            "securityContext": _ot_container_security(),
        },
    })
    if disruption_budget:
        spec["pdb"] = {"enabled": True, "maxUnavailable": 1}
    return spec


def ot_cluster_spec(s: OperatorSettings, secret: pulumi.Input[str] | None, tls_secret: Any,
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


def spotahome_spec(s: OperatorSettings, secret: pulumi.Input[str] | None, production: bool,
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
                             "resources": s.resources.exporter.of("exporter").k8s()}
    sentinel: dict = {
        "replicas": s.sentinels,
        "image": sentinel_image,
        "imagePullPolicy": "IfNotPresent",
        "resources": s.resources.sentinel.of("sentinel").k8s(),
        "securityContext": kb.pod_security_context(),
        "containerSecurityContext": container,
        "configCopy": {"containerSecurityContext": container},
        "disablePodDisruptionBudget": not disruption_budget,
    }
    if s.exporter:
        sentinel["exporter"] = {"enabled": True, "image": SPOTAHOME_EXPORTER_IMAGE,
                                "containerSecurityContext": container,
                                "resources": s.resources.exporter.of("exporter").k8s()}
    spec: dict = {"redis": redis, "sentinel": sentinel}
    if secret is not None:
        # The operator reads key `password` of this Secret (generator.go: REDIS_PASSWORD secretKeyRef).
        spec["auth"] = {"secretPath": secret}
    return spec
