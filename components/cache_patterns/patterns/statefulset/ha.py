"""Pattern 2's failover machinery: who runs where, the pod scripts, and the HAProxy write endpoint.

Pure functions from a cache's config to files (templates, POSIX sh scripts, haproxy.cfg) and to the
env/probe/command fragments a StatefulSet needs; the live tests run exactly these with real processes.
Cost: two extra small workloads (Sentinels, HAProxy) beside the Redis pods; a drain costs clients about
2 s without an acknowledged write (1.4-2.5 s measured, docs/benchmarks.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cache_patterns.core import naming
# The ports are re-exported: the component and the live tests read them as ha.REDIS_PORT, ha.READ_PORT ...
from cache_patterns.patterns.statefulset.haproxy import (CONF_DIR, HEALTH_PORT, QUORUM_LUA, READ_PORT, REDIS_PORT,  # noqa: F401
                                                        Endpoint, haproxy_cfg)
from cache_patterns.patterns.statefulset.settings import StatefulSetSettings
from cache_patterns.core.contract import AUTH_DIR, PASSWORD_FILE
from cache_patterns.core.redis_conf import (ACL_USERS_FILE, ReplicatedServer, SentinelSettings, TlsFiles, acl_users_conf,
                         replicated_conf, sentinel_conf)

# CONF_DIR: the ConfigMap, read-only (defined beside haproxy.cfg, whose Lua task it holds)
RUN_DIR = "/run/cache-patterns"                # emptyDir (medium: Memory): runtime configs with the password
DATA_DIR = "/data"                             # emptyDir or PVC: the data set
TLS_DIR = "/etc/cache-patterns/tls-server"     # Secret: tls.crt, tls.key, ca.crt (the kubelet swaps them)
TLS_LIVE_DIR = "/etc/cache-patterns/tls-live"  # emptyDir (Memory): the files processes serve and trust
TLS_LIVE_VOLUME = "tls-live"
HAPROXY_MASTER_SOCKET = f"{RUN_DIR}/haproxy-master.sock"
HAPROXY_STATE_FILE = f"{RUN_DIR}/haproxy.state"
# Sentinels restart one at a time to load new certificates, each in its own slot of this many seconds.
TLS_RESTART_SLOT_S = 10
# How long the kubelet may take to bring a Secret change into every pod: its sync period (1 min by
# default) plus its Secret cache's propagation (up to 1 min with the TTL strategy).
SECRET_PROPAGATION_S = 120
ACL_PASSWORD_SUBDIR = "users"
ACL_PASSWORD_DIR = f"{AUTH_DIR}/{ACL_PASSWORD_SUBDIR}"  # Secret (Redis pods only): a file per ACL user, by name
SENTINEL_PORT = 26379
SCRIPT_DIR = Path(__file__).parent / "scripts"
Role = Literal["redis", "sentinel", "haproxy"]
# What each workload's ConfigMap holds (mounted read-only at CONF_DIR).
FILES_BY_ROLE: dict[str, tuple[str, ...]] = {
    "redis": ("redis.conf", "common.sh", "redis-start.sh", "redis-prestop.sh", "probe.sh", "admin.sh"),
    "sentinel": ("sentinel.conf", "common.sh", "sentinel-start.sh", "probe.sh", "admin.sh"),
    "haproxy": ("haproxy.cfg", "haproxy-start.sh", "haproxy-quorum.lua"),
}
# With TLS, every workload also gets the certificate reload (tls-reload.sh, tls.sh).
TLS_FILES = ("tls.sh", "tls-reload.sh")


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, kw_only=True)
class PodNames:
    """The DNS names of the pods. Redis pods `<statefulset>-<i>` under `<statefulset>-headless`;
    Sentinels in their own StatefulSet `<statefulset>-sentinel` under `<statefulset>-sentinel-headless`.
    Both headless Services need publishNotReadyAddresses: true (a starting pod must resolve)."""

    statefulset: str
    namespace: str
    servers: int
    sentinels: int
    cluster_domain: str = "cluster.local"

    def __post_init__(self) -> None:
        # The limit is naming's (the Sentinel StatefulSet's is the tighter, and implies the Services').
        naming.check_statefulset_names([self.statefulset, self.sentinel_statefulset])
        if self.servers < 1 or self.sentinels < 1:
            raise ValueError(f"need at least one server and one Sentinel, got {self.servers} and {self.sentinels}")

    @property
    def headless(self) -> str:
        return f"{self.statefulset}-headless"

    @property
    def sentinel_statefulset(self) -> str:
        return f"{self.statefulset}-sentinel"

    @property
    def sentinel_headless(self) -> str:
        return f"{self.sentinel_statefulset}-headless"

    def domain(self, service: str) -> str:
        return f"{service}.{self.namespace}.svc.{self.cluster_domain}"

    def server_addresses(self, port: int = REDIS_PORT) -> tuple[Address, ...]:
        return tuple(Address(f"{self.statefulset}-{i}.{self.domain(self.headless)}", port)
                     for i in range(self.servers))

    def sentinel_addresses(self, port: int = SENTINEL_PORT) -> tuple[Address, ...]:
        return tuple(Address(f"{self.sentinel_statefulset}-{i}.{self.domain(self.sentinel_headless)}", port)
                     for i in range(self.sentinels))


@dataclass(frozen=True, kw_only=True)
class Topology:
    """Who is where. `servers[0]` is the designated initial primary."""

    master_name: str
    servers: tuple[Address, ...]
    sentinels: tuple[Address, ...]

    @property
    def majority(self) -> int:
        return len(self.sentinels) // 2 + 1


@dataclass(frozen=True, kw_only=True)
class ScriptSettings:
    """Inputs of the sh scripts (they read nothing else). `env()` gives them as plain values (the
    live tests use it); in a pod `HaPlan.env()` derives SELF_ADDRESS from the pod name instead."""

    topology: Topology
    conf_dir: str = CONF_DIR
    run_dir: str = RUN_DIR
    password_file: str | None = PASSWORD_FILE
    tls_ca_file: str | None = None
    # Where redis-start.sh finds each ACL user's password (a file named after the user); None: no users.
    acl_password_dir: str | None = None
    # A Redis pod looks this long for a primary before failing (the kubelet then restarts it).
    discovery_timeout_s: int = 60
    # A Sentinel looks this long before falling back to the template's initial primary.
    sentinel_discovery_timeout_s: int = 10
    # A restarted server that Sentinel still names waits this long for a replica to be promoted.
    failover_wait_s: int = 70
    prestop_timeout_s: int = 30
    cli_timeout_s: int = 2
    # With TLS: the Secret volume the kubelet updates, the pod's copies the processes load
    # (tls_ca_file is their CA bundle), and the reload's timing (tls.sh, tls-reload.sh).
    tls_secret_dir: str | None = None
    tls_live_dir: str | None = None
    tls_poll_s: float = 5
    tls_trust_delay_s: int = SECRET_PROPAGATION_S
    tls_restart_slot_s: int = TLS_RESTART_SLOT_S
    # Caches with backups or a restore: refuse an empty primary, hold new replicas back (redis-start.sh).
    protect_data: bool = False

    def tls_env(self) -> dict[str, str]:
        if self.tls_secret_dir is None or self.tls_live_dir is None:
            return {}
        return {"TLS_SECRET_DIR": self.tls_secret_dir, "TLS_LIVE_DIR": self.tls_live_dir,
                "TLS_POLL": f"{self.tls_poll_s:g}", "TLS_TRUST_DELAY": str(self.tls_trust_delay_s),
                "TLS_RESTART_SLOT": str(self.tls_restart_slot_s)}

    def env(self, self_address: str) -> dict[str, str]:
        t = self.topology
        out = {
            "MASTER_NAME": t.master_name,
            "PEERS": " ".join(map(str, t.servers)),
            "SENTINELS": " ".join(map(str, t.sentinels)),
            "SELF_ADDRESS": self_address,
            "CONF_DIR": self.conf_dir,
            "RUN_DIR": self.run_dir,
            "DISCOVERY_TIMEOUT": str(self.discovery_timeout_s),
            "FAILOVER_WAIT": str(self.failover_wait_s),
            "PRESTOP_TIMEOUT": str(self.prestop_timeout_s),
            "CLI_TIMEOUT": str(self.cli_timeout_s),
        }
        if self.password_file is not None:
            out["PASSWORD_FILE"] = self.password_file
        if self.tls_ca_file is not None:
            out["TLS_CA_FILE"] = self.tls_ca_file
        if self.acl_password_dir is not None:
            out["ACL_PASSWORD_DIR"] = self.acl_password_dir
        if self.protect_data:
            out["PROTECT_DATA"] = "yes"
        return out | self.tls_env()

    def haproxy_env(self, master_socket: str, state_file: str) -> dict[str, str]:
        """haproxy-start.sh's and, with TLS, tls-reload.sh's (master CLI socket, saved states)."""
        out = {"CONF_DIR": self.conf_dir}
        if self.password_file is not None:
            out["PASSWORD_FILE"] = self.password_file
        tls = self.tls_env()
        if tls:
            out |= {"RUN_DIR": self.run_dir, **tls, "HAPROXY_MASTER_SOCKET": master_socket,
                    "HAPROXY_STATE_FILE": state_file}
        return out

    def sentinel_env(self, self_address: str) -> dict[str, str]:
        out = self.env(self_address) | {"DISCOVERY_TIMEOUT": str(self.sentinel_discovery_timeout_s)}
        out.pop("ACL_PASSWORD_DIR", None)
        out.pop("PROTECT_DATA", None)
        return out


SCRIPTS = ("common.sh", "redis-start.sh", "redis-prestop.sh", "sentinel-start.sh", "probe.sh", "haproxy-start.sh",
           "tls.sh", "tls-reload.sh", "admin.sh")


def script(name: str) -> str:
    """One of SCRIPTS (sh) or QUORUM_LUA, as shipped in the scripts folder beside this module."""
    if name not in SCRIPTS + (QUORUM_LUA,):
        raise KeyError(f"unknown script {name!r}; one of {', '.join(SCRIPTS + (QUORUM_LUA,))}")
    return (SCRIPT_DIR / name).read_text()


def server_files(server: ReplicatedServer) -> dict[str, str]:
    """The Redis pods' ConfigMap data: the redis.conf template, the scripts and, with ACL users,
    acl-users.conf (their rules; the passwords come from the Secret at start-up)."""
    out = {name: replicated_conf(server) if name == "redis.conf" else script(name) for name in FILES_BY_ROLE["redis"]}
    if server.acl_users:
        out[ACL_USERS_FILE] = acl_users_conf(server.acl_users)
    return out | tls_files(server.tls is not None)


def tls_files(tls: bool) -> dict[str, str]:
    """The certificate reload's scripts, in every workload's ConfigMap when TLS is on."""
    return {name: script(name) for name in TLS_FILES} if tls else {}


@dataclass(frozen=True, kw_only=True)
class HaPlan:
    """Everything the StatefulSet component needs for one cache, derived from its config."""

    names: PodNames
    server: ReplicatedServer
    sentinel: SentinelSettings
    scripts: ScriptSettings
    endpoint: Endpoint
    # Scripts the Redis pods run besides their own: restic.sh and restore.sh with `restore`.
    redis_extra: tuple[str, ...] = ()

    @property
    def topology(self) -> Topology:
        return self.scripts.topology

    def files(self, role: Role) -> dict[str, str]:
        """ConfigMap data for one workload (mounted read-only at CONF_DIR). No secret in it."""
        if role == "redis":
            return server_files(self.server) | {name: (SCRIPT_DIR / name).read_text() for name in self.redis_extra}
        rendered = {"sentinel.conf": sentinel_conf(self.sentinel), "haproxy.cfg": haproxy_cfg(self.endpoint)}
        return {name: rendered[name] if name in rendered else script(name)
                for name in FILES_BY_ROLE[role]} | tls_files(self.tls)

    @property
    def tls(self) -> bool:
        return self.scripts.tls_secret_dir is not None

    def command(self, role: Role) -> list[str]:
        start = {"redis": "redis-start.sh", "sentinel": "sentinel-start.sh", "haproxy": "haproxy-start.sh"}[role]
        return ["sh", f"{CONF_DIR}/{start}"]

    def tls_reload_command(self, role: Literal["redis", "haproxy"]) -> list[str]:
        """The certificate reload container beside Redis or HAProxy (Sentinel's runs in its own
        container: it has to restart the process)."""
        return ["sh", f"{CONF_DIR}/tls-reload.sh", role]

    def tls_reload_probe(self, role: Literal["redis", "haproxy"]) -> dict:
        """Its liveness probe: the reload loop went round recently (a hung loop restarts)."""
        return {"exec": {"command": ["sh", f"{CONF_DIR}/tls-reload.sh", "alive", role]}, "periodSeconds": 30,
                "timeoutSeconds": 5, "failureThreshold": 3}

    def env(self, role: Role) -> list[dict]:
        """Container env (Kubernetes EnvVar dicts). SELF_ADDRESS is expanded by the kubelet from
        POD_NAME (downward API), so every pod of a StatefulSet shares one template."""
        if role == "haproxy":
            values = self.scripts.haproxy_env(master_socket=HAPROXY_MASTER_SOCKET, state_file=HAPROXY_STATE_FILE)
            return [{"name": k, "value": v} for k, v in values.items()]
        if role == "redis":
            domain, port = self.names.domain(self.names.headless), self.server.port
            values = self.scripts.env("$(POD_NAME)." + f"{domain}:{port}")
        else:
            domain, port = self.names.domain(self.names.sentinel_headless), self.sentinel.port
            values = self.scripts.sentinel_env("$(POD_NAME)." + f"{domain}:{port}")
        pod_name = {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
        return [pod_name] + [{"name": k, "value": v} for k, v in values.items()]

    def probes(self, role: Role) -> dict[str, dict]:
        """startupProbe / readinessProbe / livenessProbe for a container."""
        def exec_(arg: str, period: int, failures: int) -> dict:
            return {"exec": {"command": ["sh", f"{CONF_DIR}/probe.sh", arg]}, "periodSeconds": period,
                    "timeoutSeconds": self.scripts.cli_timeout_s + 2, "failureThreshold": failures}
        if role == "haproxy":
            http = {"httpGet": {"path": "/healthz", "port": self.endpoint.health_port}, "periodSeconds": 5}
            # HAProxy starts with every server up until its first checks: no traffic before they ran.
            ready_after = max(3, math.ceil(3 * self.endpoint.check_interval_ms / 1000))
            return {"readinessProbe": http | {"initialDelaySeconds": ready_after}, "livenessProbe": http}
        if role == "sentinel":
            return {"readinessProbe": exec_("sentinel", 5, 2), "livenessProbe": exec_("sentinel", 10, 3)}
        return {
            "startupProbe": exec_("alive", 5, math.ceil(self.startup_budget_s / 5)),
            "readinessProbe": exec_("ready", 5, 2),
            "livenessProbe": exec_("alive", 10, 3),
        }

    @property
    def startup_budget_s(self) -> int:
        """How long a Redis container may take to start: discovery, a possible wait for a failover,
        and loading a data set from disk (rdb/aof)."""
        load = 0 if self.server.persistence == "none" else 300
        return self.scripts.discovery_timeout_s + self.scripts.failover_wait_s + load + 30

    def lifecycle(self) -> dict:
        """The Redis container's preStop hook (the handover)."""
        return {"preStop": {"exec": {"command": ["sh", f"{CONF_DIR}/redis-prestop.sh"]}}}

    @property
    def termination_grace_period_s(self) -> int:
        """preStop bound plus Redis's own shutdown (waiting for lagging replicas, a final save)."""
        return grace_floor(self.server.persistence, self.scripts.prestop_timeout_s)

    @property
    def sentinel_min_ready_s(self) -> int:
        """minReadySeconds of the Sentinel StatefulSet: a new Sentinel counts as available only once
        every HAProxy has checked it again (its `named-rN` checks, rise 1, every check interval), so a
        rolling update never takes the next Sentinel down while the endpoints still see the last one
        down: that would leave them less than a majority, and they would close the write connections."""
        return math.ceil(2 * self.endpoint.check_interval_ms / 1000) + 1

    @property
    def pdb_max_unavailable(self) -> dict[str, int]:
        """maxUnavailable for the Redis and the Sentinel PodDisruptionBudgets."""
        s = len(self.topology.sentinels)
        return {"redis": 1, "sentinel": s - max(self.sentinel.quorum, s // 2 + 1)}


def grace_floor(persistence: str, prestop_timeout_s: int = ScriptSettings.prestop_timeout_s) -> int:
    """A Redis pod's terminationGracePeriodSeconds: the preStop handover's bound, 15 s for Redis's own
    shutdown (waiting for lagging replicas) and, with persistence, 60 s for the final save. Config may
    make it longer, never shorter (the kubelet kills the pod when it runs out)."""
    return prestop_timeout_s + 15 + (0 if persistence == "none" else 60)


def plan(cache: StatefulSetSettings, names: PodNames, master_name: str | None = None) -> HaPlan:
    """The plan for a `pattern: statefulset` cache."""
    # The processes load the pod's copies (TLS_LIVE_DIR), which tls-reload.sh keeps in step with the
    # Secret (TLS_DIR) cert-manager renews.
    tls = TlsFiles(cert_file=f"{TLS_LIVE_DIR}/tls.crt", key_file=f"{TLS_LIVE_DIR}/tls.key",
                   ca_file=f"{TLS_LIVE_DIR}/ca.crt") if cache.tls.enabled else None
    topology = Topology(master_name=master_name or names.statefulset,
                        servers=names.server_addresses(), sentinels=names.sentinel_addresses())
    if len(topology.servers) != cache.server_slots or len(topology.sentinels) != cache.sentinels:
        raise ValueError(f"names count {names.servers} servers and {names.sentinels} Sentinels, the cache "
                         f"{cache.server_slots} and {cache.sentinels}")
    server = ReplicatedServer(
        maxmemory=cache.maxmemory, replica_buffer_limit=cache.pod.replica_buffer, repl_backlog=cache.pod.backlog,
        maxmemory_policy=cache.maxmemory_policy, data_dir=DATA_DIR, persistence=cache.persistence,
        auth=cache.auth, tls=tls, min_replicas_to_write=cache.min_replicas_to_write,
        min_replicas_max_lag_ms=cache.min_replicas_max_lag,
        acl_users=tuple((u.name, u.permissions) for u in cache.acl_users) + backup_user(cache),
    )
    sentinel = SentinelSettings(
        master_name=topology.master_name, initial_primary=str(topology.servers[0]),
        quorum=cache.quorum if cache.quorum is not None else topology.majority, work_dir=RUN_DIR,
        down_after_ms=cache.down_after, failover_timeout_ms=cache.failover_timeout, auth=cache.auth, tls=tls,
    )
    scripts = ScriptSettings(
        topology=topology, password_file=PASSWORD_FILE if cache.auth else None,
        tls_ca_file=tls.ca_file if tls else None,
        acl_password_dir=ACL_PASSWORD_DIR if server.acl_users else None,   # the backup user counts too
        # A failed first attempt is retried by Sentinel after 2 x failover-timeout.
        failover_wait_s=math.ceil((cache.down_after + 2 * cache.failover_timeout) / 1000) + 5,
        tls_secret_dir=TLS_DIR if tls else None, tls_live_dir=TLS_LIVE_DIR if tls else None,
        # A new CA's key pair is served once every pod has the new Secret and every Sentinel, one slot
        # each, has restarted to trust it.
        tls_trust_delay_s=SECRET_PROPAGATION_S + cache.sentinels * TLS_RESTART_SLOT_S,
        protect_data=cache.backup is not None or cache.restore is not None,
    )
    endpoint = Endpoint(topology=topology, auth=cache.auth, tls_ca_file=tls.ca_file if tls else None,
                        state_file=HAPROXY_STATE_FILE if tls else None)
    return HaPlan(names=names, server=server, sentinel=sentinel, scripts=scripts, endpoint=endpoint,
                  redis_extra=("restic.sh", "restore.sh") if cache.restore is not None else ())


def backup_user(cache: StatefulSetSettings) -> tuple[tuple[str, str], ...]:
    """The ACL user the backup job connects as, with only what a snapshot needs (backup.py)."""
    if cache.backup is None:
        return ()
    from cache_patterns.patterns.statefulset.backup import BACKUP_RULES, BACKUP_USER
    return ((BACKUP_USER, BACKUP_RULES),)


def stack_plan(stack: str, cache_name: str, cache: StatefulSetSettings, namespace: str, cluster_domain: str) -> HaPlan:
    """The plan of cache `cache_name` of `stack`, with the pod names the component gives it: what the
    StatefulSet component deploys, and what the benchmarks run with local addresses."""
    sts_name = naming.statefulset(stack, cache_name)
    names = PodNames(statefulset=sts_name, namespace=namespace, servers=cache.server_slots, sentinels=cache.sentinels,
                     cluster_domain=cluster_domain)
    return plan(cache, names)
