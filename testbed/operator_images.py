"""How the operators start Redis, reproduced so a rendered custom resource can be started in a real
redis-server and asked what it runs with.

OT-CONTAINER-KIT (operator v0.26.0 with its default feature gates, image quay.io/opstree/redis:v7.0.15):
the operator gives the container env vars derived from the resource (internal/k8sutils/statefulset.go,
getEnvironmentVariables; redis-replication.go / redis-cluster.go, the container parameters) and
mounts the ConfigMap named by `additionalRedisConfig` at /etc/redis/external.conf.d
(externalConfigMount). The image's entrypoint (OT-CONTAINER-KIT/redis entrypoint.sh @78cbab57)
appends lines to its /etc/redis/redis.conf (a 7-line base: bind, tcp-backlog, timeout, tcp-keepalive,
daemonize, supervised, pidfile) in this order: password, cluster mode, persistence, TLS, ACL, port,
then `include $EXTERNAL_CONFIG_FILE` when that file exists, and runs `redis-server /etc/redis/redis.conf`.

Spotahome (operator v1.3.0-rc1): Redis runs `spec.redis.command`, else `redis-server /redis/redis.conf`,
where redis.conf is its template (operator/redisfailover/service/constants.go, redisConfigTemplate,
plus masterauth/requirepass from generateRedisConfigMap); `customConfig` lines are applied by CONFIG
SET from the reconcile loop, each split at the first space into name and value
(service/redis/client.go, SetCustomRedisConfig / getConfigParameters).

Differences from a pod, all outside what these tests check: the server binds 127.0.0.1 instead of
`0.0.0.0 ::`, the pid file and data folders are temporary, and the server is Debian's redis-server
(7.0.15, the OT image's version; Spotahome's image here is Redis 7.2).
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis

OT_BASE = ("tcp-backlog 511", "timeout 0", "tcp-keepalive 300", "daemonize no", "supervised no")
OT_EXTERNAL_DIR = "external.conf.d"


def ot_env(kind: str, spec: dict, password: str | None, port: int) -> dict[str, str]:
    """The env vars operator v0.26.0 gives the Redis container of a RedisReplication ("replication")
    or RedisCluster ("cluster", both roles alike) with this spec."""
    if spec.get("TLS") or spec.get("acl"):
        raise NotImplementedError("TLS and ACL lines are not reproduced here")
    role = "cluster" if kind == "RedisCluster" else "replication"
    env = {"SERVER_MODE": role, "SETUP_MODE": role, "REDIS_PORT": str(port)}
    if kind == "RedisCluster":
        env["REDIS_MAJOR_VERSION"] = spec.get("clusterVersion", "v7")
        persistence = bool(spec.get("persistenceEnabled")) and "storage" in spec
    else:
        persistence = bool((spec.get("storage") or {}).get("volumeClaimTemplate"))
    if persistence:
        env["PERSISTENCE_ENABLED"] = "true"
    if spec["kubernetesConfig"].get("redisSecret") is not None:
        assert password is not None
        env["REDIS_PASSWORD"] = password
    return env


def ot_extra_config_name(kind: str, spec: dict, role: str | None) -> str | None:
    """The ConfigMap the operator mounts for this role (internal/k8sutils: redis-replication.go reads
    spec.redisConfig, redis-cluster.go only redisLeader/redisFollower.redisConfig)."""
    holder = spec[role] if kind == "RedisCluster" else spec
    return ((holder or {}).get("redisConfig") or {}).get("additionalRedisConfig")


def ot_entrypoint_conf(env: dict[str, str], folder: Path, extra_conf: str | None) -> Path:
    """Write the redis.conf the image's entrypoint would end with, under `folder`; `extra_conf` is the
    content of the mounted redis-additional.conf (None: no ConfigMap mounted)."""
    data, node_conf = folder / "data", folder / "node-conf"
    data.mkdir(parents=True, exist_ok=True)
    node_conf.mkdir(exist_ok=True)
    external = folder / OT_EXTERNAL_DIR / "redis-additional.conf"
    if extra_conf is not None:
        external.parent.mkdir(exist_ok=True)
        external.write_text(extra_conf)
    lines = ["bind 127.0.0.1", *OT_BASE, f"pidfile {folder / 'redis.pid'}"]
    password = env.get("REDIS_PASSWORD")
    if password:
        lines += [f"masterauth {password}", f"requirepass {password}", "protected-mode yes"]
    else:
        lines.append("protected-mode no")
    if env.get("SETUP_MODE") == "cluster":
        lines += ["cluster-enabled yes", "cluster-node-timeout 5000", "cluster-require-full-coverage no",
                  "cluster-migration-barrier 1", f"cluster-config-file {node_conf / 'nodes.conf'}"]
    if env.get("PERSISTENCE_ENABLED") == "true":
        lines += ["save 900 1", "save 300 10", "save 60 10000", "appendonly yes", 'appendfilename "appendonly.aof"',
                  f"dir {data}"]
    lines.append(f"port {env['REDIS_PORT']}")
    if external.is_file():
        lines.append(f"include {external}")
    if env.get("SETUP_MODE") == "cluster" and env.get("REDIS_MAJOR_VERSION") == "v7":
        lines += ["cluster-announce-ip 127.0.0.1", "cluster-announce-hostname ot-test-0"]
    conf = folder / "redis.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def spotahome_conf(port: int, password: str | None, folder: Path) -> Path:
    """Spotahome's generated /redis/redis.conf for a RedisFailover on `port`."""
    lines = [f"slaveof 127.0.0.1 {port}", f"port {port}", "tcp-keepalive 60", "save 900 1", "save 300 10",
             "user pinger -@all +ping on >pingpass"]
    text = "\n".join(lines)
    if password:
        text += f"\nmasterauth {password}\nrequirepass {password}"
    conf = folder / "redis.conf"
    conf.write_text(text)
    return conf


def spotahome_apply_custom_config(client: redis.Redis, lines: list[str]) -> None:
    """What the operator does with `customConfig` on every reconcile: CONFIG SET, name and value split
    at the first space; an error aborts the reconcile (so every line must be settable at run time)."""
    for line in lines:
        name, _, value = line.partition(" ")
        client.config_set(name, '' if value == '""' else value)


class Server:
    """One redis-server started with a command line, stopped by PID."""

    def __init__(self, command: list[str], port: int, password: str | None, cwd: Path):
        self.port, self.password = port, password
        self.proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=2)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                raise AssertionError(f"redis-server exited with {self.proc.returncode}:\n{out[-3000:]}")
            try:
                if self.client.ping():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("redis-server did not answer PING within 10 s")
            time.sleep(0.02)

    def config(self, name: str) -> str:
        return self.client.config_get(name)[name]

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
