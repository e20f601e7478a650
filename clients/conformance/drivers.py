"""The driver of each client: a small program that reads requests as JSON lines on stdin and answers on
stdout (README.md, "Driver protocol"). `start(lang, root)` builds the client of the tree at `root` once
(Go: `go build`, TypeScript: `tsc`, offline: the modules come from the caches `.ci/run` filled) and
starts its driver. Requests run concurrently inside a driver, so one can be paused at a hook while
others go on.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

LANGUAGES = ("python", "typescript", "go")
_built: Dict[Tuple[str, str], List[str]] = {}
_build_lock = threading.Lock()


class ClientError(Exception):
    """The client under test raised: `kind` is its error class, named alike in every driver
    (L2Unavailable, ConfigurationError, TypeError, ValueError, LoaderError)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind, self.message = kind, message


class BuildError(RuntimeError):
    pass


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: Optional[str]) -> Optional[bytes]:
    return None if text is None else base64.b64decode(text)


def _run(cmd: List[str], cwd: Path, env: Optional[Dict[str, str]] = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} in {cwd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")


def missing_tool(lang: str) -> Optional[str]:
    """Why `lang`'s driver cannot be built here (None: it can)."""
    need = {"python": [], "typescript": ["node", "npm"], "go": ["go"]}[lang]
    for tool in need:
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def command(lang: str, root: Path) -> List[str]:
    """The argv that starts `lang`'s driver for the client sources under `root` (built once per root)."""
    key = (lang, str(root))
    with _build_lock:
        if key not in _built:
            _built[key] = _build(lang, root)
        return _built[key]


def _build(lang: str, root: Path) -> List[str]:
    if lang == "python":
        return [sys.executable, str(root / "clients" / "python" / "driver.py")]
    if lang == "go":
        src = root / "clients" / "go"
        out = src / ".build" / "conformance-driver"
        # -mod=readonly and GOPROXY=off: the modules come from the cache `.ci/run` filled, or the build fails.
        _run(["go", "build", "-o", str(out), "./cmd/conformance-driver"], src,
             {"GOFLAGS": "-mod=readonly", "GOPROXY": "off", "GOTOOLCHAIN": "local"})
        return [str(out)]
    if lang == "typescript":
        src = root / "clients" / "typescript"
        if not (src / "node_modules" / "ioredis").is_dir():
            raise BuildError(f"{src}/node_modules is missing: run `npm ci --offline` there (.ci/run does)")
        _run(["npm", "run", "--silent", "build:test"], src)
        return ["node", str(src / "dist" / "test" / "conformance" / "driver.js")]
    raise ValueError(f"unknown language {lang!r}; one of {', '.join(LANGUAGES)}")


class Driver:
    """One running driver: one pod's client. `call` waits for the answer; `send` does not."""

    def __init__(self, lang: str, root: Path, name: str, extra_args: Tuple[str, ...] = ()) -> None:
        self.lang, self.name, self.extra_args = lang, name, tuple(extra_args)
        env = dict(os.environ)
        if lang == "python":
            env["PYTHONPATH"] = os.pathsep.join([str(root / "clients" / "python" / "src"), env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(command(lang, root) + list(extra_args), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self._next = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._answers: Dict[int, Dict[str, Any]] = {}
        self._events: Dict[int, List[str]] = {}
        self._stderr: List[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                self._stderr.append(b"(stdout, not JSON) " + line)
                continue
            with self._cond:
                if "event" in message:
                    self._events.setdefault(message["id"], []).append(message["event"])
                else:
                    self._answers[message["id"]] = message
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)
            del self._stderr[:-50]

    def stderr(self) -> str:
        return b"".join(self._stderr).decode(errors="replace")[-4000:]

    def send(self, op: str, **args: Any) -> int:
        with self._lock:
            self._next += 1
            rid = self._next
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write((json.dumps({"id": rid, "op": op, **args}) + "\n").encode())
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise AssertionError(f"driver {self.name} ({self.lang}) is gone: {exc}\n{self.stderr()}") from exc
        return rid

    def _wait(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"driver {self.name} ({self.lang}): no {what} within {timeout}s\n{self.stderr()}")
                if self.proc.poll() is not None:
                    raise AssertionError(f"driver {self.name} ({self.lang}) exited {self.proc.returncode} "
                                         f"waiting for {what}\n{self.stderr()}")
                self._cond.wait(min(left, 0.1))

    def result(self, rid: int, timeout: float = 10.0) -> Any:
        self._wait(lambda: rid in self._answers, timeout, f"answer to request {rid}")
        answer = self._answers.pop(rid)
        if not answer.get("ok"):
            error = answer.get("error") or {}
            raise ClientError(str(error.get("type")), str(error.get("message")))
        return answer.get("result")

    def wait_event(self, rid: int, event: str, timeout: float = 5.0) -> None:
        self._wait(lambda: event in self._events.get(rid, ()), timeout, f"event {event!r} of request {rid}")

    def call(self, op: str, timeout: float = 10.0, **args: Any) -> Any:
        return self.result(self.send(op, **args), timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call("close", timeout=5.0)
            except (AssertionError, ClientError):
                pass
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=3)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=3)


class Pool:
    """Drivers kept running between scenarios (starting one costs up to a second: the runtime, the
    Redis library): a scenario takes one per pod, opens a fresh client in it and gives it back closed.
    A driver whose scenario failed is stopped instead, since its state is unknown."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.idle: Dict[Tuple[str, Tuple[str, ...]], List[Driver]] = {}
        self.lock = threading.Lock()

    def take(self, lang: str, name: str, extra_args: Tuple[str, ...] = ()) -> Driver:
        with self.lock:
            idle = self.idle.get((lang, extra_args), [])
            while idle:
                driver = idle.pop()
                if driver.proc.poll() is None:
                    driver.name = name
                    return driver
        return Driver(lang, self.root, name, extra_args)

    def give(self, driver: Driver, healthy: bool) -> None:
        if healthy and driver.proc.poll() is None:
            try:
                driver.call("close", timeout=5.0)
            except (AssertionError, ClientError):
                healthy = False
        if not healthy:
            driver.close()
            return
        with self.lock:
            self.idle.setdefault((driver.lang, driver.extra_args), []).append(driver)

    def close(self) -> None:
        with self.lock:
            drivers = [d for idle in self.idle.values() for d in idle]
            self.idle.clear()
        for driver in drivers:
            driver.close()
