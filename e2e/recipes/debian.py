"""Valkey and HAProxy from the upstream sources Debian distributes (trixie's orig tarballs).

Debian bookworm ships Redis 7.0 and HAProxy 2.6; the stacks run Valkey 8.1 and HAProxy 3.x. Trixie's
binary packages need a newer libc, and this mirror serves their orig tarballs but not the .dsc /
debian.tar.xz, so we build the upstream source with upstream's own build (bundled jemalloc, like
the official images) and without Debian's patches. The tarball is checked against the sha256 that
trixie's signed Sources index lists (copied into the pin).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import urllib.request
from pathlib import Path

from e2e.toolchain import Build, ToolchainError, recipe


def _missing_packages(packages: list[str]) -> list[str]:
    return [p for p in packages
            if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]


def _fetch_source(build: Build) -> Path:
    pin = build.pin
    missing = _missing_packages(pin["build_packages"])
    if missing:
        raise ToolchainError(f"{build.tool}: Debian build dependencies missing: {' '.join(missing)} "
                             f"(apt-get install {' '.join(missing)}; .ci/run installs them)")
    tarball = build.work / Path(pin["url"]).name
    for attempt in range(4):
        try:
            with urllib.request.urlopen(pin["url"], timeout=120) as resp, tarball.open("wb") as out:
                shutil.copyfileobj(resp, out)
            break
        except OSError as e:
            if attempt == 3:
                raise ToolchainError(f"{build.tool}: download of {pin['url']} (version {pin['version']}) "
                                     f"failed after 4 attempts: {e}") from e
            build.log(f"retrying download after: {e}")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != pin["sha256"]:
        raise ToolchainError(f"{build.tool}: {tarball.name} has sha256 {digest}, the pin says {pin['sha256']}")
    with tarfile.open(tarball) as tf:
        tf.extractall(build.work / "src", filter="data")
    (top,) = (build.work / "src").iterdir()
    return top


@recipe("valkey")
def valkey(build: Build) -> None:
    src = _fetch_source(build)
    jobs = str(max(1, (os.cpu_count() or 2)))
    build.run(["make", f"-j{jobs}", "BUILD_TLS=yes", "USE_SYSTEMD=no", "MALLOC=jemalloc"], cwd=src,
              what=f"make of valkey {build.pin['version']}")
    build.run(["make", "install", f"PREFIX={build.out}", "USE_REDIS_SYMLINKS=yes"], cwd=src,
              what="make install of valkey")
    version = build.run([str(build.bin / "valkey-server"), "--version"], capture=True).strip()
    build.log(version)


@recipe("haproxy")
def haproxy(build: Build) -> None:
    src = _fetch_source(build)
    jobs = str(max(1, (os.cpu_count() or 2)))
    # The options of the official alpine image's build (docker-library/haproxy Dockerfile), minus
    # what needs libraries bookworm lacks at the right version.
    build.run(["make", f"-j{jobs}", "TARGET=linux-glibc", "USE_OPENSSL=1", "USE_PCRE2=1", "USE_PCRE2_JIT=1",
               "USE_LUA=1", "LUA_INC=/usr/include/lua5.4", "LUA_LIB_NAME=lua5.4", "USE_PROMEX=1",
               "USE_GETADDRINFO=1"], cwd=src, what=f"make of haproxy {build.pin['version']}")
    shutil.copy2(src / "haproxy", build.bin / "haproxy")
    version = build.run([str(build.bin / "haproxy"), "-v"], capture=True).splitlines()[0]
    build.log(version)
