"""Pods as Linux network namespaces, for live tests and benchmarks that need a network between the
members of a cache rather than one loopback: partitions.

Each pod gets a namespace of its own with one address (10.<b>.<node>.<n>/32), as a CNI gives it; the
pods of one "node" share a /24. A router namespace joins every pod (a veth pair each, routed like
Calico: the pod's default route points at 169.254.1.1, which the router owns) and the test process in
the root namespace reaches every pod through one more veth pair into the router. `isolate(nodes)`
adds policy-routing rules in the router that silently drop what goes between those nodes and the
others, in both directions (forwarded packets that hit a `blackhole` rule vanish without an ICMP
reply, as in a real partition), while the test process still reaches both sides; `heal()` removes
them. Only iproute2 is needed (no iptables, no tc netem: neither exists on every test machine).
Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for setns).
"""
from __future__ import annotations

import ctypes
import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000
GATEWAY = "169.254.1.1"
# Rule priorities of the partition: below the kernel's `from all lookup main` (32766).
RULE_PRIORITY = 1000
# By path: the pods' processes run with a PATH of their own (busybox applets only, as in the images).
IP = shutil.which("ip") or "/usr/sbin/ip"


def available() -> str | None:
    """None if pod networks can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not os.path.exists(IP):
        return "iproute2 (ip) is not installed"
    return None


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = [IP, "-n", ns, *args] if ns else [IP, *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {result.stderr.strip()}")


def _free_block() -> int:
    """A second octet b such that 10.b.0.0/16 overlaps no route of the root namespace."""
    routes = subprocess.run([IP, "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    used = []
    for line in routes.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("local", "broadcast", "unreachable", "blackhole", "prohibit"):
            word = line.split()[1]
        try:
            used.append(ipaddress.ip_network(word if word != "default" else "0.0.0.0/32", strict=False))
        except ValueError:
            continue
    for b in range(177, 250):
        block = ipaddress.ip_network(f"10.{b}.0.0/16")
        if not any(block.overlaps(u) for u in used if u.prefixlen > 0):
            return b
    raise RuntimeError("no free 10.x.0.0/16 block for the pod network")


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    node: int
    ip: str


class PodNetwork:
    """Create with `PodNetwork()`, add pods, `close()` when done (it deletes every namespace and link
    it made; the processes in them must have exited)."""

    def __init__(self, tag: str | None = None) -> None:
        # Interface names are at most 15 characters: keep the tag short.
        self.tag = tag or f"cp{os.getpid() % 100000}"
        self.block = _free_block()
        self.router = f"{self.tag}-router"
        self.pods: dict[str, Pod] = {}
        self._per_node: dict[int, int] = {}
        self._isolated: list[tuple[str, str]] = []
        self._libc = ctypes.CDLL(None, use_errno=True)
        subprocess.run([IP, "netns", "add", self.router], check=True)
        try:
            r = self.router
            _ip("link", "set", "lo", "up", ns=r)
            _ip("addr", "add", f"{GATEWAY}/32", "dev", "lo", ns=r)
            subprocess.run([IP, "netns", "exec", r, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"], check=True)
            host, peer = f"{self.tag}h", f"{self.tag}hr"
            _ip("link", "add", host, "type", "veth", "peer", "name", peer, "netns", r)
            _ip("addr", "add", f"10.{self.block}.255.1/30", "dev", host)
            _ip("link", "set", host, "up")
            _ip("addr", "add", f"10.{self.block}.255.2/30", "dev", peer, ns=r)
            _ip("link", "set", peer, "up", ns=r)
            _ip("route", "add", f"10.{self.block}.0.0/16", "via", f"10.{self.block}.255.2")
            self._host_link = host
        except BaseException:
            self.close()
            raise

    def add(self, name: str, node: int) -> Pod:
        """A pod `name` on node `node` (0..250): its namespace, address and routes."""
        n = self._per_node.get(node, 0) + 1
        self._per_node[node] = n
        pod = Pod(name=name, namespace=f"{self.tag}-{name}", node=node, ip=f"10.{self.block}.{node}.{n}")
        link = f"{self.tag}p{len(self.pods)}"
        subprocess.run([IP, "netns", "add", pod.namespace], check=True)
        self.pods[name] = pod
        ns = pod.namespace
        _ip("link", "set", "lo", "up", ns=ns)
        _ip("link", "add", link, "netns", self.router, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("addr", "add", f"{pod.ip}/32", "dev", "eth0", ns=ns)
        _ip("link", "set", "eth0", "up", ns=ns)
        _ip("route", "add", GATEWAY, "dev", "eth0", "scope", "link", ns=ns)
        _ip("route", "add", "default", "via", GATEWAY, "dev", "eth0", ns=ns)
        _ip("link", "set", link, "up", ns=self.router)
        _ip("route", "add", f"{pod.ip}/32", "dev", link, ns=self.router)
        return pod

    def ip(self, name: str) -> str:
        return self.pods[name].ip

    def prefix(self, name: str) -> list[str]:
        """Command prefix that runs a program inside the pod's namespace."""
        return [IP, "netns", "exec", self.pods[name].namespace]

    def enter(self, name: str) -> None:
        """Move the calling thread into the pod's namespace: its new sockets are the pod's. (Network
        namespaces are per thread; a thread that entered one must not be reused for anything else.)"""
        fd = os.open(f"/var/run/netns/{self.pods[name].namespace}", os.O_RDONLY)
        try:
            if self._libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {name}")
        finally:
            os.close(fd)

    def nodes(self) -> set[int]:
        return {p.node for p in self.pods.values()}

    def isolate(self, nodes: set[int]) -> None:
        """Partition: nothing passes between `nodes` and the other nodes, either way, until heal()."""
        others = self.nodes() - nodes
        for a in sorted(nodes):
            for b in sorted(others):
                for src, dst in ((a, b), (b, a)):
                    pair = (f"10.{self.block}.{src}.0/24", f"10.{self.block}.{dst}.0/24")
                    _ip("rule", "add", "from", pair[0], "to", pair[1], "blackhole", "priority", str(RULE_PRIORITY),
                        ns=self.router)
                    self._isolated.append(pair)

    def heal(self) -> None:
        while self._isolated:
            src, dst = self._isolated.pop()
            _ip("rule", "del", "from", src, "to", dst, "blackhole", "priority", str(RULE_PRIORITY), ns=self.router)

    def close(self) -> None:
        for pod in list(self.pods.values()):
            subprocess.run([IP, "netns", "del", pod.namespace], capture_output=True)
        self.pods.clear()
        subprocess.run([IP, "netns", "del", self.router], capture_output=True)
        # Deleting the router deletes the peer of the host link, and with it the link and its route.
