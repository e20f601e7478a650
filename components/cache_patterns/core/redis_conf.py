"""redis.conf and sentinel.conf rendering: pure functions from settings to directives.

The tests run exactly what these produce in real redis-server / redis-sentinel processes, so every
directive here is one Redis 7.0 accepts (Debian 12's version; newer Redis and Valkey accept them too).
A config is a list of (directive, arguments); it becomes a file or, for the sidecar, argv.
"""
from __future__ import annotations

import difflib
import re
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


# ---------------------------------------------------------------------------------------------
# Pattern 2: a replicated member and its Sentinel. These render the read-only templates of the
# ConfigMap; the start-up scripts (patterns/statefulset/scripts) add what differs per pod or is secret
# (password, announced address, replicaof, the Sentinel's monitored primary) in a writable copy.

PERSISTENCE = ("none", "rdb", "aof")
# Redis's own default snapshot schedule: after 1 h if 1 key changed, 5 min if 100, 1 min if 10000.
RDB_SAVE = ("3600", "1", "300", "100", "60", "10000")
ALL_INTERFACES = ("*", "-::*")


@dataclass(frozen=True, kw_only=True)
class TlsFiles:
    """Where a pod finds its TLS key pair and the CA that signed every member's certificate."""

    cert_file: str = "/etc/cache-patterns/tls-server/tls.crt"
    key_file: str = "/etc/cache-patterns/tls-server/tls.key"
    ca_file: str = "/etc/cache-patterns/tls-server/ca.crt"


@dataclass(frozen=True, kw_only=True)
class ReplicatedServer:
    """One member of a primary/replica set (every pod gets the same file; the role is decided at
    start-up). `auth` only says a password exists: its value is added by the start-up script."""

    maxmemory: int
    maxmemory_policy: str
    port: int = 6379
    data_dir: str = "/data"
    persistence: str = "none"
    auth: bool = True
    tls: TlsFiles | None = None
    min_replicas_to_write: int = 0
    min_replicas_max_lag_ms: int = 10_000
    bind: tuple[str, ...] = ALL_INTERFACES
    # (name, ACL rules) of the users beside `default`; their passwords are added at start-up too.
    acl_users: tuple[tuple[str, str], ...] = ()
    # client-output-buffer-limit replica (hard, bytes) and repl-backlog-size from the plan; None keeps
    # Redis's defaults (256mb hard / 64mb soft for 60 s, 1mb).
    replica_buffer_limit: int | None = None
    repl_backlog: int | None = None

    def __post_init__(self) -> None:
        if self.persistence not in PERSISTENCE:
            raise ValueError(f"persistence must be one of {', '.join(PERSISTENCE)}, got {self.persistence!r}")
        if self.min_replicas_to_write < 0 or self.min_replicas_max_lag_ms < 1:
            raise ValueError("min_replicas_to_write must be >= 0 and min_replicas_max_lag_ms >= 1")
        if self.acl_users and not self.auth:
            raise ValueError("ACL users need auth: without a password every client is the default user")
        names = [name for name, _ in self.acl_users]
        for name, rules in self.acl_users:
            problems = acl_name_problems(name) + acl_rule_problems(rules)
            if names.count(name) > 1:
                problems.append("the name is used twice")
            if problems:
                raise ValueError(f"ACL user {name!r}: {'; '.join(problems)}")


def _listen(port: int, tls: TlsFiles | None, bind: tuple[str, ...]) -> list[Directive]:
    out: list[Directive] = [("bind", bind)]
    if tls is None:
        return out + [("port", (str(port),))]
    # TLS only: a plain-text port would carry the password (AUTH) in the clear. The TLS port keeps
    # the usual number so clients and probes change one flag, not their address.
    return out + [
        ("port", ("0",)),
        ("tls-port", (str(port),)),
        ("tls-cert-file", (tls.cert_file,)),
        ("tls-key-file", (tls.key_file,)),
        ("tls-ca-cert-file", (tls.ca_file,)),
        # Clients prove who they are with the password, not a certificate of their own.
        ("tls-auth-clients", ("no",)),
        # Replicas (and Sentinel, for its links) connect over TLS too.
        ("tls-replication", ("yes",)),
    ]


def replicated_directives(s: ReplicatedServer) -> list[Directive]:
    """redis.conf of a replicated member, without the per-pod and secret lines the start-up script
    appends (`requirepass`, `masterauth`, `replica-announce-ip/port`, `replicaof`)."""
    out = _listen(s.port, s.tls, s.bind)
    out += [
        # Protected mode refuses other pods only when there is no password; with auth off
        # (development only) it would refuse the replicas and Sentinels themselves.
        ("protected-mode", ("yes" if s.auth else "no",)),
        ("dir", (s.data_dir,)),
        ("dbfilename", ("dump.rdb",)),
        ("save", RDB_SAVE if s.persistence == "rdb" else ("",)),
        ("appendonly", ("yes" if s.persistence == "aof" else "no",)),
    ]
    if s.persistence == "aof":
        out.append(("appendfsync", ("everysec",)))
    out += [
        ("maxmemory", (str(s.maxmemory),)),
        ("maxmemory-policy", (s.maxmemory_policy,)),
        ("lazyfree-lazy-eviction", ("yes",)),
        ("lazyfree-lazy-expire", ("yes",)),
        # A replica drops its old data set in the background when a full resync begins.
        ("replica-lazy-flush", ("yes",)),
        ("replica-read-only", ("yes",)),
        # The primary streams the snapshot to replicas over the socket: no RDB file on its disk,
        # which matters when persistence is off and `dir` is a small emptyDir.
        ("repl-diskless-sync", ("yes",)),
        # Start that stream 1 s after a replica asks (default 5 s, to batch replicas): a restarted
        # replica is back sooner, at the price of a second fork when replicas ask seconds apart.
        ("repl-diskless-sync-delay", ("1",)),
        # A replica that starts empty (every restart without persistence) loads the stream straight
        # into memory instead of writing a temporary RDB into `dir` first.
        ("repl-diskless-load", ("on-empty-db",)),
        ("min-replicas-to-write", (str(s.min_replicas_to_write),)),
        # Redis counts this lag in whole seconds; round up so the bound is never tighter than asked.
        ("min-replicas-max-lag", (str(-(-s.min_replicas_max_lag_ms // 1000)),)),
        ("logfile", ("",)),
        ("loglevel", ("notice",)),
        ("tcp-keepalive", ("60",)),
    ]
    if s.replica_buffer_limit is not None:
        # The memory limit holds this much replica buffer and no more; a soft limit would drop a replica
        # mid-sync on a burst the hard limit allows, so it is off.
        out.append(("client-output-buffer-limit", ("replica", str(s.replica_buffer_limit), "0", "0")))
    if s.repl_backlog is not None:
        out.append(("repl-backlog-size", (str(s.repl_backlog),)))
    return out


def replicated_conf(s: ReplicatedServer) -> str:
    return to_conf(replicated_directives(s), header=(
        "redis.conf template of a replicated member (cache-patterns). Read-only: redis-start.sh\n"
        "copies it and appends the password, the announced address and replicaof."))


@dataclass(frozen=True, kw_only=True)
class SentinelSettings:
    """One Sentinel group watching one primary. `initial_primary` ("host:port", ordinal 0) goes in the
    template's monitor line; sentinel-start.sh replaces it with the current primary it discovers."""

    master_name: str
    initial_primary: str
    quorum: int
    port: int = 26379
    work_dir: str = "/run/cache-patterns"
    down_after_ms: int = 5000
    failover_timeout_ms: int = 30_000
    parallel_syncs: int = 1
    auth: bool = True
    tls: TlsFiles | None = None
    bind: tuple[str, ...] = ALL_INTERFACES

    def __post_init__(self) -> None:
        if not self.master_name or any(c.isspace() for c in self.master_name):
            raise ValueError(f"master_name must be a non-empty word, got {self.master_name!r}")
        host, _, port = self.initial_primary.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"initial_primary must be host:port, got {self.initial_primary!r}")
        if self.quorum < 1:
            raise ValueError(f"quorum must be >= 1, got {self.quorum}")


def sentinel_directives(s: SentinelSettings) -> list[Directive]:
    """sentinel.conf without the lines sentinel-start.sh appends (`sentinel announce-ip/port`,
    `requirepass`, `sentinel auth-pass`). Order matters: hostnames must be resolvable before the
    monitor line names one, and per-master settings must follow the monitor line."""
    host, _, port = s.initial_primary.rpartition(":")
    name = s.master_name
    return _listen(s.port, s.tls, s.bind) + [
        ("protected-mode", ("yes" if s.auth else "no",)),
        ("dir", (s.work_dir,)),
        ("logfile", ("",)),
        # Pod names, not pod IPs: an IP changes when a pod is rescheduled, the name does not.
        ("sentinel", ("resolve-hostnames", "yes")),
        ("sentinel", ("announce-hostnames", "yes")),
        # Nobody can point Sentinel at a script through SENTINEL SET.
        ("sentinel", ("deny-scripts-reconfig", "yes")),
        ("sentinel", ("monitor", name, host, port, str(s.quorum))),
        ("sentinel", ("down-after-milliseconds", name, str(s.down_after_ms))),
        ("sentinel", ("failover-timeout", name, str(s.failover_timeout_ms))),
        ("sentinel", ("parallel-syncs", name, str(s.parallel_syncs))),
    ]


def sentinel_conf(s: SentinelSettings) -> str:
    return to_conf(sentinel_directives(s), header=(
        "sentinel.conf template (cache-patterns). Read-only: sentinel-start.sh copies it into a\n"
        "writable directory (Sentinel rewrites its config), names the current primary in the monitor\n"
        "line and appends the password and the announced address."))


# ---------------------------------------------------------------------------------------------
# ACL users of pattern 2. The ConfigMap carries `acl-users.conf` (`user <name> <rules>`, no password);
# redis-start.sh appends `on >password` to each line, reading the password from the mounted Secret,
# and writes the lines into the runtime redis.conf. The default user keeps `requirepass`.

ACL_USERS_FILE = "acl-users.conf"
ACL_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# `ACL CAT` of Redis 7.0 (Valkey 8 has the same), plus `all`.
ACL_CATEGORIES = ("all", "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
                  "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous",
                  "connection", "transaction", "scripting")
ACL_KEYWORDS = ("allkeys", "allchannels", "allcommands", "nocommands", "resetkeys", "resetchannels",
                "clearselectors", "sanitize-payload", "skip-sanitize-payload")
# The program decides these: every user is on, and its only password is the generated one.
ACL_RESERVED = ("on", "off", "nopass", "resetpass", "reset")
# Characters of key and channel patterns: enough for globs (`*?[]^-`) and usual key separators, and
# nothing a config line, a shell or a password rule could read differently (quotes, backslash, #, <, >, !, $).
ACL_PATTERN_CHARS = r"-A-Za-z0-9_:.*?\[\]{}/@=,+^|"
_ACL_RULE = re.compile(
    rf"(%R|%W|%RW)?~[{ACL_PATTERN_CHARS}]+"        # keys (read/write-only with %R / %W)
    rf"|&[{ACL_PATTERN_CHARS}]+"                   # pub/sub channels
    r"|[+-]@[A-Za-z]+"                             # command categories
    r"|[+-][A-Za-z][A-Za-z0-9_.-]*(\|[A-Za-z][A-Za-z0-9_.-]*)?",  # commands and subcommands
)
ACL_RULES_DOC = ("~keys, %R~keys, %W~keys, &channels, +command, -command, +command|subcommand, +@category, "
                 "-@category, " + ", ".join(ACL_KEYWORDS[:-2]) + ", and (selectors)")


def acl_name_problems(name: str) -> list[str]:
    if name == "default":
        return ["'default' is the user of `requirepass` (replication, Sentinel and apps without a user); "
                "pick another name"]
    if not ACL_NAME.fullmatch(name):
        return [f"{name!r} is not a user name (a lower-case letter, then up to 31 lower-case letters, digits, "
                f"'_' or '-')"]
    return []


def _acl_token_problem(token: str) -> str | None:
    word = token.lower()
    if word in ACL_RESERVED:
        return (f"{token!r} is set by the program (every ACL user is on, with only its generated password); "
                f"remove it")
    if token[0] in "><#!":
        # Never echo the rest: it may be a password.
        return (f"a {token[0]!r} rule would set or remove a password; passwords are generated, remove it")
    if word in ACL_KEYWORDS:
        return None
    bad = sorted(set(re.sub(rf"[{ACL_PATTERN_CHARS}%~&]", "", token)))
    if bad:
        return (f"{token!r} contains {', '.join(map(repr, bad))}: rules may only use letters, digits and "
                f"_:.*?[]{{}}/@=,+^|-~%&")
    if not _ACL_RULE.fullmatch(token):
        return f"{token!r} is not an ACL rule (allowed: {ACL_RULES_DOC})"
    if token[1:2] == "@" and word[2:] not in ACL_CATEGORIES:
        close = difflib.get_close_matches(word[2:], ACL_CATEGORIES, n=1)
        hint = f"; did you mean {token[:2]}{close[0]}?" if close else ""
        return f"{token!r}: {token[2:]!r} is not an ACL category (one of {', '.join(ACL_CATEGORIES)}){hint}"
    return None


def acl_rule_problems(rules: str) -> list[str]:
    """Why `rules` cannot be an ACL user's rules in this program (empty: it can). The grammar is
    Redis 7.0's ACL SETUSER rules, minus what the program controls (on/off and passwords)."""
    tokens = rules.split()
    if not tokens:
        return ["is empty: give at least one rule, such as ~app:* +@read"]
    problems: list[str] = []
    in_selector = False
    for token in tokens:
        inner = token
        if inner.startswith("("):
            if in_selector:
                problems.append(f"{token!r} opens a selector inside a selector")
            in_selector = True
            inner = inner[1:]
        closes = inner.endswith(")")
        if closes:
            if not in_selector:
                problems.append(f"{token!r} closes a selector that was not opened")
            in_selector = False
            inner = inner[:-1]
        if not inner:
            problems.append(f"{token!r} is an empty selector")
            continue
        problem = _acl_token_problem(inner)
        if problem:
            problems.append(problem)
    if in_selector:
        problems.append("a selector '(' is not closed with ')'")
    return problems


def acl_users_conf(users: Sequence[tuple[str, str]]) -> str:
    """acl-users.conf: one `user <name> <rules>` line per user, without the password (redis-start.sh
    appends `on >password`, so no rule can come after it and switch the user off)."""
    return to_conf([("user", (name, *rules.split())) for name, rules in users], header=(
        "ACL users (cache-patterns). Read-only: redis-start.sh appends `on >password` to each line,\n"
        "from the mounted Secret, in the runtime redis.conf. The default user keeps requirepass."))
