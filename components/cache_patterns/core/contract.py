"""The connection contract every pattern hands to apps, and the one function that turns it into env.

An app's Deployment only ever sees a CacheBinding: env var names, files and sidecars. Which pattern
made it is invisible, so switching a cache's pattern changes values, never names. The types are an
arg of AppDeployment, so Pulumi's component analyzer reads their annotations (no postponed ones).
"""
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Sequence

import pulumi

CONTRACT_VERSION = "1"
# Where files reach the app container. The Secret is mounted as a directory, not with subPath,
# so the kubelet replaces the file when the Secret is rotated and the app sees it without a restart.
AUTH_DIR = "/etc/cache-patterns/auth"
PASSWORD_FILE = f"{AUTH_DIR}/password"
SENTINEL_PASSWORD_FILE = f"{AUTH_DIR}/sentinel-password"
TLS_DIR = "/etc/cache-patterns/tls"
CA_FILE = f"{TLS_DIR}/ca.crt"
AUTH_VOLUME = "cache-auth"
TLS_VOLUME = "cache-tls-ca"
PASSWORD_KEY = "password"
CHECKSUM_ANNOTATION = "cache-patterns.io/binding-checksum"


# The env contract, documented once: (name, meaning, what its absence means). `{P}` is CACHE, CACHE_L1
# or CACHE_L2. The README table is generated from this list and a test keeps both in step.
ENV_DOC: list[tuple[str, str, str]] = [
    ("CACHE_CONTRACT_VERSION", "Version of this contract (`1`); bumped only for incompatible changes.", "never absent"),
    ("CACHE_NAME", "Name of the cache in the stack config (`caches.<name>`).", "never absent"),
    ("CACHE_PATTERN", "Pattern of the (shared) cache: its `pattern:` tag ({patterns}).", "never absent"),
    ("CACHE_DEFAULT_TTL", "Seconds an entry lives when the app gives no TTL.", "no default TTL: entries live until evicted"),
    ("{P}_HOST", "Host of the write (primary) endpoint. Under two-tier, `CACHE_HOST` is the shared tier (L2).", "never absent"),
    ("{P}_PORT", "Port of the write endpoint.", "never absent"),
    ("{P}_TLS", "`true`: connect with TLS (rediss://).", "never absent (`false`)"),
    ("{P}_CLUSTER", "`true`: the server runs Redis Cluster; use a cluster-aware client.", "never absent (`false`)"),
    ("{P}_SOCKET", "Unix socket path of a Redis in the same pod; prefer it to host/port.", "no local socket"),
    ("{P}_TLS_CA_FILE", "CA bundle to verify the server certificate (a private CA).", "verify against the system trust store"),
    ("{P}_READ_HOST", "Host of the read endpoint (replicas).", "read from `{P}_HOST`"),
    ("{P}_READ_PORT", "Port of the read endpoint.", "absent with `{P}_READ_HOST`"),
    ("{P}_SENTINELS", "Comma-separated `host:port` of the Sentinels, for Sentinel-aware clients.", "not a Sentinel setup"),
    ("{P}_SENTINEL_MASTER", "Master name to ask the Sentinels for.", "absent with `{P}_SENTINELS`"),
    ("{P}_SENTINEL_PASSWORD_FILE", "File holding the Sentinels' password.", "the Sentinels take no password"),
    ("{P}_USERNAME", "ACL user to authenticate as.", "the `default` user"),
    ("{P}_PASSWORD_FILE", "File holding the password, mounted from a Kubernetes Secret; it changes in place when the "
                          "Secret is rotated, so re-read it when (re)connecting.", "no auth"),
    ("{P}_PASSWORD", "The password itself (`secretKeyRef`), only for apps with `passwordEnv: true`.", "read the file"),
    ("{P}_URL", "A complete `redis://` / `rediss://` / `unix://` URL (the password via `$({P}_PASSWORD)`).",
     "auth is on and the app did not opt in to `passwordEnv`: build the URL from the parts"),
    ("CACHE_L1_TTL_CAP", "Two-tier: the longest an L1 copy may live, in seconds (also bounded by the L2 entry's TTL).",
     "no L1 tier"),
    ("CACHE_L1_INVALIDATION_CHANNEL", "Two-tier: the pub/sub channel on L2 carrying invalidations (an in-process L1 "
                                      "only publishes there, for sidecar L1s during a switch of mode).", "no L1 tier"),
    ("CACHE_L1_MODE", "Two-tier: `in-process`: keep L1 copies in the app process, invalidated by L2's client "
                      "tracking (there is no `CACHE_L1_HOST`). Read by clients 2.1.0 and newer; an older client, or "
                      "one that does not know the value, runs on L2 alone.",
     "a sidecar L1 when `CACHE_L1_HOST` is set, else no L1 tier"),
    ("CACHE_L1_MAX_ENTRIES", "In-process L1: the most copies each app process keeps.", "no in-process L1"),
    ("CACHE_L1_MAX_BYTES", "In-process L1: the most bytes of copies each app process keeps (key + value + 64 per "
                           "copy).", "no in-process L1"),
    ("CACHE_L1_TRACKING", "In-process L1: `default` (the server tells a process of changes to keys it read) or "
                          "`broadcast` (of every change under `CACHE_L1_TRACKING_PREFIXES`).", "no in-process L1"),
    ("CACHE_L1_TRACKING_PREFIXES", "In-process L1 with `broadcast`: comma-separated key prefixes; only keys under "
                                   "one are kept.", "not `broadcast`"),
]


@dataclass(frozen=True)
class SecretRef:
    """A key of a Kubernetes Secret in the app's namespace. Never the value."""

    name: pulumi.Input[str]
    key: str = PASSWORD_KEY


@dataclass(frozen=True)
class FileRef:
    """A public file for the app (a CA bundle): a key of a ConfigMap or Secret in the app's namespace."""

    kind: str  # "configMap" | "secret"
    name: pulumi.Input[str]
    key: str = "ca.crt"


@dataclass(frozen=True)
class SentinelRef:
    """Sentinel addresses ("host:port") and master name, for Sentinel-aware clients."""

    addresses: Sequence[pulumi.Input[str]]
    master_name: str
    password: SecretRef | None = None  # None: the Sentinels take no password


@dataclass(frozen=True)
class CacheConnection:
    """How to reach one cache tier."""

    host: pulumi.Input[str]
    port: pulumi.Input[int] = 6379
    socket: str | None = None
    tls: bool = False
    ca: FileRef | None = None
    username: pulumi.Input[str] | None = None
    password: SecretRef | None = None
    read_host: pulumi.Input[str] | None = None
    read_port: pulumi.Input[int] | None = None
    sentinel: SentinelRef | None = None
    cluster: bool = False

    def env(self, prefix: str = "CACHE", password_env: bool = False) -> list[dict]:
        """The env vars for this tier under `prefix` (CACHE, CACHE_L1, CACHE_L2). Names are fixed by
        the contract; an absent optional var means the feature is not in use (see the README)."""
        return [{"name": name, **make()} for name, make in self._entries(prefix, password_env)]

    def env_names(self, prefix: str = "CACHE", password_env: bool = False) -> list[str]:
        """The names `env()` gives, without computing a value (config checks the contract with it)."""
        return [name for name, _ in self._entries(prefix, password_env)]

    def _entries(self, prefix: str, password_env: bool) -> list[tuple[str, Any]]:
        def plain(value: Any) -> Any:
            return lambda: {"value": value() if callable(value) else value}

        out: list[tuple[str, Any]] = [
            (f"{prefix}_HOST", plain(self.host)),
            (f"{prefix}_PORT", plain(lambda: _str(self.port))),
            (f"{prefix}_TLS", plain("true" if self.tls else "false")),
            (f"{prefix}_CLUSTER", plain("true" if self.cluster else "false")),
        ]
        if self.socket:
            out.append((f"{prefix}_SOCKET", plain(self.socket)))
        if self.tls and self.ca is not None:
            out.append((f"{prefix}_TLS_CA_FILE", plain(CA_FILE)))
        if self.read_host is not None:
            out.append((f"{prefix}_READ_HOST", plain(self.read_host)))
            out.append((f"{prefix}_READ_PORT", plain(
                lambda: _str(self.read_port if self.read_port is not None else self.port))))
        if self.sentinel is not None:
            sentinel = self.sentinel
            out.append((f"{prefix}_SENTINELS", plain(
                lambda: pulumi.Output.from_input(list(sentinel.addresses)).apply(",".join))))
            out.append((f"{prefix}_SENTINEL_MASTER", plain(sentinel.master_name)))
            if sentinel.password is not None:
                out.append((f"{prefix}_SENTINEL_PASSWORD_FILE", plain(
                    PASSWORD_FILE if sentinel.password == self.password else SENTINEL_PASSWORD_FILE)))
        if self.username is not None:
            out.append((f"{prefix}_USERNAME", plain(self.username)))
        if self.password is not None:
            out.append((f"{prefix}_PASSWORD_FILE", plain(PASSWORD_FILE)))
            if password_env:
                ref = self.password
                out.append((f"{prefix}_PASSWORD", lambda: {
                    "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}))
        if self.password is None or password_env:
            out.append((f"{prefix}_URL", plain(lambda: self.url(prefix))))
        return out

    def url(self, prefix: str = "CACHE") -> pulumi.Output[str]:
        """A redis:// URL. The password is never in it: with auth it holds `$(PREFIX_PASSWORD)`,
        which the kubelet expands from the secretKeyRef var defined just before it."""
        if self.socket and not self.tls:
            return pulumi.Output.from_input(f"unix://{self.socket}")
        scheme = "rediss" if self.tls else "redis"
        user = f"$({prefix}_USERNAME)" if self.username is not None else ""
        auth = f"{user}:$({prefix}_PASSWORD)@" if self.password is not None else ""
        # An IPv6 literal (an endpoint cache's host) goes in brackets in a URL (RFC 3986, IP-literal).
        host = pulumi.Output.from_input(self.host).apply(lambda h: f"[{h}]" if ":" in h else h)
        return pulumi.Output.concat(scheme, "://", auth, host, ":", _str(self.port))

    def volumes(self) -> list[dict]:
        """Pod volumes this tier's files come from (the password Secret, the CA)."""
        vols = []
        if self.password is not None:
            items = [{"key": self.password.key, "path": "password"}]
            sentinel_pw = self.sentinel.password if self.sentinel else None
            if sentinel_pw is not None and sentinel_pw != self.password:
                if sentinel_pw.name != self.password.name:
                    raise ValueError("the Sentinel password must be a key of the same Secret as the password")
                items.append({"key": sentinel_pw.key, "path": "sentinel-password"})
            vols.append({"name": AUTH_VOLUME, "secret": {"secretName": self.password.name, "items": items,
                                                         "defaultMode": 0o440}})
        if self.tls and self.ca is not None:
            source = {"name": self.ca.name} if self.ca.kind == "configMap" else {"secretName": self.ca.name}
            source["items"] = [{"key": self.ca.key, "path": "ca.crt"}]
            vols.append({"name": TLS_VOLUME, self.ca.kind: source})
        return vols

    def mounts(self) -> list[dict]:
        mounts = []
        if self.password is not None:
            mounts.append({"name": AUTH_VOLUME, "mountPath": AUTH_DIR, "readOnly": True})
        if self.tls and self.ca is not None:
            mounts.append({"name": TLS_VOLUME, "mountPath": TLS_DIR, "readOnly": True})
        return mounts


@dataclass(frozen=True)
class NearCache:
    """An in-process L1: copies in the app's own memory, invalidated by the L2 server's client tracking."""

    max_entries: int
    max_bytes: int
    tracking: str = "default"           # "default" | "broadcast"
    prefixes: Sequence[str] = ()        # broadcast: the key prefixes kept

    def env(self) -> list[dict]:
        out = [_var("CACHE_L1_MODE", "in-process"), _var("CACHE_L1_MAX_ENTRIES", str(self.max_entries)),
               _var("CACHE_L1_MAX_BYTES", str(self.max_bytes)), _var("CACHE_L1_TRACKING", self.tracking)]
        if self.prefixes:
            out.append(_var("CACHE_L1_TRACKING_PREFIXES", ",".join(self.prefixes)))
        return out


@dataclass(frozen=True)
class L1Tier:
    """The local tier of a two-tier cache: a sidecar on loopback (`connection`) or a near cache in the app
    process (`near`), plus the rules the client follows."""

    connection: CacheConnection | None
    ttl_cap_seconds: int
    invalidation_channel: str
    near: NearCache | None = None

    def env(self) -> list[dict]:
        out = self.connection.env("CACHE_L1") if self.connection is not None else []
        out += self.near.env() if self.near is not None else []
        return out + [_var("CACHE_L1_TTL_CAP", str(self.ttl_cap_seconds)),
                      _var("CACHE_L1_INVALIDATION_CHANNEL", self.invalidation_channel)]

    def env_names(self) -> list[str]:
        """The names `env()` gives, without computing a value."""
        out = self.connection.env_names("CACHE_L1") if self.connection is not None else []
        out += [v["name"] for v in self.near.env()] if self.near is not None else []
        return out + ["CACHE_L1_TTL_CAP", "CACHE_L1_INVALIDATION_CHANNEL"]


@dataclass(frozen=True)
class PodParts:
    """What must run inside every app pod bound to a cache: sidecars and the volumes they share."""

    init_containers: Sequence[dict[str, Any]] = ()   # native sidecars (restartPolicy: Always)
    containers: Sequence[dict[str, Any]] = ()        # plain sidecar containers (Kubernetes < 1.29)
    volumes: Sequence[dict[str, Any]] = ()
    app_mounts: Sequence[dict[str, Any]] = ()        # mounts the app container needs (the socket directory)
    pull_secrets: Sequence[str] = ()                 # image pull Secrets the sidecars' images need


@dataclass(frozen=True)
class CacheBinding:
    """A cache as one app namespace sees it. AppDeployment takes this and nothing else."""

    cache: str
    pattern: str
    connection: CacheConnection
    pod: PodParts = field(default_factory=PodParts)
    l1: L1Tier | None = None
    default_ttl_seconds: int | None = None

    def env(self, password_env: bool = False) -> list[dict]:
        """The whole env contract for an app container, in an order where every `$(VAR)` reference
        comes after the var it names."""
        out = [
            _var("CACHE_CONTRACT_VERSION", CONTRACT_VERSION),
            _var("CACHE_NAME", self.cache),
            _var("CACHE_PATTERN", self.pattern),
        ]
        if self.default_ttl_seconds is not None:
            out.append(_var("CACHE_DEFAULT_TTL", str(self.default_ttl_seconds)))
        out += self.connection.env("CACHE", password_env)
        if self.l1 is not None:
            out += self.connection.env("CACHE_L2", password_env) + self.l1.env()
        return out

    def env_names(self, password_env: bool = False) -> list[str]:
        """The names `env()` gives, without computing a value."""
        names = ["CACHE_CONTRACT_VERSION", "CACHE_NAME", "CACHE_PATTERN"]
        if self.default_ttl_seconds is not None:
            names.append("CACHE_DEFAULT_TTL")
        names += self.connection.env_names("CACHE", password_env)
        if self.l1 is not None:
            names += self.connection.env_names("CACHE_L2", password_env) + self.l1.env_names()
        return names

    def volumes(self) -> list[dict]:
        return list(self.pod.volumes) + self.connection.volumes()

    def mounts(self) -> list[dict]:
        return list(self.pod.app_mounts) + self.connection.mounts()

    def checksum(self, password_env: bool = False) -> pulumi.Output[str]:
        """sha256 of everything the binding puts into a pod (env, volumes, sidecars), for a
        pod-template annotation: when the binding changes, the app rolls. Holds no secret value."""
        parts: Any = {
            "env": self.env(password_env),
            "volumes": self.volumes(),
            "mounts": self.mounts(),
            "init": list(self.pod.init_containers),
            "containers": list(self.pod.containers),
        }
        return pulumi.Output.from_input(parts).apply(
            lambda v: hashlib.sha256(json.dumps(v, sort_keys=True, default=str).encode()).hexdigest())


def _var(name: str, value: pulumi.Input[str]) -> dict:
    return {"name": name, "value": value}


def _str(value: pulumi.Input[Any]) -> pulumi.Input[str]:
    if isinstance(value, pulumi.Output):
        return value.apply(str)
    return str(value)

# Every variable name of the contract, `{P}` expanded: what apps may declare they read (`apps[].reads`).
CONTRACT_NAMES: tuple[str, ...] = tuple(
    name.replace("{P}", prefix) for name, _, _ in ENV_DOC
    for prefix in (("CACHE", "CACHE_L2", "CACHE_L1") if "{P}" in name else ("",)))
