"""LocalStatefulSet: a StatefulSet-pattern cache made of real processes: Redis servers, Sentinels and HAProxy endpoints,
each started through its pod script from a pod-like file layout (read-only conf dir, writable run/data
dirs, a password file) as a non-root user, on 127.0.0.1 or on a network of one namespace per pod
(netns.PodNetwork). It runs a plan: a stack's own (`stack_plan`, what `pulumi up` deploys) or one made
of the live tests' short timings. Used by the live tests and by benchmarks/failover.py and
benchmarks/partition.py, so all of them measure exactly what a pod runs.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path


from cache_patterns.core import images
from cache_patterns.core.redis_conf import TlsFiles, sentinel_conf
from cache_patterns.patterns.statefulset import ha
from cache_patterns.patterns.statefulset.component import HAPROXY_IMAGE

from testbed import engines
from testbed.image_root import ImageRoot
from testbed.netns import PodNetwork
from testbed.support import ENGINE_IMAGE, PASSWORD, UID, free_ports, user_password, which
from testbed.tls import TlsMaterial, make_tls
from testbed.plans import settings_plan
from testbed.members import EndpointAddresses, Member, SecretVolume
from testbed.observe import Observe
from testbed.prober import ReadinessProber


@dataclass
class LocalStatefulSet(Observe, ReadinessProber):
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
        if m.script == "redis-start.sh":
            self.start_prober()
        return m

    def start_all(self) -> None:
        # Like podManagementPolicy: Parallel: nothing waits for anything else.
        for name in self.members:
            self.start(name)
        self.start_prober()

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
        self.stop_prober()
        for name in self.members:
            try:
                self.stop(name, timeout=5)
            except OSError:
                pass
