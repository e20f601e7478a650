"""Pattern 2's write endpoint: haproxy.cfg for an HAProxy that sends writes to the Sentinel-elected
primary and reads to healthy replicas. Holds no secret (the password is `${REDIS_PASSWORD}`)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cache_patterns.patterns.statefulset.ha import Topology

REDIS_PORT = 6379
READ_PORT = 6380
HEALTH_PORT = 8404
# The pods' ConfigMap mount (ha.CONF_DIR) and the Lua task in it that closes open write connections to a
# server the Sentinel majority no longer names.
CONF_DIR = "/etc/cache-patterns/conf"
QUORUM_LUA = "haproxy-quorum.lua"


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """The stable write endpoint (and a read endpoint) for clients that do not speak Sentinel.

    HAProxy sends new connections only to the server that reports role:master AND that a majority
    of all Sentinels name (never one Sentinel's word: an HAProxy on the minority side of a partition
    then refuses writes instead of feeding the isolated old primary). Connections to a server are
    closed as soon as it stops reporting role:master (`on-marked-down shutdown-sessions`) or loses
    that majority (haproxy-quorum.lua). TLS passes through (clients verify the Redis certificate,
    which must name the endpoint's Services too)."""

    topology: "Topology"
    auth: bool = True
    tls_ca_file: str | None = None
    bind: str = "*"
    write_port: int = REDIS_PORT
    read_port: int = READ_PORT
    health_port: int = HEALTH_PORT
    check_interval_ms: int = 1000
    # How often a server that is down is checked again (HAProxy `downinter`); None: check_interval_ms.
    down_check_interval_ms: int | None = None
    idle_timeout_s: int = 3600
    # Re-resolve pod names at run time (a rescheduled pod has a new IP); off only where no DNS exists.
    resolvers: bool = True
    # Where haproxy-quorum.lua is (the ConfigMap beside haproxy.cfg).
    conf_dir: str = CONF_DIR
    # A Sentinel check gives up connecting after this: how soon an HAProxy cut off from most Sentinels
    # (a partition) stops writes. A pod answers a SYN in well under a millisecond.
    sentinel_connect_timeout_ms: int = 500
    # Where the servers' states are saved before a reload (a certificate reload), so the new worker
    # starts from them instead of from "every server up"; None: HAProxy is never reloaded.
    state_file: str | None = None


def _pcre_literal(text: str) -> str:
    return re.sub(r"([^A-Za-z0-9_-])", r"\\\1", text)


def _haproxy_auth(e: Endpoint) -> list[str]:
    if not e.auth:
        return []
    # Expanded by HAProxy from its environment (haproxy-start.sh reads the Secret file into it).
    return ['    tcp-check send "AUTH ${REDIS_PASSWORD}\\r\\n"', "    tcp-check expect string +OK"]


def haproxy_cfg(e: Endpoint) -> str:
    """haproxy.cfg for the endpoint. Holds no secret: the password is `${REDIS_PASSWORD}`."""
    servers = [f"r{i}" for i in range(len(e.topology.servers))]
    lines = _global(e) + _frontends(e) + _primary(e, servers) + _named(e, servers) + _replicas(e, servers)
    return "\n".join(lines) + "\n"


def _check(e: Endpoint) -> str:
    check = f"check inter {e.check_interval_ms}ms fall 1 rise 1"
    if e.down_check_interval_ms is not None:
        check += f" downinter {e.down_check_interval_ms}ms"
    if e.tls_ca_file is not None:
        check += f" check-ssl verify required ca-file {e.tls_ca_file}"
    if e.resolvers:
        check += " resolvers cluster init-addr last,libc,none"
    return check


def _global(e: Endpoint) -> list[str]:
    lines = [
        "# haproxy.cfg (cache-patterns): write endpoint on the Sentinel-elected primary, read endpoint",
        "# on healthy replicas. The password comes from the environment (haproxy-start.sh).",
        "global",
        "    log stdout format raw local0 notice",
        "    maxconn 4000",
        "    hard-stop-after 10s",
        # Closes open write connections to a server the Sentinel majority no longer names.
        f"    lua-load {e.conf_dir}/{QUORUM_LUA}",
        *([f"    server-state-file {e.state_file}"] if e.state_file else []),
        "",
    ]
    if e.resolvers:
        lines += [
            "resolvers cluster",
            "    parse-resolv-conf",
            "    resolve_retries 3",
            "    timeout resolve 1s",
            "    timeout retry 1s",
            "    hold valid 5s",
            "    hold nx 5s",
            "    hold obsolete 5s",
            "",
        ]
    return lines


def _frontends(e: Endpoint) -> list[str]:
    return [
        "defaults",
        "    mode tcp",
        "    log global",
        "    option dontlognull",
        "    timeout connect 2s",
        f"    timeout client {e.idle_timeout_s}s",
        f"    timeout server {e.idle_timeout_s}s",
        "    timeout check 2s",
        *(["    load-server-state-from-file global"] if e.state_file else []),
        # A client must not keep writing to a server that was demoted (or lost the election).
        f"    default-server {_check(e)} on-marked-down shutdown-sessions",
        "",
        "frontend write",
        f"    bind {e.bind}:{e.write_port}",
        "    default_backend primary",
        "",
        "frontend read",
        f"    bind {e.bind}:{e.read_port}",
        "    use_backend primary if { nbsrv(replicas) eq 0 }",
        "    default_backend replicas",
        "",
        "frontend health",
        "    mode http",
        f"    bind {e.bind}:{e.health_port}",
        "    monitor-uri /healthz",
        "",
    ]


def _primary(e: Endpoint, servers: list[str]) -> list[str]:
    t = e.topology
    lines = [
        "backend primary",
        "    option tcp-check",
        *_haproxy_auth(e),
        # QUIT in the same packet: the server closes after replying, so a mismatch fails at once
        # instead of waiting `timeout check` for more data.
        '    tcp-check send "INFO replication\\r\\nQUIT\\r\\n"',
        "    tcp-check expect string role:master",
    ]
    for name in servers:
        lines.append(f"    use-server {name} if {{ srv_is_up(primary/{name}) }} "
                     f"{{ nbsrv(named-{name}) ge {t.majority} }}")
    # Weight 0: never chosen by load balancing, only by the rules above, so with no elected
    # primary a connection is refused rather than sent to a server that merely claims the role.
    lines += [f"    server {name} {addr} weight 0" for name, addr in zip(servers, t.servers)]
    return lines + [""]


def _named(e: Endpoint, servers: list[str]) -> list[str]:
    t, lines = e.topology, []
    for name, addr in zip(servers, t.servers):
        host, port = _pcre_literal(addr.host), str(addr.port)
        lines += [
            f"backend named-{name}",
            f"    # Up on each Sentinel that names {addr} as the primary of {t.master_name}.",
            f"    timeout connect {e.sentinel_connect_timeout_ms}ms",
            "    timeout check 1s",
            "    option tcp-check",
            *_haproxy_auth(e),
            f'    tcp-check send "SENTINEL get-master-addr-by-name {t.master_name}\\r\\n"',
            # Sentinel knows no QUIT, so it never closes the connection: first wait for a whole reply
            # (an address, nil or an error), then judge it at once (min-recv 0) instead of waiting
            # `timeout check` for more data when it names another server.
            "    tcp-check expect rstring '^(\\*2\\r\\n(\\$[0-9]+\\r\\n[^\\r]*\\r\\n){2}|\\*-1\\r\\n|-[^\\r]*\\r\\n)'",
            f"    tcp-check expect min-recv 0 rstring '^\\*2\\r\\n\\${len(addr.host)}\\r\\n{host}\\r\\n"
            f"\\${len(port)}\\r\\n{port}\\r\\n'",
            *(f"    server s{i} {s}" for i, s in enumerate(t.sentinels)),
            "",
        ]
    return lines


def _replicas(e: Endpoint, servers: list[str]) -> list[str]:
    return [
        "backend replicas",
        "    balance leastconn",
        "    option tcp-check",
        *_haproxy_auth(e),
        '    tcp-check send "INFO replication\\r\\nQUIT\\r\\n"',
        "    tcp-check expect rstring 'role:slave\\r\\nmaster_host:[^\\r]*\\r\\nmaster_port:[0-9]+\\r\\n"
        "master_link_status:up'",
        *(f"    server {name} {addr}" for name, addr in zip(servers, e.topology.servers)),
    ]
