"""The namespaces a real-node cluster (e2e/node.py) lives in, made by the run itself.

A holder process (`unshare --net --mount`, then `sleep infinity`) owns a new network namespace and a
private mount namespace; every component of the cluster is started inside both with `nsenter`. Inside:

- the network namespace has its loopback and one veth pair, `eth0` carrying the node's address
  (NODE_IP; kubelet refuses a loopback node IP) and its peer; no route leaves it, so the cluster and
  its pods can reach nothing but loopback and their own addresses (node, pods, Services);
- the mount namespace is private: every mount kubelet, containerd and the CNI plugins make (volumes,
  overlay snapshots, per-pod network namespaces, kubelet's rshared root) stays in it, and tmpfs
  mounts over /run, /var/lib and /var/log take the paths those programs write without a setting
  (containerd's shim sockets under /run/containerd, the CNI cache under /var/lib/cni, kubelet's
  /var/log/containers links) away from the host's filesystem.

Both namespaces die with their last process: `down` kills every process in them (e2e/hoststate.py
finds them by the namespace's inode, recorded here), and nothing of them is left on the host.

The test process reaches the network namespace through `Netns.call(fn)`, which runs `fn` in a thread
that has entered it (a socket belongs to the namespace it was made in), and from the host through the
API server forwarder (e2e/nsforward.py).
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

from e2e.processes import ClusterError, _alive

NODE_IP = "10.250.0.1"
NODE_PREFIX = 24
CLONE_NEWNET = 0x40000000
T = TypeVar("T")
# Inside the private mount namespace only: paths the node's programs write without a setting for them.
TMPFS = ("/run", "/var/lib", "/var/log")


def _tool(name: str) -> str:
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}", f"/sbin/{name}")
                                       if os.path.exists(p)), None)
    if path is None:
        raise ClusterError(f"{name} is not installed (Debian package util-linux / iproute2; .ci/run installs it)")
    return path


def holder_command() -> list[str]:
    """The holder: new network and mount namespaces (private propagation), the tmpfs mounts and the
    network set up from inside, then `sleep infinity` keeps them alive."""
    mounts = "; ".join(f"mount -t tmpfs -o mode=0755 cache-patterns-node {p}" for p in TMPFS)
    ip = _tool("ip")
    setup = (f"set -e; {mounts}; {ip} link set lo up; "
             f"{ip} link add eth0 type veth peer name eth0-peer; "
             f"{ip} addr add {NODE_IP}/{NODE_PREFIX} dev eth0; {ip} link set eth0 up; {ip} link set eth0-peer up; "
             "exec sleep infinity")
    return [_tool("unshare"), "--net", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", setup]


@dataclass(frozen=True)
class Netns:
    """The namespaces of one holder process (its state entry: pid and start time)."""

    holder: dict

    @property
    def pid(self) -> int:
        return self.holder["pid"]

    @property
    def net_path(self) -> str:
        return f"/proc/{self.pid}/ns/net"

    def inode(self, kind: str = "net") -> int:
        return os.stat(f"/proc/{self.pid}/ns/{kind}").st_ino

    def alive(self) -> bool:
        return _alive(self.holder)

    def wrap(self, cmd: Sequence[str], mount: bool = True) -> list[str]:
        """`cmd` run inside the namespaces (the mount namespace too unless `mount` is False)."""
        if not self.alive():
            raise ClusterError(f"the node's namespace holder (pid {self.pid}) is gone")
        return [_tool("nsenter"), f"--target={self.pid}", "--net", *(["--mount"] if mount else []), "--", *cmd]

    def run(self, *cmd: str, check: bool = True, timeout: float = 60, input: str | None = None,
            mount: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.wrap(cmd, mount), capture_output=True, text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise ClusterError(f"{' '.join(cmd)} (in the node's namespaces) failed (exit {proc.returncode}):\n"
                               f"{proc.stderr.strip()}{proc.stdout.strip()}")
        return proc

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run `fn` in a thread inside the network namespace (sockets it opens live there)."""
        with concurrent.futures.ThreadPoolExecutor(1, initializer=_enter, initargs=(self.net_path,)) as pool:
            return pool.submit(fn, *args, **kwargs).result()

    def executor(self, workers: int = 4) -> concurrent.futures.ThreadPoolExecutor:
        """A pool whose threads are inside the network namespace (for work beside a test, e.g. a
        writer counting acknowledged writes while the test deletes a pod)."""
        return concurrent.futures.ThreadPoolExecutor(workers, initializer=_enter, initargs=(self.net_path,))


def setns(path: str) -> None:
    """Move the calling thread into the network namespace at `path` (setns(2); Python's os.setns
    needs 3.12)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


_enter = setns


def routes(ns: Netns) -> list[str]:
    """Every IPv4 route of the namespace (the test that nothing leaves it reads these)."""
    return [line.strip() for line in ns.run("ip", "-4", "route", "show", "table", "all", mount=False).stdout.splitlines()
            if line.strip()]
