"""Which binaries the live tests run, and their versions: the pinned toolchain's builds where they
are built (`./run toolchain`: Valkey and HAProxy of the versions the stacks ship, redis_exporter),
else Debian's packages (Redis 7.0, HAProxy 2.6). Every figure a live test or benchmark reports names
the versions `versions()` returns."""
from __future__ import annotations

import functools
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

SYSTEM_DIRS = ("/usr/local/bin", "/usr/bin", "/usr/sbin", "/bin", "/sbin")


@functools.lru_cache(maxsize=None)
def toolchain_bin(tool: str) -> Path | None:
    """The toolchain's bin dir of `tool` when it is pinned and built here, else None. A developer's own
    build of the pinned source can stand in: CACHE_PATTERNS_TOOL_<TOOL> (e.g. CACHE_PATTERNS_TOOL_VALKEY_9)
    names its bin dir; the versions every figure reports come from the binaries themselves."""
    override = os.environ.get("CACHE_PATTERNS_TOOL_" + tool.upper().replace("-", "_"))
    if override:
        return Path(override) if Path(override).is_dir() else None
    from e2e import toolchain

    try:
        toolchain._load_recipes()
        if tool not in toolchain.RECIPES or tool not in toolchain.pins() or not toolchain.is_built(tool):
            return None
        return toolchain.bin_dir(tool)
    except (OSError, KeyError, ValueError):
        return None


def _first(*paths: Path | str | None) -> str | None:
    for p in paths:
        if p is not None and os.path.exists(p):
            return str(p)
    return None


def _open_to_all(path: str) -> bool:
    """Whether any user can run `path` (every directory above it searchable by others)."""
    p = Path(os.path.realpath(path))
    if not p.stat().st_mode & stat.S_IXOTH:
        return False
    return all(d.stat().st_mode & stat.S_IXOTH for d in p.parents)


def accessible(path: str, scratch: Path) -> str:
    """`path`, or a copy of it in `scratch` when the pods' user could not run it (the toolchain's
    cache lives in root's home, which other users cannot enter). A copy keeps the program's own
    name last in its file name; callers link it under the names the image uses."""
    if _open_to_all(path):
        return path
    real = Path(os.path.realpath(path))
    dest = scratch / f"{real.parent.parent.name}-{real.name}"
    if not dest.exists():
        scratch.mkdir(parents=True, exist_ok=True)
        scratch.chmod(0o755)
        shutil.copy2(real, dest)
        dest.chmod(0o755)
    return str(dest)


def search_path() -> str:
    """PATH for scripts run with this machine's shell: the toolchain's engines before the system's."""
    dirs = [str(d) for d in (toolchain_bin("valkey"), toolchain_bin("haproxy")) if d is not None]
    return ":".join(dirs + list(SYSTEM_DIRS))


def which(name: str) -> str | None:
    """A program of this machine: the toolchain's engines first, then PATH and the system dirs."""
    dirs = [toolchain_bin(t) for t in ("valkey", "haproxy")]
    return _first(*(d / name for d in dirs if d is not None), shutil.which(name),
                  *(f"{d}/{name}" for d in SYSTEM_DIRS))


def engine_program(kind: str) -> str | None:
    """The engine's `server`, `cli`, `sentinel`, ...: Valkey's from the toolchain, else Redis's."""
    valkey = toolchain_bin("valkey")
    return _first(valkey / f"valkey-{kind}" if valkey else None, which(f"redis-{kind}"))


def haproxy() -> str | None:
    return which("haproxy")


def exporter() -> str | None:
    d = toolchain_bin("redis_exporter")
    return _first(d / "redis_exporter" if d else None)


def _version(cmd: list[str], pattern: str) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    m = re.search(pattern, out.stdout + out.stderr)
    return m.group(1) if m else None


@functools.lru_cache(maxsize=None)
def versions() -> dict[str, str]:
    """{"engine": "Valkey 8.1.1", "haproxy": "HAProxy 3.0.11", ...} of what the live tests run."""
    out: dict[str, str] = {}
    server = engine_program("server")
    if server:
        v = _version([server, "--version"], r"v=(\S+)")
        name = "Valkey" if Path(server).name.startswith("valkey") else "Redis"
        out["engine"] = f"{name} {v}"
    hap = haproxy()
    if hap:
        v = _version([hap, "-v"], r"version (\S+)")
        out["haproxy"] = f"HAProxy {v}"
    exp = exporter()
    if exp:
        v = _version([exp, "--version"], r"Exporter (v\S+)")
        out["exporter"] = f"redis_exporter {v}"
    return out
