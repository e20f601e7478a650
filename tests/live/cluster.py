"""A StatefulSet-pattern cache made of real processes: Redis servers, Sentinels and HAProxy endpoints,
each started through its pod script from a pod-like file layout (read-only conf dir, writable run/data
dirs, a password file) as a non-root user, on 127.0.0.1 or on a network of one namespace per pod
(netns.PodNetwork). It runs a plan: a stack's own (`stack_plan`, what `pulumi up` deploys) or one made
of the live tests' short timings. Used by the live tests and by benchmarks/failover.py and
benchmarks/partition.py, so all of them measure exactly what a pod runs.
"""
from __future__ import annotations

import copy
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

from components import ha
from components.redis_conf import ReplicatedServer, SentinelSettings, TlsFiles, sentinel_conf

from .netns import PodNetwork

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


def engine_dirs() -> list[str]:
    """Where the engines come from: the toolchain's Valkey and HAProxy (the versions the stacks ship;
    `./run toolchain valkey haproxy`) where built, else the system's (Debian 12: Redis 7.0, HAProxy
    2.6). CACHE_PATTERNS_ENGINES=system picks the system's even when the toolchain is built."""
    if os.environ.get("CACHE_PATTERNS_ENGINES") == "system":
        return []
    import e2e.recipes.debian  # noqa: F401  (registers the valkey and haproxy recipes)
    from e2e import toolchain

    return [str(toolchain.bin_dir(t)) for t in ("valkey", "haproxy") if toolchain.is_built(t)]


def which(name: str) -> str | None:
    for d in engine_dirs():
        if os.path.exists(f"{d}/{name}"):
            return f"{d}/{name}"
    return shutil.which(name) or next((f"{d}/{name}" for d in ("/usr/bin", "/usr/sbin") if os.path.exists(f"{d}/{name}")), None)


def engine_versions() -> str:
    """The versions the processes run, e.g. "Valkey 8.1.1, HAProxy 3.0.11"."""
    def first_line(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"
    line = first_line(which("valkey-server") or which("redis-server") or "redis-server", "--version")
    engine = (f"{'Valkey' if line.lower().startswith('valkey') else 'Redis'} {line.split('v=', 1)[1].split()[0]}"
              if "v=" in line else line)
    words = first_line(which("haproxy") or "haproxy", "-v").split()
    return f"{engine}, HAProxy {words[2].split('-')[0] if len(words) > 2 else '?'}"


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


def make_tls(directory: Path, ips: tuple[str, ...] = ()) -> TlsMaterial:
    """A throw-away CA and one server certificate for 127.0.0.1 (and `ips`), as cert-manager would issue."""
    directory.mkdir(parents=True, exist_ok=True)
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=cache-patterns live test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tls.key", "-out", "tls.csr",
        "-subj", "/CN=cache-patterns live test")
    sans = ",".join(f"IP:{ip}" for ip in ("127.0.0.1", *ips))
    (directory / "ext.cnf").write_text(f"subjectAltName={sans},DNS:localhost\n")
    run("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "tls.crt", "-days", "2", "-extfile", "ext.cnf")
    return TlsMaterial(ca=directory / "ca.crt", cert=directory / "tls.crt", key=directory / "tls.key")


def stack_plan(stack: str, cache: str, changes: dict | None = None) -> ha.HaPlan:
    """The plan `pulumi up` deploys for `cache` of `stack`: its stack file parsed as the Pulumi engine
    passes it, and the names the StatefulSet component gives it (ha.stack_plan). Its ConfigMaps are
    `plan.files(role)`: tests/test_live_plan.py checks they equal the rendered stack's. `changes` edit
    the cache's keys in the stack file first (a value None removes the key): a variant of the stack
    that differs exactly there."""
    from components import config
    from tools import harness

    values = copy.deepcopy(harness.load_stack_config(stack))
    entry = values[f"{config.NAMESPACE}:caches"][cache]
    for key, value in (changes or {}).items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    flat, _ = harness.engine_config(values, harness.secure_placeholder)
    cfg = config.parse(config.decode(flat, stack), stack)
    settings = cfg.caches[cache]
    if settings.pattern != "statefulset":
        raise ValueError(f"{stack}: cache {cache} is a {settings.pattern} cache, not a statefulset one")
    return ha.stack_plan(stack, cache, settings, cfg.namespace, cfg.cluster_domain)


def settings_plan(*, servers: int, sentinels: int, down_after_ms: int, failover_timeout_ms: int,
                  min_replicas_to_write: int, min_replicas_max_lag_ms: int, persistence: str, tls: bool,
                  failover_wait_s: int, acl_users: tuple[tuple[str, str], ...]) -> ha.HaPlan:
    """A plan made from the live tests' own settings (short timings, small memory), with pod addresses
    that Cluster replaces by local ones like any stack's plan."""
    names = ha.PodNames(statefulset=MASTER, namespace="live", servers=servers, sentinels=sentinels)
    topology = ha.Topology(master_name=MASTER, servers=names.server_addresses(), sentinels=names.sentinel_addresses())
    tls_files = TlsFiles() if tls else None
    return ha.HaPlan(
        names=names,
        server=ReplicatedServer(maxmemory=64 * 1024 * 1024, maxmemory_policy="noeviction", persistence=persistence,
                                tls=tls_files, min_replicas_to_write=min_replicas_to_write,
                                min_replicas_max_lag_ms=min_replicas_max_lag_ms, acl_users=acl_users),
        sentinel=SentinelSettings(master_name=MASTER, initial_primary=str(topology.servers[0]),
                                  quorum=topology.majority, down_after_ms=down_after_ms,
                                  failover_timeout_ms=failover_timeout_ms, tls=tls_files),
        scripts=ha.ScriptSettings(topology=topology, discovery_timeout_s=30, sentinel_discovery_timeout_s=5,
                                  failover_wait_s=failover_wait_s, prestop_timeout_s=20),
        endpoint=ha.Endpoint(topology=topology, tls_ca_file=tls_files.ca_file if tls_files else None),
    )


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


@dataclass(frozen=True)
class EndpointAddresses:
    write: ha.Address
    read: ha.Address
    health: ha.Address


@dataclass
class Cluster:
    """Redis servers, Sentinels and HAProxy endpoints, laid out under `root` as their pods lay them out,
    running `plan`: a stack's plan (`stack_plan`: every setting as deployed) or, by default, one made
    from the settings below (`settings_plan`). Only addresses, ports and file paths are replaced by
    local ones (`localized()` names exactly what changes).

    Without `network` every member listens on 127.0.0.1 with a port of its own; with a PodNetwork each
    member is a pod: a network namespace with its own address on a node (member i of each kind on node
    i % nodes), listening on the plan's own ports and bind addresses."""

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
    plan: ha.HaPlan | None = None
    network: PodNetwork | None = None
    nodes: int = 3
    haproxies: int = 1
    members: dict[str, Member] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.plan is None:
            self.plan = settings_plan(
                servers=self.servers, sentinels=self.sentinels, down_after_ms=self.down_after_ms,
                failover_timeout_ms=self.failover_timeout_ms, min_replicas_to_write=self.min_replicas_to_write,
                min_replicas_max_lag_ms=self.min_replicas_max_lag_ms, persistence=self.persistence,
                tls=self.tls is not None, failover_wait_s=self.failover_wait_s, acl_users=self.acl_users)
        plan = self.plan
        self.servers, self.sentinels = len(plan.topology.servers), len(plan.topology.sentinels)
        self.master = plan.topology.master_name
        self._place()
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
        for name, _ in plan.server.acl_users:
            (users_dir / name).write_text(user_password(name))
            self._own(users_dir / name, 0o440, owner=False)
        self.tls_files: TlsFiles | None = None
        if plan.server.tls is not None:
            if self.tls is None:
                self.tls = make_tls(self.root / "ca", tuple(sorted({a.host for a in self.redis_addrs + self.sentinel_addrs})))
            tls_dir = self.root / "tls-server"
            tls_dir.mkdir()
            for src, name in ((self.tls.ca, "ca.crt"), (self.tls.cert, "tls.crt"), (self.tls.key, "tls.key")):
                shutil.copy(src, tls_dir / name)
                self._own(tls_dir / name, 0o440, owner=False)
            self.tls_files = TlsFiles(cert_file=str(tls_dir / "tls.crt"), key_file=str(tls_dir / "tls.key"),
                                      ca_file=str(tls_dir / "ca.crt"))
        self.topology = ha.Topology(master_name=self.master, servers=tuple(self.redis_addrs),
                                    sentinels=tuple(self.sentinel_addrs))
        self.scripts = replace(
            plan.scripts, topology=self.topology, password_file=str(self.password_file) if plan.server.auth else None,
            tls_ca_file=self.tls_files.ca_file if self.tls_files else None,
            acl_password_dir=str(users_dir) if plan.server.acl_users else None)
        for i in range(self.servers):
            self._add_redis(i)
        for i in range(self.sentinels):
            self._add_sentinel(i)
        for j in range(self.haproxies):
            self._add_haproxy(j)

    # -- layout -----------------------------------------------------------------------------

    def _place(self) -> None:
        """Addresses: 127.0.0.1 and free ports, or a pod per member with the plan's ports."""
        plan = self.plan
        assert plan is not None
        self.haproxy_names = ["haproxy"] + [f"haproxy-{j}" for j in range(1, self.haproxies)]
        if self.network is None:
            ports = free_ports(self.servers + self.sentinels + 3 * self.haproxies)
            local = [ha.Address("127.0.0.1", p) for p in ports]
            self.redis_addrs = local[:self.servers]
            self.sentinel_addrs = local[self.servers:self.servers + self.sentinels]
            rest = local[self.servers + self.sentinels:]
            self.endpoints = [EndpointAddresses(*rest[3 * j:3 * j + 3]) for j in range(self.haproxies)]
            return
        net = self.network
        def pod(name: str, i: int) -> str:
            return net.add(name, i % self.nodes).ip
        self.redis_addrs = [ha.Address(pod(f"redis-{i}", i), plan.server.port) for i in range(self.servers)]
        self.sentinel_addrs = [ha.Address(pod(f"sentinel-{i}", i), plan.sentinel.port) for i in range(self.sentinels)]
        e = plan.endpoint
        self.endpoints = []
        for j, name in enumerate(self.haproxy_names):
            ip = pod(name, j)
            self.endpoints.append(EndpointAddresses(ha.Address(ip, e.write_port), ha.Address(ip, e.read_port),
                                                    ha.Address(ip, e.health_port)))

    @property
    def redis_ports(self) -> list[int]:
        return [a.port for a in self.redis_addrs]

    @property
    def sentinel_ports(self) -> list[int]:
        return [a.port for a in self.sentinel_addrs]

    @property
    def write_port(self) -> int:
        return self.endpoints[0].write.port

    @property
    def read_port(self) -> int:
        return self.endpoints[0].read.port

    @property
    def health_port(self) -> int:
        return self.endpoints[0].health.port

    def node_of(self, name: str) -> int | None:
        return self.network.pods[name].node if self.network is not None else None

    def _bind(self, default: tuple[str, ...]) -> tuple[str, ...]:
        return ("127.0.0.1",) if self.network is None else default

    def _engines(self) -> Path | None:
        """The toolchain's engines copied where the pod user can run them (the toolchain cache lives
        under the invoking user's home, which UID 10001 cannot enter); None: the system's run."""
        dirs = engine_dirs()
        if not dirs:
            return None
        d = self.root / "engines"
        d.mkdir()
        copies = {"valkey-server": "valkey-server", "valkey-cli": "valkey-cli", "haproxy": "haproxy"}
        for name, src in copies.items():
            path = next((f"{x}/{src}" for x in dirs if os.path.exists(f"{x}/{src}")), None)
            if path is not None:
                shutil.copy(path, d / name)
                (d / name).chmod(0o755)
        # Valkey is one binary: started as *-sentinel it is Sentinel; the redis-* names are its
        # compatibility names, as `make install USE_REDIS_SYMLINKS=yes` makes them.
        links = {"valkey-sentinel": "valkey-server", "redis-server": "valkey-server",
                 "redis-sentinel": "valkey-server", "redis-cli": "valkey-cli"}
        for name, target in links.items():
            if (d / target).exists():
                (d / name).symlink_to(target)
        return d

    def engine(self, name: str) -> str:
        """The binary `name` (redis-server, valkey-cli, haproxy, ...) the members run."""
        if self.engines is not None and (self.engines / name).exists():
            return str(self.engines / name)
        return which(name) or name

    def _bin_dir(self) -> str:
        """PATH for the scripts: with busybox, only busybox applets and the Redis binaries (what an
        alpine image has); else the system's (Debian: dash and coreutils). The engines first."""
        self.engines = self._engines()
        if not self.busybox:
            return ":".join([*([str(self.engines)] if self.engines else []), "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"])
        d = self.root / "bin"
        d.mkdir()
        busybox = which("busybox")
        assert busybox is not None
        for applet in BUSYBOX_APPLETS:
            (d / applet).symlink_to(busybox)
        for binary in ("redis-server", "redis-sentinel", "redis-cli", "haproxy",
                       "valkey-server", "valkey-sentinel", "valkey-cli"):
            path = self.engine(binary)
            if os.path.isabs(path) and os.path.exists(path):
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

    def _member(self, name: str, port: int, files: Callable[[Member], dict[str, str]],
                env: Callable[[ha.ScriptSettings], dict[str, str]], script: str) -> Member:
        """A pod's container: its ConfigMap as a read-only dir, its volumes, and the env the
        component would give it (with this member's directories in place of the pod paths)."""
        m = Member(name=name, port=port, root=self.root / name, env={}, script=script)
        m.conf.mkdir(parents=True)
        for fname, text in files(m).items():
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

    def localized(self, role: ha.Role, m: Member) -> object:
        """The plan's settings of one member with local addresses, ports and paths: the only fields
        that differ from the plan (tests/test_live_plan.py holds this list)."""
        plan = self.plan
        assert plan is not None
        if role == "redis":
            i = int(m.name.rsplit("-", 1)[1])
            return replace(plan.server, port=self.redis_addrs[i].port, data_dir=str(m.data), tls=self.tls_files,
                           bind=self._bind(plan.server.bind))
        if role == "sentinel":
            i = int(m.name.rsplit("-", 1)[1])
            return replace(plan.sentinel, port=self.sentinel_addrs[i].port, initial_primary=str(self.redis_addrs[0]),
                           work_dir=str(m.run_dir), tls=self.tls_files, bind=self._bind(plan.sentinel.bind))
        j = self.haproxy_names.index(m.name)
        e = self.endpoints[j]
        return replace(plan.endpoint, topology=self.topology, tls_ca_file=self.tls_files.ca_file if self.tls_files else None,
                       bind="127.0.0.1" if self.network is None else plan.endpoint.bind, write_port=e.write.port,
                       read_port=e.read.port, health_port=e.health.port, conf_dir=str(m.conf))

    def _add_redis(self, i: int) -> None:
        addr = self.redis_addrs[i]
        def files(m: Member) -> dict[str, str]:
            return ha.server_files(self.localized("redis", m))  # type: ignore[arg-type]
        self._member(f"redis-{i}", addr.port, files,
                     lambda s: s.env(str(addr)) | {"POD_NAME": f"{self.plan.names.statefulset}-{i}"},  # type: ignore[union-attr]
                     "redis-start.sh")

    def _add_sentinel(self, i: int) -> None:
        addr = self.sentinel_addrs[i]
        def files(m: Member) -> dict[str, str]:
            conf = sentinel_conf(self.localized("sentinel", m))  # type: ignore[arg-type]
            return {"sentinel.conf": conf} | {s: ha.script(s) for s in ha.FILES_BY_ROLE["sentinel"] if s.endswith(".sh")}
        self._member(f"sentinel-{i}", addr.port, files,
                     lambda s: s.sentinel_env(str(addr)) | {"POD_NAME": f"{self.plan.names.sentinel_statefulset}-{i}"},  # type: ignore[union-attr]
                     "sentinel-start.sh")

    def _add_haproxy(self, j: int) -> None:
        def files(m: Member) -> dict[str, str]:
            cfg = ha.haproxy_cfg(self.localized("haproxy", m))  # type: ignore[arg-type]
            return {"haproxy.cfg": cfg} | {s: ha.script(s) for s in ha.FILES_BY_ROLE["haproxy"] if s != "haproxy.cfg"}
        env = {"PASSWORD_FILE": str(self.password_file)} if self.plan.server.auth else {}  # type: ignore[union-attr]
        self._member(self.haproxy_names[j], self.endpoints[j].write.port, files,
                     lambda s: {"CONF_DIR": s.conf_dir, "HAPROXY": self.engine("haproxy")} | env,
                     "haproxy-start.sh")

    # -- processes --------------------------------------------------------------------------

    def _shell(self) -> list[str]:
        return [f"{self.bin}/sh"] if self.busybox else ["/bin/sh"]

    def _prefix(self, name: str) -> list[str]:
        out = self.network.prefix(name) if self.network is not None else []
        if self._as_root():
            out += [which("setpriv") or "setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", "--inh-caps=-all"]
        return out

    def run_script(self, name: str, script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a script of a member to completion (preStop, probes) as the pod's user, in its pod."""
        m = self.members[name]
        return subprocess.run([*self._prefix(name), *self._shell(), str(m.conf / script), *args], env=m.env,
                              cwd=m.data, capture_output=True, text=True, timeout=timeout)

    def start(self, name: str) -> Member:
        m = self.members[name]
        assert not m.running(), f"{name} is already running"
        log = open(m.log, "a")
        log.write(f"---- start {m.starts + 1} at {time.time():.3f}\n")
        log.flush()
        m.proc = subprocess.Popen([*self._prefix(name), *self._shell(), str(m.conf / m.script)], env=m.env,
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

    def client(self, target: int | ha.Address, timeout: float = 1.0, user: str | None = None,
               password: str | None = None) -> redis.Redis:
        """A client of one port of 127.0.0.1 or of one address, as the default user or as ACL user
        `user` (with its password unless `password` is given)."""
        addr = target if isinstance(target, ha.Address) else ha.Address("127.0.0.1", target)
        kwargs: dict = {}
        if self.tls_files is not None:
            kwargs = {"ssl": True, "ssl_ca_certs": self.tls_files.ca_file, "ssl_check_hostname": False}
        if password is None:
            password = PASSWORD if user is None else user_password(user)
        return redis.Redis(host=addr.host, port=addr.port, username=user, password=password, socket_timeout=timeout,
                           socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0), decode_responses=True,
                           **kwargs)

    def redis(self, i: int, timeout: float = 1.0) -> redis.Redis:
        return self.client(self.redis_addrs[i], timeout)

    def sentinel(self, i: int, timeout: float = 1.0) -> redis.Redis:
        return self.client(self.sentinel_addrs[i], timeout)

    def endpoint(self, timeout: float = 1.0, read: bool = False, j: int = 0) -> redis.Redis:
        e = self.endpoints[j]
        return self.client(e.read if read else e.write, timeout)

    def server_index(self, address: str) -> int:
        """The index of the server at "host:port"."""
        return [str(a) for a in self.redis_addrs].index(address)

    def role(self, i: int) -> str | None:
        try:
            with self.redis(i, 0.5) as r:
                return r.info("replication")["role"]
        except (redis.RedisError, OSError):
            return None

    def primaries(self) -> list[int]:
        return [i for i in range(self.servers) if self.role(i) == "master"]

    def sentinel_views(self) -> list[str | None]:
        """The primary each Sentinel names ("host:port"), None where one does not answer."""
        out: list[str | None] = []
        for i in range(self.sentinels):
            try:
                with self.sentinel(i, 0.5) as s:
                    host, port = s.execute_command("SENTINEL", "get-master-addr-by-name", self.master)
                    out.append(f"{host}:{port}")
            except (redis.RedisError, OSError, TypeError, ValueError):
                out.append(None)
        return out

    def agreed_primary(self) -> int | None:
        """The server every Sentinel names, if they all name the same one and it reports role:master."""
        views = set(self.sentinel_views())
        if len(views) != 1 or None in views:
            return None
        i = self.server_index(next(iter(views)))  # type: ignore[arg-type]
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
                state = _pairs(s.execute_command("SENTINEL", "MASTER", self.master))
                if state["flags"] != "master" or int(state["num-slaves"]) != self.servers - 1 \
                        or int(state["num-other-sentinels"]) != self.sentinels - 1:
                    return None
                for replica in s.execute_command("SENTINEL", "REPLICAS", self.master):
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
        addr = next((a for a in self.redis_addrs + self.sentinel_addrs + [e.write for e in self.endpoints]
                     if a.port == m.port and (self.network is None or a.host == self.network.ip(name))), None)
        def answers() -> bool:
            assert m.running(), f"{name} exited; log:\n{self.logs(name)}"
            with self.client(addr or m.port, 0.5) as c:
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
    """Writes numbered keys as fast as it can and records which were acknowledged: each SET followed
    by WAIT <wait_replicas> (acknowledged once that many replicas have it), or with wait_replicas=0
    the SET's own OK (what most clients take as "written"). Reconnects after errors, so it can measure
    the first successful write after a fault. `enter` runs first in the writer's thread (e.g.
    PodNetwork.enter: the writer is then a client in that pod)."""

    def __init__(self, connect: Callable[[], redis.Redis], prefix: str, wait_ms: int = 500,
                 enter: Callable[[], None] | None = None, wait_replicas: int = 1) -> None:
        super().__init__(daemon=True)
        self.connect, self.prefix, self.wait_ms = connect, prefix, wait_ms
        self.enter, self.wait_replicas = enter, wait_replicas
        self.acked: list[str] = []
        self.successes: list[float] = []   # monotonic times of acknowledged writes, parallel to `acked`
        self.error_times: list[float] = []
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
            except (redis.RedisError, OSError):
                self.error_times.append(time.monotonic())
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
