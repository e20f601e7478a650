"""Real servers for the planner's live tests and benchmark: start redis-server or valkey-server (inside
a memory cgroup with the planned limit when asked), load a workload, read what it costs, fork it under
writes and measure the copy-on-write the kernel charges.

Processes are started by this module and stopped by PID; cgroups it creates are removed.
"""
from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import redis

from cache_patterns.planning.memory import Size
from testbed import resp

V1_ROOT = Path("/sys/fs/cgroup/memory")
V2_ROOTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))


class Unavailable(RuntimeError):
    """What a live planner test needs is missing here (the message says what)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- memory cgroups -------------------------------------------------------------------------------------

class Cgroup:
    """A memory cgroup with a hard limit: cgroup v1 (memory controller at /sys/fs/cgroup/memory) or v2
    (a cgroup2 hierarchy with the memory controller). Charged memory includes every page the server and
    its forked child touch, so a copy-on-write spike above the limit is an OOM kill, as in a pod."""

    def __init__(self, path: Path, v2: bool):
        self.path, self.v2 = path, v2

    @classmethod
    def create(cls, limit: int) -> "Cgroup":
        if os.geteuid() != 0:
            raise Unavailable("memory cgroups need root")
        name = f"cp-plan-{os.getpid()}-{time.monotonic_ns()}"
        if (V1_ROOT / "memory.limit_in_bytes").exists():
            path = V1_ROOT / name
            path.mkdir()
            (path / "memory.limit_in_bytes").write_text(str(limit))
            if (path / "memory.memsw.limit_in_bytes").exists():
                (path / "memory.memsw.limit_in_bytes").write_text(str(limit))  # no escape into swap
            return cls(path, v2=False)
        for root in V2_ROOTS:
            controllers = root / "cgroup.controllers"
            if controllers.exists() and "memory" in controllers.read_text().split():
                subtree = root / "cgroup.subtree_control"
                if "memory" not in subtree.read_text().split():
                    subtree.write_text("+memory")
                path = root / name
                path.mkdir()
                (path / "memory.max").write_text(str(limit))
                if (path / "memory.swap.max").exists():
                    (path / "memory.swap.max").write_text("0")
                return cls(path, v2=True)
        raise Unavailable("no memory cgroup controller (cgroup v1 /sys/fs/cgroup/memory or a cgroup2 with memory)")

    def _stat(self) -> dict[str, int]:
        out = {}
        for line in (self.path / "memory.stat").read_text().splitlines():
            key, value = line.split()
            out[key] = int(value)
        return out

    def anon(self) -> int:
        """Anonymous memory charged: the heap of the server and its child (not the page cache of the dump)."""
        s = self._stat()
        return s["anon"] if self.v2 else s["total_rss"]

    def oom_kills(self) -> int:
        if self.v2:
            events = dict(line.split() for line in (self.path / "memory.events").read_text().splitlines())
            return int(events.get("oom_kill", 0))
        control = dict(line.split() for line in (self.path / "memory.oom_control").read_text().splitlines())
        return int(control.get("oom_kill", 0))

    def prefix(self) -> str:
        """Shell that moves itself into the cgroup; `exec` then runs the server inside it."""
        return f"echo $$ > {self.path / 'cgroup.procs'} && exec "

    def remove(self) -> None:
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


# ---- servers ---------------------------------------------------------------------------------------------

@dataclass
class Server:
    binary: str
    port: int
    workdir: Path
    proc: subprocess.Popen
    cgroup: Cgroup | None = None
    client: redis.Redis = field(init=False)

    def __post_init__(self) -> None:
        self.client = redis.Redis(port=self.port, socket_timeout=60)

    def info(self, section: str) -> dict:
        return self.client.info(section)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def engine(self) -> tuple[str, str, str]:
        """(engine, version, allocator) as the server reports them."""
        info = self.info("server")
        name = "valkey" if "valkey_version" in info or info.get("server_name") == "valkey" else "redis"
        version = info.get("valkey_version") or info["redis_version"]
        return name, str(version), self.info("memory")["mem_allocator"]

    def quantum(self) -> int:
        """jemalloc's quantum (size-class spacing) in this build, from MEMORY MALLOC-STATS."""
        stats = self.client.execute_command("MEMORY", "MALLOC-STATS")
        text = stats.decode() if isinstance(stats, bytes) else str(stats)
        m = re.search(r"Quantum size: (\d+)", text)
        if m is None:
            raise Unavailable(f"{self.binary} does not use jemalloc ({self.info('memory')['mem_allocator']})")
        return int(m.group(1))

    def stop(self) -> None:
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.cgroup is not None:
            self.cgroup.remove()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start(binary: str, *args: str, cgroup: Cgroup | None = None) -> Server:
    """A server on a free loopback port with no persistence, its files in a new directory on disk
    (not tmpfs, whose pages a cgroup would charge), plus `args`."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="cp-plan-", dir="/var/tmp"))
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(workdir), "--enable-debug-command", "yes", "--logfile", str(workdir / "server.log"), *args]
    if cgroup is not None:
        quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in argv)
        proc = subprocess.Popen(["sh", "-c", cgroup.prefix() + quoted])
    else:
        proc = subprocess.Popen(argv)
    server = Server(binary, port, workdir, proc, cgroup)
    deadline = time.monotonic() + 10
    while True:
        try:
            server.client.ping()
            return server
        except redis.ConnectionError:
            if not server.alive or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"{binary} did not start: {(workdir / 'server.log').read_text()[-2000:]}")
            time.sleep(0.05)


# ---- loading and measuring ------------------------------------------------------------------------------

BLOB = random.Random(20261126).randbytes(1 << 20)


def _cycle(size: Size) -> list[int]:
    """Sizes that follow the distribution exactly when cycled (its quantile points carry equal weights)."""
    return [v for v, _ in size.points()]


def load(port: int, n: int, key: Size, value: Size, ttl_share: float, batch: int = 2000) -> None:
    """n string keys of exactly the given sizes (values: incompressible bytes, never integers), a TTL on
    ttl_share of them. Sent as RESP in batches on a connection of its own, closed before the caller
    measures (so no client buffer of it is counted), every reply checked to be +OK: the same SET
    commands as a client's pipeline, without a Python client's per-command cost (about 5x faster:
    the live tier loads 1.6 million keys per engine)."""
    keys, values = _cycle(key), _cycle(value)
    step = 7919
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        for start in range(0, n, batch):
            parts = []
            for i in range(start, min(start + batch, n)):
                k = keys[i % len(keys)]
                name = f"k{i:0{max(k - 1, 1)}d}".encode()
                if len(name) != k:
                    raise ValueError(f"key length {k} cannot hold {n} distinct keys")
                v = values[(i * 31) % len(values)]
                off = (i * step) % (len(BLOB) - v)
                parts.append(resp.set_command(name, b"v" + BLOB[off:off + v - 1], (i % 100) < ttl_share * 100))
            conn.sendall(b"".join(parts))
            resp.expect_ok(conn, len(parts))


def settle(server: Server) -> None:
    """Wait until incremental rehashing is over and used_memory holds still."""
    last = -1
    for _ in range(200):
        used = server.info("memory")["used_memory"]
        try:
            stats = server.client.execute_command("DEBUG", "HTSTATS", "0")
            rehashing = b"rehashing target" in stats or b"Rehashing" in stats
        except redis.ResponseError:
            rehashing = False
        if used == last and not rehashing:
            return
        last = used
        time.sleep(0.1)


def bytes_per_key(server: Server, n: int, key: Size, value: Size, ttl_share: float) -> float:
    """Δused_memory (minus the clients' buffers) per key, on an emptied server."""
    # SYNC: Valkey 8+ frees a plain FLUSHALL in the background (lazyfree-lazy-user-flush yes), and on a
    # loaded machine `settle` could take `before` while the last data set was still being freed.
    server.client.execute_command("FLUSHALL", "SYNC")
    settle(server)
    before = server.info("memory")
    load(server.port, n, key, value, ttl_share)
    settle(server)
    after = server.info("memory")
    assert server.client.dbsize() == n
    clients = after.get("mem_clients_normal", 0) - before.get("mem_clients_normal", 0)
    return (after["used_memory"] - before["used_memory"] - clients) / n


@dataclass
class ForkRun:
    """One BGSAVE under writes, measured from the cgroup."""

    maxmemory: int
    used_before: int
    evicted: int
    anon_before: int
    anon_peak: int
    fork_seconds: float
    writes_per_second: float
    keys: int
    status: str
    oom_kills: int
    alive: bool

    @property
    def copied(self) -> int:
        return self.anon_peak - self.anon_before


class Writer(threading.Thread):
    """Sets random keys of a range (existing ones and evicted ones) at a rate, or as fast as it can."""

    def __init__(self, port: int, top: int, size: int, rate: float | None):
        super().__init__(daemon=True)
        self.client = redis.Redis(port=port, socket_timeout=60)
        self.top, self.payload, self.rate = top, b"w" * size, rate
        self.count, self.stop_flag, self.error = 0, False, None

    def run(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        rnd = random.Random(7)
        batch = 50 if self.rate is None else max(1, int(self.rate / 200))
        start = time.monotonic()
        try:
            while not self.stop_flag:
                for _ in range(batch):
                    pipe.set(f"key:{rnd.randrange(self.top)}", self.payload)
                pipe.execute()
                self.count += batch
                if self.rate is not None:
                    ahead = start + self.count / self.rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
        except redis.RedisError as exc:
            self.error = exc


def fork_under_writes(binary: str, maxmemory: int, limit: int, n: int, value_bytes: int,
                      writes_per_second: float | None) -> ForkRun:
    """A server in a cgroup limited to `limit`, filled to `maxmemory` under eviction churn (allkeys-lru:
    DEBUG POPULATE past it, then 30 % more keys written by a client), then a BGSAVE while a writer sets
    random keys at the given rate (None: as fast as one client can)."""
    cgroup = Cgroup.create(limit)
    server = start(binary, "--maxmemory", str(maxmemory), "--maxmemory-policy", "allkeys-lru", cgroup=cgroup)
    writer = None
    try:
        c = server.client
        c.execute_command("DEBUG", "POPULATE", int(n * 1.1), "key", value_bytes)
        pipe = c.pipeline(transaction=False)
        filler = b"f" * value_bytes
        for i in range(int(n * 1.1), int(n * 1.4)):
            pipe.set(f"key:{i}", filler)
            if i % 5000 == 4999:
                pipe.execute()
        pipe.execute()
        used = server.info("memory")["used_memory"]
        evicted = server.info("stats")["evicted_keys"]
        writer = Writer(server.port, int(n * 1.4), value_bytes, writes_per_second)
        writer.start()
        time.sleep(1.0)
        anon_before = cgroup.anon()
        peak = anon_before
        w0, t0 = writer.count, time.monotonic()
        c.bgsave()
        while True:
            peak = max(peak, cgroup.anon())
            time.sleep(0.005)
            if not server.alive:
                break
            try:
                if not server.info("persistence")["rdb_bgsave_in_progress"]:
                    break
            except redis.RedisError:
                break
        seconds = time.monotonic() - t0
        rate = (writer.count - w0) / seconds
        writer.stop_flag = True
        writer.join(timeout=30)
        alive = server.alive
        status = server.info("persistence")["rdb_last_bgsave_status"] if alive else "server gone"
        keys = c.dbsize() if alive else 0
        return ForkRun(maxmemory=maxmemory, used_before=used, evicted=evicted, anon_before=anon_before,
                       anon_peak=peak, fork_seconds=seconds, writes_per_second=rate, keys=keys, status=status,
                       oom_kills=cgroup.oom_kills(), alive=alive)
    finally:
        if writer is not None:
            writer.stop_flag = True
        server.stop()


def engines_here() -> Iterator[tuple[str, str | None, str]]:
    """(engine, binary or None, why not) for the machine's redis-server and the toolchain's Valkey 8.1
    (`valkey`) and 9.1 (`valkey-9`)."""
    yield "redis", shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None), \
        "redis-server is not installed (Debian package; .ci/run installs it)"
    from e2e import toolchain

    from . import engines

    for tool, name in (("valkey", "valkey"), ("valkey-9", "valkey-9")):
        binary = (engines.toolchain_bin(tool) or toolchain.bin_dir(tool)) / "valkey-server"
        yield name, str(binary) if binary.exists() else None, \
            f"{tool} is not built: run ./run toolchain {tool} (expected {binary})"


# The data sets the planner's model is measured on (tests/live/test_planning_live.py, benchmarks/planning.py).
# Key size, value size, share with a TTL: fixed sizes from 16 B to 1 kB, a uniform spread around 500 B
# and a log-uniform one from 16 B to 4 KiB.
DATASETS = [
    (Size.fixed(16), Size.fixed(16), 0.0), (Size.fixed(16), Size.fixed(16), 1.0),
    (Size.fixed(32), Size.fixed(100), 0.0), (Size.fixed(32), Size.fixed(100), 1.0),
    (Size.fixed(64), Size.fixed(1000), 0.0), (Size.fixed(64), Size.fixed(1000), 1.0),
    (Size.fixed(40), Size(100, 900, "uniform"), 0.0), (Size.fixed(40), Size(100, 900, "uniform"), 0.5),
    (Size(24, 48, "uniform"), Size(16, 4096, "log-uniform"), 1.0),
]
KEYS = 100_000
# The shapes issue 23 measured the Redis 7 model on against Valkey 8.1.1 (+12.6 %, +1.9 %, +48.1 %):
# (key, value, (ttl share, keys)).
ENGINE_SHAPES = [
    (Size.fixed(20), Size.fixed(100), (0.0, 200_000)), (Size.fixed(40), Size.fixed(1000), (0.0, 100_000)),
    (Size.fixed(16), Size.fixed(8), (0.0, 300_000)),
]


# (what, keys, value bytes, writes/s or None for as fast as one client can with the rate not given)
FORKS = [
    ("100 B values at 5k writes/s", 500_000, 100, 5000),
    ("1 kB values at 5k writes/s", 100_000, 1000, 5000),
    ("1 kB values, full-speed writes, rate not given (c = 1)", 100_000, 1000, None),
]
