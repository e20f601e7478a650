"""Local images for the real node: no registry is reachable, so every image a rendered pod names is
built here from the toolchain's binaries and this machine's Debian files, with the layout the real
image has (components/cache_patterns/core/images.py records it per image: paths, user, shell,
entrypoint; ../shared/IMAGE-NOTES.md cites the Dockerfiles), and tagged exactly as the stacks
reference it. docs/e2e.md ("Local images") lists how each differs from the real one.

    refs = images.references(manifests)          # every image the pods name
    tars = images.build_all(refs)                # {ref: OCI tar}, cached by content key
    node.import_images(tars)                     # ctr -n k8s.io images import

An image reference the facts do not know is an app: it gets the test app (e2e/testapp/app.py, the
project's Python client on Debian's Python). Tars are cached under
${CACHE_PATTERNS_CACHE:-~/.cache/cache-patterns}/images/, keyed by every input (paths, sizes, times,
this module's and the packer's source): a rebuilt tool or an updated Debian package makes a new one.
"""
from __future__ import annotations

import hashlib
import inspect
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from cache_patterns.core import images as facts_table
from e2e import oci, toolchain

HERE = Path(__file__).resolve().parent
ALPINE_PATH = "PATH=" + ":".join(facts_table.ALPINE_PATH)
PYTHON = "python3.11"   # Debian bookworm's
PAUSE_REPO = "registry.k8s.io/pause"
COREDNS_REPO = "registry.k8s.io/coredns/coredns"
# The app image's Python packages: the project's client and redis-py at the project's pin
# (constraints.txt), and what redis-py needs on Debian's Python 3.11.2 (< 3.11.3).
APP_PACKAGES = ("async-timeout==5.0.1",)


def normalize(ref: str) -> list[str]:
    """The names containerd's CRI looks an image up by: docker.io/library/ for official images, and
    for `name:tag@digest` both `name:tag` and `name@digest` (CRI resolves the digest form)."""
    name, _, digest = ref.partition("@")
    repo, tag = facts_table.split(name)
    first = repo.split("/")[0]
    if "/" not in repo:
        repo = f"docker.io/library/{repo}"
    elif "." not in first and ":" not in first and first != "localhost":
        repo = f"docker.io/{repo}"
    names = [f"{repo}:{tag or 'latest'}"]
    if digest:
        names.append(f"{repo}@{digest}")
    return names


def pod_spec(obj: dict) -> dict | None:
    """The spec of the pods an object runs: a Pod's own, a workload's template, a CronJob's
    jobTemplate's template (the Jobs it creates run those pods)."""
    if obj.get("kind") == "Pod":
        return obj.get("spec")
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return (spec.get("template") or {}).get("spec")


def _containers(manifests: Iterable[dict]) -> Iterator[dict]:
    for obj in manifests:
        spec = pod_spec(obj) or {}
        yield from spec.get("containers", []) + spec.get("initContainers", [])


def references(manifests: Iterable[dict]) -> list[str]:
    """Every image the pods of these objects run (containers, init containers)."""
    return sorted({c["image"] for c in _containers(manifests)})


def ports(manifests: Iterable[dict]) -> dict[str, tuple[int, ...]]:
    """The TCP ports each image's containers declare: the test app listens on them (an app's probes
    and Service reach it there; the stacks give each app its own port)."""
    found: dict[str, set[int]] = {}
    for c in _containers(manifests):
        found.setdefault(c["image"], set()).update(p["containerPort"] for p in c.get("ports", [])
                                                   if p.get("protocol", "TCP") == "TCP")
    return {ref: tuple(sorted(p)) for ref, p in found.items() if p}


# --- common parts -----------------------------------------------------------------------------

def _etc(rootfs: oci.Rootfs, users: list[tuple[str, int, int, str]], groups: list[tuple[str, int]]) -> None:
    """/etc/passwd and /etc/group with root, nobody and the image's own users (name, uid, gid, home)."""
    passwd = ["root:x:0:0:root:/root:/bin/sh", "nobody:x:65534:65534:nobody:/:/sbin/nologin"]
    passwd += [f"{n}:x:{u}:{g}:{n}:{home}:/sbin/nologin" for n, u, g, home in users]
    group = ["root:x:0:root", "nogroup:x:65534:"] + [f"{n}:x:{g}:" for n, g in groups]
    rootfs.file("/etc/passwd", data="\n".join(passwd) + "\n")
    rootfs.file("/etc/group", data="\n".join(group) + "\n")
    rootfs.file("/etc/nsswitch.conf", data="passwd: files\ngroup: files\nhosts: files dns\n")
    rootfs.dir("/tmp", mode=0o1777)
    rootfs.dir("/root", mode=0o700)


def _busybox(rootfs: oci.Rootfs) -> None:
    """Debian's BusyBox as the image's /bin/sh and applets, each a link in /bin (Alpine spreads them
    over /bin, /sbin, /usr/bin; every one is on PATH either way)."""
    busybox = Path("/usr/bin/busybox")
    if not busybox.exists():
        raise RuntimeError("busybox is not installed (Debian package busybox; .ci/run installs it)")
    rootfs.file("/bin/busybox", source=busybox)
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox" and not rootfs.has(f"/bin/{applet}"):
            rootfs.symlink(f"/bin/{applet}", "busybox")


def _tool(tool: str, name: str) -> Path:
    path = toolchain.bin_dir(tool) / name
    if not path.exists():
        raise RuntimeError(f"{name} is not built (tool {tool!r} of e2e/pins.toml): run `./run toolchain`")
    return path


def _script(name: str) -> str:
    return (HERE / "imagefiles" / name).read_text()


# --- the images -------------------------------------------------------------------------------

def valkey(ref: str) -> tuple[oci.Rootfs, oci.ImageConfig]:
    """valkey/valkey:*-alpine: the toolchain's Valkey in /usr/local/bin with the valkey-* and redis-*
    links `make install` makes, user valkey 999:1000, /data and /run/valkey 1777, the entrypoint's
    argument rules and its drop to valkey through setpriv."""
    r = oci.Rootfs()
    _etc(r, [("valkey", 999, 1000, "/home/valkey")], [("valkey", 1000)])
    _busybox(r)
    r.file("/usr/bin/setpriv", source="/usr/bin/setpriv")
    for name in ("valkey-server", "valkey-cli", "valkey-benchmark"):
        r.file(f"/usr/local/bin/{name}", source=_tool("valkey", name))
    for name in ("valkey-sentinel", "valkey-check-aof", "valkey-check-rdb"):
        r.symlink(f"/usr/local/bin/{name}", "valkey-server")
    for tool in ("server", "cli", "benchmark", "sentinel", "check-aof", "check-rdb"):
        r.symlink(f"/usr/local/bin/redis-{tool}", f"valkey-{tool if tool in ('cli', 'benchmark') else 'server'}")
    r.file("/usr/local/bin/docker-entrypoint.sh", data=_script("valkey-entrypoint.sh"), mode=0o755)
    r.dir("/data", mode=0o1777, uid=999, gid=1000)
    r.dir("/run/valkey", mode=0o1777, uid=999, gid=1000)
    return r, oci.ImageConfig(entrypoint=["docker-entrypoint.sh"], cmd=["valkey-server"], env=[ALPINE_PATH],
                              workdir="/data", exposed_ports=["6379/tcp"])


def haproxy(ref: str) -> tuple[oci.Rootfs, oci.ImageConfig]:
    """haproxy:*-alpine: the toolchain's HAProxy at /usr/local/sbin, socat, user haproxy 99:99 (USER by
    name), /var/lib/haproxy its home and WORKDIR, /usr/local/etc/haproxy, STOPSIGNAL SIGUSR1."""
    r = oci.Rootfs()
    _etc(r, [("haproxy", 99, 99, "/var/lib/haproxy")], [("haproxy", 99)])
    _busybox(r)
    r.file("/usr/local/sbin/haproxy", source=_tool("haproxy", "haproxy"))
    r.file("/usr/bin/socat", source="/usr/bin/socat")
    r.file("/usr/local/bin/docker-entrypoint.sh", data=_script("haproxy-entrypoint.sh"), mode=0o755)
    r.dir("/usr/local/etc/haproxy/errors")
    r.dir("/var/lib/haproxy", uid=99, gid=99)
    return r, oci.ImageConfig(entrypoint=["docker-entrypoint.sh"], cmd=["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"],
                              user="haproxy", env=[ALPINE_PATH], workdir="/var/lib/haproxy", stop_signal="SIGUSR1")


def exporter(ref: str) -> tuple[oci.Rootfs, oci.ImageConfig]:
    """oliver006/redis_exporter: the static binary at /redis_exporter (off PATH), CA certificates,
    USER 59000:59000; the -alpine variant has BusyBox, the plain one is FROM scratch (no shell)."""
    r = oci.Rootfs()
    if ref.split("@")[0].endswith("-alpine"):
        _etc(r, [], [])
        _busybox(r)
    r.file("/redis_exporter", source=_tool("redis_exporter", "redis_exporter"), mode=0o755)
    r.file("/etc/ssl/certs/ca-certificates.crt", source="/etc/ssl/certs/ca-certificates.crt")
    return r, oci.ImageConfig(entrypoint=["/redis_exporter"], user="59000:59000", env=[ALPINE_PATH],
                              exposed_ports=["9121/tcp"])


def restic(ref: str) -> tuple[oci.Rootfs, oci.ImageConfig]:
    """restic/restic: the toolchain's restic (static, as the release) at /usr/bin/restic, CA
    certificates, jq and ssh (the real image's apk adds), BusyBox with Debian's coreutils `nice` (the
    entrypoint runs restic under it; Debian's BusyBox has no nice applet), /entrypoint.sh, no USER."""
    r = oci.Rootfs()
    _etc(r, [], [])
    _busybox(r)
    r.file("/usr/bin/restic", source=_tool("restic", "restic"), mode=0o755)
    for program in ("nice", "jq", "ssh"):
        r.file(f"/usr/bin/{program}", source=f"/usr/bin/{program}")
    r.file("/etc/ssl/certs/ca-certificates.crt", source="/etc/ssl/certs/ca-certificates.crt")
    r.file("/entrypoint.sh", data=_script("restic-entrypoint.sh"), mode=0o755)
    return r, oci.ImageConfig(entrypoint=["/entrypoint.sh"], env=[ALPINE_PATH, "IONICE_CLASS=", "IONICE_PRIORITY=4",
                                                                   "NICE=0"])


def pause(ref: str) -> tuple[oci.Rootfs, oci.ImageConfig]:
    """The sandbox image: kubernetes' pause.c, static, as upstream's image (USER 65535:65535)."""
    r = oci.Rootfs()
    r.file("/pause", source=_tool("kubelet", "pause"), mode=0o755)
    return r, oci.ImageConfig(entrypoint=["/pause"], user="65535:65535")


def coredns(ref: str) -> tuple[oci.Rootfs, oci.ImageConfig]:
    """The cluster DNS: the toolchain's CoreDNS at /coredns, USER 65532 (upstream's distroless nonroot)."""
    r = oci.Rootfs()
    r.file("/coredns", source=_tool("coredns", "coredns"), mode=0o755)
    r.dir("/tmp", mode=0o1777)
    return r, oci.ImageConfig(entrypoint=["/coredns"], user="65532:65532", exposed_ports=["53/udp", "53/tcp"])


def app(ref: str, listen: tuple[int, ...] = ()) -> tuple[oci.Rootfs, oci.ImageConfig]:
    """Every app image: Debian's Python 3.11 with its standard library, redis-py and the project's
    client, and e2e/testapp/app.py as the entrypoint, listening on `listen` (PORTS; default 8080);
    BusyBox for `kubectl exec`; USER 10001."""
    r = oci.Rootfs()
    _etc(r, [("app", 10001, 10001, "/app")], [("app", 10001)])
    _busybox(r)
    r.file("/usr/bin/python3", source=f"/usr/bin/{PYTHON}")
    stdlib = Path(f"/usr/lib/{PYTHON}")
    r.tree(f"/usr/lib/{PYTHON}", stdlib, exclude=re.compile(
        r"^(test|idlelib|tkinter|turtledemo|ensurepip|lib2to3|config-[^/]*|site-packages|dist-packages)(/|$)"))
    for so in sorted((stdlib / "lib-dynload").glob("*.so")):
        r.file(f"/usr/lib/{PYTHON}/lib-dynload/{so.name}", source=so)
    r.tree("/usr/local/lib/python3.11/site-packages", app_packages())
    r.file("/app/app.py", source=HERE / "testapp" / "app.py", mode=0o644)
    r.file("/etc/ssl/certs/ca-certificates.crt", source="/etc/ssl/certs/ca-certificates.crt")
    env = [ALPINE_PATH, "PYTHONPATH=/usr/local/lib/python3.11/site-packages", "PYTHONDONTWRITEBYTECODE=1",
           "PYTHONUNBUFFERED=1", f"PORTS={','.join(map(str, listen or (8080,)))}"]
    return r, oci.ImageConfig(entrypoint=["python3", "/app/app.py"], user="10001:10001", env=env, workdir="/app",
                              exposed_ports=["8080/tcp"])


def app_packages() -> Path:
    """pip-installed packages for Debian's Python (cached by the client's sources and the pins)."""
    root = HERE.parent
    client = root / "clients" / "python"
    h = hashlib.sha256(" ".join(APP_PACKAGES).encode())
    h.update((root / "constraints.txt").read_bytes())
    for f in sorted(client.rglob("*.py")) + [client / "pyproject.toml"]:
        if "build" not in f.parts:
            h.update(f.read_bytes())
    target = cache_dir() / f"app-site-packages-{h.hexdigest()[:12]}"
    if not (target / ".complete").exists():
        tmp = target.with_suffix(".tmp")
        subprocess.run(["rm", "-rf", str(tmp)], check=True)
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
               "--target", str(tmp), "-c", str(root / "constraints.txt"), *APP_PACKAGES, str(client)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"pip install of the app image's packages failed:\n{proc.stderr[-2000:]}")
        for junk in tmp.glob("*.dist-info"):
            subprocess.run(["rm", "-rf", str(junk)], check=True)
        subprocess.run(["rm", "-rf", str(tmp / "bin")], check=True)
        (tmp / ".complete").write_text("")
        subprocess.run(["rm", "-rf", str(target)], check=True)
        tmp.rename(target)
    return target


# --- which builder, the cache -----------------------------------------------------------------

BUILDERS: dict[str, Callable[[str], tuple[oci.Rootfs, oci.ImageConfig]]] = {
    "valkey/valkey": valkey, "haproxy": haproxy, "oliver006/redis_exporter": exporter, "restic/restic": restic,
    PAUSE_REPO: pause, COREDNS_REPO: coredns,
}


def builder(ref: str) -> Callable[[str], tuple[oci.Rootfs, oci.ImageConfig]]:
    found = facts_table.facts(ref)
    if found is not None:
        if found.repository not in BUILDERS:
            raise KeyError(f"no local build of {ref!r} (repository {found.repository}): add one to e2e/images.py")
        return BUILDERS[found.repository]
    repo, _ = facts_table.split(ref.split("@")[0])
    return BUILDERS.get(repo, app)


def cache_dir() -> Path:
    d = toolchain.cache_root().parent / "images"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _key(rootfs: oci.Rootfs, config: oci.ImageConfig) -> str:
    """The image's content: every entry (a file by its path, size and time), the config, and the
    source of this module and the packer."""
    h = hashlib.sha256(repr(config).encode())
    h.update(inspect.getsource(oci).encode() + inspect.getsource(sys.modules[__name__]).encode())
    for path in sorted(rootfs.entries):
        e = rootfs.entries[path]
        h.update(f"{path} {e.kind} {e.mode} {e.uid} {e.gid} {e.target}".encode())
        if e.data is not None:
            h.update(e.data)
        elif e.source is not None:
            st = e.source.stat()
            h.update(f"{e.source} {st.st_size} {st.st_mtime_ns}".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Built:
    refs: tuple[str, ...]   # the references this image is imported for (the same content)
    names: tuple[str, ...]
    tar: Path
    cached: bool
    digest: str   # the manifest's: an imported image of the same name but another digest is stale


def build_all(refs: Iterable[str], listen: dict[str, tuple[int, ...]] | None = None) -> list[Built]:
    """One image per distinct content: references with the same content (the test app, for apps
    that listen on the same ports) share one tar, named by all of them. `listen`: an app image's
    ports (`ports(manifests)`)."""
    groups: dict[str, tuple[oci.Rootfs, oci.ImageConfig, list[str]]] = {}
    apps: dict[tuple[int, ...], tuple[oci.Rootfs, oci.ImageConfig]] = {}
    for ref in sorted(set(refs)):
        make = builder(ref)
        if make is app:
            want = (listen or {}).get(ref, ())
            apps.setdefault(want, app(ref, want))
            rootfs, config = apps[want]
        else:
            rootfs, config = make(ref)
        groups.setdefault(_key(rootfs, config), (rootfs, config, []))[2].append(ref)
    out = []
    for key, (rootfs, config, group) in groups.items():
        names = [n for r in group for n in normalize(r)]
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", names[0])
        tag = hashlib.sha256((key + " ".join(names)).encode()).hexdigest()[:16]
        tar = cache_dir() / f"{safe}-{tag}.tar"
        if tar.exists():
            out.append(Built(tuple(group), tuple(names), tar, True, oci.manifest_digest(tar)))
            continue
        for stale in cache_dir().glob(f"{safe}-*.tar"):   # earlier builds of these names
            stale.unlink(missing_ok=True)
        out.append(Built(tuple(group), tuple(names), tar, False, oci.pack(rootfs, config, names, tar)))
    return out


def build(ref: str) -> Built:
    (built,) = build_all([ref])
    return built
