"""Pattern 3, sidecar: a Redis next to every app container, on 127.0.0.1 and a unix socket.

Choose it for per-pod data (rendered fragments, rate-limit windows, memoised lookups) that needs no
sharing: no network hop, nothing to operate. It costs memory in every pod and each pod has its own,
cold-on-start cache. A pod builder, not a resource: it only adds containers and volumes to app pods.
"""
from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING, Any

import pulumi

from cache_patterns.config.app import AppConfig
from cache_patterns.config.common import DEFAULT_ENGINE_VERSION, image_key
from cache_patterns.core import k8s, redis_conf, sizing
from cache_patterns.core.image_set import DEFAULT_IMAGES, ImageSet
from cache_patterns.core.contract import CacheBinding, CacheConnection, PodParts
from cache_patterns.patterns.sidecar.settings import SidecarSettings

if TYPE_CHECKING:
    from cache_patterns.patterns.base import BuildContext
    from cache_patterns.patterns.two_tier.settings import L1Settings

SOCKET_DIR = "/run/cache"
SOCKET_VOLUME = "cache-socket"
SOCKET_NAME = "redis.sock"


@dataclass(frozen=True)
class LocalCache:
    """Everything the pod builder needs to run one loopback Redis in an app pod."""

    container_name: str
    engine: str
    image: str
    port: int
    memory_limit: int
    cpu: int
    cpu_limit: int | None
    maxmemory: int
    maxmemory_policy: str
    # Whether the pod is not Ready while this Redis is down: yes for the sidecar pattern (the app
    # has no other cache), no for an L1 (the client falls back to L2).
    gates_readiness: bool
    pull_policy: str = "IfNotPresent"
    # Image pull Secrets the app pods need for this image (the stack's `images.pullSecrets`).
    pull_secrets: tuple[str, ...] = ()

    @property
    def socket(self) -> str:
        return f"{SOCKET_DIR}/{SOCKET_NAME}"

    @property
    def server(self) -> redis_conf.LocalServer:
        return redis_conf.LocalServer(port=self.port, socket=self.socket, maxmemory=self.maxmemory,
                                      maxmemory_policy=self.maxmemory_policy)

    @property
    def binaries(self) -> tuple[str, str]:
        return ("valkey-server", "valkey-cli") if self.engine == "valkey" else ("redis-server", "redis-cli")


def from_sidecar(c: SidecarSettings, images: ImageSet = DEFAULT_IMAGES) -> LocalCache:
    image = images.pick(c.image, image_key(c.engine, c.version))
    return LocalCache(
        container_name="cache", engine=c.engine, image=image["image"], pull_policy=image["imagePullPolicy"],
        pull_secrets=images.pull_secrets, port=c.port, memory_limit=c.memory_limit, cpu=c.cpu, cpu_limit=c.cpu_limit,
        maxmemory=c.maxmemory, maxmemory_policy=c.maxmemory_policy, gates_readiness=True,
    )


def from_l1(l1: "L1Settings", engine: str = "valkey", images: ImageSet = DEFAULT_IMAGES) -> LocalCache:
    """The L1 of a two-tier cache: always the default image of `engine` (its own, small Redis,
    whatever engine or operator the L2 runs), where the stack's `images` block pulls it from."""
    image = images.container(image_key(engine, DEFAULT_ENGINE_VERSION[engine]))
    return LocalCache(
        container_name="cache-l1", engine=engine, image=image["image"], pull_policy=image["imagePullPolicy"],
        pull_secrets=images.pull_secrets, port=6379, memory_limit=l1.memory, cpu=l1.cpu, cpu_limit=None,
        maxmemory=sizing.maxmemory_for_limit(l1.memory, l1.maxmemory_percent), maxmemory_policy=l1.maxmemory_policy,
        gates_readiness=False,
    )


def container(local: LocalCache, native: bool) -> dict:
    """The Redis container. Configuration is passed as arguments, not a ConfigMap: it is a dozen
    directives derived from the pod's own limits, so it lives in the pod template (a change rolls
    the pods by itself), needs no object in every app namespace, and is what `kubectl describe`
    shows. The live test runs exactly these arguments."""
    server, cli = local.binaries
    ping = ["sh", "-c", f"{cli} -s {local.socket} ping | grep -q PONG"]
    resources: dict = {
        # Request = limit for memory: Redis memory is not elastic, and a pod that uses more than it
        # requested is the first to be evicted under node pressure.
        "requests": {"cpu": sizing.format_millicores(local.cpu), "memory": sizing.format_bytes(local.memory_limit)},
        "limits": {"memory": sizing.format_bytes(local.memory_limit)},
    }
    if local.cpu_limit is not None:
        resources["limits"]["cpu"] = sizing.format_millicores(local.cpu_limit)
    c: dict = {
        "name": local.container_name,
        "image": local.image,
        "imagePullPolicy": local.pull_policy,
        "command": [server],
        "args": redis_conf.to_args(redis_conf.local_directives(local.server)),
        "resources": resources,
        "securityContext": k8s.container_security_context(),
        "volumeMounts": [{"name": SOCKET_VOLUME, "mountPath": SOCKET_DIR}],
        # Probes exec the CLI over the socket: Redis listens on loopback only, which a kubelet
        # TCP probe (it dials the pod IP) cannot reach.
        "livenessProbe": k8s.exec_probe(ping, period=10, timeout=3, failures=3),
    }
    if local.gates_readiness:
        c["readinessProbe"] = k8s.exec_probe(ping, period=5, timeout=2, failures=2)
    if native:
        # A native sidecar: started before the app and, thanks to the startupProbe, the app
        # container only starts once Redis answers; it is stopped after the app on shutdown.
        c["restartPolicy"] = "Always"
        c["startupProbe"] = k8s.exec_probe(ping, period=1, timeout=2, failures=30)
    return c


def pod_parts(local: LocalCache, native: bool) -> PodParts:
    """The sidecar and its socket volume, as native sidecar (Kubernetes >= 1.29) or plain container."""
    c = container(local, native)
    socket_volume = {"name": SOCKET_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}
    return PodParts(
        init_containers=(c,) if native else (),
        containers=() if native else (c,),
        volumes=(socket_volume,),
        # Writable (the app connects to the socket); `readOnly: false` is the default, never stored.
        app_mounts=({"name": SOCKET_VOLUME, "mountPath": SOCKET_DIR},),
        pull_secrets=local.pull_secrets,
    )


def connection(local: LocalCache) -> CacheConnection:
    return CacheConnection(host="127.0.0.1", port=local.port, socket=local.socket)


class Sidecar:
    """A sidecar cache as the program sees it: the same binding in every namespace, no resources."""

    def __init__(self, name: str, settings: SidecarSettings, native: bool, images: ImageSet = DEFAULT_IMAGES):
        self.local = from_sidecar(settings, images)
        self._binding = CacheBinding(
            cache=name, pattern="sidecar", connection=connection(self.local),
            pod=pod_parts(self.local, native),
            default_ttl_seconds=settings.default_ttl_seconds,
        )

    def binding(self, namespace: str, user: str | None = None) -> CacheBinding:
        if user is not None:
            raise ValueError(f"cache {self._binding.cache!r}: a sidecar has no ACL users")
        return self._binding

    @property
    def discovery(self) -> dict:
        return {"pattern": "sidecar", "host": "127.0.0.1", "port": self.local.port, "socket": self.local.socket,
                "maxmemoryBytes": self.local.maxmemory, "image": self.local.image}


def sidecar_binding(cache: str, settings: Any = None, kubernetes_version: str = "1.33", images: Any = None) -> CacheBinding:
    """The binding of apps that each carry their own Redis (pattern 3): it makes no resource, only what
    app pods carry. `settings`: the keys of a cache with `pattern: sidecar` (memory, port, engine...;
    docs/reference/config.md), or a SidecarSettings; `kubernetes_version` picks native sidecars (1.29+);
    `images`: the stack's `images` block (registry, pins, pull Secrets the app pods then carry)."""
    from cache_patterns.core import component as api
    from cache_patterns.patterns.base import parse_pods

    if not isinstance(settings, SidecarSettings):
        settings = api.parse(Sidecar, cache, "settings", SidecarSettings, {"pattern": "sidecar", **(settings or {})})
    _, pulls = parse_pods(Sidecar, cache, {"images": images})
    return Sidecar(cache, settings, api.native_sidecars({"kubernetes_version": kubernetes_version}), pulls).binding("")


def build(name: str, settings: SidecarSettings, context: "BuildContext", opts: pulumi.ResourceOptions) -> Sidecar:
    """The registry's entry point: a sidecar cache makes no resource, only what app pods carry."""
    from cache_patterns.core.image_set import of

    return Sidecar(name, settings, context.native_sidecars, of(context.images))


def shape(name: str, settings: SidecarSettings, app: AppConfig) -> CacheBinding:
    return Sidecar(name, settings, native=True).binding(app.namespace)
