"""The processes of the local cluster (e2e/cluster.py) and what they hold: each component runs in its
own process group, recorded in <state>/state.json with its PID and start time as soon as it is
spawned, so `down` stops whole groups and never signals a stranger that reused a PID; its output
goes to <state>/logs/<name>.log. Also the ports the components listen on, checked before anything
starts, and ClusterError, the one error of every cluster module (defined here, at the bottom of
their imports).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Sequence

# Offsets from the API server's port, in start order.
PORTS = {"kube-apiserver": 0, "etcd": 1, "etcd-peer": 2, "kube-controller-manager": 3, "kube-scheduler": 4,
         "kwok": 5}


class ClusterError(RuntimeError):
    """The cluster could not be started or reached; the message says which component and why."""


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


def _stop_group(entry: dict, term_timeout: float) -> None:
    """TERM to the process's group, KILL after `term_timeout` seconds; an error if it survives."""
    if not _alive(entry):
        return
    pid = entry["pid"]
    for sig, wait in ((signal.SIGTERM, term_timeout), (signal.SIGKILL, 5.0)):
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
