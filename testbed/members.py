"""The parts of a LocalStatefulSet: a Secret volume as the kubelet updates it, one member process (a
pod's container) and its files, and the addresses of the endpoints."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cache_patterns.patterns.statefulset import ha

from testbed.image_root import ImageRoot


class SecretVolume:
    """A Secret volume as the kubelet writes it (pkg/volume/util/atomic_writer.go): the files in a
    hidden timestamped directory, `..data` a symlink to it and each key a symlink `key -> ..data/key`.
    An update writes a new directory, points a new symlink at it, renames that over `..data` (the
    atomic swap) and removes the old directory."""

    def __init__(self, path: Path, own: Callable[[Path, int, bool], None]) -> None:
        self.path, self.own, self.updates = path, own, 0
        path.mkdir(parents=True)
        path.chmod(0o755)

    def write(self, files: dict[str, bytes]) -> float:
        """Swap in `files`; returns the monotonic time of the swap."""
        self.updates += 1
        old = os.readlink(self.path / "..data") if (self.path / "..data").is_symlink() else None
        stamp = self.path / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{self.updates:09d}"
        stamp.mkdir()
        stamp.chmod(0o755)
        for key, data in files.items():
            # An item's path may have folders (`users/backup`): made inside the timestamped directory,
            # and the user-visible link is the first folder's (`users -> ..data/users`), as the kubelet's.
            for folder in reversed((stamp / key).relative_to(stamp).parents[:-1]):
                if not (stamp / folder).is_dir():
                    (stamp / folder).mkdir()
                    (stamp / folder).chmod(0o755)
            (stamp / key).write_bytes(data)
            self.own(stamp / key, 0o440, False)
        tmp = self.path / "..data_tmp"
        tmp.symlink_to(stamp.name)
        os.rename(tmp, self.path / "..data")
        swapped = time.monotonic()
        for top in dict.fromkeys(key.split("/", 1)[0] for key in files):
            link = self.path / top
            if not link.is_symlink():
                link.symlink_to(f"..data/{top}")
        if old is not None:
            shutil.rmtree(self.path / old, ignore_errors=True)
        return swapped


@dataclass
class Member:
    """One container: its files, its environment and, while it runs, its process. Containers of one
    pod (a sidecar beside its main container) share `root` and so its volumes."""

    name: str
    port: int
    root: Path
    env: dict[str, str]
    script: str
    args: tuple[str, ...] = ()
    image_root: ImageRoot | None = None     # busybox mode: the programs of the container's image
    proc: subprocess.Popen | None = None
    starts: int = 0
    pod: str = ""                           # the pod (network namespace) it runs in; "": its own name

    def __post_init__(self) -> None:
        self.pod = self.pod or self.name

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def tls_secret(self) -> Path:
        return self.root / "tls-server"

    @property
    def tls_live(self) -> Path:
        return self.root / "tls-live"

    @property
    def log(self) -> Path:
        return self.root / f"log-{self.name}"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass(frozen=True)
class EndpointAddresses:
    write: ha.Address
    read: ha.Address
    health: ha.Address
