"""An image's filesystem, as far as its programs go, laid out under a temporary directory: every
program the image facts (components/cache_patterns/core/images.py) list sits at its path under the root, implemented by
the closest binary this machine has (the toolchain's, else Debian's), BusyBox applets in <root>/bin.

A pod command is looked up in the image, not on this machine: `resolve()` does it the way the
container runtime and the shell do (an absolute path as is, a bare name through PATH), with every
path prefixed by the root, and `path_env()` is the image's PATH under the root. So a program the
image lacks, or a program off the image's PATH, fails here as it fails in the pod (exit 127), while
this machine's own /usr/bin stays out of the way.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from cache_patterns.core import images

from testbed import engines

# Programs an image names, and which host programs implement them (first found wins).
_ENGINE = re.compile(r"(valkey|redis)-(server|cli|sentinel|benchmark|check-aof|check-rdb)")


def host_program(image_path: str) -> str | None:
    """This machine's implementation of a program of the image (None: none here)."""
    name = image_path.rsplit("/", 1)[-1]
    m = _ENGINE.fullmatch(name)
    if m:
        return engines.engine_program(m.group(2))
    if name == "redis_exporter":
        return engines.exporter()
    if name == "haproxy":
        return engines.haproxy()
    return engines.which(name)


class ImageRoot:
    """The programs of one image under `root` (created here)."""

    def __init__(self, facts: images.ImageFacts, root: Path) -> None:
        self.facts, self.root = facts, root
        self.missing: list[str] = []
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        for d in facts.path:
            self.host(d).mkdir(parents=True, exist_ok=True)
        if facts.busybox:
            busybox = engines.which("busybox")
            assert busybox is not None, "busybox is needed to lay out an alpine image"
            for applet in sorted(images.BUSYBOX_APPLETS):
                self._place(f"/bin/{applet}", busybox)
        for program in sorted(facts.executables):
            impl = host_program(program)
            if impl is None:
                self.missing.append(program)
                continue
            self._place(program, impl)

    def host(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def _place(self, image_path: str, impl: str) -> None:
        target = self.host(image_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        name = image_path.rsplit("/", 1)[-1]
        runnable = engines.accessible(impl, self.root / ".programs")
        if name.startswith("valkey-") and Path(impl).name.startswith("redis-"):
            # Redis tells server from Sentinel by its argv[0] ("redis-sentinel"); under a valkey-*
            # name a Redis build is run under its own name by a one-line wrapper.
            target.write_text(f'#!/bin/sh\nexec {runnable} "$@"\n')
            target.chmod(0o755)
            return
        target.symlink_to(runnable)

    def path_env(self) -> str:
        """The image's PATH, each directory under the root."""
        return ":".join(str(self.host(d)) for d in self.facts.path)

    def resolve(self, word: str) -> str | None:
        """The host path of the program `word` names in the image (None: exit 127 in the pod)."""
        found = self.facts.resolve(word)
        if found is None:
            return None
        host = self.host(found)
        return str(host) if host.exists() else None


def engine_in(image: str, root: Path) -> ImageRoot:
    return ImageRoot(images.of(image), root)


def cleanup(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
