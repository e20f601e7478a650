"""Real redis-server processes for the two-tier client tests: an L2 on a free TCP port, one L1 per "pod"
on a unix socket in a short temp dir. Each server starts in ~50 ms, is stopped by PID at teardown,
and can be killed, paused or restarted mid-test to prove the failure behaviour.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import pytest
import redis

try:
    import cache_patterns_client  # noqa: F401
except ImportError:  # not pip-installed: test the source tree (CI installs it, see the README)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python" / "src"))

from cache_patterns_client import ClientOptions, TwoTierCache  # noqa: E402
from tests.conftest import skip_or_fail  # noqa: E402

REDIS_SERVER = shutil.which("redis-server")

# Short enough that a failure test finishes in well under a second, long enough for a loaded CI box.
FAST = ClientOptions(l1_connect_timeout=0.2, l1_timeout=0.2, l2_connect_timeout=0.3, l2_timeout=0.3,
                     retries=1, l1_retry_interval=0.2, l2_retry_interval=0.2,
                     health_check_interval=0.5, subscribe_wait=3.0)


def require_live() -> None:
    """Skip (or, with CACHE_PATTERNS_REQUIRE_LIVE=1, fail) when redis-server is not installed."""
    if REDIS_SERVER is None:
        skip_or_fail("redis-server not on PATH (apt-get install redis-server)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], object], timeout: float = 3.0, what: str = "condition") -> None:
    """Poll every 5 ms; fail with `what` after `timeout` seconds. Every wait in these tests is bounded."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


class RedisProcess:
    """One redis-server. `port` for TCP, `unixsocket` for a socket-only server (port 0)."""

    def __init__(self, workdir: Path, name: str, port: Optional[int] = None, unixsocket: Optional[str] = None,
                 args: tuple[str, ...] = (), sentinel_conf: Optional[Path] = None) -> None:
        self.workdir = workdir
        self.name = name
        self.port = port
        self.unixsocket = unixsocket
        self.args = args
        self.sentinel_conf = sentinel_conf
        self.password: Optional[str] = None
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> "RedisProcess":
        cmd = [str(REDIS_SERVER)]
        if self.sentinel_conf is not None:
            cmd += [str(self.sentinel_conf), "--sentinel"]
        cmd += ["--port", str(self.port or 0), "--bind", "127.0.0.1", "--dir", str(self.workdir),
                "--logfile", str(self.workdir / f"{self.name}.log")]
        if self.sentinel_conf is None:
            cmd += ["--save", "", "--appendonly", "no"]
        if self.unixsocket:
            cmd += ["--unixsocket", self.unixsocket, "--unixsocketperm", "700"]
        self.proc = subprocess.Popen(cmd + list(self.args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = self.client(password=self.password)
        try:
            wait_until(lambda: self._pings(probe), 5.0, f"{self.name} to answer PING")
        finally:
            probe.close()
        return self

    def _pings(self, client: redis.Redis) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            log = (self.workdir / f"{self.name}.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{log}")
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def client(self, password: Optional[str] = None) -> redis.Redis:
        """A plain redis-py client, for setting up and inspecting state behind the cache's back."""
        if self.unixsocket and not self.port:
            return redis.Redis(unix_socket_path=self.unixsocket, socket_timeout=2, password=password)
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, password=password)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL and reap: a crash, no goodbye on any connection."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=5)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGCONT)  # a paused server cannot handle SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


class Servers:
    """Starts servers for one test and stops every one of them, by PID, at teardown."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="cp-client-"))  # short: unix socket paths max out near 107 bytes
        self.started: List[RedisProcess] = []

    def tcp(self, name: str, args: tuple[str, ...] = (), password: Optional[str] = None) -> RedisProcess:
        if password is not None:
            args = args + ("--requirepass", password)
        proc = RedisProcess(self.dir, name, port=free_port(), args=args)
        proc.password = password
        self.started.append(proc)
        return proc.start()

    def unix(self, name: str) -> RedisProcess:
        proc = RedisProcess(self.dir, name, unixsocket=str(self.dir / f"{name}.sock"))
        self.started.append(proc)
        return proc.start()

    def sentinel(self, name: str, master: RedisProcess, master_name: str = "mymaster") -> RedisProcess:
        """A Sentinel watching `master` (quorum 1), started once it reports the primary's address."""
        conf = self.dir / f"{name}.conf"
        conf.write_text(f"sentinel monitor {master_name} 127.0.0.1 {master.port} 1\n")
        proc = RedisProcess(self.dir, name, port=free_port(), sentinel_conf=conf)
        self.started.append(proc)
        proc.start()
        probe = proc.client()
        try:
            wait_until(lambda: probe.sentinel_get_master_addr_by_name(master_name), 5.0, f"{name} to know the primary")
        finally:
            probe.close()
        return proc

    def cluster(self, nodes: int = 3) -> List[RedisProcess]:
        """A cluster of `nodes` primaries with the 16384 slots split evenly, joined with CLUSTER MEET
        (faster than redis-cli --cluster create, which sleeps a second per step)."""
        procs = []
        bus_ports = []
        for i in range(nodes):
            name = f"cluster-{i}"
            # An explicit bus port: the default (port + 10000) may be taken or above 65535.
            bus_ports.append(free_port())
            procs.append(self.tcp(name, args=("--cluster-enabled", "yes", "--cluster-config-file", f"{name}.nodes",
                                              "--cluster-port", str(bus_ports[-1]))))
        per = 16384 // nodes
        for i, proc in enumerate(procs):
            admin = proc.client()
            last = 16383 if i == nodes - 1 else (i + 1) * per - 1
            admin.execute_command("CLUSTER", "ADDSLOTSRANGE", i * per, last)
            if i:
                admin.execute_command("CLUSTER", "MEET", "127.0.0.1", procs[0].port, bus_ports[0])
            admin.close()

        def converged() -> bool:
            for proc in procs:
                admin = proc.client()
                try:
                    if b"cluster_state:ok" not in admin.execute_command("CLUSTER", "INFO"):
                        return False
                finally:
                    admin.close()
            return True

        wait_until(converged, 10.0, "the cluster to converge")
        return procs

    def close(self) -> None:
        for proc in self.started:
            proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def servers() -> Iterator[Servers]:
    require_live()
    s = Servers()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def l2(servers: Servers) -> RedisProcess:
    return servers.tcp("l2")


def pod_env(l2: RedisProcess, l1: Optional[RedisProcess], cap: float = 30, channel: str = "cache:pages:l1-inv",
            extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The env the foundation gives an app container bound to a two-tier cache (contract v1)."""
    env = {"CACHE_CONTRACT_VERSION": "1", "CACHE_NAME": "pages", "CACHE_PATTERN": "statefulset"}
    for prefix in ("CACHE", "CACHE_L2"):
        env.update({f"{prefix}_HOST": "127.0.0.1", f"{prefix}_PORT": str(l2.port),
                    f"{prefix}_TLS": "false", f"{prefix}_CLUSTER": "false"})
    if l1 is not None:
        assert l1.unixsocket is not None
        env.update({"CACHE_L1_HOST": "127.0.0.1", "CACHE_L1_PORT": "6380", "CACHE_L1_SOCKET": l1.unixsocket,
                    "CACHE_L1_TLS": "false", "CACHE_L1_CLUSTER": "false", "CACHE_L1_URL": f"unix://{l1.unixsocket}",
                    "CACHE_L1_TTL_CAP": str(cap), "CACHE_L1_INVALIDATION_CHANNEL": channel})
    env.update(extra or {})
    return env


def seen_by(readers: Sequence["Pod"], write: Callable[[], object], timeout: float = 2.0) -> None:
    """Run another pod's `write`, then wait until every reader has received its invalidation. A read
    right after the write would otherwise race it: an invalidation arriving between the reader's L2
    read and its L1 copy refuses the copy (as the protocol requires), and a test expecting the copy
    would fail on timing alone."""
    before = [r.cache.stats.invalidations_received for r in readers]
    write()
    wait_until(lambda: all(r.cache.stats.invalidations_received > n for r, n in zip(readers, before)),
               timeout, "the write's invalidation at every reader")


class Pod:
    """An app pod: its own L1 sidecar and a TwoTierCache built from the env contract."""

    def __init__(self, l1: RedisProcess, cache: TwoTierCache) -> None:
        self.l1 = l1
        self.cache = cache
        self.l1_raw = l1.client()


@pytest.fixture
def make_pod(servers: Servers, l2: RedisProcess) -> Iterator[Callable[..., Pod]]:
    pods: List[Pod] = []

    def make(cap: float = 30, options: ClientOptions = FAST, extra: Optional[Dict[str, str]] = None) -> Pod:
        l1 = servers.unix(f"l1-{len(pods)}")
        cache = TwoTierCache.from_env(pod_env(l2, l1, cap=cap, extra=extra), options=options)
        assert cache.wait_ready(3.0), "invalidation subscription did not come up"
        pod = Pod(l1, cache)
        pods.append(pod)
        return pod

    yield make
    for pod in pods:
        pod.cache.close()
        pod.l1_raw.close()
