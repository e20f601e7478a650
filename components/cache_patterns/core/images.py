"""What each image the program runs holds: its executables and where they are, its shell, its user,
its entrypoint. A pod `command` replaces the image's ENTRYPOINT and is looked up in the image's
filesystem, not this machine's, so every command a rendered pod runs is resolved against this table
(tests/test_image_commands.py) and the live tests lay out PATH from it.

Facts, not guesses: each entry was read from the image's upstream Dockerfile and entrypoint; the
`source` field names the section of ../shared/IMAGE-NOTES.md that cites the file and commit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# No Dockerfile below sets `ENV PATH`, so every image runs with the builder default (IMAGE-NOTES,
# "Common: the Alpine base").
ALPINE_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
# BusyBox applets of Alpine's busybox that the pod scripts use, each enabled in
# alpinelinux/aports main/busybox/busyboxconfig @05253d2c (IMAGE-NOTES, "Common: the Alpine base").
# `kill`, `printf`, `test`/`[` and `command` are also ash builtins.
# The backup and restore scripts add cut, dd, mkfifo, sha256sum, tee and wget (CONFIG_CUT, CONFIG_DD,
# CONFIG_MKFIFO, CONFIG_SHA256SUM, CONFIG_TEE, CONFIG_WGET with long options, same file).
BUSYBOX_APPLETS = frozenset({
    "awk", "cat", "cmp", "cp", "cut", "date", "dd", "grep", "head", "kill", "mkdir", "mkfifo", "mv", "printf",
    "readlink", "rm", "sed", "sh", "sha256sum", "sleep", "sort", "tail", "tee", "timeout", "tr", "true", "uniq",
    "wc", "wget", "xargs",
})
# Shell builtins (ash and dash): a script word that is one of these needs no file in the image.
SHELL_BUILTINS = frozenset({
    ".", ":", "[", "break", "cd", "command", "continue", "echo", "eval", "exec", "exit", "export", "false",
    "kill", "printf", "read", "return", "set", "shift", "test", "trap", "true", "umask", "unset", "wait",
})
ANY_UID = "any"


@dataclass(frozen=True, kw_only=True)
class ImageFacts:
    """One image (a repository, and the tags these facts were read for)."""

    repository: str
    tags: str                       # regular expression of the tags these facts hold for
    executables: frozenset[str]     # absolute paths of the image's programs (busybox applets apart)
    busybox: bool                   # /bin/sh is BusyBox ash and BUSYBOX_APPLETS are on PATH
    shell: str | None               # the shell, or None (scratch images)
    user: str                       # the Dockerfile's USER ("0" without one)
    # ENTRYPOINT and CMD: what runs where a pod gives no `command` (the official images' entrypoint
    # scripts are listed by name only: every container of those images here sets a command).
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    # UIDs the image runs as (ANY_UID: any non-root UID works), and whether it writes outside its volumes.
    uids: str = ANY_UID
    writes_root_filesystem: bool = False
    path: tuple[str, ...] = ALPINE_PATH
    source: str = ""

    def has(self, path: str) -> bool:
        """Whether an absolute path is a program in this image."""
        if path in self.executables or (self.shell is not None and path == self.shell):
            return True
        # Applets are modelled in /bin: every one is on PATH, which is all a command needs.
        directory, _, name = path.rpartition("/")
        return self.busybox and name in BUSYBOX_APPLETS and directory == "/bin"

    def resolve(self, word: str) -> str | None:
        """Where the image finds the program `word` (an absolute path, or a name looked up in its
        PATH the way the container runtime and the shell do); None when the image has no such program."""
        if "/" in word:
            return word if self.has(word) else None
        for directory in self.path:
            if self.has(f"{directory}/{word}"):
                return f"{directory}/{word}"
        return None


def _local_bin(*names: str) -> frozenset[str]:
    return frozenset(f"/usr/local/bin/{n}" for n in names)


_REDIS_TOOLS = ("server", "cli", "benchmark", "sentinel", "check-aof", "check-rdb")
FACTS: tuple[ImageFacts, ...] = (
    ImageFacts(
        repository="valkey/valkey", tags=r"(8\.1|9\.0)\.\d+-alpine",
        # make install adds the redis-* names as symlinks too (USE_REDIS_SYMLINKS).
        executables=_local_bin(*(f"valkey-{t}" for t in _REDIS_TOOLS), *(f"redis-{t}" for t in _REDIS_TOOLS)),
        busybox=True, shell="/bin/sh", user="0", entrypoint=("docker-entrypoint.sh",), cmd=("valkey-server",),
        source="IMAGE-NOTES: valkey/valkey:8.1.11-alpine and valkey/valkey:9.0.8-alpine",
    ),
    ImageFacts(
        repository="redis", tags=r"7\.2\.\d+-alpine",
        executables=_local_bin(*(f"redis-{t}" for t in _REDIS_TOOLS), "gosu"),
        busybox=True, shell="/bin/sh", user="0", entrypoint=("docker-entrypoint.sh",), cmd=("redis-server",),
        source="IMAGE-NOTES: redis:7.2.11-alpine",
    ),
    ImageFacts(
        repository="haproxy", tags=r"3\.\d+(\.\d+)?-alpine",
        executables=frozenset({"/usr/local/sbin/haproxy", "/usr/bin/socat"}),
        busybox=True, shell="/bin/sh", user="haproxy", entrypoint=("docker-entrypoint.sh",),
        cmd=("haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"), source="IMAGE-NOTES: haproxy:3.2-alpine",
    ),
    ImageFacts(
        repository="oliver006/redis_exporter", tags=r"v1\.\d+\.\d+-alpine",
        # The binary sits at the filesystem root, which is not on PATH.
        executables=frozenset({"/redis_exporter"}), busybox=True, shell="/bin/sh", user="59000:59000",
        entrypoint=("/redis_exporter",), source="IMAGE-NOTES: oliver006/redis_exporter:v1.62.0-alpine "
                                                "(same layout up to v1.88.0)",
    ),
    ImageFacts(
        repository="oliver006/redis_exporter", tags=r"v1\.\d+\.\d+",
        executables=frozenset({"/redis_exporter"}), busybox=False, shell=None, user="59000:59000",
        entrypoint=("/redis_exporter",),
        source="IMAGE-NOTES: Spotahome redis-operator defaults (the scratch variant of redis_exporter)",
    ),
    ImageFacts(
        # restic's docker/Dockerfile.release at v0.19.1 (the Go module's zip, github.com/restic/restic@v0.19.1):
        # `FROM alpine:latest`, the static binary (CGO off: helpers/build-release-binaries) copied to
        # /usr/bin, `apk add ca-certificates fuse openssh-client tzdata jq` (so
        # /etc/ssl/certs/ca-certificates.crt), /entrypoint.sh (ionice/nice, then restic), no USER line.
        repository="restic/restic", tags=r"0\.19\.\d+",
        executables=frozenset({"/usr/bin/restic", "/entrypoint.sh", "/usr/bin/jq", "/usr/bin/ssh"}),
        busybox=True, shell="/bin/sh", user="0", entrypoint=("/entrypoint.sh",),
        source="restic/restic docker/Dockerfile.release and docker/entrypoint.sh @v0.19.1",
    ),
    ImageFacts(
        repository="quay.io/opstree/redis", tags=r"v7\.0\.\d+",
        executables=frozenset({"/usr/local/bin/redis-server", "/usr/local/bin/redis-cli", "/usr/bin/entrypoint.sh",
                               "/bin/bash"}),
        busybox=True, shell="/bin/sh", user="1000", entrypoint=("/usr/bin/entrypoint.sh",), uids="1000",
        writes_root_filesystem=True, source="IMAGE-NOTES: quay.io/opstree/redis:v7.0.15",
    ),
    ImageFacts(
        repository="quay.io/opstree/redis-sentinel", tags=r"v7\.0\.\d+",
        executables=frozenset({"/usr/local/bin/redis-sentinel", "/usr/local/bin/redis-cli",
                               "/usr/bin/entrypoint-sentinel.sh", "/bin/bash"}),
        busybox=True, shell="/bin/sh", user="1000", entrypoint=("/usr/bin/entrypoint-sentinel.sh",), uids="1000",
        writes_root_filesystem=True, source="IMAGE-NOTES: quay.io/opstree/redis-sentinel:v7.0.15",
    ),
    ImageFacts(
        repository="quay.io/opstree/redis-exporter", tags=r"v1\.44\.\d+",
        executables=frozenset({"/usr/local/bin/redis_exporter"}), busybox=False, shell=None, user="0",
        entrypoint=("/usr/local/bin/redis_exporter",), source="IMAGE-NOTES: quay.io/opstree/redis-exporter:v1.44.0",
    ),
)

# The backup program of the StatefulSet pattern's backups and restores: the same release as the toolchain
# builds (e2e/pins.toml [tools.restic]), which the live tests run. Only its binary and CA bundle are
# used (copied into an emptyDir by an init container); the scripts run in the cache's engine image.
RESTIC_VERSION = "0.19.1"
RESTIC_IMAGE = f"restic/restic:{RESTIC_VERSION}"

# The exporter the StatefulSet pattern runs (and the Spotahome CRs name): the same release as the
# toolchain builds (e2e/pins.toml [tools.redis_exporter]), which the live tests run.
EXPORTER_VERSION = "v1.88.0"
EXPORTER_IMAGE = f"oliver006/redis_exporter:{EXPORTER_VERSION}-alpine"


def split(image: str) -> tuple[str, str | None]:
    """(repository, tag) of an image reference (`name[:tag][@sha256:...]`)."""
    name = image.split("@", 1)[0]
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        return name, None
    return repository, tag


def path(repository: str) -> str:
    """A repository without its registry host, Docker Hub's official images as library/<name>: how a
    registry mirror lays the image out (`registry.example.com/mirror/library/redis` ends with it)."""
    parts = repository.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    return "/".join(["library", *parts] if len(parts) == 1 else parts)


def facts(image: str) -> ImageFacts | None:
    """The facts of an image reference, or None for an image the table does not know (an app's). The
    registry does not matter (a mirror serves the same image), the repository's path and tag do."""
    repository, tag = split(image)
    where = path(repository)
    for f in FACTS:
        known = path(f.repository)
        if (where == known or where.endswith("/" + known)) and tag is not None and re.fullmatch(f.tags, tag):
            return f
    return None


def describe(f: ImageFacts) -> str:
    """What the pods rely on in an image, in words (the warning for an image the table does not know)."""
    parts = [f"the programs {', '.join(sorted(f.executables))}"]
    if f.shell:
        parts.append(f"the shell {f.shell}" + (f" (BusyBox, with {', '.join(sorted(BUSYBOX_APPLETS))} on PATH)"
                                               if f.busybox else ""))
    parts.append(f"user {f.user}" + (", any non-root UID" if f.uids == ANY_UID else f", UID {f.uids}"))
    parts.append(f"entrypoint {' '.join(f.entrypoint)}")
    if f.writes_root_filesystem:
        parts.append("a writable root filesystem")
    return "; ".join(parts)


def of(image: str) -> ImageFacts:
    """The facts of an image the program itself chooses (KeyError: add the image to FACTS first)."""
    found = facts(image)
    if found is None:
        raise KeyError(f"no facts for image {image!r}: read its Dockerfile and add it to cache_patterns.core.images.FACTS")
    return found


@dataclass(frozen=True, kw_only=True)
class OperatorContainer:
    """A container an operator builds from one of our custom resources: the spec field naming its
    image (the image is ours to choose, the command is the operator's), what it runs and where its
    security context is. Paths are tuples of spec keys."""

    kind: str
    role: str
    image: tuple[str, ...]
    argv: tuple[str, ...] | None          # None: the image's ENTRYPOINT
    programs: tuple[str, ...]             # what its probes, hooks and scripts run besides
    security_context: tuple[str, ...]
    pod_security_context: tuple[str, ...]
    enabled: tuple[str, ...] | None = None  # present only when this field is true
    source: str = ""


_OT = "IMAGE-NOTES: quay.io/opstree/redis:v7.0.15 (operator v0.26.0 statefulset.go l.958-982: probes run `sh -ec` redis-cli)"
_SPOTAHOME = "IMAGE-NOTES: Spotahome redis-operator defaults (generator.go)"
OPERATOR_CONTAINERS: tuple[OperatorContainer, ...] = (
    OperatorContainer(kind="RedisReplication", role="redis", image=("kubernetesConfig", "image"), argv=None,
                      programs=("sh", "redis-cli"), security_context=("securityContext",),
                      pod_security_context=("podSecurityContext",), source=_OT),
    OperatorContainer(kind="RedisReplication", role="sentinel", image=("sentinel", "image"), argv=None,
                      programs=("sh", "redis-cli"), security_context=("sentinel", "securityContext"),
                      pod_security_context=("sentinel", "podSecurityContext"), source=_OT),
    OperatorContainer(kind="RedisReplication", role="exporter", image=("redisExporter", "image"), argv=None,
                      programs=(), security_context=("redisExporter", "securityContext"),
                      pod_security_context=("podSecurityContext",), enabled=("redisExporter", "enabled"), source=_OT),
    OperatorContainer(kind="RedisCluster", role="leader", image=("kubernetesConfig", "image"), argv=None,
                      programs=("sh", "redis-cli"), security_context=("redisLeader", "securityContext"),
                      pod_security_context=("podSecurityContext",), source=_OT),
    OperatorContainer(kind="RedisCluster", role="follower", image=("kubernetesConfig", "image"), argv=None,
                      programs=("sh", "redis-cli"), security_context=("redisFollower", "securityContext"),
                      pod_security_context=("podSecurityContext",), source=_OT),
    OperatorContainer(kind="RedisCluster", role="exporter", image=("redisExporter", "image"), argv=None,
                      programs=(), security_context=("redisExporter", "securityContext"),
                      pod_security_context=("podSecurityContext",), enabled=("redisExporter", "enabled"), source=_OT),
    OperatorContainer(kind="RedisFailover", role="redis", image=("redis", "image"),
                      argv=("redis-server", "/redis/redis.conf"), programs=("/bin/sh", "redis-cli"),
                      security_context=("redis", "containerSecurityContext"),
                      pod_security_context=("redis", "securityContext"), source=_SPOTAHOME),
    OperatorContainer(kind="RedisFailover", role="sentinel", image=("sentinel", "image"),
                      argv=("redis-server", "/redis/sentinel.conf", "--sentinel"), programs=("/bin/sh", "redis-cli", "cp"),
                      security_context=("sentinel", "containerSecurityContext"),
                      pod_security_context=("sentinel", "securityContext"), source=_SPOTAHOME),
    OperatorContainer(kind="RedisFailover", role="exporter", image=("redis", "exporter", "image"), argv=None,
                      programs=(), security_context=("redis", "exporter", "containerSecurityContext"),
                      pod_security_context=("redis", "securityContext"), enabled=("redis", "exporter", "enabled"),
                      source=_SPOTAHOME),
    OperatorContainer(kind="RedisFailover", role="exporter", image=("sentinel", "exporter", "image"), argv=None,
                      programs=(), security_context=("sentinel", "exporter", "containerSecurityContext"),
                      pod_security_context=("sentinel", "securityContext"), enabled=("sentinel", "exporter", "enabled"),
                      source=_SPOTAHOME),
)
