"""Run one rendered container as its pod would, on this machine, without a container runtime.

- The command line is the rendered one: `command` + `args` (or the image's ENTRYPOINT), with the
  kubelet's `$(VAR)` expansion from the container's env (downward API fields given here).
- Programs come from the image (image_root.ImageRoot): argv[0] is resolved in the image's filesystem
  with the image's PATH, never this machine's, and PATH in the process is the image's.
- Volumes: each mountPath is a directory of this machine (given per volume name); container paths in
  argv and env are rewritten to them. That rewriting is the only change to the command line.
- Network: the container gets a network namespace of its own (`ip netns`) with its own loopback, as
  a pod has: it listens on its own ports and reaches "its pod's" Redis at 127.0.0.1:<the rendered
  port>, which socat forwards (through a unix socket, which crosses namespaces) to the live server.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from testbed.image_root import ImageRoot

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(value: str, env: dict[str, str]) -> str:
    """The kubelet's $(VAR) expansion (an unknown variable stays as written; `$$` is a `$`)."""
    value = value.replace("$$", "\0")
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), value).replace("\0", "$")


@dataclass
class Container:
    """A rendered container, ready to run: argv and env as the pod has them, then mapped here."""

    spec: dict
    image: ImageRoot
    volumes: dict[str, Path]                  # volume name -> directory of this machine
    fields: dict[str, str] = field(default_factory=dict)   # downward API: fieldPath -> value

    def env(self) -> dict[str, str]:
        """The container's env as the kubelet builds it, in order, with paths under mounts mapped."""
        out: dict[str, str] = {}
        for e in self.spec.get("env") or []:
            if "value" in e:
                out[e["name"]] = expand(e["value"], out)
            elif "valueFrom" not in e:
                out[e["name"]] = ""   # the kubelet sets a variable without a value to the empty string
            elif "fieldRef" in (e.get("valueFrom") or {}):
                out[e["name"]] = self.fields[e["valueFrom"]["fieldRef"]["fieldPath"]]
            else:
                raise AssertionError(f"env {e['name']}: only values and downward API fields are expected here")
        return {k: self.map_path(v) for k, v in out.items()} | {"PATH": self.image.path_env()}

    def argv(self) -> list[str]:
        """The command line: resolved in the image, container paths mapped."""
        kube_env = {e["name"]: e.get("value", "") for e in self.spec.get("env") or []}
        if self.spec.get("command"):
            words = list(self.spec["command"]) + list(self.spec.get("args") or [])
        else:
            words = list(self.image.facts.entrypoint) + list(self.spec.get("args") or self.image.facts.cmd)
        words = [expand(w, kube_env) for w in words]
        program = self.image.resolve(words[0])
        if program is None:
            return ["/bin/sh", "-c", f"echo '{words[0]}: not found' >&2; exit 127"]
        return [program] + [self.map_path(w) for w in words[1:]]

    def map_path(self, value: str) -> str:
        for m in sorted(self.spec.get("volumeMounts") or [], key=lambda m: -len(m["mountPath"])):
            mount = m["mountPath"].rstrip("/")
            if value == mount or value.startswith(mount + "/"):
                return str(self.volumes[m["name"]]) + value[len(mount):]
        return value


class PodNetwork:
    """A network namespace with its own loopback; ports inside it forwarded to and from this
    machine's loopback through unix sockets (socat)."""

    def __init__(self, workdir: Path) -> None:
        self.name = f"cpx-{uuid.uuid4().hex[:10]}"
        self.workdir = workdir
        self.procs: list[subprocess.Popen] = []
        # Absolute: the processes started here get the image's PATH, not this machine's.
        self.ip = shutil.which("ip") or "/usr/sbin/ip"
        subprocess.run([self.ip, "netns", "add", self.name], check=True)
        subprocess.run([self.ip, "-n", self.name, "link", "set", "lo", "up"], check=True)

    def _socat(self, inside: bool, *args: str) -> None:
        prefix = [self.ip, "netns", "exec", self.name] if inside else []
        self.procs.append(subprocess.Popen([*prefix, shutil.which("socat") or "socat", *args],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           start_new_session=True))

    def forward_in(self, port: int, host_port: int) -> None:
        """127.0.0.1:port inside the namespace reaches 127.0.0.1:host_port on this machine."""
        sock = self.workdir / f"in-{port}.sock"
        self._socat(False, f"UNIX-LISTEN:{sock},fork,unlink-early", f"TCP:127.0.0.1:{host_port}")
        _wait_for(sock)
        self._socat(True, f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork", f"UNIX-CONNECT:{sock}")

    def expose(self, port: int) -> Path:
        """A unix socket on this machine that reaches 127.0.0.1:port inside the namespace."""
        sock = self.workdir / f"out-{port}.sock"
        self._socat(True, f"UNIX-LISTEN:{sock},fork,unlink-early,mode=600", f"TCP:127.0.0.1:{port}")
        _wait_for(sock)
        return sock

    def popen(self, argv: list[str], **kwargs: object) -> subprocess.Popen:
        proc = subprocess.Popen([self.ip, "netns", "exec", self.name, *argv], **kwargs)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        subprocess.run([self.ip, "netns", "delete", self.name], check=False)


def _wait_for(path: Path, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.02)


def http_get(sock: Path, path: str, timeout: float = 3) -> tuple[int, str]:
    """GET `path` over a unix socket (HTTP/1.0); (status, body)."""
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: pod\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body.decode(errors="replace")


def can_run() -> str | None:
    """Why pods cannot be run here (None: they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "socat", "setpriv"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"{tool} is not installed"
    return None
