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
import random
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

from cache_patterns.config.common import DEFAULT_ENGINE_VERSION, default_image
from cache_patterns.core import images
from cache_patterns.core.redis_conf import ReplicatedServer, SentinelSettings, TlsFiles, sentinel_conf
from cache_patterns.patterns.statefulset import ha
from cache_patterns.patterns.statefulset.component import HAPROXY_IMAGE

from . import engines
from .image_root import ImageRoot
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


@dataclass(frozen=True)
class TlsMaterial:
    """A server key pair and the CA that signed it (and can sign more: `ca_key`)."""

    ca: Path
    cert: Path
    key: Path
    ca_key: Path | None = None

    def serial(self) -> str:
        return cert_field(self.cert.read_bytes(), "serial")


def make_tls(directory: Path, names: tuple[str, ...] = (), ca: TlsMaterial | None = None,
             label: str = "cache-patterns live test", loopback: bool = True, ecdsa: bool = False,
             ips: tuple[str, ...] = ()) -> TlsMaterial:
    """A server certificate for `names` and `ips` (and 127.0.0.1 and localhost with `loopback`), as
    cert-manager would issue it: signed by `ca`'s CA (a renewal), or by a new CA made here (`label`
    in both subjects); an ECDSA P-256 key with `ecdsa` (what the rendered Certificates ask for)."""
    directory.mkdir(parents=True, exist_ok=True)
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if ecdsa else ["-newkey", "rsa:2048"]
    if ca is None:
        run("req", "-x509", *key, "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", f"/CN={label} CA")
        ca_crt, ca_key = directory / "ca.crt", directory / "ca.key"
    else:
        assert ca.ca_key is not None
        ca_crt, ca_key = ca.ca, ca.ca_key
        shutil.copy(ca_crt, directory / "ca.crt")
    run("req", *key, "-nodes", "-keyout", "tls.key", "-out", "tls.csr", "-subj", f"/CN={label}")
    sans = ",".join((["IP:127.0.0.1", "DNS:localhost"] if loopback else []) + [f"DNS:{n}" for n in names]
                    + [f"IP:{ip}" for ip in ips])
    # What cert-manager puts in (the rendered Certificates ask for server auth and client auth).
    (directory / "ext.cnf").write_text(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth,clientAuth\n")
    run("x509", "-req", "-in", "tls.csr", "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", "tls.crt", "-days", "2", "-extfile", "ext.cnf")
    return TlsMaterial(ca=directory / "ca.crt", cert=directory / "tls.crt", key=directory / "tls.key",
                       ca_key=ca_key)


def cert_field(pem_or_der: bytes, what: str) -> str:
    """`serial` or `issuer` of a certificate (PEM or DER), as openssl prints it."""
    form = "PEM" if pem_or_der.lstrip().startswith(b"-----") else "DER"
    out = subprocess.run(["openssl", "x509", "-inform", form, "-noout", f"-{what}"], input=pem_or_der,
                         capture_output=True, check=True).stdout.decode().strip()
    return out.split("=", 1)[1].strip()


def served_certificate(port: int, timeout: float = 1.0) -> bytes:
    """The DER certificate a TLS server on 127.0.0.1:port presents to a new connection."""
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw) as conn:
            der = conn.getpeercert(binary_form=True)
    assert der is not None
    return der


def pem_to_der(path: Path) -> bytes:
    import ssl

    return ssl.PEM_cert_to_DER_cert(path.read_text())


def stack_plan(stack: str, cache: str, changes: dict | None = None) -> ha.HaPlan:
    """The plan `pulumi up` deploys for `cache` of `stack`: its stack file parsed as the Pulumi engine
    passes it, and the names the StatefulSet component gives it (ha.stack_plan). Its ConfigMaps are
    `plan.files(role)`: tests/test_live_plan.py checks they equal the rendered stack's. `changes` edit
    the cache's keys in the stack file first (a value None removes the key): a variant of the stack
    that differs exactly there."""
    from cache_patterns.stack import NAMESPACE
    from tools import harness
    from tools.plan import parse_stack

    values = copy.deepcopy(harness.load_stack_config(stack))
    entry = values[f"{NAMESPACE}:caches"][cache]
    for key, value in (changes or {}).items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    cfg = parse_stack(values, stack)
    settings = cfg.caches[cache]
    if settings.pattern != "statefulset":
        raise ValueError(f"{stack}: cache {cache} is a {settings.pattern} cache, not a statefulset one")
    return ha.stack_plan(stack, cache, settings, cfg.namespace, cfg.cluster_domain)


def settings_plan(*, servers: int, sentinels: int, down_after_ms: int, failover_timeout_ms: int,
                  min_replicas_to_write: int, min_replicas_max_lag_ms: int, persistence: str, tls: bool,
                  failover_wait_s: int, acl_users: tuple[tuple[str, str], ...], check_interval_ms: int,
                  tls_poll_s: float, tls_trust_delay_s: int, tls_restart_slot_s: int) -> ha.HaPlan:
    """A plan made from the live tests' own settings (short timings, small memory), with pod addresses
    and paths that Cluster replaces by local ones like any stack's plan."""
    names = ha.PodNames(statefulset=MASTER, namespace="live", servers=servers, sentinels=sentinels)
    topology = ha.Topology(master_name=MASTER, servers=names.server_addresses(), sentinels=names.sentinel_addresses())
    tls_files = TlsFiles() if tls else None
    return ha.HaPlan(
        names=names,
        # The planner's replica buffer and backlog for 64 MiB without a workload, as a stack renders them.
        server=ReplicatedServer(maxmemory=64 * 1024 * 1024, maxmemory_policy="noeviction",
                                replica_buffer_limit=64 * 1024 * 1024, repl_backlog=1024 * 1024,
                                persistence=persistence, tls=tls_files, min_replicas_to_write=min_replicas_to_write,
                                min_replicas_max_lag_ms=min_replicas_max_lag_ms, acl_users=acl_users),
        sentinel=SentinelSettings(master_name=MASTER, initial_primary=str(topology.servers[0]),
                                  quorum=topology.majority, down_after_ms=down_after_ms,
                                  failover_timeout_ms=failover_timeout_ms, tls=tls_files),
        scripts=ha.ScriptSettings(topology=topology, discovery_timeout_s=30, sentinel_discovery_timeout_s=5,
                                  failover_wait_s=failover_wait_s, prestop_timeout_s=20,
                                  tls_ca_file=tls_files.ca_file if tls_files else None,
                                  tls_secret_dir=ha.TLS_DIR if tls else None, tls_live_dir=ha.TLS_LIVE_DIR if tls else None,
                                  tls_poll_s=tls_poll_s, tls_trust_delay_s=tls_trust_delay_s,
                                  tls_restart_slot_s=tls_restart_slot_s),
        endpoint=ha.Endpoint(topology=topology, tls_ca_file=tls_files.ca_file if tls_files else None,
                             check_interval_ms=check_interval_ms, state_file=ha.HAPROXY_STATE_FILE if tls else None),
    )


class SecretVolume:
    """A Secret volume as the kubelet writes it (pkg/volume/util/atomic_writer.go): the files in a
    hidden timestamped directory, `..data` a symlink to it and each key a symlink `key -> ..data/key`.
    An update writes a new directory, points a new symlink at it, renames that over `..data` (the
    atomic swap) and removes the old directory."""

    def __init__(self, path: Path, own: Callable[[Path, int, bool], None]) -> None:
        self.path, self.own, self.updates = path, own, 0
        path.mkdir(parents=True)
        path.chmod(0o755)

    def write(self, files: dict[str, bytes]) -> float:
        """Swap in `files`; returns the monotonic time of the swap."""
        self.updates += 1
        old = os.readlink(self.path / "..data") if (self.path / "..data").is_symlink() else None
        stamp = self.path / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{self.updates:09d}"
        stamp.mkdir()
        stamp.chmod(0o755)
        for key, data in files.items():
            (stamp / key).write_bytes(data)
            self.own(stamp / key, 0o440, False)
        tmp = self.path / "..data_tmp"
        tmp.symlink_to(stamp.name)
        os.rename(tmp, self.path / "..data")
        swapped = time.monotonic()
        for key in files:
            link = self.path / key
            if not link.is_symlink():
                link.symlink_to(f"..data/{key}")
        if old is not None:
            shutil.rmtree(self.path / old, ignore_errors=True)
        return swapped


@dataclass
class Member:
    """One container: its files, its environment and, while it runs, its process. Containers of one
    pod (a sidecar beside its main container) share `root` and so its volumes."""

    name: str
    port: int
    root: Path
    env: dict[str, str]
    script: str
    args: tuple[str, ...] = ()
    image_root: ImageRoot | None = None     # busybox mode: the programs of the container's image
    proc: subprocess.Popen | None = None
    starts: int = 0
    pod: str = ""                           # the pod (network namespace) it runs in; "": its own name

    def __post_init__(self) -> None:
        self.pod = self.pod or self.name

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
    def tls_secret(self) -> Path:
        return self.root / "tls-server"

    @property
    def tls_live(self) -> Path:
        return self.root / "tls-live"

    @property
    def log(self) -> Path:
        return self.root / f"log-{self.name}"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass(frozen=True)
class EndpointAddresses:
    write: ha.Address
    read: ha.Address
    health: ha.Address


@dataclass
class Cluster:
    """Redis servers, Sentinels and HAProxy endpoints, laid out under `root` as their pods lay them
    out, running `plan`: a stack's plan (`stack_plan`: every setting as deployed) or, by default, one
    made from the settings below (`settings_plan`). Only addresses, ports and file paths are replaced
    by local ones (`localized()` names exactly what changes). With `tls`, every pod has its own Secret
    volume (as the kubelet writes it) and runs the certificate reload beside its processes
    (tls-reload.sh), as the pods do; a stack plan with TLS gets a CA made here.

    Without `network` every member listens on 127.0.0.1 with a port of its own; with a PodNetwork each
    pod is a network namespace with its own address on a node (member i of each kind on node
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
    check_interval_ms: int = 500
    # Certificate reload timing (ha.ScriptSettings); the pods' defaults are minutes, not seconds.
    tls_poll_s: float = 0.5
    tls_trust_delay_s: int = 4
    tls_restart_slot_s: int = 2
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
                tls=self.tls is not None, failover_wait_s=self.failover_wait_s, acl_users=self.acl_users,
                check_interval_ms=self.check_interval_ms, tls_poll_s=self.tls_poll_s,
                tls_trust_delay_s=self.tls_trust_delay_s, tls_restart_slot_s=self.tls_restart_slot_s)
        plan = self.plan
        self.servers, self.sentinels = len(plan.topology.servers), len(plan.topology.sentinels)
        self.master = plan.topology.master_name
        self.acl_users = plan.server.acl_users
        self._place()
        self.root.chmod(0o755)
        self.images = self._image_roots()
        self.programs = self._programs()
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
        if plan.server.tls is not None and self.tls is None:
            self.tls = make_tls(self.root / "ca", ips=tuple(sorted({a.host for a in self.redis_addrs + self.sentinel_addrs})))
        assert (plan.server.tls is not None) == (self.tls is not None), "TLS material for a plan without TLS"
        # What the tests' own clients trust: every CA installed so far.
        self.client_ca = self.root / "client-ca.crt"
        self.secret_volumes: dict[str, SecretVolume] = {}
        self.topology = ha.Topology(master_name=self.master, servers=tuple(self.redis_addrs),
                                    sentinels=tuple(self.sentinel_addrs))
        self.scripts = replace(plan.scripts, topology=self.topology,
                               password_file=str(self.password_file) if plan.server.auth else None,
                               acl_password_dir=str(users_dir) if self.acl_users else None)
        for i in range(self.servers):
            self._add_redis(i)
        for i in range(self.sentinels):
            self._add_sentinel(i)
        for j in range(self.haproxies):
            self._add_haproxy(j)
        if self.tls is not None:
            self.install_tls(self.tls)

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

    def _image_roots(self) -> dict[str, ImageRoot] | None:
        """With busybox: each image's programs (components/cache_patterns/core/images.py) under a root of its own, so the
        scripts find what the image has and nothing else (an alpine image: BusyBox and its own
        binaries). Without: the system's PATH (Debian: dash and coreutils), the toolchain's engines first."""
        if not self.busybox:
            return None
        return {image: ImageRoot(images.of(image), self.root / "images" / images.split(image)[0].replace("/", "_"))
                for image in (ENGINE_IMAGE, HAPROXY_IMAGE)}

    def _programs(self) -> Path:
        """The engine's programs where the pods' user can run them (the toolchain's cache is in root's
        home), first on PATH without busybox; and HAProxy."""
        d = self.root / "programs"
        d.mkdir()
        d.chmod(0o755)
        for kind in ("server", "cli", "sentinel", "check-rdb"):
            impl = engines.engine_program(kind)
            if impl is not None:
                for name in (f"valkey-{kind}", f"redis-{kind}"):
                    if Path(impl).name == name or Path(impl).name.startswith("valkey-"):
                        (d / name).symlink_to(engines.accessible(impl, self.root / ".programs"))
        hap = engines.haproxy()
        if hap is not None:
            (d / "haproxy").symlink_to(engines.accessible(hap, self.root / ".programs"))
        return d

    def path_env(self, image: str) -> str:
        if self.images is None:
            return f"{self.programs}:{engines.search_path()}"
        return self.images[image].path_env()

    @staticmethod
    def _as_root() -> bool:
        return os.geteuid() == 0

    def _own(self, path: Path, mode: int, owner: bool = True) -> None:
        """Writable volumes belong to the pod's user; Secret files are group-readable (fsGroup)."""
        if self._as_root():
            os.chown(path, UID if owner else 0, UID)
        path.chmod(mode)

    def _member(self, name: str, port: int, files: dict[str, str], env: dict[str, str], script: str,
                image: str) -> Member:
        """A pod's main container: its ConfigMap as a read-only dir, its volumes (with TLS its own
        Secret volume and the in-memory dir of the files it loads), and the env the component would
        give it (with this member's directories in place of the pod paths)."""
        m = Member(name=name, port=port, root=self.root / name, env={}, script=script,
                   image_root=self.images[image] if self.images else None)
        m.conf.mkdir(parents=True)
        for fname, text in files.items():
            (m.conf / fname).write_text(text)
            (m.conf / fname).chmod(0o444)
        m.conf.chmod(0o555)
        for d in (m.run_dir, m.data) + ((m.tls_live,) if self.tls else ()):
            d.mkdir()
            self._own(d, 0o700)
        if self.tls is not None:
            self.secret_volumes[name] = SecretVolume(m.tls_secret, self._own)
        m.env = {"PATH": self.path_env(image), "HOME": str(m.data), "LANG": "C"} | env
        self.members[name] = m
        return m

    def _sidecar(self, main: Member, script: str, *args: str, drop: tuple[str, ...] = ()) -> Member:
        """Another container of `main`'s pod (the same volumes)."""
        m = Member(name=f"{main.name}-tls-reload", port=main.port, root=main.root,
                   env={k: v for k, v in main.env.items() if k not in drop}, script=script, args=args,
                   image_root=main.image_root, pod=main.pod)
        self.members[m.name] = m
        return m

    def _settings(self, name: str) -> ha.ScriptSettings:
        root = self.root / name
        tls = {} if self.tls is None else {
            "tls_secret_dir": str(root / "tls-server"), "tls_live_dir": str(root / "tls-live"),
            "tls_ca_file": str(root / "tls-live" / "ca.crt")}
        return replace(self.scripts, conf_dir=str(root / "conf"), run_dir=str(root / "run"), **tls)

    def _tls_files(self, name: str) -> TlsFiles | None:
        if self.tls is None:
            return None
        live = self.root / name / "tls-live"
        return TlsFiles(cert_file=str(live / "tls.crt"), key_file=str(live / "tls.key"), ca_file=str(live / "ca.crt"))

    def localized(self, role: ha.Role, name: str) -> object:
        """The plan's settings of one member with local addresses, ports and paths: the only fields
        that differ from the plan (tests/test_live_plan.py holds this list)."""
        plan = self.plan
        assert plan is not None
        if role == "redis":
            i = int(name.rsplit("-", 1)[1])
            return replace(plan.server, port=self.redis_addrs[i].port, data_dir=str(self.root / name / "data"),
                           tls=self._tls_files(name), bind=self._bind(plan.server.bind))
        if role == "sentinel":
            i = int(name.rsplit("-", 1)[1])
            return replace(plan.sentinel, port=self.sentinel_addrs[i].port, initial_primary=str(self.redis_addrs[0]),
                           work_dir=str(self.root / name / "run"), tls=self._tls_files(name),
                           bind=self._bind(plan.sentinel.bind))
        e = self.endpoints[self.haproxy_names.index(name)]
        settings = self._settings(name)
        return replace(plan.endpoint, topology=self.topology, tls_ca_file=settings.tls_ca_file,
                       bind="127.0.0.1" if self.network is None else plan.endpoint.bind, write_port=e.write.port,
                       read_port=e.read.port, health_port=e.health.port, conf_dir=settings.conf_dir,
                       state_file=f"{settings.run_dir}/haproxy.state" if self.tls else None)

    def _add_redis(self, i: int) -> None:
        name, addr = f"redis-{i}", self.redis_addrs[i]
        env = self._settings(name).env(str(addr)) | {"POD_NAME": f"{self.plan.names.statefulset}-{i}"}  # type: ignore[union-attr]
        files = ha.server_files(self.localized("redis", name))  # type: ignore[arg-type]
        m = self._member(name, addr.port, files, env, "redis-start.sh", ENGINE_IMAGE)
        if self.tls is not None:
            self._sidecar(m, "tls-reload.sh", "redis")

    def _add_sentinel(self, i: int) -> None:
        name, addr = f"sentinel-{i}", self.sentinel_addrs[i]
        files = {"sentinel.conf": sentinel_conf(self.localized("sentinel", name))} | \
            {s: ha.script(s) for s in ha.FILES_BY_ROLE["sentinel"] if s.endswith(".sh")} | ha.tls_files(self.tls is not None)  # type: ignore[arg-type]
        env = self._settings(name).sentinel_env(str(addr)) | \
            {"POD_NAME": f"{self.plan.names.sentinel_statefulset}-{i}"}  # type: ignore[union-attr]
        self._member(name, addr.port, files, env, "sentinel-start.sh", ENGINE_IMAGE)

    def _add_haproxy(self, j: int) -> None:
        name = self.haproxy_names[j]
        settings = self._settings(name)
        run_dir = Path(settings.run_dir)
        files = {"haproxy.cfg": ha.haproxy_cfg(self.localized("haproxy", name))} | \
            {s: ha.script(s) for s in ha.FILES_BY_ROLE["haproxy"] if s != "haproxy.cfg"} | \
            ha.tls_files(self.tls is not None)  # type: ignore[arg-type]
        env = settings.haproxy_env(master_socket=str(run_dir / "haproxy-master.sock"),
                                   state_file=str(run_dir / "haproxy.state")) | {"HAPROXY": str(self.programs / "haproxy")}
        m = self._member(name, self.endpoints[j].write.port, files, env, "haproxy-start.sh", HAPROXY_IMAGE)
        if self.tls is not None:
            self._sidecar(m, "tls-reload.sh", "haproxy", drop=("PASSWORD_FILE",))

    # -- TLS ----------------------------------------------------------------------------------

    def install_tls(self, material: TlsMaterial, offsets: dict[str, float] | None = None) -> dict[str, float]:
        """Write `material` into every pod's Secret volume, as cert-manager's update reaches each pod
        when its kubelet syncs: pod by pod at `offsets` seconds from now (default: all at once).
        HAProxy's volume holds only ca.crt (the rendered `items`). Returns each pod's swap time."""
        with open(self.client_ca, "ab") as f:
            f.write(material.ca.read_bytes())
        offsets = offsets if offsets is not None else {pod: 0.0 for pod in self.secret_volumes}
        full = {"tls.crt": material.cert.read_bytes(), "tls.key": material.key.read_bytes(),
                "ca.crt": material.ca.read_bytes()}
        start = time.monotonic()
        swapped: dict[str, float] = {}
        for pod in sorted(offsets, key=lambda p: offsets[p]):
            time.sleep(max(0.0, start + offsets[pod] - time.monotonic()))
            files = {"ca.crt": full["ca.crt"]} if pod in self.haproxy_names else full
            swapped[pod] = self.secret_volumes[pod].write(files)
        return swapped

    def pods(self) -> list[str]:
        """The pods with a Secret volume (TLS on)."""
        return list(self.secret_volumes)

    # -- processes --------------------------------------------------------------------------

    def _shell(self, m: Member) -> list[str]:
        if m.image_root is None:
            return ["/bin/sh"]
        sh = m.image_root.resolve("sh")
        assert sh is not None
        return [sh]

    def _prefix(self, m: Member) -> list[str]:
        out = self.network.prefix(m.pod) if self.network is not None else []
        if self._as_root():
            out += [which("setpriv") or "setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", "--inh-caps=-all"]
        return out

    def run_script(self, name: str, script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a script of a member to completion (preStop, probes) as the pod's user, in its pod."""
        m = self.members[name]
        return subprocess.run([*self._prefix(m), *self._shell(m), str(m.conf / script), *args], env=m.env,
                              cwd=m.data, capture_output=True, text=True, timeout=timeout)

    def start(self, name: str) -> Member:
        m = self.members[name]
        assert not m.running(), f"{name} is already running"
        log = open(m.log, "a")
        log.write(f"---- start {m.starts + 1} at {time.time():.3f}\n")
        log.flush()
        m.proc = subprocess.Popen([*self._prefix(m), *self._shell(m), str(m.conf / m.script), *m.args], env=m.env,
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
        if self.tls is not None:
            kwargs = {"ssl": True, "ssl_ca_certs": str(self.client_ca), "ssl_check_hostname": False}
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
                     if a.port == m.port and (self.network is None or a.host == self.network.ip(m.pod))), None)
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
