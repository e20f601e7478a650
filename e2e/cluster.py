"""A Kubernetes control plane on 127.0.0.1, from the pinned toolchain (e2e/pins.toml): etcd,
kube-apiserver, kube-controller-manager, kube-scheduler, and kwok faking one node (pods become
Ready without a kubelet) and provisioning a volume for every claim.

    python -m e2e.cluster up|down|status       (./run cluster up|down|status)

    from e2e import cluster
    with cluster.running() as c:       # reuses a running cluster, else starts one and stops it after
        c.kubectl("get", "nodes")      # c.kubeconfig, c.context, c.env() -> {"KUBECONFIG": ...}

What it installs beside the control plane: the operator, cert-manager and Prometheus Operator CRDs
of ../shared/schemas/crds (read from there, $CACHE_PATTERNS_CRDS), kwok's `kwok-volume` default
StorageClass, one fake node. PodSecurity admission is on (the API server's default).

State (certificates, kubeconfig, etcd data, logs, PIDs) lives outside the repo, in
$CACHE_PATTERNS_CLUSTER_DIR or <tmp>/cache-patterns-cluster-<port>. Ports: $CACHE_PATTERNS_CLUSTER_PORT
(default 16443) for the API server and the five after it for etcd (client, peer), the controller
manager, the scheduler and kwok. Every process runs in its own process group, recorded with its
start time; `down` stops the groups (TERM, then KILL) and removes the state, also after a failed `up`.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from e2e import toolchain

CONTEXT = "cache-patterns-e2e"
NODE = "kwok-node-0"
DEFAULT_PORT = 16443
# Offsets from the API server's port, in start order.
PORTS = {"kube-apiserver": 0, "etcd": 1, "etcd-peer": 2, "kube-controller-manager": 3, "kube-scheduler": 4,
         "kwok": 5}
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
KWOK_POD_CIDR = "10.244.0.1/16"   # kwok hands out pod IPs from here (its flag wants a host address)
# kwok's stages (from its module, copied beside the binary): a node that turns Ready and keeps its
# lease, pods that are scheduled turn Running and Ready and go away when deleted, claims of the
# kwok-volume StorageClass get a volume.
KWOK_STAGES = ("node/fast", "node/heartbeat-with-lease", "pod/fast", "volume/fast")
STORAGE_CLASS = "volume/fast/storage-class.yaml"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0


class ClusterError(RuntimeError):
    """The cluster could not be started or reached; the message says which component and why."""


@dataclass(frozen=True)
class Cluster:
    """A running cluster: what a test or the Pulumi engine needs to reach it."""

    dir: Path
    port: int
    kubeconfig: Path
    context: str = CONTEXT

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment of a process that should talk to this cluster (kubectl, pulumi, clients)."""
        return {"KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 300) -> subprocess.CompletedProcess:
        """Run the pinned kubectl against this cluster; output captured as text."""
        cmd = [str(toolchain.bin_dir("kubernetes") / "kubectl"), f"--kubeconfig={self.kubeconfig}",
               f"--context={self.context}", f"--cache-dir={self.dir / 'kubectl-cache'}", *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
        return proc


# --- where things are -------------------------------------------------------------------------

def base_port() -> int:
    return int(os.environ.get("CACHE_PATTERNS_CLUSTER_PORT") or DEFAULT_PORT)


def state_dir(port: int | None = None) -> Path:
    explicit = os.environ.get("CACHE_PATTERNS_CLUSTER_DIR")
    if explicit:
        return Path(explicit)
    return Path(tempfile.gettempdir()) / f"cache-patterns-cluster-{port or base_port()}"


def crds_dir() -> Path | None:
    from tools import validate   # one rule for where the shared CRDs are
    return validate.crds_dir()


def _binary(tool: str, name: str) -> Path:
    path = toolchain.bin_dir(tool) / name
    if not path.exists():
        raise ClusterError(f"{name} is not built (tool {tool!r} of e2e/pins.toml): run `./run toolchain`")
    return path


def missing_tools() -> list[str]:
    """The tools `up` needs that are not built yet."""
    toolchain._load_recipes()
    return [t for t in ("etcd", "kubernetes", "kwok") if not toolchain.is_built(t)]


# --- processes --------------------------------------------------------------------------------

def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat): with the
    PID it identifies a process, so `down` never signals an unrelated process that reused the PID."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in "ZX" else fields[19]   # a zombie has exited


def _alive(entry: dict) -> bool:
    return _start_time(entry["pid"]) == entry["start"]


def _read_state(root: Path) -> dict:
    try:
        return json.loads((root / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def _write_state(root: Path, state: dict) -> None:
    tmp = root / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(root / "state.json")


def _spawn(root: Path, state: dict, name: str, cmd: Sequence[str]) -> None:
    log = (root / "logs" / f"{name}.log").open("ab")
    proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=root)
    log.close()
    state.setdefault("processes", {})[name] = {"pid": proc.pid, "start": _start_time(proc.pid), "cmd": list(cmd)}
    _write_state(root, state)   # recorded at once: a failed `up` is still cleaned up by `down`


def _stop_group(entry: dict) -> None:
    if not _alive(entry):
        return
    pid = entry["pid"]
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)   # reap it if it is our child
            if not _alive(entry) and not _group_alive(pid):
                return
            time.sleep(0.1)
    if _alive(entry):
        raise ClusterError(f"process {pid} ({entry['cmd'][0]}) survived SIGKILL")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader still counts in killpg; it is gone for our purpose.
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _log_tail(root: Path, name: str, lines: int = 25) -> str:
    try:
        text = (root / "logs" / f"{name}.log").read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(f"    {line}" for line in text[-lines:])


# --- ports ------------------------------------------------------------------------------------

def _port_holder(port: int) -> str:
    """Who listens on the port, as `ss` says (iproute2), or nothing when unknown."""
    try:
        out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return f" (held by {out.split('users:', 1)[1].strip()})" if "users:" in out else ""


def check_ports(port: int) -> None:
    """Every port the cluster needs must be free on 127.0.0.1; the error names each taken one."""
    taken = []
    for name, offset in PORTS.items():
        p = port + offset
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # As the servers do (Go sets it): connections of a previous run in TIME_WAIT do not
            # block the port, a listener does.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                taken.append(f"127.0.0.1:{p} ({name}) is taken{_port_holder(p)}")
    if taken:
        raise ClusterError("cannot start the cluster: " + "; ".join(taken) +
                           f". Stop what holds it, or choose other ports: CACHE_PATTERNS_CLUSTER_PORT=N uses "
                           f"N..N+{max(PORTS.values())}.")


# --- certificates and kubeconfig --------------------------------------------------------------

def _openssl(args: Sequence[str], cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClusterError(f"openssl {' '.join(args)} failed:\n{proc.stderr.strip()}")


def _pki(pki: Path) -> None:
    """A CA, the API server's serving certificate (127.0.0.1, localhost, the in-cluster names) and
    the service-account signing key pair."""
    pki.mkdir(parents=True)
    _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
              "-days", "30", "-subj", "/CN=cache-patterns-e2e-ca"], pki)
    (pki / "san.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n"
        "extendedKeyUsage=serverAuth\n")
    _openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key", "-out", "apiserver.csr",
              "-subj", "/CN=kube-apiserver"], pki)
    _openssl(["x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
              "-out", "apiserver.crt", "-days", "30", "-extfile", "san.cnf"], pki)
    _openssl(["genrsa", "-out", "sa.key", "2048"], pki)
    _openssl(["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], pki)


def _kubeconfig(path: Path, server: str, ca: Path, token: str) -> None:
    import yaml
    ca_data = base64.b64encode(ca.read_bytes()).decode()
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": CONTEXT,
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "users": [{"name": f"{CONTEXT}-admin", "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": f"{CONTEXT}-admin"}}],
    }, sort_keys=False))
    path.chmod(0o600)


# --- health -----------------------------------------------------------------------------------

def _get(url: str, token: str | None = None, ca: Path | None = None, timeout: float = 3) -> tuple[int, str]:
    ctx = None
    if url.startswith("https:"):
        ctx = ssl.create_default_context(cafile=str(ca)) if ca else ssl._create_unverified_context()
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (OSError, ssl.SSLError) as e:
        return 0, str(e)


def _health_urls(root: Path, port: int) -> dict[str, str]:
    return {
        "etcd": f"http://127.0.0.1:{port + PORTS['etcd']}/health",
        "kube-apiserver": f"https://127.0.0.1:{port}/readyz",
        "kube-controller-manager": f"https://127.0.0.1:{port + PORTS['kube-controller-manager']}/healthz",
        "kube-scheduler": f"https://127.0.0.1:{port + PORTS['kube-scheduler']}/healthz",
        "kwok": f"http://127.0.0.1:{port + PORTS['kwok']}/healthz",
    }


def _healthy(root: Path, state: dict, name: str) -> tuple[bool, str]:
    url = _health_urls(root, state["port"])[name]
    ca = root / "pki" / "ca.crt" if name == "kube-apiserver" else None
    code, body = _get(url, state.get("token") if name == "kube-apiserver" else None, ca)
    return code == 200, f"{url} -> {code or 'no answer'} {body.strip()[:200]}"


def _wait(root: Path, state: dict, name: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not _alive(state["processes"][name]):
            raise ClusterError(f"{name} exited during start-up; last lines of {root / 'logs' / (name + '.log')}:\n"
                               f"{_log_tail(root, name)}")
        ok, last = _healthy(root, state, name)
        if ok:
            return
        time.sleep(0.3)
    raise ClusterError(f"{name} not healthy after {timeout:.0f} s ({last}); last lines of its log:\n"
                       f"{_log_tail(root, name)}")


# --- up / down / status -----------------------------------------------------------------------

def _commands(root: Path, port: int) -> dict[str, list[str]]:
    pki, kubeconfig = root / "pki", str(root / "kubeconfig")
    etcd_client, etcd_peer = f"http://127.0.0.1:{port + PORTS['etcd']}", f"http://127.0.0.1:{port + PORTS['etcd-peer']}"
    kube = lambda name: str(_binary("kubernetes", name))  # noqa: E731
    delegated = [f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
                 f"--authorization-kubeconfig={kubeconfig}", "--bind-address=127.0.0.1", "--leader-elect=false"]
    return {
        "etcd": [str(_binary("etcd", "etcd")), "--name=e2e", f"--data-dir={root / 'etcd'}",
                 f"--listen-client-urls={etcd_client}", f"--advertise-client-urls={etcd_client}",
                 f"--listen-peer-urls={etcd_peer}", f"--initial-advertise-peer-urls={etcd_peer}",
                 f"--initial-cluster=e2e={etcd_peer}", "--unsafe-no-fsync", "--log-level=warn"],
        "kube-apiserver": [
            kube("kube-apiserver"), f"--etcd-servers={etcd_client}", "--bind-address=127.0.0.1",
            f"--secure-port={port}", "--advertise-address=127.0.0.1",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}", f"--token-auth-file={root / 'tokens.csv'}",
            "--authorization-mode=RBAC", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
            # As on a real cluster the kubelet would allow privileged pods: refusing them is Pod
            # Security admission's job, which the tests exercise.
            "--allow-privileged=true",
            # The `kubernetes` Service's endpoints would be 127.0.0.1, which Endpoints refuse; no pod
            # here runs, so nothing needs them.
            "--endpoint-reconciler-type=none",
            f"--cert-dir={pki}", "--profiling=false"],
        "kube-controller-manager": [
            kube("kube-controller-manager"), *delegated, f"--secure-port={port + PORTS['kube-controller-manager']}",
            f"--cert-dir={pki / 'kcm'}", f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}", "--use-service-account-credentials=true",
            f"--cluster-cidr={POD_CIDR}", f"--service-cluster-ip-range={SERVICE_CIDR}", "--profiling=false"],
        "kube-scheduler": [
            kube("kube-scheduler"), *delegated, f"--secure-port={port + PORTS['kube-scheduler']}",
            f"--cert-dir={pki / 'scheduler'}", "--profiling=false"],
        "kwok": [
            str(_binary("kwok", "kwok")), f"--kubeconfig={kubeconfig}", f"--config={root / 'kwok.yaml'}",
            "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-lease-duration-seconds=40", f"--cidr={KWOK_POD_CIDR}",
            "--node-ip=127.0.0.1", f"--server-address=127.0.0.1:{port + PORTS['kwok']}"],
    }


def _kwok_config(root: Path) -> None:
    stages = toolchain.tool_dir("kwok") / "stages"
    docs = []
    for group in KWOK_STAGES:
        for f in sorted((stages / group).glob("*.yaml")):
            text = f.read_text()
            if "kind: Stage" in text:
                docs.append(text.strip())
    (root / "kwok.yaml").write_text("\n---\n".join(docs) + "\n")


NODE_MANIFEST = f"""
apiVersion: v1
kind: Node
metadata:
  name: {NODE}
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: {NODE}
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    topology.kubernetes.io/zone: zone-a
spec: {{}}
status:
  allocatable: {{cpu: "32", memory: 128Gi, pods: "110", ephemeral-storage: 100Gi}}
  capacity: {{cpu: "32", memory: 128Gi, pods: "110", ephemeral-storage: 100Gi}}
"""


def current(port: int | None = None) -> Cluster | None:
    """The cluster recorded in the state dir, if every process of it is alive."""
    port = port or base_port()
    root = state_dir(port)
    state = _read_state(root)
    procs = state.get("processes") or {}
    if not state.get("ready") or set(procs) != set(COMPONENTS) or not all(_alive(p) for p in procs.values()):
        return None
    return Cluster(root, state["port"], root / "kubeconfig")


def up(port: int | None = None, log=print) -> Cluster:
    """Start the cluster (or return the running one). On any failure everything started is stopped
    and the error names the component, with the end of its log."""
    port = port or base_port()
    running = current(port)
    if running is not None:
        log(f"cluster: already running ({running.server}, state {running.dir})")
        return running
    root = state_dir(port)
    if root.exists():
        down(port, log=lambda *_: None)   # leftovers of a failed or killed run
    missing = missing_tools()
    if missing:
        raise ClusterError(f"not built: {', '.join(missing)} (e2e/pins.toml): run `./run toolchain`")
    check_ports(port)
    if shutil.which("openssl") is None:
        raise ClusterError("openssl is not installed (Debian package openssl; .ci/run installs it)")
    root.mkdir(parents=True)
    (root / "logs").mkdir()
    token = secrets.token_hex(24)
    state = {"port": port, "token": token, "processes": {}}
    _write_state(root, state)
    started = time.monotonic()
    try:
        _pki(root / "pki")
        (root / "tokens.csv").write_text(f'{token},admin,admin,"system:masters"\n')
        (root / "tokens.csv").chmod(0o600)
        _kubeconfig(root / "kubeconfig", f"https://127.0.0.1:{port}", root / "pki" / "ca.crt", token)
        _kwok_config(root)
        cmds = _commands(root, port)
        for name in ("etcd", "kube-apiserver"):
            _spawn(root, state, name, cmds[name])
            _wait(root, state, name)
            log(f"cluster: {name} ready ({time.monotonic() - started:.1f} s)")
        cluster = Cluster(root, port, root / "kubeconfig")
        for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
            _spawn(root, state, name, cmds[name])
        for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
            _wait(root, state, name)
            log(f"cluster: {name} ready ({time.monotonic() - started:.1f} s)")
        _install(cluster, log)
        state["ready"] = True
        _write_state(root, state)
    except BaseException:
        down(port, log=lambda *_: None)
        raise
    log(f"cluster: up in {time.monotonic() - started:.1f} s: {cluster.server}, context {CONTEXT}, "
        f"KUBECONFIG={cluster.kubeconfig}")
    return cluster


def _install(cluster: Cluster, log) -> None:
    """The fake node, the StorageClass, the CRDs; returns when the node is Ready, the CRDs are
    established and the controller manager has made the default ServiceAccount."""
    cluster.kubectl("apply", "--server-side", "--field-manager=cache-patterns-e2e", "-f", "-", input=NODE_MANIFEST)
    cluster.kubectl("apply", "--server-side", "--field-manager=cache-patterns-e2e", "-f",
                    str(toolchain.tool_dir("kwok") / "stages" / STORAGE_CLASS))
    crds = crds_dir()
    if crds is None:
        raise ClusterError("no CRD folder: set CACHE_PATTERNS_CRDS to ../shared/schemas/crds (the operator, "
                           "cert-manager and Prometheus Operator CRDs)")
    cluster.kubectl("apply", "--server-side", "--field-manager=cache-patterns-e2e", "-R", "-f", str(crds))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    log(f"cluster: CRDs of {crds} established")
    cluster.kubectl("wait", "--for=condition=Ready", f"node/{NODE}", "--timeout=60s")
    deadline = time.monotonic() + 60
    while cluster.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise ClusterError("the controller manager made no `default` ServiceAccount in 60 s; its log:\n"
                               + _log_tail(cluster.dir, "kube-controller-manager"))
        time.sleep(0.5)
    log(f"cluster: node {NODE} Ready (kwok), StorageClass kwok-volume (default)")


def down(port: int | None = None, log=print) -> None:
    """Stop every recorded process group and remove the state directory. Safe to call any time."""
    port = port or base_port()
    root = state_dir(port)
    state = _read_state(root)
    procs = state.get("processes") or {}
    errors = []
    for name in reversed(list(procs)):
        try:
            _stop_group(procs[name])
        except ClusterError as e:
            errors.append(f"{name}: {e}")
    if errors:
        raise ClusterError("could not stop: " + "; ".join(errors))
    if root.exists():
        shutil.rmtree(root, ignore_errors=True)
        log(f"cluster: down ({len(procs)} process group(s) stopped, {root} removed)")
    else:
        log("cluster: not running")


def status(port: int | None = None) -> dict:
    """Per component: its PID, whether the process lives and what its health endpoint says."""
    port = port or base_port()
    root = state_dir(port)
    state = _read_state(root)
    out = {"dir": str(root), "port": port, "ready": bool(state.get("ready")), "components": {}}
    for name, entry in (state.get("processes") or {}).items():
        alive = _alive(entry)
        healthy, detail = _healthy(root, state, name) if alive else (False, "not running")
        out["components"][name] = {"pid": entry["pid"], "alive": alive, "healthy": healthy, "detail": detail}
    if state:
        out["kubeconfig"], out["context"] = str(root / "kubeconfig"), CONTEXT
    return out


@contextlib.contextmanager
def running(port: int | None = None, log=print) -> Iterator[Cluster]:
    """A cluster for the duration of the block: the running one if there is one (left running),
    else a new one, stopped afterwards even when the block fails."""
    existing = current(port)
    if existing is not None:
        yield existing
        return
    cluster = up(port, log=log)
    try:
        yield cluster
    finally:
        down(port, log=log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            c = up()
            print(f"export KUBECONFIG={c.kubeconfig}   # context {c.context}")
        elif args.command == "down":
            down()
        else:
            s = status()
            if not s["components"]:
                print(f"cluster: not running (state dir {s['dir']})")
                return 1
            for name, c in s["components"].items():
                print(f"{name:24} pid {c['pid']:<8} {'healthy' if c['healthy'] else 'UNHEALTHY'}  {c['detail'][:100]}")
            print(f"kubeconfig {s.get('kubeconfig')} (context {s.get('context')})")
            return 0 if s["ready"] and all(c["healthy"] for c in s["components"].values()) else 1
    except ClusterError as e:
        print(f"cluster: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
