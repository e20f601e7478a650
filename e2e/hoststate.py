"""What a real node (e2e/node.py) changes on the host, recorded at `up` and undone at `down`.

Most of a node's changes never reach the host: its iptables chains, ip_forward and the other
network sysctls belong to the network namespace the run creates, its mounts to the private mount
namespace (e2e/netns.py). What remains global:

- **cgroups**: kubelet's `cgroupRoot` (one directory per hierarchy, made here) and everything kubelet
  and runc create below it (kubepods, QoS classes, pods, containers);
- **kernel sysctls** kubelet sets at start (kernel.panic, kernel.panic_on_oops, vm.overcommit_memory,
  ...): read before kubelet starts, compared once the node is Ready, the changed ones recorded.

`undo()` kills whatever still runs in the node's cgroups and namespaces, removes the cgroups
bottom-up and writes each changed sysctl back (unless something else changed it since).
`snapshot()` reads everything a node could touch, namespaced or not (sysctls, cgroups, mounts,
iptables of both backends, network devices, the well-known state paths), for the test that proves
the host is as it was after `down`.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from e2e.processes import ClusterError, _start_time

CGROUP_FS = Path("/sys/fs/cgroup")
# Global (not per network namespace) sysctl folders kubelet and the runtime could write.
SYSCTL_DIRS = ("kernel", "vm", "fs", "user")
# Values the kernel changes by itself.
VOLATILE = {"kernel/ns_last_pid", "kernel/random/boot_id", "kernel/random/uuid", "fs/dentry-state",
            "fs/inode-nr", "fs/inode-state", "fs/file-nr", "kernel/random/entropy_avail",
            "fs/binfmt_misc/status", "kernel/tainted", "fs/quota", "vm/stat_refresh"}
# The host network namespace's own forwarding and bridge settings: a node inside its namespace must
# not touch them (the snapshot proves it).
HOST_NET_SYSCTLS = ("net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding", "net/ipv4/conf/all/route_localnet",
                    "net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables")
STATE_PATHS = ("/run/containerd", "/run/netns", "/var/run/netns", "/var/lib/cni", "/var/lib/kubelet",
               "/var/lib/containerd", "/var/log/pods", "/var/log/containers", "/etc/cni", "/opt/cni",
               "/etc/kubernetes", "/run/nri", "/var/run/nri")


# --- cgroups ----------------------------------------------------------------------------------

def hierarchies() -> list[Path]:
    """The mounted cgroup hierarchies (v1: one folder per controller; v2: the unified root)."""
    if (CGROUP_FS / "cgroup.controllers").exists():
        return [CGROUP_FS]
    return sorted(p for p in CGROUP_FS.iterdir() if p.is_dir() and not p.is_symlink() and (p / "cgroup.procs").exists())


def make_cgroup_root(name: str) -> list[str]:
    """kubelet's cgroupRoot in every hierarchy (kubelet refuses a root that does not exist)."""
    made = []
    for h in hierarchies():
        path = h / name
        if not path.exists():
            path.mkdir()
            made.append(str(path))
    return made


def _cgroup_pids(name: str) -> set[int]:
    pids: set[int] = set()
    for h in hierarchies():
        root = h / name
        if root.is_dir():
            for procs in root.rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(p) for p in procs.read_text().split())
    return pids


def remove_cgroups(name: str, timeout: float = 20) -> list[str]:
    """Every cgroup under `name`, leaves first; returns those that could not be removed."""
    deadline = time.monotonic() + timeout
    left: list[str] = []
    while True:
        left = []
        for h in hierarchies():
            root = h / name
            if not root.is_dir():
                continue
            for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [root]:
                try:
                    d.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(str(d))
        if not left or time.monotonic() > deadline:
            return left
        for pid in _cgroup_pids(name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)


# --- processes in the node's namespaces ------------------------------------------------------

def processes_in(ns_inode: int, kind: str, started_after: int) -> list[int]:
    """PIDs whose `kind` namespace has this inode and that started after `started_after` (clock
    ticks since boot): the node's processes, even after the holder is gone (containerd's shims run
    in their own sessions)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if os.stat(d / "ns" / kind).st_ino != ns_inode:
                continue
        except OSError:
            continue
        start = _start_time(int(d.name))
        if start is not None and int(start) >= started_after:
            found.append(int(d.name))
    return found


def kill_namespace(ns: dict, timeout: float = 10) -> list[int]:
    """SIGKILL to every process in the node's namespaces (and cgroups); returns survivors."""
    deadline = time.monotonic() + timeout
    while True:
        pids = set(_cgroup_pids(ns["cgroup_root"]))
        for kind in ("net", "mnt"):
            pids.update(processes_in(ns[f"{kind}_inode"], kind, ns["started"]))
        pids.discard(os.getpid())
        if not pids or time.monotonic() > deadline:
            return sorted(pids)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


# --- sysctls ------------------------------------------------------------------------------------

def _sysctl_files() -> list[Path]:
    out = []
    for d in SYSCTL_DIRS:
        for f in (Path("/proc/sys") / d).rglob("*"):
            rel = str(f.relative_to("/proc/sys"))
            with contextlib.suppress(OSError):
                if f.is_file() and rel not in VOLATILE and f.stat().st_mode & 0o600 == 0o600:
                    out.append(f)
    return out


def sysctls() -> dict[str, str]:
    values = {}
    for f in _sysctl_files():
        with contextlib.suppress(OSError):
            values[str(f.relative_to("/proc/sys"))] = f.read_text().strip()
    return values


def changed_sysctls(before: dict[str, str]) -> dict[str, list[str]]:
    now = sysctls()
    return {k: [v, now[k]] for k, v in before.items() if k in now and now[k] != v}


def restore_sysctls(changed: dict[str, list[str]]) -> dict[str, str]:
    """Write back each recorded change whose value is still what the node set; returns the keys
    left alone (someone else changed them since) with their current value."""
    skipped = {}
    for key, (before, after) in changed.items():
        path = Path("/proc/sys") / key
        current = path.read_text().strip()
        if current == before:
            continue
        if current != after:
            skipped[key] = current
            continue
        path.write_text(before + "\n")
    return skipped


# --- the whole picture ------------------------------------------------------------------------

def _out(*cmd: str) -> str:
    if shutil.which(cmd[0]) is None:
        return f"({cmd[0]} not installed)"
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return proc.stdout if proc.returncode == 0 else f"(exit {proc.returncode}: {proc.stderr.strip()})"


def _iptables(save: str) -> list[str]:
    return sorted(line for line in _out(save).splitlines() if line and not line.startswith("#")
                  and not line.startswith("COMMIT"))


# What a node (this one, or one whose programs ran without the namespaces) would leave on the host.
# Other test runs on the machine make their own network namespaces, links and mounts at the same
# time (the live tier's pod networks), so the snapshot keeps only these.
NODE_NAMES = re.compile(r"cache-patterns-node|kube|KUBE|cni|CNI|containerd|k8s\.io|veth|^eth0|/run/netns/cni-|overlay")


def _ours(items) -> list[str]:
    return sorted(i for i in items if NODE_NAMES.search(i))


def snapshot() -> dict:
    """Everything of the host a node could change (for `down` to be checked against)."""
    net = {}
    for key in HOST_NET_SYSCTLS:
        with contextlib.suppress(OSError):
            net[key] = (Path("/proc/sys") / key).read_text().strip()
    mounts = [" ".join(line.split()[3:5] + line.split(" - ")[1].split()[:2])
              for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return {
        "sysctls": sysctls(),
        "net_sysctls": net,
        "cgroups": {str(h): _ours(p.name for p in h.iterdir() if p.is_dir()) for h in hierarchies()},
        "mounts": _ours(mounts),
        "iptables_nft": _ours(_iptables("iptables-save")),
        "iptables_legacy": _ours(_iptables("iptables-legacy-save")),
        "links": _ours(line.split(":")[1].strip().split("@")[0] for line in _out("ip", "-o", "link").splitlines()),
        "netns": _ours(_out("ip", "netns", "list").split()),
        "paths": sorted(p for p in STATE_PATHS if os.path.lexists(p)),
    }


def diff(before: dict, after: dict) -> list[str]:
    """What differs between two snapshots, one line each."""
    out = []
    for key in before:
        a, b = before[key], after.get(key)
        if isinstance(a, dict):
            for k in sorted(set(a) | set(b or {})):
                if a.get(k) != (b or {}).get(k):
                    out.append(f"{key} {k}: {a.get(k)!r} -> {(b or {}).get(k)!r}")
        elif a != b:
            gone, new = sorted(set(a) - set(b or [])), sorted(set(b or []) - set(a))
            out.append(f"{key}: gone {gone[:10]}, new {new[:10]}")
    return out


def undo(node: dict) -> list[str]:
    """Undo a node's host changes from its state entry; returns what could not be undone."""
    problems = []
    survivors = kill_namespace(node)
    if survivors:
        problems.append(f"processes survived SIGKILL: {survivors}")
    left = remove_cgroups(node["cgroup_root"])
    if left:
        problems.append(f"cgroups not removed: {left}")
    skipped = restore_sysctls(node.get("sysctls_changed") or {})
    if skipped:
        problems.append(f"sysctls changed by someone else since, left alone: {skipped}")
    return problems


def require_root() -> None:
    if os.geteuid() != 0:
        raise ClusterError("a real node needs root (namespaces, cgroups, mounts)")
