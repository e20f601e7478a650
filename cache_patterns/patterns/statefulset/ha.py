"""Pattern 2's failover machinery: who runs where, the pod scripts, and the HAProxy write endpoint.

Pure functions from a cache's config to files (templates, POSIX sh scripts, haproxy.cfg) and to the
env/probe/command fragments a StatefulSet needs; the live tests run exactly these with real processes.
Cost: two extra small workloads (Sentinels, HAProxy) beside the Redis pods; a drain pauses writes ~2 s.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cache_patterns.core import naming
# The ports are re-exported: the component and the live tests read them as ha.REDIS_PORT, ha.READ_PORT ...
from cache_patterns.patterns.statefulset.haproxy import HEALTH_PORT, READ_PORT, REDIS_PORT, Endpoint, haproxy_cfg  # noqa: F401
from cache_patterns.patterns.statefulset.settings import StatefulSetSettings
from cache_patterns.core.contract import AUTH_DIR, PASSWORD_FILE
from cache_patterns.core.redis_conf import (ACL_USERS_FILE, ReplicatedServer, SentinelSettings, TlsFiles, acl_users_conf,
                         replicated_conf, sentinel_conf)

CONF_DIR = "/etc/cache-patterns/conf"          # ConfigMap, read-only
RUN_DIR = "/run/cache-patterns"                # emptyDir (medium: Memory): runtime configs with the password
DATA_DIR = "/data"                             # emptyDir or PVC: the data set
TLS_DIR = "/etc/cache-patterns/tls-server"     # Secret: tls.crt, tls.key, ca.crt
ACL_PASSWORD_SUBDIR = "users"
ACL_PASSWORD_DIR = f"{AUTH_DIR}/{ACL_PASSWORD_SUBDIR}"  # Secret (Redis pods only): a file per ACL user, by name
SENTINEL_PORT = 26379
SCRIPT_DIR = Path(__file__).parent / "scripts"
Role = Literal["redis", "sentinel", "haproxy"]
# What each workload's ConfigMap holds (mounted read-only at CONF_DIR).
FILES_BY_ROLE: dict[str, tuple[str, ...]] = {
    "redis": ("redis.conf", "common.sh", "redis-start.sh", "redis-prestop.sh", "probe.sh"),
    "sentinel": ("sentinel.conf", "common.sh", "sentinel-start.sh", "probe.sh"),
    "haproxy": ("haproxy.cfg", "haproxy-start.sh"),
}


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
        return out

    def sentinel_env(self, self_address: str) -> dict[str, str]:
        out = self.env(self_address) | {"DISCOVERY_TIMEOUT": str(self.sentinel_discovery_timeout_s)}
        out.pop("ACL_PASSWORD_DIR", None)
        return out


SCRIPTS = ("common.sh", "redis-start.sh", "redis-prestop.sh", "sentinel-start.sh", "probe.sh", "haproxy-start.sh")


def script(name: str) -> str:
    """One of SCRIPTS, as shipped in the scripts folder beside this module."""
    if name not in SCRIPTS:
        raise KeyError(f"unknown script {name!r}; one of {', '.join(SCRIPTS)}")
    return (SCRIPT_DIR / name).read_text()


def server_files(server: ReplicatedServer) -> dict[str, str]:
    """The Redis pods' ConfigMap data: the redis.conf template, the scripts and, with ACL users,
    acl-users.conf (their rules; the passwords come from the Secret at start-up)."""
    out = {name: replicated_conf(server) if name == "redis.conf" else script(name) for name in FILES_BY_ROLE["redis"]}
    if server.acl_users:
        out[ACL_USERS_FILE] = acl_users_conf(server.acl_users)
    return out


@dataclass(frozen=True, kw_only=True)
class HaPlan:
    """Everything the StatefulSet component needs for one cache, derived from its config."""

    names: PodNames
    server: ReplicatedServer
    sentinel: SentinelSettings
    scripts: ScriptSettings
    endpoint: Endpoint

    @property
    def topology(self) -> Topology:
        return self.scripts.topology

    def files(self, role: Role) -> dict[str, str]:
        """ConfigMap data for one workload (mounted read-only at CONF_DIR). No secret in it."""
        if role == "redis":
            return server_files(self.server)
        rendered = {"sentinel.conf": sentinel_conf(self.sentinel), "haproxy.cfg": haproxy_cfg(self.endpoint)}
        return {name: rendered[name] if name in rendered else script(name) for name in FILES_BY_ROLE[role]}

    def command(self, role: Role) -> list[str]:
        start = {"redis": "redis-start.sh", "sentinel": "sentinel-start.sh", "haproxy": "haproxy-start.sh"}[role]
        return ["sh", f"{CONF_DIR}/{start}"]

    def env(self, role: Role) -> list[dict]:
        """Container env (Kubernetes EnvVar dicts). SELF_ADDRESS is expanded by the kubelet from
        POD_NAME (downward API), so every pod of a StatefulSet shares one template."""
        if role == "haproxy":
            out = [{"name": "CONF_DIR", "value": CONF_DIR}]
            if self.server.auth:
                out.append({"name": "PASSWORD_FILE", "value": PASSWORD_FILE})
            return out
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
        save = 0 if self.server.persistence == "none" else 60
        return self.scripts.prestop_timeout_s + 15 + save

    @property
    def pdb_max_unavailable(self) -> dict[str, int]:
        """maxUnavailable for the Redis and the Sentinel PodDisruptionBudgets."""
        s = len(self.topology.sentinels)
        return {"redis": 1, "sentinel": s - max(self.sentinel.quorum, s // 2 + 1)}


def plan(cache: StatefulSetSettings, names: PodNames, master_name: str | None = None) -> HaPlan:
    """The plan for a `pattern: statefulset` cache."""
    tls = TlsFiles(cert_file=f"{TLS_DIR}/tls.crt", key_file=f"{TLS_DIR}/tls.key",
                   ca_file=f"{TLS_DIR}/ca.crt") if cache.tls.enabled else None
    topology = Topology(master_name=master_name or names.statefulset,
                        servers=names.server_addresses(), sentinels=names.sentinel_addresses())
    if len(topology.servers) != cache.replicas + 1 or len(topology.sentinels) != cache.sentinels:
        raise ValueError(f"names count {names.servers} servers and {names.sentinels} Sentinels, the cache "
                         f"{cache.replicas + 1} and {cache.sentinels}")
    server = ReplicatedServer(
        maxmemory=cache.maxmemory, replica_buffer_limit=cache.pod.replica_buffer, repl_backlog=cache.pod.backlog,
        maxmemory_policy=cache.maxmemory_policy, data_dir=DATA_DIR, persistence=cache.persistence,
        auth=cache.auth, tls=tls, min_replicas_to_write=cache.min_replicas_to_write,
        min_replicas_max_lag_ms=cache.min_replicas_max_lag,
        acl_users=tuple((u.name, u.permissions) for u in cache.acl_users),
    )
    sentinel = SentinelSettings(
        master_name=topology.master_name, initial_primary=str(topology.servers[0]),
        quorum=cache.quorum if cache.quorum is not None else topology.majority, work_dir=RUN_DIR,
        down_after_ms=cache.down_after, failover_timeout_ms=cache.failover_timeout, auth=cache.auth, tls=tls,
    )
    scripts = ScriptSettings(
        topology=topology, password_file=PASSWORD_FILE if cache.auth else None,
        tls_ca_file=tls.ca_file if tls else None,
        acl_password_dir=ACL_PASSWORD_DIR if cache.acl_users else None,
        # A failed first attempt is retried by Sentinel after 2 x failover-timeout.
        failover_wait_s=math.ceil((cache.down_after + 2 * cache.failover_timeout) / 1000) + 5,
    )
    endpoint = Endpoint(topology=topology, auth=cache.auth, tls_ca_file=tls.ca_file if tls else None)
    return HaPlan(names=names, server=server, sentinel=sentinel, scripts=scripts, endpoint=endpoint)
