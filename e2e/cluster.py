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

This module starts, installs, reports and stops; what each component runs (certificates, kubeconfig,
command lines, health checks) is in e2e/components.py, the process groups, state file and ports in
e2e/processes.py. Their public names (and the helpers tests use) are imported here, so `cluster.X`
still reaches them.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from e2e import toolchain
# Also the names only callers use (tests: cluster.PORTS, cluster._start_time; the constants).
from e2e.components import (COMPONENTS, CONTEXT, KWOK_POD_CIDR, KWOK_STAGES, POD_CIDR, SERVICE_CIDR,  # noqa: F401
                            START_TIMEOUT, STORAGE_CLASS, _commands, _healthy, _kubeconfig, _kwok_config, _pki,
                            _wait)
from e2e.processes import (PORTS, ClusterError, _alive, _log_tail, _read_state, _spawn, _start_time,  # noqa: F401
                           _stop_group, _write_state, check_ports)

NODE = "kwok-node-0"
DEFAULT_PORT = 16443
STOP_TIMEOUT = 15.0


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


def missing_tools() -> list[str]:
    """The tools `up` needs that are not built yet."""
    toolchain._load_recipes()
    return [t for t in ("etcd", "kubernetes", "kwok") if not toolchain.is_built(t)]


# --- up / down / status -----------------------------------------------------------------------

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
            _stop_group(procs[name], STOP_TIMEOUT)
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
    parser.add_argument("--node", action="store_true",
                        help="a real node (kubelet, containerd, CoreDNS) in namespaces of its own: e2e/node.py")
    args = parser.parse_args(argv)
    if args.node or (args.command == "down" and _node_state()):
        from e2e import node   # down: also a real-node cluster of this port, with its host changes
        code = node.main(args.command)
        if args.node or code != 0:
            return code
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


def _node_state() -> bool:
    from e2e import node
    return node.state_dir().exists()


if __name__ == "__main__":
    sys.exit(main())
