"""The plans the live tests and benchmarks run: a stack's own (`stack_plan`, what `pulumi up` deploys) or one
made of the live tests' short timings (`settings_plan`)."""
from __future__ import annotations

import copy


from cache_patterns.core.redis_conf import ReplicatedServer, SentinelSettings, TlsFiles
from cache_patterns.patterns.statefulset import ha

from testbed.support import MASTER


def stack_plan(stack: str, cache: str, changes: dict | None = None) -> ha.HaPlan:
    """The plan `pulumi up` deploys for `cache` of `stack`: its stack file parsed as the Pulumi engine
    passes it, and the names the StatefulSet component gives it (ha.stack_plan). Its ConfigMaps are
    `plan.files(role)`: tests/test_live_plan.py checks they equal the rendered stack's. `changes` edit
    the cache's keys in the stack file first (a value None removes the key): a variant of the stack
    that differs exactly there."""
    from cache_patterns.stack import NAMESPACE
    from tools import harness
    from tools.plan import parse_stack

    values = copy.deepcopy(harness.load_stack_config(stack))
    entry = values[f"{NAMESPACE}:caches"][cache]
    for key, value in (changes or {}).items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    cfg = parse_stack(values, stack)
    settings = cfg.caches[cache]
    if settings.pattern != "statefulset":
        raise ValueError(f"{stack}: cache {cache} is a {settings.pattern} cache, not a statefulset one")
    return ha.stack_plan(stack, cache, settings, cfg.namespace, cfg.cluster_domain)


def settings_plan(*, servers: int, sentinels: int, down_after_ms: int, failover_timeout_ms: int,
                  min_replicas_to_write: int, min_replicas_max_lag_ms: int, persistence: str, tls: bool,
                  failover_wait_s: int, acl_users: tuple[tuple[str, str], ...], check_interval_ms: int,
                  tls_poll_s: float, tls_trust_delay_s: int, tls_restart_slot_s: int) -> ha.HaPlan:
    """A plan made from the live tests' own settings (short timings, small memory), with pod addresses
    and paths that LocalStatefulSet replaces by local ones like any stack's plan."""
    names = ha.PodNames(statefulset=MASTER, namespace="live", servers=servers, sentinels=sentinels)
    topology = ha.Topology(master_name=MASTER, servers=names.server_addresses(), sentinels=names.sentinel_addresses())
    tls_files = TlsFiles() if tls else None
    return ha.HaPlan(
        names=names,
        # The planner's replica buffer and backlog for 64 MiB without a workload, as a stack renders them.
        server=ReplicatedServer(maxmemory=64 * 1024 * 1024, maxmemory_policy="noeviction",
                                replica_buffer_limit=64 * 1024 * 1024, repl_backlog=1024 * 1024,
                                persistence=persistence, tls=tls_files, min_replicas_to_write=min_replicas_to_write,
                                min_replicas_max_lag_ms=min_replicas_max_lag_ms, acl_users=acl_users),
        sentinel=SentinelSettings(master_name=MASTER, initial_primary=str(topology.servers[0]),
                                  quorum=topology.majority, down_after_ms=down_after_ms,
                                  failover_timeout_ms=failover_timeout_ms, tls=tls_files),
        scripts=ha.ScriptSettings(topology=topology, discovery_timeout_s=30, sentinel_discovery_timeout_s=5,
                                  failover_wait_s=failover_wait_s, prestop_timeout_s=20,
                                  tls_ca_file=tls_files.ca_file if tls_files else None,
                                  tls_secret_dir=ha.TLS_DIR if tls else None, tls_live_dir=ha.TLS_LIVE_DIR if tls else None,
                                  tls_poll_s=tls_poll_s, tls_trust_delay_s=tls_trust_delay_s,
                                  tls_restart_slot_s=tls_restart_slot_s),
        endpoint=ha.Endpoint(topology=topology, tls_ca_file=tls_files.ca_file if tls_files else None,
                             check_interval_ms=check_interval_ms, state_file=ha.HAPROXY_STATE_FILE if tls else None),
    )
