"""Operator caches run with the planned maxmemory and eviction policy: the rendered custom resource
and its ConfigMap, started in a real redis-server the way each operator and image start Redis
(testbed/operator_images.py), asked with CONFIG GET.

OT-CONTAINER-KIT v0.26.0 never applies `maxMemoryPercentOfLimit` with its default feature gates, and
its image ignores the env var, so before the fix these caches had no maxmemory at all and were
OOM-killed at the container limit instead of evicting."""
from __future__ import annotations

import copy
import shutil
import socket
from pathlib import Path

import pytest

from cache_patterns import stack_reader
from cache_patterns import stack as config
from cache_patterns.core import sizing
from cache_patterns.patterns.operator import specs as operator
from cache_patterns.patterns.operator.settings import OperatorSettings
from tests.conftest import need_binary
from testbed.support import free_ports
from testbed.operator_images import Server, ot_entrypoint_conf, ot_env, ot_extra_config_name, spotahome_conf, spotahome_apply_custom_config
from tools import harness

pytestmark = pytest.mark.live
PASSWORD = "OperatorMemoryLiveTest0Password0x8c1f"
PLATFORM = "platform"


def rendered(caches: dict | None = None) -> tuple[harness.Run, dict, OperatorSettings]:
    """A run of the platform stack (or of its config with other caches), its custom resource and settings."""
    cfg = copy.deepcopy(harness.load_stack_config(PLATFORM))
    if caches is not None:
        cfg["cache-patterns:caches"] = caches
        cfg["cache-patterns:operators"] = {}
    run = harness.run(PLATFORM, cfg, password=PASSWORD)
    (cr,) = [harness.ints(r.manifest) for r in run.k8s_objects
             if r.type.startswith(("kubernetes:redis.redis.opstreelabs.in", "kubernetes:databases.spotahome.com"))]
    parsed = config.parse(stack_reader.decode(harness.engine_config(cfg, lambda k: "x")[0], PLATFORM), PLATFORM)
    return run, cr, parsed.caches["sessions"]  # type: ignore[return-value]


def config_map(run: harness.Run, namespace: str, name: str | None) -> dict | None:
    """The data of ConfigMap `name` in `namespace` as the run creates it (None: no such ConfigMap)."""
    for m in run.manifests():
        if m["kind"] == "ConfigMap" and (m["metadata"]["namespace"], m["metadata"]["name"]) == (namespace, name):
            return m.get("data", {})
    return None


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000, which the OT entrypoint leaves at its default)
    is free and valid too."""
    for _ in range(100):
        (port,) = free_ports(1)
        if port <= 55535:
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise AssertionError("no free port pair (port, port + 10000) found")


def start_ot(cr: dict, run: harness.Run, role: str | None, folder: Path) -> Server:
    """Start the Redis container of `role` (cluster: redisLeader/redisFollower) as the OT image would."""
    need_binary("redis-server")
    (port,) = [cluster_port()] if cr["kind"] == "RedisCluster" else free_ports(1)
    env = ot_env(cr["kind"], cr["spec"], PASSWORD, port)
    name = ot_extra_config_name(cr["kind"], cr["spec"], role)
    data = config_map(run, cr["metadata"]["namespace"], name) if name else None
    assert name is None or data is not None, f"the resource names ConfigMap {name!r}, which the stack does not create"
    extra = (data or {}).get(operator.OT_EXTRA_CONF_KEY)
    conf = ot_entrypoint_conf(env, folder, extra)
    return Server([shutil.which("redis-server") or "redis-server", str(conf)], port, PASSWORD, folder)


@pytest.mark.parametrize("variant,roles", [
    ("replication (the platform stack)", [None]),
    ("cluster", ["redisLeader", "redisFollower"]),
])
def test_ot_caches_start_with_the_planned_maxmemory_and_policy(variant, roles, tmp_path):
    caches = None if variant.startswith("replication") else {"sessions": {
        "pattern": "operator", "kind": "ot-cluster", "shards": 3, "replicas": 1, "memory": "256Mi",
        "storage": "1Gi", "maxmemoryPolicy": "allkeys-lfu"}}
    run, cr, settings = rendered(caches)
    planned = operator.maxmemory(settings)
    limit = sizing.parse_bytes(cr["spec"]["kubernetesConfig"]["resources"]["limits"]["memory"])
    assert 0 < planned < limit
    for role in roles:
        server = start_ot(cr, run, role, tmp_path / (role or "redis"))
        try:
            assert int(server.config("maxmemory")) == planned, role
            assert server.config("maxmemory-policy") == settings.maxmemory_policy, role
            # The planned replica buffer and backlog (docs/planning.md) are in force as well.
            assert f"slave {settings.pod.replica_buffer} 0 0" in server.config("client-output-buffer-limit"), role
            assert int(server.config("repl-backlog-size")) == settings.pod.backlog, role
            # The rest of the entrypoint's config is in force too (it is the same file).
            assert server.config("appendonly") == "yes"
            assert server.config("cluster-enabled") == ("yes" if cr["kind"] == "RedisCluster" else "no")
        finally:
            server.stop()


def test_without_the_config_map_the_ot_image_runs_without_maxmemory(tmp_path):
    """The control: what the image does with only `maxMemoryPercentOfLimit` (as before the fix)."""
    run, cr, _ = rendered()
    spec = copy.deepcopy(cr["spec"])
    spec["redisConfig"] = {"maxMemoryPercentOfLimit": 80}
    server = start_ot({**cr, "spec": spec}, run, None, tmp_path)
    try:
        assert int(server.config("maxmemory")) == 0 and server.config("maxmemory-policy") == "noeviction"
    finally:
        server.stop()


def test_spotahome_caches_get_maxmemory_from_start_and_from_the_operators_config_set(tmp_path):
    need_binary("redis-server")
    run, cr, settings = rendered({"sessions": {"pattern": "operator", "kind": "spotahome-failover", "replicas": 1,
                                               "memory": "300Mi", "maxmemoryPolicy": "volatile-lru"}})
    planned = operator.maxmemory(settings)
    redis_spec = cr["spec"]["redis"]
    command = list(redis_spec["command"])
    # The operator's config file path, replaced by a local copy of what it writes there.
    assert command[:2] == ["redis-server", operator.SPOTAHOME_REDIS_CONF]
    (port,) = free_ports(1)
    command[0] = shutil.which("redis-server") or "redis-server"
    command[1] = str(spotahome_conf(port, PASSWORD, tmp_path))
    server = Server(command + ["--bind", "127.0.0.1"], port, PASSWORD, tmp_path)
    try:
        # From the first second, before the operator has reconciled anything.
        assert int(server.config("maxmemory")) == planned
        assert server.config("maxmemory-policy") == "volatile-lru"
        assert f"slave {settings.pod.replica_buffer} 0 0" in server.config("client-output-buffer-limit")
        # What the operator then applies on every reconcile must be settable at run time, and agree.
        server.client.config_set("maxmemory", "1")
        server.client.config_set("client-output-buffer-limit", "replica 1 0 0")
        spotahome_apply_custom_config(server.client, redis_spec["customConfig"])
        assert int(server.config("maxmemory")) == planned
        assert f"slave {settings.pod.replica_buffer} 0 0" in server.config("client-output-buffer-limit")
        assert server.config("maxmemory-policy") == "volatile-lru"
    finally:
        server.stop()
