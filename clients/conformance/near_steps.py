"""The steps of the in-process L1's scenarios (scenarios/09_in_process.json; README.md, "Steps"): a pod
whose L1 lives in its client (`"l1": "in-process"`, bounds and tracking in `near`), what that L1 holds
(`near`), an L2 failover through Sentinel (`failover`), a proxy that moves new connections to the
replica (`move`), a keyspace to read (`fill`) and a Zipf workload over it (`zipf` on a `read_many`).
A base class of runner.Run, sharing its state.
"""
from __future__ import annotations

import random
from typing import Any, Dict, List, Optional

from redis.exceptions import ResponseError

from .drivers import b64, unb64
from .servers import Proxy, Server, wait_until

# What a pod's `near` block may set, and the variables of the env contract they become.
NEAR_ENV = {"max_entries": ("CACHE_L1_MAX_ENTRIES", "10000"), "max_bytes": ("CACHE_L1_MAX_BYTES", "67108864"),
            "tracking": ("CACHE_L1_TRACKING", "default"), "prefixes": ("CACHE_L1_TRACKING_PREFIXES", None)}


def in_process(spec: Dict[str, Any]) -> bool:
    return spec.get("l1") == "in-process"


def near_env(spec: Dict[str, Any]) -> Dict[str, str]:
    """The in-process L1's variables, as the foundation renders them for `l1: {mode: in-process}`."""
    near = spec.get("near", {})
    env = {"CACHE_L1_MODE": "in-process"}
    for key, (name, default) in NEAR_ENV.items():
        value = near.get(key, default)
        if value is not None:
            env[name] = str(value)
    return env


def zipf_keys(spec: Dict[str, Any]) -> List[str]:
    """`reads` keys of `prefix0` .. `prefix<keys-1>` drawn with Zipf exponent `s` (rank 1 hottest),
    seeded, so every client reads the same sequence."""
    n, s = spec["keys"], spec.get("s", 0.99)
    weights = [1 / (rank ** s) for rank in range(1, n + 1)]
    rng = random.Random(spec.get("seed", 42))
    ranks = rng.choices(range(n), weights=weights, k=spec["reads"])
    return [b64(f"{spec.get('prefix', 'z:')}{r}".encode()) for r in ranks]


class NearSteps:
    """Steps on the in-process L1 and on the L2's topology. State lives on the Run."""

    pods: Dict[str, Any]
    l2: Server
    replica: Optional[Server]
    sentinel: Optional[Server]
    proxy: Optional[Proxy]

    def _near(self, s: Dict[str, Any]) -> None:
        """`{"near": pod, "key": k, "expect": v|null}`, and/or `"expect_size": {"entries": ..., ...}`
        (names of the driver's `peek` answer: entries, bytes, max_entries_seen, max_bytes_seen, evictions)."""
        from .runner import matches, raw

        pod = self.pods[s["near"]]
        args = {"key_b64": b64(raw(s, "key"))} if "key" in s or "key_hex" in s else {}
        got = pod.driver.call("peek", **args)
        if "expect" in s or "expect_hex" in s:
            want = None if s.get("expect", 0) is None else raw(s, "expect")
            assert unb64(got["value_b64"]) == want, f"pod {pod.name}'s in-process L1 holds {unb64(got['value_b64'])!r}, expected {want!r}"
        for name, want in s.get("expect_size", {}).items():
            assert matches(got[name], want), f"pod {pod.name}: {name} is {got[name]}, expected {want}"

    def _fill(self, s: Dict[str, Any]) -> None:
        """`{"fill": {"prefix": "z:", "keys": n, "bytes": size}}`: n keys on L2 behind the clients' backs."""
        spec = s["fill"]
        client = self.l2.client()
        try:
            pipe = client.pipeline(transaction=False)
            for i in range(spec["keys"]):
                pipe.set(f"{spec.get('prefix', 'z:')}{i}", bytes([65 + i % 26]) * spec["bytes"])
            pipe.execute()
        finally:
            client.close()

    def _failover(self, s: Dict[str, Any]) -> None:
        """`{"failover": "sentinel"}`: SENTINEL FAILOVER to the replica; once the Sentinel names it, the
        old primary gets what the Sentinel sends it when it reconfigures it (REPLICAOF the new primary,
        then CLIENT KILL of its normal and Pub/Sub clients, in one MULTI), at once rather than at the
        Sentinel's next INFO of it, up to 10 s later. The new primary is then the scenario's `l2`."""
        assert self.sentinel is not None and self.replica is not None, "failover needs servers: sentinel, replica"
        old, new = self.l2, self.replica
        admin = self.sentinel.client()
        def failover() -> bool:
            try:
                return bool(admin.execute_command("SENTINEL", "FAILOVER", "mymaster"))
            except ResponseError as exc:  # NOGOODSLAVE until the Sentinel has the replica's INFO
                if "NOGOODSLAVE" not in str(exc):
                    raise
                return False

        try:
            wait_until(failover, 15.0, "the Sentinel to accept SENTINEL FAILOVER")
            # SENTINEL MASTERS, which clients ask, changes at +switch-master (GET-MASTER-ADDR-BY-NAME
            # names the promoted replica earlier, while the Sentinel reconfigures replicas).
            wait_until(lambda: int(admin.sentinel_master("mymaster")["port"]) == new.port, 15.0,
                       "the Sentinel to name the replica as primary")
        finally:
            admin.close()
        probe = old.client()
        try:
            pipe = probe.pipeline(transaction=True)
            pipe.execute_command("REPLICAOF", "127.0.0.1", new.port)
            pipe.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            pipe.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            pipe.execute()
        finally:
            probe.close()
        self.l2, self.replica = new, old

    def _move(self, s: Dict[str, Any]) -> None:
        """`{"move": "replica"}`: promote the replica (REPLICAOF NO ONE) and send the proxy's new
        connections to it, leaving the old primary as it is (a split: it never sees the new writes), and
        its open connections open; `"close": "normal"` then closes the old primary's normal clients (data
        connections reconnect through the proxy; the tracking connection, a Pub/Sub one, stays)."""
        assert self.proxy is not None and self.replica is not None, "move needs servers: proxy, replica"
        old, new = self.l2, self.replica
        admin = new.client()
        try:
            admin.execute_command("REPLICAOF", "NO", "ONE")
        finally:
            admin.close()
        self.proxy.move(new)
        if s.get("close"):
            probe = old.client()
            try:
                probe.execute_command("CLIENT", "KILL", "TYPE", s["close"], "SKIPME", "yes")
            finally:
                probe.close()
        self.l2, self.replica = new, old
