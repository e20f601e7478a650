"""What the live tests and the benchmarks share around real processes: the binaries they need, free
ports, waiting, the passwords and ACL users of the tests, a writer that records acknowledged writes,
and scratch roots."""
from __future__ import annotations

import socket
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, TypeVar

import redis

from cache_patterns.config.common import DEFAULT_ENGINE_VERSION, default_image

from testbed import engines

UID = 10001
PASSWORD = "Lv3sT0nly8PasswordForLiveTests0x4d2Zq9"
# ACL users a cluster may be given: (name, rules). Their passwords are `user_password(name)`.
ACL_USERS = (("app", "~app:* +@read +@write -@dangerous (~shared:* +get)"), ("reader", "~* +@read -@all +get +mget"))
# Rules the config accepts, one of each form: the pure tests check the validator takes them, the live
# tests that Redis loads them as written.
ACL_RULE_EXAMPLES = (
    "~app:* +@read +@write -@dangerous",
    "allkeys +@all -flushall -flushdb -config|set",
    "%R~ref:* %W~out:* &events:* +publish +subscribe",
    "~a:* +client|setname -@admin",
    "~[abc]:{x}:* +GET (~shared:* +get) (%R~ro:* +@read)",
    "resetkeys ~only:* nocommands +ping",
    "~a:* allchannels resetchannels &x:* clearselectors +@ALL",
)
MASTER = "live-cache"
# The images the pods of pattern 2 run (staging's engine): the scripts find exactly their programs.
ENGINE_IMAGE = default_image("valkey", DEFAULT_ENGINE_VERSION["valkey"])
T = TypeVar("T")


def which(name: str) -> str | None:
    return engines.which(name)


def engine_versions() -> str:
    """The versions the processes run, e.g. "Valkey 8.1.1, HAProxy 3.0.11" (build suffixes dropped)."""
    v = engines.versions()
    return ", ".join(v[k].split("-")[0] for k in ("engine", "haproxy") if k in v)


def missing_binaries() -> list[str]:
    found = {"redis-server (or the toolchain's valkey-server)": engines.engine_program("server"),
             "redis-sentinel": engines.engine_program("sentinel"), "redis-cli": engines.engine_program("cli"),
             "haproxy": engines.haproxy(), "openssl": which("openssl"), "socat": which("socat")}
    return [name for name, path in found.items() if path is None]


def require_binaries() -> None:
    """Skip a test without the engine (the toolchain's Valkey, else Debian's redis-server,
    redis-sentinel, redis-cli), haproxy, openssl and socat; fail it instead when
    CACHE_PATTERNS_REQUIRE_LIVE=1 (CI, where .ci/run installs them)."""
    from tests.conftest import skip_or_fail

    missing = missing_binaries()
    if missing:
        skip_or_fail(f"{', '.join(missing)} not installed (./run toolchain valkey haproxy, or apt-get install "
                     f"redis-server redis-sentinel redis-tools haproxy openssl socat)")


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.1) -> T:
    """Poll `check` until it returns something other than None or False; fail with `what` after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value is not None and value is not False:
                return value
        except (redis.RedisError, OSError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last error: {last})" if last else ""))


def user_password(user: str) -> str:
    """The password of a live test's ACL user (alphanumeric, like the generator's)."""
    return f"Acl{user.capitalize()}Pw4LiveTests0x9f3Kq7"


def _pairs(flat: list) -> dict[str, str]:
    if isinstance(flat, dict):
        return {str(k): str(v) for k, v in flat.items()}
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}


class Writer(threading.Thread):
    """Writes numbered keys as fast as it can and records which were acknowledged: each SET followed
    by WAIT <wait_replicas> (acknowledged once that many replicas have it), or with wait_replicas=0
    the SET's own OK (what most clients take as "written"). Reconnects after errors, so it can
    measure the first successful write after a fault; with `fresh`, opens a new connection for
    every write (what a client pool that churns does), so routing changes are seen at once. `enter`
    runs first in the writer's thread (e.g. PodNetwork.enter: the writer is then a client in a pod)."""

    def __init__(self, connect: Callable[[], redis.Redis], prefix: str, wait_ms: int = 500,
                 fresh: bool = False, enter: Callable[[], None] | None = None, wait_replicas: int = 1) -> None:
        super().__init__(daemon=True)
        self.connect, self.prefix, self.wait_ms, self.fresh = connect, prefix, wait_ms, fresh
        self.enter, self.wait_replicas = enter, wait_replicas
        self.acked: list[str] = []
        self.successes: list[float] = []   # monotonic times of acknowledged writes, parallel to `acked`
        self.error_times: list[float] = []
        self.errors: list[str] = []          # what each error was, in the order of error_times
        self.halt = threading.Event()
        self.n = 0

    def run(self) -> None:
        if self.enter is not None:
            self.enter()
        client: redis.Redis | None = None
        while not self.halt.is_set():
            key = f"{self.prefix}:{self.n}"
            self.n += 1
            try:
                if client is None:
                    client = self.connect()
                client.set(key, "v")
                if self.wait_replicas == 0 or \
                        int(client.execute_command("WAIT", self.wait_replicas, self.wait_ms)) >= self.wait_replicas:
                    self.acked.append(key)
                    self.successes.append(time.monotonic())
                if self.fresh:
                    client.close()
                    client = None
            except (redis.RedisError, OSError) as exc:
                self.error_times.append(time.monotonic())
                self.errors.append(f"{type(exc).__name__}: {exc}")
                if client is not None:
                    client.close()
                client = None
                time.sleep(0.02)
        if client is not None:
            client.close()

    def longest_gap(self, start: float, end: float) -> tuple[float, float]:
        """The longest time without an acknowledged write within [start, end], and when it began."""
        times = [start] + [s for s in self.successes if start < s < end] + [end]
        gap, at = max((b - a, a) for a, b in zip(times, times[1:]))
        return gap, at

    def recovered_after(self, t: float) -> float | None:
        """When writes worked again after a fault at `t`: the first acknowledged write after the
        first error following `t` (a write in flight at `t` may still be acknowledged just after)."""
        error = next((e for e in self.error_times if e > t), None)
        if error is None:
            return None
        return next((s for s in self.successes if s > error), None)

    def outage(self, t: float) -> float | None:
        """How long this client saw no acknowledged write around a fault at `t`: from its last
        acknowledged write before the first error after `t` to its first one after."""
        error = next((e for e in self.error_times if e > t), None)
        recovered = self.recovered_after(t)
        if error is None or recovered is None:
            return None
        before = [s for s in self.successes if s < error]
        return recovered - (before[-1] if before else t)

    def stop(self) -> None:
        self.halt.set()
        self.join(10)


def missing_keys(client: redis.Redis, keys: list[str]) -> list[str]:
    out: list[str] = []
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        out += [k for k, v in zip(chunk, client.mget(chunk)) if v is None]
    return out


def new_root(prefix: str) -> Path:
    """A directory the non-root user can traverse (pytest's tmp_path lives under a 0700 dir)."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    root.chmod(0o755)
    return root


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
