"""A StatefulSet-pattern cache made of real processes on 127.0.0.1: Redis servers, Sentinels and the
HAProxy endpoint, each started through its pod script from a pod-like file layout (read-only conf
dir, writable run/data dirs, a password file) as a non-root user. Used by the live tests and by
benchmarks/failover.py, so both measure exactly what a pod runs.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cache_patterns.patterns.statefulset import ha
from cache_patterns.core.redis_conf import ReplicatedServer, SentinelSettings, TlsFiles, sentinel_conf

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
BINARIES = ("redis-server", "redis-sentinel", "redis-cli", "haproxy", "openssl")
# What a busybox-only image (alpine) offers the scripts, plus the Redis binaries.
BUSYBOX_APPLETS = ("sh", "cat", "date", "grep", "head", "mkdir", "mv", "sed", "sleep", "sort", "timeout",
                   "tr", "uniq", "wc", "true")
T = TypeVar("T")


def which(name: str) -> str | None:
    return shutil.which(name) or next((f"{d}/{name}" for d in ("/usr/bin", "/usr/sbin") if os.path.exists(f"{d}/{name}")), None)


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if which(b) is None]


def require_binaries() -> None:
    """Skip a test without redis-server/redis-sentinel/redis-cli/haproxy/openssl; fail it instead
    when CACHE_PATTERNS_REQUIRE_LIVE=1 (CI, where they are installed with apt-get)."""
    from tests.conftest import skip_or_fail

    missing = missing_binaries()
    if missing:
        skip_or_fail(f"{', '.join(missing)} not installed (apt-get install redis-server redis-sentinel "
                     f"redis-tools haproxy openssl)")


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


@dataclass(frozen=True)
class TlsMaterial:
    ca: Path
    cert: Path
    key: Path


def make_tls(directory: Path) -> TlsMaterial:
    """A throw-away CA and one server certificate for 127.0.0.1, as cert-manager would issue."""
    directory.mkdir(parents=True, exist_ok=True)
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=cache-patterns live test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tls.key", "-out", "tls.csr",
        "-subj", "/CN=cache-patterns live test")
    (directory / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "tls.crt", "-days", "2", "-extfile", "ext.cnf")
    return TlsMaterial(ca=directory / "ca.crt", cert=directory / "tls.crt", key=directory / "tls.key")


@dataclass
class Member:
    """One container: its files, its environment and, while it runs, its process."""

    name: str
    port: int
    root: Path
    env: dict[str, str]
    script: str
    proc: subprocess.Popen | None = None
    starts: int = 0

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "log"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    """`servers` Redis + `sentinels` Sentinels + one HAProxy, laid out under `root`."""

    root: Path
    servers: int = 3
    sentinels: int = 3
    down_after_ms: int = 1500
    failover_timeout_ms: int = 5000
    min_replicas_to_write: int = 0
    min_replicas_max_lag_ms: int = 10_000
    persistence: str = "none"
    tls: TlsMaterial | None = None
    busybox: bool = False
    failover_wait_s: int = 30
    acl_users: tuple[tuple[str, str], ...] = ()
    members: dict[str, Member] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ports = free_ports(self.servers + self.sentinels + 3)
        self.redis_ports = ports[:self.servers]
        self.sentinel_ports = ports[self.servers:self.servers + self.sentinels]
        self.write_port, self.read_port, self.health_port = ports[-3:]
        self.topology = ha.Topology(
            master_name=MASTER,
            servers=tuple(ha.Address("127.0.0.1", p) for p in self.redis_ports),
            sentinels=tuple(ha.Address("127.0.0.1", p) for p in self.sentinel_ports))
        self.root.chmod(0o755)
        self.bin = self._bin_dir()
        secrets = self.root / "secrets"
        secrets.mkdir()
        self.password_file = secrets / "password"
        self.password_file.write_text(PASSWORD)
        self._own(self.password_file, 0o440, owner=False)
        # The Secret's user-<name> keys, as the Redis pods mount them: one file per user.
        users_dir = secrets / ha.ACL_PASSWORD_SUBDIR
        users_dir.mkdir()
        for name, _ in self.acl_users:
            (users_dir / name).write_text(user_password(name))
            self._own(users_dir / name, 0o440, owner=False)
        self.tls_files: TlsFiles | None = None
        if self.tls is not None:
            tls_dir = self.root / "tls-server"
            tls_dir.mkdir()
            for src, name in ((self.tls.ca, "ca.crt"), (self.tls.cert, "tls.crt"), (self.tls.key, "tls.key")):
                shutil.copy(src, tls_dir / name)
                self._own(tls_dir / name, 0o440, owner=False)
            self.tls_files = TlsFiles(cert_file=str(tls_dir / "tls.crt"), key_file=str(tls_dir / "tls.key"),
                                      ca_file=str(tls_dir / "ca.crt"))
        self.scripts = ha.ScriptSettings(
            topology=self.topology, password_file=str(self.password_file),
            tls_ca_file=self.tls_files.ca_file if self.tls_files else None,
            discovery_timeout_s=30, sentinel_discovery_timeout_s=5, failover_wait_s=self.failover_wait_s,
            prestop_timeout_s=20, acl_password_dir=str(users_dir) if self.acl_users else None)
        for i, port in enumerate(self.redis_ports):
            self._add_redis(i, port)
        for i, port in enumerate(self.sentinel_ports):
            self._add_sentinel(i, port)
        self._add_haproxy()

    # -- layout -----------------------------------------------------------------------------

    def _bin_dir(self) -> str:
        """PATH for the scripts: with busybox, only busybox applets and the Redis binaries (what an
        alpine image has); else the system's (Debian: dash and coreutils)."""
        if not self.busybox:
            return "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        d = self.root / "bin"
        d.mkdir()
        busybox = which("busybox")
        assert busybox is not None
        for applet in BUSYBOX_APPLETS:
            (d / applet).symlink_to(busybox)
        for binary in ("redis-server", "redis-sentinel", "redis-cli", "haproxy"):
            path = which(binary)
            assert path is not None
            (d / binary).symlink_to(path)
        return str(d)

    @staticmethod
    def _as_root() -> bool:
        return os.geteuid() == 0

    def _own(self, path: Path, mode: int, owner: bool = True) -> None:
        """Writable volumes belong to the pod's user; Secret files are group-readable (fsGroup)."""
        if self._as_root():
            os.chown(path, UID if owner else 0, UID)
        path.chmod(mode)

    def _member(self, name: str, port: int, files: dict[str, str],
                env: Callable[[ha.ScriptSettings], dict[str, str]], script: str) -> Member:
        """A pod's container: its ConfigMap as a read-only dir, its volumes, and the env the
        component would give it (with this member's directories in place of the pod paths)."""
        m = Member(name=name, port=port, root=self.root / name, env={}, script=script)
        m.conf.mkdir(parents=True)
        for fname, text in files.items():
            (m.conf / fname).write_text(text)
            (m.conf / fname).chmod(0o444)
        m.conf.chmod(0o555)
        for d in (m.run_dir, m.data):
            d.mkdir()
            self._own(d, 0o700)
        settings = replace(self.scripts, conf_dir=str(m.conf), run_dir=str(m.run_dir))
        m.env = {"PATH": self.bin, "HOME": str(m.data), "LANG": "C"} | env(settings)
        self.members[name] = m
        return m

    def _add_redis(self, i: int, port: int) -> None:
        # The planner's replica buffer and backlog for 64 MiB without a workload, as a stack renders them.
        server = ReplicatedServer(maxmemory=64 * 1024 * 1024, maxmemory_policy="noeviction", port=port,
                                  replica_buffer_limit=64 * 1024 * 1024, repl_backlog=1024 * 1024,
                                  data_dir=str(self.root / f"redis-{i}" / "data"), tls=self.tls_files,
                                  persistence=self.persistence,
                                  min_replicas_to_write=self.min_replicas_to_write,
                                  min_replicas_max_lag_ms=self.min_replicas_max_lag_ms, bind=("127.0.0.1",),
                                  acl_users=self.acl_users)
        files = ha.server_files(server)
        self._member(f"redis-{i}", port, files,
                     lambda s: s.env(f"127.0.0.1:{port}") | {"POD_NAME": f"live-cache-{i}"}, "redis-start.sh")

    def _add_sentinel(self, i: int, port: int) -> None:
        settings = SentinelSettings(master_name=MASTER, initial_primary=str(self.topology.servers[0]),
                                    quorum=self.topology.majority, port=port,
                                    work_dir=str(self.root / f"sentinel-{i}" / "run"),
                                    down_after_ms=self.down_after_ms, failover_timeout_ms=self.failover_timeout_ms,
                                    tls=self.tls_files, bind=("127.0.0.1",))
        files = {"sentinel.conf": sentinel_conf(settings)} | {s: ha.script(s) for s in ha.FILES_BY_ROLE["sentinel"] if s.endswith(".sh")}
        self._member(f"sentinel-{i}", port, files,
                     lambda s: s.sentinel_env(f"127.0.0.1:{port}") | {"POD_NAME": f"live-cache-sentinel-{i}"},
                     "sentinel-start.sh")

    def _add_haproxy(self) -> None:
        endpoint = ha.Endpoint(topology=self.topology, tls_ca_file=self.tls_files.ca_file if self.tls_files else None,
                               bind="127.0.0.1", write_port=self.write_port, read_port=self.read_port,
                               health_port=self.health_port, check_interval_ms=500)
        files = {"haproxy.cfg": ha.haproxy_cfg(endpoint), "haproxy-start.sh": ha.script("haproxy-start.sh")}
        self._member("haproxy", self.write_port, files,
                     lambda s: {"CONF_DIR": s.conf_dir, "PASSWORD_FILE": str(self.password_file),
                                "HAPROXY": which("haproxy") or "haproxy"}, "haproxy-start.sh")

    # -- processes --------------------------------------------------------------------------

    def _shell(self) -> list[str]:
        return [f"{self.bin}/sh"] if self.busybox else ["/bin/sh"]

    def _prefix(self) -> list[str]:
        if self._as_root():
            return [which("setpriv") or "setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", "--inh-caps=-all"]
        return []

    def run_script(self, name: str, script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a script of a member to completion (preStop, probes) as the pod's user."""
        m = self.members[name]
        return subprocess.run([*self._prefix(), *self._shell(), str(m.conf / script), *args], env=m.env,
                              cwd=m.data, capture_output=True, text=True, timeout=timeout)

    def start(self, name: str) -> Member:
        m = self.members[name]
        assert not m.running(), f"{name} is already running"
        log = open(m.log, "a")
        log.write(f"---- start {m.starts + 1} at {time.time():.3f}\n")
        log.flush()
        m.proc = subprocess.Popen([*self._prefix(), *self._shell(), str(m.conf / m.script)], env=m.env,
                                  cwd=m.data, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        m.starts += 1
        return m

    def start_all(self) -> None:
        # Like podManagementPolicy: Parallel: nothing waits for anything else.
        for name in self.members:
            self.start(name)

    def signal(self, name: str, sig: signal.Signals) -> None:
        m = self.members[name]
        assert m.proc is not None
        os.kill(m.proc.pid, sig)

    def kill(self, name: str) -> float:
        """SIGKILL by PID; returns the monotonic time of the kill."""
        self.signal(name, signal.SIGKILL)
        t = time.monotonic()
        self.members[name].proc.wait(10)  # type: ignore[union-attr]
        return t

    def stop(self, name: str, timeout: float = 15) -> None:
        m = self.members[name]
        if not m.running():
            return
        assert m.proc is not None
        m.proc.terminate()
        try:
            m.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            m.proc.kill()
            m.proc.wait(5)

    def stop_all(self) -> None:
        for name in self.members:
            try:
                self.stop(name, timeout=5)
            except OSError:
                pass

    # -- clients ----------------------------------------------------------------------------

    def client(self, port: int, timeout: float = 1.0, user: str | None = None,
               password: str | None = None) -> redis.Redis:
        """A client of one port, as the default user or as ACL user `user` (with its password unless
        `password` is given)."""
        kwargs: dict = {}
        if self.tls_files is not None:
            kwargs = {"ssl": True, "ssl_ca_certs": self.tls_files.ca_file, "ssl_check_hostname": False}
        if password is None:
            password = PASSWORD if user is None else user_password(user)
        return redis.Redis(host="127.0.0.1", port=port, username=user, password=password, socket_timeout=timeout,
                           socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0), decode_responses=True,
                           **kwargs)

    def redis(self, i: int, timeout: float = 1.0) -> redis.Redis:
        return self.client(self.redis_ports[i], timeout)

    def sentinel(self, i: int, timeout: float = 1.0) -> redis.Redis:
        return self.client(self.sentinel_ports[i], timeout)

    def endpoint(self, timeout: float = 1.0, read: bool = False) -> redis.Redis:
        return self.client(self.read_port if read else self.write_port, timeout)

    def role(self, i: int) -> str | None:
        try:
            with self.redis(i, 0.5) as r:
                return r.info("replication")["role"]
        except (redis.RedisError, OSError):
            return None

    def primaries(self) -> list[int]:
        return [i for i in range(self.servers) if self.role(i) == "master"]

    def sentinel_views(self) -> list[str | None]:
        """The primary each Sentinel names ("127.0.0.1:port"), None where one does not answer."""
        out: list[str | None] = []
        for i in range(self.sentinels):
            try:
                with self.sentinel(i, 0.5) as s:
                    host, port = s.execute_command("SENTINEL", "get-master-addr-by-name", MASTER)
                    out.append(f"{host}:{port}")
            except (redis.RedisError, OSError, TypeError, ValueError):
                out.append(None)
        return out

    def agreed_primary(self) -> int | None:
        """The server every Sentinel names, if they all name the same one and it reports role:master."""
        views = set(self.sentinel_views())
        if len(views) != 1 or None in views:
            return None
        port = int(next(iter(views)).rsplit(":", 1)[1])  # type: ignore[union-attr]
        i = self.redis_ports.index(port)
        return i if self.role(i) == "master" else None

    def settled(self) -> int | None:
        """The primary, once the set is ready for a fault: exactly one server reports role:master,
        every Sentinel names it, sees every replica up and every other Sentinel, and every replica's
        link is up. (Faulting earlier gives -failover-abort-no-good-slave: see FIELD-NOTES.)"""
        primary = self.agreed_primary()
        if primary is None or self.primaries() != [primary]:
            return None
        for i in range(self.sentinels):
            with self.sentinel(i, 0.5) as s:
                state = _pairs(s.execute_command("SENTINEL", "MASTER", MASTER))
                if state["flags"] != "master" or int(state["num-slaves"]) != self.servers - 1 \
                        or int(state["num-other-sentinels"]) != self.sentinels - 1:
                    return None
                for replica in s.execute_command("SENTINEL", "REPLICAS", MASTER):
                    if _pairs(replica)["flags"] != "slave":
                        return None
        for i in range(self.servers):
            if i != primary:
                with self.redis(i, 0.5) as r:
                    if r.info("replication").get("master_link_status") != "up":
                        return None
        return primary

    def settle(self, timeout: float = 40) -> int:
        """Restart whatever is not running (through its script) and wait until `settled()`."""
        for name, m in self.members.items():
            if not m.running():
                self.start(name)
        return wait_until("the set to settle (one primary, all Sentinels agree and see everyone)",
                          self.settled, timeout, interval=0.25)  # type: ignore[arg-type]

    def wait_ready(self, name: str, timeout: float = 30) -> None:
        m = self.members[name]
        def answers() -> bool:
            assert m.running(), f"{name} exited; log:\n{self.logs(name)}"
            with self.client(m.port, 0.5) as c:
                return bool(c.ping())
        wait_until(f"{name} to answer PING", answers, timeout)

    def last_start(self, name: str) -> str:
        """The log of a member since its latest start."""
        return self.members[name].log.read_text(errors="replace").rsplit("---- start ", 1)[-1]

    def logs(self, *names: str, tail: int = 40) -> str:
        out = []
        for name in names or tuple(self.members):
            path = self.members[name].log
            lines = path.read_text(errors="replace").splitlines()[-tail:] if path.exists() else []
            out.append(f"==== {name}\n" + "\n".join(lines))
        return "\n".join(out)


def user_password(user: str) -> str:
    """The password of a live test's ACL user (alphanumeric, like the generator's)."""
    return f"Acl{user.capitalize()}Pw4LiveTests0x9f3Kq7"


def _pairs(flat: list) -> dict[str, str]:
    if isinstance(flat, dict):
        return {str(k): str(v) for k, v in flat.items()}
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}


class Writer(threading.Thread):
    """Writes numbered keys as fast as it can, each followed by WAIT 1 (one replica has it), and
    records which were acknowledged by at least one replica. Reconnects after errors, so it can
    measure the first successful write after a fault."""

    def __init__(self, connect: Callable[[], redis.Redis], prefix: str, wait_ms: int = 500) -> None:
        super().__init__(daemon=True)
        self.connect, self.prefix, self.wait_ms = connect, prefix, wait_ms
        self.acked: list[str] = []
        self.successes: list[float] = []   # monotonic times of acknowledged writes
        self.error_times: list[float] = []
        self.halt = threading.Event()
        self.n = 0

    def run(self) -> None:
        client: redis.Redis | None = None
        while not self.halt.is_set():
            key = f"{self.prefix}:{self.n}"
            self.n += 1
            try:
                if client is None:
                    client = self.connect()
                client.set(key, "v")
                if int(client.execute_command("WAIT", 1, self.wait_ms)) >= 1:
                    self.acked.append(key)
                    self.successes.append(time.monotonic())
            except (redis.RedisError, OSError):
                self.error_times.append(time.monotonic())
                if client is not None:
                    client.close()
                client = None
                time.sleep(0.02)
        if client is not None:
            client.close()

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
