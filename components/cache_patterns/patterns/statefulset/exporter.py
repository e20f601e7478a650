"""Pattern 2's metrics: a redis_exporter container beside each Redis and each Sentinel (`exporter:`,
on by default where the stack's `observability` is), and what the monitoring of the cache (PodMonitors,
rules, dashboard) is generated from."""
from __future__ import annotations

from typing import Literal, Sequence

from cache_patterns.config.app import AppConfig
from cache_patterns.core import contract, images
from cache_patterns.core.image_set import DEFAULT_IMAGES, ImageSet
from cache_patterns.core import k8s as kb
from cache_patterns.observability import exporter as metrics
from cache_patterns.observability.target import BackupTarget, CacheTarget, ClientTarget, Scrape
from cache_patterns.patterns.statefulset import ha
from cache_patterns.patterns.statefulset.settings import StatefulSetSettings

EXPORTER_IMAGE = images.EXPORTER_IMAGE
EXPORTER_PORT = metrics.PORT
# The exporter scrapes its own pod's Redis over loopback: no DNS on the scrape path, and one target
# URI for every pod, so its password file (a JSON map of exact target URI -> password, the only form
# REDIS_PASSWORD_FILE takes) is one Secret key rather than a file rendered per pod at start-up.
EXPORTER_PASSWORD_KEY = "exporter-passwords.json"
EXPORTER_PASSWORD_FILE = f"{contract.AUTH_DIR}/exporter-passwords.json"


def exporter_target(tls_on: bool, port: int = ha.REDIS_PORT) -> str:
    """What an exporter scrapes: its own pod's Redis (6379) or Sentinel (26379), over loopback."""
    return f"{'rediss' if tls_on else 'redis'}://127.0.0.1:{port}"


def exporter_container(s: StatefulSetSettings, names: ha.PodNames, role: Literal["redis", "sentinel"],
                       pulls: ImageSet = DEFAULT_IMAGES) -> dict:
    """redis_exporter beside Redis (role redis) or a Sentinel (role sentinel), started as the image
    starts it (its ENTRYPOINT, the binary at the filesystem root), configured by env. The password
    reaches it as REDIS_PASSWORD_FILE, the JSON map the exporter reads (a Secret key), never as an
    env value. With TLS it verifies the server certificate against the pod's own name and the CA
    bundle the pod currently trusts. The command is the default image's entrypoint (the binary at
    the filesystem root): an image moved or pinned by `images.exporter` must have it there too."""
    tls_on = s.tls.enabled
    port, headless = (ha.REDIS_PORT, names.headless) if role == "redis" else (ha.SENTINEL_PORT, names.sentinel_headless)
    env = [{"name": "REDIS_ADDR", "value": exporter_target(tls_on, port)}]
    mounts = []
    if s.auth:
        env.append({"name": "REDIS_PASSWORD_FILE", "value": EXPORTER_PASSWORD_FILE})
        mounts.append({"name": contract.AUTH_VOLUME, "mountPath": contract.AUTH_DIR, "readOnly": True})
    if tls_on:
        env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}] + env + [
            {"name": "REDIS_EXPORTER_TLS_CA_CERT_FILE", "value": f"{ha.TLS_LIVE_DIR}/ca.crt"},
            {"name": "REDIS_EXPORTER_TLS_SERVER_NAME", "value": "$(POD_NAME)." + names.domain(headless)}]
        mounts.append({"name": ha.TLS_LIVE_VOLUME, "mountPath": ha.TLS_LIVE_DIR, "readOnly": True})
    health = {"httpGet": {"path": "/health", "port": "metrics"}}
    return {
        "name": "exporter", **pulls.container("exporter"),
        "command": list(images.of(EXPORTER_IMAGE).entrypoint), "env": env,
        "ports": [{"name": "metrics", "containerPort": EXPORTER_PORT, "protocol": "TCP"}],
        "resources": s.resources.exporter.of("exporter").k8s(), "securityContext": kb.container_security_context(),
        "volumeMounts": mounts,
        # /health answers without touching Redis: the pod's readiness stays Redis's own.
        "readinessProbe": health | {"periodSeconds": 10, "failureThreshold": 3},
        "livenessProbe": health | {"periodSeconds": 30},
    }


def monitoring_target(stack: str, cache: str, s: StatefulSetSettings, plan: ha.HaPlan, selectors: dict,
                      apps: Sequence[AppConfig]) -> CacheTarget:
    """What the rules and dashboard are generated from: the plan the component deployed."""
    names = plan.names
    scrapes = {role: Scrape(name=f"{names.statefulset}-{role}", namespace=names.namespace,
                            selector={"matchLabels": selectors[role]}, port=metrics.PORT_NAME, role=role)
               for role in ("redis", "sentinel")} if s.exporter else {}
    return CacheTarget(
        stack=stack, cache=cache, pattern="statefulset", namespace=names.namespace,
        data=scrapes.get("redis"), sentinel=scrapes.get("sentinel"), shards=1, replicas=s.replicas,
        sentinels=s.sentinels, quorum=plan.sentinel.quorum, maxmemory=plan.server.maxmemory,
        maxmemory_policy=s.maxmemory_policy, replication_lag_s=-(-s.min_replicas_max_lag // 1000),
        rdb_saves=s.persistence == "rdb",
        client=ClientTarget(cache=cache, namespaces=tuple(sorted({a.namespace for a in apps})))
        if s.l1 is not None else None,
        # The backup job's results, when it pushes them (backup.sh: group cache=<statefulset>).
        backup=BackupTarget(cache=names.statefulset, interval_s=s.backup.interval_s)
        if s.backup is not None and s.backup.pushgateway else None,
        labels=kb.labels(names.statefulset, "monitoring", names.statefulset),
    )
