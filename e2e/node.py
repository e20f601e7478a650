"""A Kubernetes cluster with a real node: the control plane of e2e/cluster.py and a kubelet with
containerd, runc, CNI bridge networking, kube-proxy (iptables) and CoreDNS, all from the pinned
toolchain, inside network and mount namespaces the run creates (e2e/netns.py). Pods run for real:
images (built here: e2e/images.py) start, probes and preStop hooks run, volumes are mounted.

    ./run cluster up --node      (./run cluster down stops it and undoes its host changes)

    from e2e import node
    with node.running() as c:                  # a NodeCluster; reuses a running one
        c.import_images(["valkey/valkey:8.1.11-alpine"])
        c.kubectl("get", "pods", "-A")
        c.exec("cache", "staging-sessions-0", "valkey-cli", "ping", container="redis")
        c.netns.call(fn)                         # fn runs inside the cluster's network namespace

The host reaches the API server at https://127.0.0.2:<port> (e2e/nsforward.py), so kubectl, the
Pulumi engine and clients use an ordinary kubeconfig. Everything the node changes on the host
(cgroups, kernel sysctls) is recorded in the state file and undone by `down` (e2e/hoststate.py).
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from e2e import hoststate, images, nodeaddons, nodeconf, toolchain
from e2e.cluster import STOP_TIMEOUT, Cluster, base_port, crds_dir
from e2e.components import _commands, _get, _health_urls, _kubeconfig, _pki
from e2e.netns import NODE_IP, Netns, holder_command
from e2e.processes import ClusterError, _alive, _log_tail, _read_state, _spawn, _stop_group, _write_state

TOOLS = ("etcd", "kubernetes", "kubelet", "containerd", "runc", "cni-plugins", "coredns", "cert-manager", "kube-router")
# Programs beside the node: cert-manager's controllers (the stacks' Certificates), kube-router's
# NetworkPolicy firewall.
ADDONS = ("cert-manager", "kube-router")
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
NODE_READY_TIMEOUT = 120.0


@dataclass(frozen=True)
class NodeCluster(Cluster):
    """A running cluster with a real node."""

    holder: dict | None = None

    @property
    def server(self) -> str:
        return f"https://{nodeconf.HOST_ADDRESS}:{self.port}"

    @property
    def netns(self) -> Netns:
        return Netns(self.holder)

    @property
    def node(self) -> str:
        return nodeconf.NODE

    def ctr(self, *args: str, timeout: float = 300) -> str:
        cmd = [str(toolchain.bin_dir("containerd") / "ctr"), f"--address={self.dir / 'containerd' / 'containerd.sock'}",
               "--namespace=k8s.io", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise ClusterError(f"ctr {' '.join(args)} failed (exit {proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def import_images(self, refs: Iterable[str], log=print, listen: dict[str, tuple[int, ...]] | None = None
                      ) -> list[images.Built]:
        """Build (or take from the cache) a local image for each reference and import it into
        containerd under every name the CRI looks it up by (`listen`: the app images' ports)."""
        started = time.monotonic()
        built = images.build_all(refs, listen)
        have = dict(line.split()[:3:2] for line in self.ctr("images", "list").splitlines()[1:] if line.strip())
        for b in built:
            if any(have.get(name) != b.digest for name in b.names):
                self.ctr("images", "import", str(b.tar))
        log(f"node: {len(built)} image(s) ready in {time.monotonic() - started:.1f} s "
            f"({sum(not b.cached for b in built)} built)")
        return built

    def import_for(self, objs: Iterable[dict], log=print) -> list[images.Built]:
        """Every image the pods of these (rendered) objects run, apps listening on their ports."""
        objs = list(objs)
        return self.import_images(images.references(objs), log=log, listen=images.ports(objs))

    def exec(self, namespace: str, pod: str, *cmd: str, container: str | None = None, check: bool = True,
             timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
        """`kubectl exec` into a pod's container (through the API server and kubelet, as a user would)."""
        args = ["exec", "-n", namespace, pod, *(["-c", container] if container else []), *(["-i"] if input else []),
                "--", *cmd]
        return self.kubectl(*args, check=check, timeout=timeout, input=input)


# --- where things are -------------------------------------------------------------------------

def state_dir(port: int | None = None) -> Path:
    explicit = os.environ.get("CACHE_PATTERNS_NODE_DIR")
    return Path(explicit) if explicit else Path(tempfile.gettempdir()) / f"cache-patterns-node-{port or base_port()}"


def missing_tools() -> list[str]:
    toolchain._load_recipes()
    return [t for t in TOOLS if not toolchain.is_built(t)]


def unavailable() -> str | None:
    """Why a real node cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "a real node needs root (namespaces, cgroups, mounts)"
    for prog in ("unshare", "nsenter", "ip", "iptables", "openssl"):
        if shutil.which(prog) is None and not any(os.path.exists(f"{d}/{prog}") for d in ("/usr/sbin", "/sbin")):
            return f"{prog} is not installed (Debian packages util-linux, iproute2, iptables, openssl)"
    missing = missing_tools()
    if missing:
        return f"not built: {', '.join(missing)} (e2e/pins.toml): run `./run toolchain`"
    return None


def current(port: int | None = None) -> NodeCluster | None:
    port = port or base_port()
    root = state_dir(port)
    state = _read_state(root)
    procs = state.get("processes") or {}
    if not state.get("ready") or not procs or not all(_alive(p) for p in procs.values()):
        return None
    return NodeCluster(root, port, root / "kubeconfig", holder=procs["netns"])


# --- up ---------------------------------------------------------------------------------------

def _wait(what: str, check, timeout: float, log_name: str | None, root: Path, entry: dict | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if entry is not None and not _alive(entry):
            raise ClusterError(f"{what} exited during start-up; its log:\n{_log_tail(root, log_name or what)}")
        ok, last = check()
        if ok:
            return
        time.sleep(0.3)
    tail = f"; its log:\n{_log_tail(root, log_name)}" if log_name else ""
    raise ClusterError(f"{what} not ready after {timeout:.0f} s ({last}){tail}")


def _url_check(ns: Netns, url: str, token: str | None = None, ca: Path | None = None):
    def check() -> tuple[bool, str]:
        code, body = ns.call(_get, url, token, ca)
        return code == 200, f"{url} -> {code or 'no answer'} {body.strip()[:200]}"
    return check


def _credentials(root: Path, state: dict, port: int) -> None:
    pki = root / "pki"
    _pki(pki, extra_sans=f"IP:{NODE_IP},IP:{nodeconf.HOST_ADDRESS}")
    nodeconf.kubelet_client_cert(pki)
    tokens = {"admin": state["token"], "kubelet": secrets.token_hex(24), "proxy": secrets.token_hex(24)}
    (root / "tokens.csv").write_text(
        f'{tokens["admin"]},admin,admin,"system:masters"\n'
        f'{tokens["kubelet"]},system:node:{nodeconf.NODE},node,"system:nodes"\n'
        f'{tokens["proxy"]},system:kube-proxy,kube-proxy\n')
    (root / "tokens.csv").chmod(0o600)
    server = f"https://{nodeconf.HOST_ADDRESS}:{port}"
    _kubeconfig(root / "kubeconfig", server, pki / "ca.crt", tokens["admin"])
    nodeconf.write_kubeconfig(root / "kubelet.kubeconfig", server, pki / "ca.crt", tokens["kubelet"], "kubelet")
    nodeconf.write_kubeconfig(root / "kube-proxy.kubeconfig", server, pki / "ca.crt", tokens["proxy"], "kube-proxy")


def _start_namespaces(root: Path, state: dict, log) -> Netns:
    _spawn(root, state, "netns", holder_command())
    ns = Netns(state["processes"]["netns"])

    def has_eth0() -> tuple[bool, str]:
        if not ns.alive():
            raise ClusterError(f"the namespace holder exited; its log:\n{_log_tail(root, 'netns')}")
        proc = subprocess.run(ns.wrap(["ip", "-4", "-o", "addr", "show", "eth0"], mount=False),
                              capture_output=True, text=True)
        return NODE_IP in proc.stdout, proc.stderr.strip()
    _wait("the node's namespaces", has_eth0, 20, "netns", root)
    state["node"] = {"net_inode": ns.inode("net"), "mnt_inode": ns.inode("mnt"), "started": int(ns.holder["start"]),
                     "cgroup_root": nodeconf.cgroup_root(state["port"])}
    state["node"]["cgroups_made"] = hoststate.make_cgroup_root(state["node"]["cgroup_root"])
    _write_state(root, state)
    log(f"node: namespaces of holder {ns.pid} (net {state['node']['net_inode']}), address {NODE_IP}")
    return ns


def up(port: int | None = None, log=print, images_for: Iterable[str] = ()) -> NodeCluster:
    """Start the cluster with its node (or return the running one); on failure everything started
    is stopped and undone, and the error names the component with the end of its log."""
    port = port or base_port()
    running = current(port)
    if running is not None:
        log(f"node: already running ({running.server}, state {running.dir})")
        return running
    why = unavailable()
    if why:
        raise ClusterError(why)
    root = state_dir(port)
    if root.exists():
        down(port, log=lambda *_: None)
    from e2e.processes import _port_holder
    import socket
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((nodeconf.HOST_ADDRESS, port))
        except OSError:
            raise ClusterError(f"{nodeconf.HOST_ADDRESS}:{port} is taken{_port_holder(port)}") from None
    root.mkdir(parents=True)
    (root / "logs").mkdir()
    state = {"port": port, "token": secrets.token_hex(24), "processes": {}, "sysctls_before": hoststate.sysctls()}
    _write_state(root, state)
    started = time.monotonic()
    try:
        ns = _start_namespaces(root, state, log)
        _credentials(root, state, port)
        _start_control_plane(root, state, ns, port, log, started)
        cluster = NodeCluster(root, port, root / "kubeconfig", holder=state["processes"]["netns"])
        _install(cluster, log)
        _start_node(root, state, ns, cluster, log, started, images_for)
        state["node"]["sysctls_changed"] = hoststate.changed_sysctls(state["sysctls_before"])
        state["ready"] = True
        _write_state(root, state)
    except BaseException:
        down(port, log=lambda *_: None)
        raise
    log(f"node: up in {time.monotonic() - started:.1f} s: {cluster.server}, node {nodeconf.NODE} ({NODE_IP}), "
        f"KUBECONFIG={cluster.kubeconfig}; host changes: cgroup root {state['node']['cgroup_root']}, "
        f"sysctls {sorted(state['node']['sysctls_changed'])}")
    return cluster


def _start_control_plane(root: Path, state: dict, ns: Netns, port: int, log, started: float) -> None:
    cmds = nodeconf.control_plane_changes(_commands(root, port), root)
    urls = _health_urls(root, port)
    token, ca = state["token"], root / "pki" / "ca.crt"
    for name in CONTROL_PLANE:
        _spawn(root, state, name, ns.wrap(cmds[name]))
        if name in ("etcd", "kube-apiserver"):
            auth = (token, ca) if name == "kube-apiserver" else (None, None)
            _wait(name, _url_check(ns, urls[name], *auth), 120, name, root, state["processes"][name])
            log(f"node: {name} ready ({time.monotonic() - started:.1f} s)")
    _spawn(root, state, "apiserver-forward", nodeconf.forwarder_command(port, ns.net_path))
    host_url = f"https://{nodeconf.HOST_ADDRESS}:{port}/readyz"
    _wait("the API server through the forwarder", lambda: (_get(host_url, token, ca)[0] == 200, host_url), 30,
          "apiserver-forward", root, state["processes"]["apiserver-forward"])
    for name in ("kube-controller-manager", "kube-scheduler"):
        _wait(name, _url_check(ns, urls[name]), 120, name, root, state["processes"][name])
        log(f"node: {name} ready ({time.monotonic() - started:.1f} s)")


def _install(cluster: NodeCluster, log) -> None:
    crds = crds_dir()
    if crds is None:
        raise ClusterError("no CRD folder: set CACHE_PATTERNS_CRDS to ../shared/schemas/crds")
    apply = ("apply", "--server-side", "--field-manager=cache-patterns-e2e")
    cluster.kubectl(*apply, "-R", "-f", str(crds))
    cluster.kubectl(*apply, "-f", "-", input="\n---\n".join(json.dumps(m) for m in nodeaddons.manifests()))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


def _start_node(root: Path, state: dict, ns: Netns, cluster: NodeCluster, log, started: float,
                images_for: Iterable[str]) -> None:
    nodeconf.cni_config(root)
    cmds = nodeconf.node_commands(root, state["port"])
    _spawn(root, state, "containerd", ns.wrap(cmds["containerd"]))

    def containerd_up() -> tuple[bool, str]:
        try:
            return bool(cluster.ctr("version", timeout=10)), ""
        except (ClusterError, subprocess.TimeoutExpired) as e:
            return False, str(e)
    _wait("containerd", containerd_up, 60, "containerd", root, state["processes"]["containerd"])
    log(f"node: containerd ready ({time.monotonic() - started:.1f} s)")
    cluster.import_images([*nodeaddons.images(), *images_for], log=log)
    for name in ("kubelet", "kube-proxy"):
        _spawn(root, state, name, ns.wrap(cmds[name]))
    _wait("kubelet", _url_check(ns, f"http://127.0.0.1:{nodeconf.KUBELET_HEALTHZ}/healthz"), 60, "kubelet", root,
          state["processes"]["kubelet"])
    deadline = time.monotonic() + NODE_READY_TIMEOUT
    while cluster.kubectl("wait", "--for=condition=Ready", f"node/{nodeconf.NODE}", "--timeout=5s",
                          check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise ClusterError(f"node {nodeconf.NODE} not Ready after {NODE_READY_TIMEOUT:.0f} s; kubelet's log:\n"
                               + _log_tail(root, "kubelet", 40))
        time.sleep(1)
    log(f"node: {nodeconf.NODE} Ready ({time.monotonic() - started:.1f} s)")
    _wait("kube-proxy", _url_check(ns, f"http://127.0.0.1:{nodeconf.PROXY_HEALTHZ}/healthz"), 60, "kube-proxy", root,
          state["processes"]["kube-proxy"])
    _spawn(root, state, "volumes", nodeconf.volume_command(root))
    addons = nodeconf.addon_commands(root)
    for name in ADDONS:
        _spawn(root, state, name, ns.wrap(addons[name]))
    _wait("kube-router", _url_check(ns, "http://127.0.0.1:20244/healthz"), 60, "kube-router", root,
          state["processes"]["kube-router"])
    proc = cluster.kubectl("rollout", "status", "-n", "kube-system", "deployment/coredns", "--timeout=120s", check=False)
    if proc.returncode != 0:
        pods = cluster.kubectl("get", "pods", "-n", "kube-system", "-o", "wide", check=False).stdout
        raise ClusterError(f"CoreDNS not available: {proc.stderr.strip()}\n{pods}\nkubelet:\n{_log_tail(root, 'kubelet')}")
    log(f"node: CoreDNS available ({time.monotonic() - started:.1f} s)")


# --- down / status ----------------------------------------------------------------------------

def down(port: int | None = None, log=print) -> list[str]:
    """Stop every process, kill what runs in the node's namespaces and cgroups, remove the cgroups,
    restore the sysctls kubelet changed, remove the state. Returns what could not be undone (also
    raised as an error)."""
    port = port or base_port()
    root = state_dir(port)
    state = _read_state(root)
    procs = state.get("processes") or {}
    problems = []
    for name in reversed([n for n in procs if n != "netns"]):
        try:
            _stop_group(procs[name], STOP_TIMEOUT if name != "kubelet" else 5.0)
        except ClusterError as e:
            problems.append(f"{name}: {e}")
    if state.get("node"):
        problems += hoststate.undo(state["node"])
    if "netns" in procs:
        with contextlib.suppress(ClusterError):
            _stop_group(procs["netns"], 5.0)
    if root.exists():
        shutil.rmtree(root, ignore_errors=True)
        log(f"node: down ({len(procs)} process group(s) stopped, host changes undone, {root} removed)")
    if problems:
        raise ClusterError("node: could not undo: " + "; ".join(problems))
    return problems


def status(port: int | None = None) -> dict:
    port = port or base_port()
    root = state_dir(port)
    state = _read_state(root)
    out = {"dir": str(root), "port": port, "ready": bool(state.get("ready")), "components": {}}
    for name, entry in (state.get("processes") or {}).items():
        out["components"][name] = {"pid": entry["pid"], "alive": _alive(entry)}
    return out


@contextlib.contextmanager
def running(port: int | None = None, log=print) -> Iterator[NodeCluster]:
    """A cluster with a real node for the block: the running one (left running), else a new one,
    stopped and undone afterwards even when the block fails."""
    existing = current(port)
    if existing is not None:
        yield existing
        return
    cluster = up(port, log=log)
    try:
        yield cluster
    finally:
        down(port, log=log)


def main(command: str) -> int:
    """`./run cluster up|down|status --node`."""
    import sys
    try:
        if command == "up":
            c = up()
            print(f"export KUBECONFIG={c.kubeconfig}   # context {c.context}, server {c.server}")
        elif command == "down":
            down()
        else:
            s = status()
            if not s["components"]:
                print(f"node: not running (state dir {s['dir']})")
                return 1
            for name, c in s["components"].items():
                print(f"{name:24} pid {c['pid']:<8} {'alive' if c['alive'] else 'DEAD'}")
            return 0 if s["ready"] and all(c["alive"] for c in s["components"].values()) else 1
    except ClusterError as e:
        print(f"node: {e}", file=sys.stderr)
        return 1
    return 0
