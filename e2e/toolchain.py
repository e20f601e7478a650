"""Build the pinned toolchain once per machine, into a cache outside the repo keyed by the pins.

    python -m e2e.toolchain [build] [TOOL ...]   build what is missing (all tools by default), two
                                                 at a time (CACHE_PATTERNS_TOOLCHAIN_JOBS: how many)
    python -m e2e.toolchain path TOOL            print the tool's bin directory (built or not)
    python -m e2e.toolchain list                 every tool, its pin, key and whether it is built
    python -m e2e.toolchain verify [TOOL ...]    download each pinned Go module into an empty module
                                                 cache and check it against its pin (sum, commit)

A recipe is a function registered with `@recipe("<tool>")` in a module of `e2e/recipes/`; it reads
its table of `e2e/pins.toml` from `build.pin` and writes binaries to `build.bin`. The framework
times each build, retries downloads, installs atomically (a half-built tool is never used) and
serialises concurrent builds of one tool with a file lock.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib
import inspect
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

HERE = Path(__file__).resolve().parent
PINS = HERE / "pins.toml"
RECIPES: dict[str, Callable[["Build"], None]] = {}
# Folders of this repository a recipe builds from (its own Go code): their files are part of its key.
SOURCES: dict[str, tuple[Path, ...]] = {}


class ToolchainError(RuntimeError):
    """A build step failed; the message names the tool and, for downloads, the module and version."""


def recipe(tool: str, sources: Sequence[str] = ()) -> Callable[[Callable[["Build"], None]], Callable[["Build"], None]]:
    """Register a recipe. `sources`: folders of the repository (relative to its root) the recipe
    builds from; a change to any file in them rebuilds the tool."""
    def register(fn: Callable[["Build"], None]) -> Callable[["Build"], None]:
        if tool in RECIPES:
            raise ToolchainError(f"two recipes for {tool!r}")
        RECIPES[tool] = fn
        SOURCES[tool] = tuple(HERE.parent / s for s in sources)
        return fn
    return register


def _sources_digest(tool: str) -> str:
    h = hashlib.sha256()
    for folder in SOURCES.get(tool, ()):
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(HERE.parent)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _load_recipes() -> None:
    for mod in pkgutil.iter_modules([str(HERE / "recipes")]):
        importlib.import_module(f"e2e.recipes.{mod.name}")


def pins() -> dict[str, dict]:
    with PINS.open("rb") as f:
        return tomllib.load(f).get("tools", {})


def cache_root() -> Path:
    base = os.environ.get("CACHE_PATTERNS_CACHE") or str(Path.home() / ".cache" / "cache-patterns")
    return Path(base) / "toolchain"


def key(tool: str) -> str:
    """Hash of the tool's pin table, its recipe's source and the repository sources it builds from:
    a change to any of them rebuilds it."""
    if tool not in RECIPES:   # called from tests and e2e code that never ran main()
        _load_recipes()
    fn = RECIPES[tool]
    payload = json.dumps(pins()[tool], sort_keys=True) + inspect.getsource(sys.modules[fn.__module__])
    if SOURCES.get(tool):
        payload += _sources_digest(tool)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def tool_dir(tool: str) -> Path:
    return cache_root() / f"{tool}-{key(tool)}"


def bin_dir(tool: str) -> Path:
    return tool_dir(tool) / "bin"


def is_built(tool: str) -> bool:
    return (tool_dir(tool) / ".complete").exists()


@dataclass
class Build:
    tool: str
    pin: dict
    out: Path      # the tool's staging directory; renamed to its final place when the recipe returns
    work: Path     # scratch space, deleted afterwards
    env: dict = field(default_factory=dict)   # set for every command (verify: an empty GOMODCACHE)

    @property
    def bin(self) -> Path:
        return self.out / "bin"

    def log(self, msg: str) -> None:
        print(f"  [{self.tool}] {msg}", flush=True)

    def run(self, cmd: Sequence[str], cwd: Path | None = None, env: dict | None = None,
            what: str | None = None, retries: int = 0, capture: bool = False) -> str:
        """Run a command (niced: builds share the machine with timing-sensitive tests).

        `retries` re-runs a failing command (downloads); the error names `what` (module@version).
        """
        full_env = {**os.environ, **self.env, **(env or {})}
        for attempt in range(retries + 1):
            proc = subprocess.run(["nice", "-n", "10", *cmd], cwd=cwd, env=full_env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if proc.returncode == 0:
                return proc.stdout if capture else ""
            if attempt < retries:
                self.log(f"retrying ({attempt + 1}/{retries}) after: {proc.stdout.strip()[-300:]}")
                time.sleep(5 * (attempt + 1))
        raise ToolchainError(f"{self.tool}: {what or ' '.join(cmd)} failed (exit {proc.returncode}):\n"
                             f"{proc.stdout.strip()[-4000:]}")

    def go_download(self, module: str, version: str) -> dict:
        """`go mod download -json module@version` with retries; returns its JSON (Dir, Sum, ...).

        Where the pin names a `sum` (the module's `h1:` hash) or a `commit`, the download is checked
        against them (`verify_module`)."""
        out = self.run(["go", "mod", "download", "-json", f"{module}@{version}"], cwd=self.work,
                       what=f"download of Go module {module}@{version}", retries=3, capture=True)
        info = json.loads(out)
        if self.pin.get("module") == module and self.pin.get("version") == version:
            verify_module(self.tool, self.pin, info)
        return info


def pseudo_version_commit(version: str) -> str | None:
    """The commit prefix a pseudo-version carries (`v4.0.0-20260115033456-f47bc2d6f199` ->
    `f47bc2d6f199`), None for a release version."""
    m = re.search(r"(?:^|[.-])\d{14}-([0-9a-f]{12})(?:\+incompatible)?$", version)
    return m.group(1) if m else None


def verify_module(tool: str, pin: dict, info: dict) -> None:
    """Check a downloaded module against its pin with what the module proxy always gives.

    The proxy's `.info` carries an `Origin` (with the commit hash) only sometimes, so a pin is checked
    against the module's `h1:` sum (`go mod download -json` always reports it, verified against the
    checksum database) and, for a pseudo-version, against the commit prefix the version itself names.
    """
    where = f"{tool}: {pin['module']}@{pin['version']}"
    if "sum" in pin and info.get("Sum") != pin["sum"]:
        raise ToolchainError(f"{where} has sum {info.get('Sum')}, the pin says {pin['sum']}")
    if "commit" in pin:
        carried = pseudo_version_commit(pin["version"])
        if carried is None:
            raise ToolchainError(f"{where}: the pin names commit {pin['commit']}, but {pin['version']} is "
                                 "not a pseudo-version carrying one")
        if not pin["commit"].startswith(carried):
            raise ToolchainError(f"{where} names commit {carried}, the pin says {pin['commit']}")
        origin = (info.get("Origin") or {}).get("Hash")
        # Only where the proxy gave one (it may not); it is the full hash, the pin a prefix of it.
        if origin and not origin.startswith(pin["commit"]):
            raise ToolchainError(f"{where} is commit {origin}, the pin says {pin['commit']}")


def verify(tools: Sequence[str]) -> list[str]:
    """Download each tool's pinned Go module into a new, empty module cache (GOMODCACHE), as on a new
    machine, and check it against its pin (`verify_module`: the h1: sum, the pseudo-version's commit).
    Returns what was verified; raises ToolchainError naming the tool on a mismatch or failed download."""
    done: dict[tuple[str, str], list] = {}   # module, version -> [tools, sum, what was checked]
    with tempfile.TemporaryDirectory(prefix="cp-gomodcache-") as tmp:
        cache = Path(tmp) / "mod"
        env = {"GOMODCACHE": str(cache), "GOFLAGS": "-modcacherw"}   # writable: the folder is removed after
        for tool in tools:
            pin = pins()[tool]
            if "module" not in pin:
                continue
            if "sum" not in pin:
                raise ToolchainError(f"{tool}: the pin of {pin['module']} names no sum (its h1: hash)")
            seen = done.get((pin["module"], pin["version"]))
            if seen:   # one module, several tools (k8s.io/kubernetes: the control plane and the kubelet)
                if pin["sum"] != seen[1]:
                    raise ToolchainError(f"{tool}: {pin['module']}@{pin['version']} pinned with sum {pin['sum']}, "
                                         f"{seen[0][0]} pins {seen[1]}")
                seen[0].append(tool)
                continue
            work = Path(tmp) / tool
            work.mkdir()
            info = Build(tool, pin, out=work, work=work, env=env).go_download(pin["module"], pin["version"])
            if not Path(info["Dir"]).is_relative_to(cache):
                raise ToolchainError(f"{tool}: {pin['module']} came from {info['Dir']}, not the empty module cache")
            origin = "with" if (info.get("Origin") or {}).get("Hash") else "without"
            done[pin["module"], pin["version"]] = [[tool], pin["sum"],
                                                   f"{pin['module']}@{pin['version']} {info['Sum']} ({origin} the proxy's Origin hash)"]
    return [f"{', '.join(names)}: {what}" for names, _, what in done.values()]


def build(tool: str) -> float | None:
    """Build one tool unless its cache entry exists; returns the seconds it took (None: cached)."""
    if is_built(tool):
        print(f"{tool}: cached ({tool_dir(tool)})", flush=True)
        return None
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with (root / f".{tool}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_built(tool):   # another process built it while we waited
            return None
        final = tool_dir(tool)
        staging = root / f".{final.name}.staging"
        work = root / f".{final.name}.work"
        for d in (staging, work):
            shutil.rmtree(d, ignore_errors=True)
        (staging / "bin").mkdir(parents=True)
        work.mkdir(parents=True)
        print(f"{tool}: building {json.dumps(pins()[tool], sort_keys=True)}", flush=True)
        start = time.monotonic()
        try:
            RECIPES[tool](Build(tool, pins()[tool], staging, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        took = time.monotonic() - start
        (staging / ".complete").write_text(json.dumps({"seconds": round(took, 1), "pin": pins()[tool]}))
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        print(f"{tool}: built in {took:.0f} s -> {final / 'bin'}", flush=True)
        return took


# The longest cold builds start first, so the pool's last minutes are not one long build alone.
# (Seconds on a quiet 2-core machine, docs/e2e.md; a tool not named here starts after these.)
LONGEST_FIRST = ("pulumi-resource-kubernetes", "pulumi", "kubernetes", "kubelet", "valkey", "haproxy",
                 "valkey-9", "cert-manager", "kube-router", "checkov")


def jobs() -> int:
    """How many tools build at once: 2 by default. A Go build keeps both cores busy while it
    compiles, but its module downloads, its single-threaded link and a C build's configure and
    install steps do not; a second build fills those gaps (docs/e2e.md, "Time")."""
    value = os.environ.get("CACHE_PATTERNS_TOOLCHAIN_JOBS", "2")
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"CACHE_PATTERNS_TOOLCHAIN_JOBS={value!r}: a whole number of at least 1")
    return int(value)


def build_all(tools: Sequence[str], workers: int) -> dict[str, ToolchainError]:
    """Build `tools`, `workers` at a time, longest first; the failures by tool. After the first
    failure no new build starts (the running ones finish: a half-built tool is never installed)."""
    order = sorted(tools, key=lambda t: LONGEST_FIRST.index(t) if t in LONGEST_FIRST else len(LONGEST_FIRST))
    failed: dict[str, ToolchainError] = {}
    stop = threading.Event()

    def one(tool: str) -> None:
        if stop.is_set():
            return
        try:
            build(tool)
        except ToolchainError as e:
            failed[tool] = e
            stop.set()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="build") as pool:
        for future in [pool.submit(one, t) for t in order]:
            future.result()   # anything but a ToolchainError is a bug: raise it
    return failed


def main(argv: list[str]) -> int:
    _load_recipes()
    cmd = argv[0] if argv else "build"
    args = argv[1:]
    if cmd not in ("build", "path", "list", "verify") and cmd in RECIPES:
        cmd, args = "build", argv
    unknown = [t for t in args if t not in RECIPES]
    missing_pins = sorted(set(RECIPES) - set(pins()))
    if unknown or missing_pins:
        print(f"unknown tool(s) {unknown}; tools without a pin {missing_pins}; known: {sorted(RECIPES)}",
              file=sys.stderr)
        return 2
    if cmd == "path":
        if len(args) != 1:
            print("usage: python -m e2e.toolchain path TOOL", file=sys.stderr)
            return 2
        print(bin_dir(args[0]))
        return 0
    if cmd == "list":
        for t in sorted(RECIPES):
            print(f"{t:28} {'built' if is_built(t) else 'missing':8} {key(t)}  {json.dumps(pins()[t], sort_keys=True)}")
        return 0
    total = time.monotonic()
    if cmd == "verify":
        try:
            for line in verify(args or sorted(RECIPES)):
                print(f"verified {line}", flush=True)
        except ToolchainError as e:
            print(f"toolchain: {e}", file=sys.stderr)
            return 1
        print(f"toolchain: pinned Go modules verified on an empty module cache in {time.monotonic() - total:.0f} s")
        return 0
    failed = build_all(args or sorted(RECIPES), jobs())
    for tool, error in failed.items():
        print(f"toolchain: {error}", file=sys.stderr)
    if failed:
        return 1
    print(f"toolchain: ready in {time.monotonic() - total:.0f} s (cache {cache_root()})", flush=True)
    return 0


if __name__ == "__main__":
    # Run as `python -m e2e.toolchain`, this file is `__main__`; recipes register with the module
    # they import, `e2e.toolchain`, so main must be that module's, or it sees no recipe.
    from e2e import toolchain
    sys.exit(toolchain.main(sys.argv[1:]))
