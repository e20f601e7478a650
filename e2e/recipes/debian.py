"""Valkey and HAProxy from the upstream sources Debian distributes (trixie's orig tarballs), fetched
through apt's configured sources.

Debian bookworm ships Redis 7.0 and HAProxy 2.6; the stacks run Valkey 8.1 and HAProxy 3.x. Trixie's
binary packages need a newer libc, so we build the upstream source with upstream's own build (bundled
jemalloc, like the official images) and without Debian's patches.

No download host is named here or in e2e/pins.toml. The machine's apt sources say where Debian is
(its mirror, its proxy settings, its keys): a private apt configuration (its own sources list, lists
and cache directories; the system's trusted keys) gets `deb-src` entries for the pinned suite at the
URIs of the configured `deb` sources, `apt-get update` fetches that suite's signed Sources index (apt
verifies the signature), `apt-get source --print-uris` names the orig tarball and its SHA256 from
that index, and apt's own transport (`apt-helper download-file`) fetches it, checking the pinned
sha256. `apt-get source` itself cannot be used: the mirror serves trixie's orig tarballs but not the
.dsc and debian.tar.xz it would fetch with them (404), and it refuses to go on without them.
"""
from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from e2e.toolchain import Build, ToolchainError, recipe

APT_HELPER = "/usr/lib/apt/apt-helper"


def _missing_packages(packages: list[str]) -> list[str]:
    return [p for p in packages
            if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]


def configured_archives() -> list[str]:
    """The URIs of the machine's configured `deb` sources for its main suites (not -updates or
    -security), as apt reads them (one-line and deb822 files alike)."""
    out = subprocess.run(["apt-get", "indextargets", "--format", "$(REPO_URI)\t$(RELEASE)"],
                         capture_output=True, text=True, check=True).stdout
    uris = [uri for uri, _, release in (line.partition("\t") for line in out.splitlines())
            if release and "-" not in release and "/" not in release]
    return list(dict.fromkeys(uris))


class AptSources:
    """A private apt configuration with `deb-src` entries for one suite (the system's keys and
    transport settings, nothing else of the system's apt state touched)."""

    def __init__(self, build: Build, suite: str):
        self.build, self.dir = build, build.work / "apt"
        for d in ("lists/partial", "cache/archives/partial", "parts"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        uris = configured_archives()
        if not uris:
            raise ToolchainError(f"{build.tool}: apt has no configured deb source of a main suite "
                                 "(apt-get indextargets lists none)")
        (self.dir / "sources.list").write_text("".join(f"deb-src {uri} {suite} main\n" for uri in uris))
        self.options = [f"-o{k}={v}" for k, v in {
            "Dir::Etc::sourcelist": self.dir / "sources.list", "Dir::Etc::sourceparts": self.dir / "parts",
            "Dir::State::lists": self.dir / "lists", "Dir::Cache": self.dir / "cache",
            "Dir::Cache::pkgcache": "", "Dir::Cache::srcpkgcache": "",
            # apt drops to its sandbox user (_apt) for downloads, which cannot write here.
            "APT::Sandbox::User": getpass.getuser()}.items()]
        self.suite = suite

    def update(self) -> None:
        self.build.run(["apt-get", *self.options, "update"], retries=3,
                       what=f"apt-get update of the {self.suite} Sources index")

    def orig_tarball(self, package: str, name: str) -> tuple[str, str]:
        """(URI, SHA256) of the source package's orig tarball `name`, from the signed index."""
        out = self.build.run(["apt-get", *self.options, "source", "--print-uris", package], capture=True,
                             what=f"apt-get source --print-uris {package} ({self.suite})")
        lines = re.findall(r"^'(\S+)' (\S+) \d+ SHA256:([0-9a-f]{64})$", out, re.M)
        for uri, filename, sha256 in lines:
            if filename == name:
                return uri, sha256
        raise ToolchainError(f"{self.build.tool}: {package} in {self.suite} has no {name} "
                             f"(its source files: {', '.join(f for _, f, _ in lines) or 'none'})")


def _fetch_source(build: Build) -> Path:
    pin = build.pin
    missing = _missing_packages(pin["build_packages"])
    if missing:
        raise ToolchainError(f"{build.tool}: Debian build dependencies missing: {' '.join(missing)} "
                             f"(apt-get install {' '.join(missing)}; .ci/run installs them)")
    apt = AptSources(build, pin["suite"])
    apt.update()
    uri, listed = apt.orig_tarball(pin["package"], pin["orig"])
    if listed != pin["sha256"]:
        raise ToolchainError(f"{build.tool}: {pin['orig']} has SHA256 {listed} in {pin['suite']}'s signed Sources "
                             f"index, the pin says {pin['sha256']}")
    tarball = build.work / pin["orig"]
    build.run([APT_HELPER, *apt.options, "download-file", uri, str(tarball), f"SHA256:{pin['sha256']}"],
              retries=3, what=f"download of {pin['orig']} (checked against SHA256 {pin['sha256']})")
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
