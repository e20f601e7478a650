"""Engines beside the stacks' default, for upgrade tests and the planner's per-engine model: Debian
source packages fetched through apt from the Debian archive this machine's apt is configured with
(no host named here), checked by apt against the suite's signed Sources index and by the pin's
sha256, and built with upstream's own build as e2e/recipes/debian.py builds Valkey 8.1.

A pin names the source package, its exact Debian version and the suites that carry it. apt reads
them from a private state directory (`deb-src` lines for those suites only), so the machine's own
apt setup is untouched. When the suites move on to a newer version, `apt-get source` fails naming
the version: update the pin.
"""
from __future__ import annotations

import hashlib
import os
import re
import tarfile
from pathlib import Path

from e2e.toolchain import Build, ToolchainError, recipe

APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
ARCHIVE_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def debian_archives() -> list[str]:
    """The URIs of the Debian archive (not -security, not third-party) in this machine's apt sources."""
    files = [APT_SOURCES[0]] + sorted(APT_SOURCES[1].glob("*.list")) + sorted(APT_SOURCES[1].glob("*.sources"))
    uris: list[str] = []
    for f in files:
        if not f.is_file():
            continue
        text = f.read_text(errors="replace")
        if f.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
                if "debian-archive-keyring" in fields.get("Signed-By", "") or fields.get("URIs", "").rstrip("/").endswith("/debian"):
                    uris += fields.get("URIs", "").split()
        else:
            uris += re.findall(r"^deb(?:-src)?\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M)
    out = [u.rstrip("/") for u in uris if u.rstrip("/").endswith("/debian")]
    return list(dict.fromkeys(out))


def fetch_debian_source(build: Build) -> Path:
    """`apt-get source --download-only <package>=<debian_version>` from the pin's suites; returns the
    unpacked upstream tree of the pin's orig tarball (checked against its sha256)."""
    pin = build.pin
    missing = [p for p in pin["build_packages"] if not Path(f"/var/lib/dpkg/info/{p}.list").exists()
               and not list(Path("/var/lib/dpkg/info").glob(f"{p}:*.list"))]
    if missing:
        raise ToolchainError(f"{build.tool}: Debian build dependencies missing: {' '.join(missing)} "
                             f"(apt-get install {' '.join(missing)}; .ci/run installs them)")
    archives = debian_archives()
    if not archives:
        raise ToolchainError(f"{build.tool}: no Debian archive in this machine's apt sources "
                             f"({', '.join(map(str, APT_SOURCES))})")
    apt = build.work / "apt"
    for d in ("lists/partial", "cache/archives/partial"):
        (apt / d).mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text("".join(
        f"deb-src [signed-by={ARCHIVE_KEYRING}] {uri} {suite} main\n" for uri in archives[:1] for suite in pin["suites"]))
    opts = [f"-oDir::Etc::SourceList={apt / 'sources.list'}", "-oDir::Etc::SourceParts=/dev/null",
            f"-oDir::State::Lists={apt / 'lists'}", f"-oDir::Cache={apt / 'cache'}", "-oAPT::Sandbox::User=root"]
    build.run(["apt-get", *opts, "-qq", "update"], what=f"apt-get update of {', '.join(pin['suites'])} Sources",
              retries=3)
    dl = build.work / "dl"
    dl.mkdir()
    spec = f"{pin['package']}={pin['debian_version']}"
    build.run(["apt-get", *opts, "-qq", "source", "--download-only", spec], cwd=dl, retries=3,
              what=f"apt-get source {spec} (suites {', '.join(pin['suites'])}; version {pin['version']})")
    tarball = dl / pin["orig"]
    if not tarball.exists():
        raise ToolchainError(f"{build.tool}: apt-get source {spec} gave {sorted(p.name for p in dl.iterdir())}, "
                             f"not {pin['orig']}")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != pin["sha256"]:
        raise ToolchainError(f"{build.tool}: {tarball.name} has sha256 {digest}, the pin says {pin['sha256']}")
    with tarfile.open(tarball) as tf:
        tf.extractall(build.work / "src", filter="data")
    (top,) = (build.work / "src").iterdir()
    return top


@recipe("valkey-9")
def valkey_9(build: Build) -> None:
    src = fetch_debian_source(build)
    jobs = str(max(1, (os.cpu_count() or 2)))
    build.run(["make", f"-j{jobs}", "BUILD_TLS=yes", "USE_SYSTEMD=no", "MALLOC=jemalloc"], cwd=src,
              what=f"make of valkey {build.pin['version']}")
    build.run(["make", "install", f"PREFIX={build.out}", "USE_REDIS_SYMLINKS=yes"], cwd=src,
              what="make install of valkey")
    version = build.run([str(build.bin / "valkey-server"), "--version"], capture=True).strip()
    if f"v={build.pin['version']} " not in version:
        raise ToolchainError(f"{build.tool}: valkey-server --version says {version!r}, the pin {build.pin['version']}")
    build.log(version)
