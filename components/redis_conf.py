"""redis.conf and sentinel.conf rendering: pure functions from settings to directives.

The tests run exactly what these produce in real redis-server / redis-sentinel processes, so every
directive here is one Redis 7.0 accepts (Debian 12's version; newer Redis and Valkey accept them too).
A config is a list of (directive, arguments); it becomes a file or, for the sidecar, argv.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

Directive = tuple[str, tuple[str, ...]]


def _quote(arg: str) -> str:
    """An argument as redis.conf reads it: bare when it can be, else double-quoted with escapes."""
    if arg and not any(c in arg for c in ' \t"\'\\#') and arg.isprintable():
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def to_conf(directives: Sequence[Directive], header: str = "") -> str:
    """A redis.conf / sentinel.conf file."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [" ".join([name, *(_quote(a) for a in args)]) for name, args in directives]
    return "\n".join(lines) + "\n"


def to_args(directives: Sequence[Directive]) -> list[str]:
    """The same directives as redis-server command-line options (`--maxmemory 100mb`). Redis joins
    each option with its arguments and parses the result as a config line, quoting empty ones,
    so `--save ""` works."""
    out: list[str] = []
    for name, args in directives:
        out.append(f"--{name}")
        out.extend(args)
    return out


@dataclass(frozen=True)
class LocalServer:
    """A loopback-only, memory-only Redis: the sidecar of pattern 3 and the L1 of pattern 4."""

    port: int
    socket: str
    maxmemory: int
    maxmemory_policy: str
    socket_perm: str = "660"


def local_directives(s: LocalServer) -> list[Directive]:
    """A sidecar Redis: reachable only from its own pod (127.0.0.1 and a unix socket in a shared
    in-memory volume), with no password because nothing else can reach it, and nothing on disk."""
    data_dir = s.socket.rsplit("/", 1)[0] or "/"
    return [
        ("bind", ("127.0.0.1",)),
        # Protected mode only refuses non-loopback clients without a password; keep it on.
        ("protected-mode", ("yes",)),
        ("port", (str(s.port),)),
        ("unixsocket", (s.socket,)),
        # Group read/write: the app container shares the pod's group (fsGroup), not its user.
        ("unixsocketperm", (s.socket_perm,)),
        # A cache: no snapshots, no append-only file, nothing ever written to disk.
        ("save", ("",)),
        ("appendonly", ("no",)),
        ("dir", (data_dir,)),
        ("maxmemory", (str(s.maxmemory),)),
        ("maxmemory-policy", (s.maxmemory_policy,)),
        # Free evicted values in a background thread so a big eviction does not stall requests.
        ("lazyfree-lazy-eviction", ("yes",)),
        ("lazyfree-lazy-expire", ("yes",)),
        ("logfile", ("",)),
        ("loglevel", ("notice",)),
        ("tcp-keepalive", ("60",)),
    ]
