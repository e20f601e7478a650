"""A network partition of a live cluster on a PodNetwork, measured from the clients' side: used by the
live partition test (short timings) and by benchmarks/partition.py (the staging stack's own plan).

One trial: the node that holds the primary (with one Sentinel, one HAProxy and a client pod) is cut off
from the other nodes for `partition_s`, then healed. Clients write all along (a SET's OK counts as
acknowledged, as most applications take it): one beside the old primary through the HAProxy of its
own node (the minority side), one pinned to the old primary's address (a client that resolved it
once, or a misconfigured one), and one on a majority node through that node's HAProxy. A prober
beside the old primary opens a new connection through the minority HAProxy every 50 ms and records
which server answered, if any. Afterwards every acknowledged key is looked up on the primary that
every Sentinel names: what is missing was acknowledged and lost.
"""
from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field

import redis

from testbed.statefulset import LocalStatefulSet
from testbed.support import Writer, missing_keys, wait_until

TIMEOUT = 0.5   # client socket timeouts: short, no retries (FIELD-NOTES: defaults stall ~21 s)


@dataclass
class Path:
    """What one client saw."""

    name: str
    acked: int
    lost: list[float]                 # ack times (s after the partition began) of the lost writes
    no_write_s: float                 # longest time without an acknowledged write, partition to the end
    # The last write acknowledged while the partition lasted (s after it began); for the clients
    # beside the old primary, the last one the old primary acknowledged.
    last_ack_partitioned_s: float | None = None

    @property
    def window(self) -> str:
        return f"{min(self.lost):.2f} .. {max(self.lost):.2f} s" if self.lost else "-"


@dataclass
class Trial:
    old: int
    new: int
    paths: dict[str, Path]
    probes: dict[str, int] = field(default_factory=dict)   # new connections via the minority HAProxy
    detected_s: float | None = None   # first refused new connection via the minority HAProxy
    last_to_old_s: float | None = None  # last new connection via the minority HAProxy that reached the old primary
    switch_s: float | None = None     # a majority of Sentinels names a new primary


class Prober(threading.Thread):
    """Opens a new connection through an endpoint every `period` s and records who answered."""

    def __init__(self, cluster: LocalStatefulSet, j: int, pod: str, period: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.cluster, self.j, self.pod, self.period = cluster, j, pod, period
        self.seen: list[tuple[float, str | None]] = []   # (time, "host:port" of the server, None: refused)
        self.halt = threading.Event()

    def run(self) -> None:
        assert self.cluster.network is not None
        self.cluster.network.enter(self.pod)
        while not self.halt.is_set():
            t = time.monotonic()
            try:
                with self.cluster.endpoint(TIMEOUT, j=self.j) as c:
                    # Servers of a pod network share a port: the run id tells them apart.
                    who = str(c.info("server")["run_id"])
                self.seen.append((t, who))
            except (redis.RedisError, OSError):
                self.seen.append((t, None))
            self.halt.wait(self.period)

    def stop(self) -> None:
        self.halt.set()
        self.join(5)


def run_ids(cluster: LocalStatefulSet) -> dict[str, int]:
    out = {}
    for i in range(cluster.servers):
        with cluster.redis(i) as r:
            out[str(r.info("server")["run_id"])] = i
    return out


def trial(cluster: LocalStatefulSet, partition_s: float, after_s: float = 5.0, settle_s: float = 120) -> Trial:
    """One partition of the primary's node; see the module docstring."""
    net = cluster.network
    assert net is not None, "a partition needs a PodNetwork"
    old = cluster.settle(timeout=settle_s)
    node = cluster.node_of(f"redis-{old}")
    majority_node = next(n for n in sorted(net.nodes()) if n != node)
    minority_ep = next(j for j, name in enumerate(cluster.haproxy_names) if cluster.node_of(name) == node)
    majority_ep = next(j for j, name in enumerate(cluster.haproxy_names) if cluster.node_of(name) == majority_node)
    ids = run_ids(cluster)
    old_addr = cluster.redis_addrs[old]
    tag = f"t{int(time.monotonic() * 1000) % 10**8}"

    def enter(pod: str):
        return lambda: net.enter(pod)

    writers = {
        "pinned to the old primary": Writer(lambda: cluster.client(old_addr, TIMEOUT), f"{tag}:pin",
                                            enter=enter(f"client-{node}"), wait_replicas=0),
        "via the minority-side HAProxy": Writer(lambda: cluster.endpoint(TIMEOUT, j=minority_ep), f"{tag}:hmin",
                                                enter=enter(f"client-{node}"), wait_replicas=0),
        # The same path with WAIT 1: the client learns whether a replica has each write.
        "via the minority-side HAProxy, WAIT 1": Writer(lambda: cluster.endpoint(TIMEOUT, j=minority_ep),
                                                        f"{tag}:wmin", enter=enter(f"client-{node}"), wait_replicas=1),
        "via a majority-side HAProxy": Writer(lambda: cluster.endpoint(TIMEOUT, j=majority_ep), f"{tag}:hmaj",
                                              enter=enter(f"client-{majority_node}"), wait_replicas=0),
    }
    prober = Prober(cluster, minority_ep, f"client-{node}")
    for w in writers.values():
        w.start()
    prober.start()
    wait_until("writes on every path", lambda: all(len(w.acked) > 100 for w in writers.values()), 30)

    t0 = time.monotonic()
    net.isolate({node})
    switch: float | None = None
    while time.monotonic() < t0 + partition_s:
        if switch is None:
            views = cluster.sentinel_views()
            named = [v for v in views if v is not None and v != str(old_addr)]
            if len(named) >= cluster.sentinels // 2 + 1:
                switch = time.monotonic()
        time.sleep(0.1)
    net.heal()
    healed = time.monotonic()
    new = wait_until("one primary every Sentinel names after healing", cluster.agreed_primary, settle_s, 0.25)
    time.sleep(after_s)
    end = time.monotonic()
    for w in writers.values():
        w.stop()
    prober.stop()

    cluster.settle(timeout=settle_s)
    paths: dict[str, Path] = {}
    with cluster.redis(new) as r:
        for name, w in writers.items():
            lost = set(missing_keys(r, w.acked))
            lost_at = [s - t0 for k, s in zip(w.acked, w.successes) if k in lost]
            gap, _ = w.longest_gap(t0, end)
            during = [s - t0 for s in w.successes if t0 <= s < healed]
            paths[name] = Path(name=name, acked=len(w.acked), lost=lost_at, no_write_s=gap,
                               last_ack_partitioned_s=max(during) if during else None)
    during = [(t, who) for t, who in prober.seen if t0 <= t < healed]
    old_id = next(k for k, v in ids.items() if v == old)
    probes = {"to the old primary": sum(1 for _, who in during if who == old_id),
              "to another server": sum(1 for _, who in during if who not in (None, old_id)),
              "refused": sum(1 for _, who in during if who is None)}
    refused = [t for t, who in during if who is None]
    to_old = [t for t, who in during if who == old_id]
    return Trial(old=old, new=new, paths=paths, probes=probes,
                 detected_s=(min(refused) - t0) if refused else None,
                 last_to_old_s=(max(to_old) - t0) if to_old else None,
                 switch_s=(switch - t0) if switch else None)


def summary(values: list[float]) -> str:
    vals = [v for v in values if v == v]
    if not vals:
        return "-"
    return f"{min(vals):.2f} / {statistics.median(vals):.2f} / {max(vals):.2f}"
