"""What the containers beside Redis need: the Sentinels, the HAProxy write endpoint, the exporters and
the certificate watchers. Their requests and limits by default (each overridable per cache:
`caches.<name>.resources.<component>`), and what the planner counts for the pods they make up.

None of them holds data: their memory is the process and its buffers, flat in the data set's size.
The figures are requests a scheduler can pack and limits with room above what the processes use:
`benchmarks/footprint.py` measured staging as deployed, 2 HAProxy with 500 idle clients each, under
writes and scrapes (docs/benchmarks.md, load 25-31 on 2 CPUs): peak resident Sentinel 17.1 MiB,
HAProxy 28.0 MiB, exporter 17.0 MiB, watcher 4.3 MiB; CPU 11.5m, 35.1m, 2.4m and 3.5m.
"""
from __future__ import annotations

from dataclasses import dataclass

from .headroom import MI


@dataclass(frozen=True)
class Footprint:
    """A container's default requests and limits: CPU request in millicores (no CPU limit: throttling
    a Sentinel or HAProxy delays failover checks), memory request and limit in bytes."""

    cpu: int
    memory: int
    memory_limit: int
    why: str


FOOTPRINTS: dict[str, Footprint] = {
    # Sentinel: a Redis process with a few connections (its peers, the servers, HAProxy's checks);
    # measured 7 millicores with HAProxy checking it every second (docs/benchmarks.md, failover).
    "sentinel": Footprint(25, 64 * MI, 64 * MI, "a Redis process in Sentinel mode: a few connections, no data"),
    # HAProxy: `maxconn 4000` connections of buffers at most (tune.bufsize 16 KiB, two per connection
    # allocated on use), its checks every second; measured 20 millicores with TLS checks.
    "haproxy": Footprint(50, 64 * MI, 128 * MI, "connection buffers, allocated as clients connect"),
    # redis_exporter: a Go process answering a scrape every 30 s.
    "exporter": Footprint(10, 32 * MI, 64 * MI, "a Go process answering scrapes"),
    # The certificate watcher: a shell polling a few files every few seconds.
    "tlsReload": Footprint(5, 16 * MI, 32 * MI, "a shell polling a few files"),
}
