"""Pattern 3, sidecar: the pod builder, the rendered pods, and the rendered Redis arguments run in a
real redis-server to prove they take effect (bind, socket, no persistence, maxmemory, eviction)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import redis

from cache_patterns import stack as config
from cache_patterns.patterns.sidecar import component as sidecar
from cache_patterns.core import sizing
from tests.conftest import need_binary, stack_run
from tools import harness, plan as plan_tool


def cfg_with(**over):
    values = {"environment": "development", "caches": {"c": {"pattern": "sidecar", "memory": "256Mi"}},
              "apps": [{"name": "web", "image": "web:1.0", "cache": "c"}], **over}
    return config.parse(values, "t")


def pod_of(run: harness.Run, app: str) -> dict:
    dep = next(o for o in run.manifests() if o["kind"] == "Deployment" and o["metadata"]["name"] == app)
    return dep["spec"]["template"]["spec"]


def args_map(args: list[str]) -> dict[str, list[str]]:
    out, key = {}, None
    for a in args:
        if a.startswith("--"):
            key = a[2:]
            out[key] = []
        else:
            out[key].append(a)
    return out


def test_native_sidecar_starts_before_the_app_and_gates_it_with_a_startup_probe():
    b = sidecar.Sidecar("c", cfg_with().caches["c"], native=True).binding("ns")
    (c,) = b.pod.init_containers
    assert c["restartPolicy"] == "Always" and not b.pod.containers
    assert "startupProbe" in c and c["startupProbe"]["exec"]["command"][-1].endswith("ping | grep -q PONG")


def test_plain_container_mode_for_kubernetes_before_1_29():
    b = sidecar.Sidecar("c", cfg_with().caches["c"], native=False).binding("ns")
    (c,) = b.pod.containers
    assert not b.pod.init_containers and "restartPolicy" not in c and "startupProbe" not in c


def test_the_stack_kubernetes_version_picks_the_mode():
    cfg = harness.load_stack_config("local")
    old = stack_run("local")
    assert [c["name"] for c in pod_of(old, "demo")["initContainers"]] == ["cache"]
    plain = harness.run("local", {**cfg, "cache-patterns:kubernetesVersion": "1.28"})
    pod = pod_of(plain, "demo")
    assert "initContainers" not in pod and [c["name"] for c in pod["containers"]] == ["demo", "cache"]


def test_redis_listens_only_on_loopback_and_a_socket_and_keeps_nothing_on_disk():
    local = sidecar.from_sidecar(cfg_with().caches["c"])
    args = args_map(sidecar.container(local, native=True)["args"])
    assert args["bind"] == ["127.0.0.1"] and args["protected-mode"] == ["yes"]
    assert args["unixsocket"] == ["/run/cache/redis.sock"] and args["unixsocketperm"] == ["660"]
    assert args["save"] == [""] and args["appendonly"] == ["no"]
    assert "requirepass" not in args


def test_maxmemory_is_derived_from_the_limit_and_the_policy_from_the_cache():
    c = cfg_with(caches={"c": {"pattern": "sidecar", "memory": "256Mi", "maxmemoryPolicy": "allkeys-lfu",
                               "maxmemoryPercent": 75}}).caches["c"]
    container = sidecar.container(sidecar.from_sidecar(c), native=True)
    args = args_map(container["args"])
    assert int(args["maxmemory"][0]) == 256 * sizing.MI * 75 // 100
    assert args["maxmemory-policy"] == ["allkeys-lfu"]
    assert container["resources"]["limits"]["memory"] == "256Mi" == container["resources"]["requests"]["memory"]


def test_probes_use_the_socket_because_a_kubelet_tcp_probe_cannot_reach_loopback():
    c = sidecar.container(sidecar.from_sidecar(cfg_with().caches["c"]), native=True)
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert "tcpSocket" not in c[probe] and "-s /run/cache/redis.sock" in c[probe]["exec"]["command"][-1]


def test_engine_picks_binaries_and_image():
    redis_cache = cfg_with(caches={"c": {"pattern": "sidecar", "engine": "redis"}}).caches["c"]
    c = sidecar.container(sidecar.from_sidecar(redis_cache), native=True)
    assert c["command"] == ["redis-server"] and c["image"].startswith("redis:7.2.")
    assert "redis-cli" in c["livenessProbe"]["exec"]["command"][-1]


def test_app_and_sidecar_share_the_socket_volume_in_memory():
    run = stack_run("local")
    pod = pod_of(run, "demo")
    vol = next(v for v in pod["volumes"] if v["name"] == sidecar.SOCKET_VOLUME)
    assert vol["emptyDir"]["medium"] == "Memory"
    app_mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert app_mounts[sidecar.SOCKET_VOLUME] == sidecar.SOCKET_DIR
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["CACHE_SOCKET"] == "/run/cache/redis.sock" and env["CACHE_HOST"] == "127.0.0.1"
    assert "CACHE_PASSWORD_FILE" not in env


# ---- live: the rendered arguments in a real redis-server ---------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_user(uid: int = 10001) -> list[str]:
    """Run as the pod's non-root UID where the tests run as root."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return []
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]


@pytest.fixture
def rendered_sidecar():
    """The sidecar container exactly as the `local` stack renders it, with what the test changes."""
    pod = pod_of(stack_run("local"), "demo")
    container = next(c for c in pod["initContainers"] if c["name"] == "cache")
    workdir = tempfile.mkdtemp(prefix="sidecar-")
    os.chmod(workdir, 0o777)
    port = free_port()
    args = [a.replace(sidecar.SOCKET_DIR, workdir) for a in container["args"]]
    i = args.index("--port")
    args[i + 1] = str(port)
    yield container, args, port, workdir
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.live
def test_rendered_args_differ_only_in_port_and_socket_directory(rendered_sidecar):
    container, args, port, workdir = rendered_sidecar
    back = [a.replace(workdir, sidecar.SOCKET_DIR) for a in args]
    back[back.index("--port") + 1] = "6379"
    assert back == container["args"]


@pytest.mark.live
def test_rendered_sidecar_config_takes_effect_in_a_real_redis_server(rendered_sidecar):
    container, args, port, workdir = rendered_sidecar
    server = need_binary("redis-server")
    proc = subprocess.Popen(as_user() + [server, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        sock = f"{workdir}/redis.sock"
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "redis-server did not create its socket"
            time.sleep(0.05)
        r = redis.Redis(unix_socket_path=sock, socket_timeout=5)
        assert r.ping()
        conf = {k: v for k, v in r.config_get("*").items()}
        limit = sizing.parse_bytes(container["resources"]["limits"]["memory"])
        # The local stack's 128Mi with its workload: maxmemory is what the planned headroom leaves.
        cache = plan_tool.load("local").caches["local"]
        assert limit == cache.memory_limit and int(conf["maxmemory"]) == cache.maxmemory
        assert cache.pod.maxmemory_rule == "maxmemory-from-memory" and cache.maxmemory < limit
        assert conf["maxmemory-policy"] == "allkeys-lru"
        assert conf["save"] == "" and conf["appendonly"] == "no"
        assert conf["bind"] == "127.0.0.1" and conf["protected-mode"] == "yes"
        assert conf["unixsocket"] == sock and conf["unixsocketperm"] == "660"
        assert oct(os.stat(sock).st_mode & 0o777) == "0o660"
        assert redis.Redis(host="127.0.0.1", port=port, socket_timeout=5).ping()
        if as_user():
            assert os.stat(sock).st_uid == 10001
        # Fill past maxmemory: every write succeeds and keys are evicted instead.
        value = b"x" * 64 * 1024
        total = int(conf["maxmemory"]) * 3 // 2
        pipe = r.pipeline(transaction=False)
        for i in range(total // len(value)):
            pipe.set(f"k{i}", value)
            if i % 200 == 199:
                assert all(pipe.execute())
        assert all(pipe.execute())
        info = r.info()
        assert info["evicted_keys"] > 0
        assert info["used_memory"] <= int(conf["maxmemory"]) * 1.05
        assert r.dbsize() < total // len(value)
        assert r.set("after-fill", b"ok") and r.get("after-fill") == b"ok"
        assert not [f for f in os.listdir(workdir) if f != "redis.sock"], "something was written to disk"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
