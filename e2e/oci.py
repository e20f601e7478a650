"""A small OCI image packer: a root filesystem described entry by entry (so owners and modes are
exactly the image's, whoever builds it), packed as one uncompressed layer into an OCI image layout
tar that `ctr images import` reads, named by `io.containerd.image.name` annotations.

    rootfs = Rootfs()
    rootfs.dir("/data", mode=0o1777, uid=999, gid=1000)
    rootfs.file("/usr/local/bin/valkey-server", source=path)   # an ELF file: its libraries come along
    rootfs.symlink("/usr/local/bin/valkey-sentinel", "valkey-server")
    pack(rootfs, ImageConfig(entrypoint=[...]), names=["docker.io/valkey/valkey:8.1.11-alpine"], out=tar)
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

EPOCH = 0


@dataclass
class Entry:
    kind: str            # "dir", "file", "symlink"
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    source: Path | None = None
    data: bytes | None = None
    target: str | None = None


class Rootfs:
    """The files of one image, by absolute path; parents are made as root-owned 0755 folders."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    def _parents(self, path: str) -> None:
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            p = "/" + "/".join(parts[:i])
            self.entries.setdefault(p, Entry("dir"))

    def dir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        self._parents(path)
        self.entries[path] = Entry("dir", mode, uid, gid)

    def file(self, path: str, source: Path | str | None = None, data: bytes | str | None = None,
             mode: int | None = None, uid: int = 0, gid: int = 0, libraries: bool = True) -> None:
        """A regular file from `source` (symlinks followed) or `data`; an ELF `source` brings the
        shared libraries it loads (`ldd`), each at the path the loader finds it at."""
        self._parents(path)
        if isinstance(data, str):
            data = data.encode()
        src = Path(source).resolve() if source is not None else None
        if mode is None:
            mode = (src.stat().st_mode & 0o7777) if src is not None else 0o644
        self.entries[path] = Entry("file", mode, uid, gid, source=src, data=data)
        if src is not None and libraries and _is_elf(src):
            libs = shared_libraries(src)
            # glibc loads libgcc_s at run time (dlopen) for pthread_exit and cancellation; ldd does
            # not list it ("libgcc_s.so.1 must be installed for pthread_exit to work").
            libs += [str(Path(lib).parent / "libgcc_s.so.1") for lib in libs if Path(lib).name == "libc.so.6"]
            for lib in libs:
                if lib not in self.entries and Path(lib).exists():
                    self.file(lib, source=lib, mode=0o755, libraries=False)

    def symlink(self, path: str, target: str) -> None:
        self._parents(path)
        self.entries[path] = Entry("symlink", 0o777, target=target)

    def tree(self, path: str, source: Path, exclude: re.Pattern | None = None) -> None:
        """A folder of this machine, copied with root ownership (modes kept)."""
        for src in sorted(source.rglob("*")):
            rel = str(src.relative_to(source))
            if exclude is not None and exclude.search(rel):
                continue
            dest = f"{path.rstrip('/')}/{rel}"
            if src.is_symlink():
                self.symlink(dest, str(src.readlink()))
            elif src.is_dir():
                self.dir(dest, mode=src.stat().st_mode & 0o7777)
            else:
                self.file(dest, source=src, libraries=False)

    def has(self, path: str) -> bool:
        return path in self.entries

    def tar(self) -> bytes:
        """The layer: entries in path order, fixed times, numeric owners."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for path in sorted(self.entries):
                e = self.entries[path]
                info = tarfile.TarInfo(path.lstrip("/"))
                info.mtime, info.mode, info.uid, info.gid = EPOCH, e.mode, e.uid, e.gid
                if e.kind == "dir":
                    info.type = tarfile.DIRTYPE
                    tf.addfile(info)
                elif e.kind == "symlink":
                    info.type, info.linkname = tarfile.SYMTYPE, e.target or ""
                    tf.addfile(info)
                else:
                    content = e.data if e.data is not None else e.source.read_bytes()
                    info.size = len(content)
                    tf.addfile(info, io.BytesIO(content))
        return buf.getvalue()


def _is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def shared_libraries(binary: Path) -> list[str]:
    """The absolute paths of the libraries `binary` loads (nothing for a static binary)."""
    proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if proc.returncode != 0:   # "not a dynamic executable"
        return []
    libs = []
    for line in proc.stdout.splitlines():
        m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if m:
            libs.append(m.group(1))
        elif "not found" in line:
            raise RuntimeError(f"{binary}: {line.strip()}")
    return libs


@dataclass
class ImageConfig:
    """The image config's `config` section (what the runtime reads)."""

    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    user: str = ""
    env: list[str] = field(default_factory=list)
    workdir: str = ""
    exposed_ports: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    stop_signal: str = ""

    def as_json(self) -> dict:
        out: dict = {"Env": self.env}
        for key, value in (("Entrypoint", self.entrypoint), ("Cmd", self.cmd), ("User", self.user),
                           ("WorkingDir", self.workdir), ("StopSignal", self.stop_signal)):
            if value:
                out[key] = value
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.volumes:
            out["Volumes"] = {v: {} for v in self.volumes}
        return out


def _blob(tf: tarfile.TarFile, content: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest.split(':')[1]}")
    info.size, info.mtime, info.mode = len(content), EPOCH, 0o644
    tf.addfile(info, io.BytesIO(content))
    return digest, len(content)


def pack(rootfs: Rootfs, config: ImageConfig, names: list[str], out: Path) -> str:
    """Write an OCI image layout tar with one manifest named by each of `names`; returns the
    manifest's digest."""
    layer = rootfs.tar()
    tmp = out.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tf:
        layer_digest, layer_size = _blob(tf, layer)
        cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": config.as_json(),
                          "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
                          "history": [{"created_by": "cache-patterns e2e/oci.py"}]}, sort_keys=True).encode()
        cfg_digest, cfg_size = _blob(tf, cfg)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": cfg_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                        "size": layer_size}]}, sort_keys=True).encode()
        man_digest, man_size = _blob(tf, manifest)
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man_digest, "size": man_size,
             "platform": {"architecture": "amd64", "os": "linux"},
             "annotations": {"io.containerd.image.name": name}} for name in names]}
        for fname, content in (("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'),
                               ("index.json", json.dumps(index, sort_keys=True).encode())):
            info = tarfile.TarInfo(fname)
            info.size, info.mtime, info.mode = len(content), EPOCH, 0o644
            tf.addfile(info, io.BytesIO(content))
    tmp.replace(out)
    return man_digest


def manifest_digest(tar: Path) -> str:
    """The digest of the (one) manifest of an image layout tar written by `pack`."""
    with tarfile.open(tar) as tf:
        return json.load(tf.extractfile("index.json"))["manifests"][0]["digest"]
