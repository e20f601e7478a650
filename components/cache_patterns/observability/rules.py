"""Alert rules for one cache, generated from what the stack created (a CacheTarget): the expected
number of primaries and replicas, the Sentinel count and quorum, the configured maxmemory and
eviction policy, the lag the stack tolerates, and the scrape jobs of its exporters.

Every rule selects exactly one job, so the Sentinels' exporters (which also report `redis_up` and a
`redis_instance_info` without a role) never mix with the data nodes'. Each alert's meaning and
runbook line live in CATALOGUE, which the annotations and docs/observability.md are both made from.

Three upstream mistakes are avoided on purpose (see docs/observability.md): `count(...) or vector(0)`
(with `by`, `vector(0)` matches no group and the alert fires while a primary exists), `changes()` on
a series whose `master_address` label changes at each failover, and `redis_config_maxclients` (absent
where CONFIG is refused; `redis_max_clients` comes from INFO).
"""
from __future__ import annotations

from dataclasses import dataclass

from cache_patterns.observability.target import BackupTarget, CacheTarget, ClientTarget

CRITICAL, WARNING = "critical", "warning"
# The client counters (clients/python, cache_patterns_client.metrics): one series per app pod.
CLIENT_HITS = "cache_patterns_client_hits_total"
CLIENT_MISSES = "cache_patterns_client_misses_total"
CLIENT_SUBSCRIBED = "cache_patterns_client_invalidation_subscribed"
# Under this share of its own daily L1 hit ratio, an L1 has collapsed.
L1_COLLAPSE_FACTOR = 0.5
# Reads per second (all pods of a namespace) below which a hit ratio says nothing.
L1_MIN_READS_PER_S = 1


@dataclass(frozen=True)
class AlertDoc:
    """What an alert means and what to do: the annotations and the docs page share this text."""

    name: str
    severity: str
    scope: str          # the exporters or clients it reads: data, sentinel, client
    applies: str        # when the stack gets this rule
    meaning: str
    runbook: str


CATALOGUE: dict[str, AlertDoc] = {d.name: d for d in (
    AlertDoc("RedisExporterDown", WARNING, "data, sentinel", "every scraped cache",
             "Prometheus cannot scrape an exporter: this cache is unobserved (its other alerts cannot fire).",
             "Check the exporter container of the pod (`kubectl logs <pod> -c exporter`) and that the "
             "NetworkPolicy admits the Prometheus namespace (`observability.prometheus.namespace`)."),
    AlertDoc("RedisMetricsAbsent", WARNING, "data, sentinel", "every scraped cache",
             "No target of this job is scraped at all: the PodMonitor selects no pod, or Prometheus does not "
             "select the PodMonitor.",
             "Compare the PodMonitor's labels with the Prometheus `podMonitorSelector` "
             "(`observability.prometheus.labels`, e.g. `release: <release>`) and its pod selector with the pods."),
    AlertDoc("RedisDown", CRITICAL, "data", "every scraped cache",
             "An exporter answers but its Redis does not (`redis_up == 0`) for a minute.",
             "`kubectl describe pod` / logs of the redis container: OOMKilled, crash loop, volume or TLS "
             "trouble. A primary that stays down should have been replaced by Sentinel: check RedisMissingPrimary."),
    AlertDoc("RedisMissingPrimary", CRITICAL, "data", "every scraped cache",
             "Fewer primaries than the stack runs (one, or one per shard) for a minute: writes fail.",
             "Ask a Sentinel `SENTINEL get-master-addr-by-name <master>` and check RedisSentinelQuorumLost; "
             "a failover that cannot find a healthy replica leaves no primary (see the Sentinel logs)."),
    AlertDoc("RedisTooManyPrimaries", CRITICAL, "data", "every scraped cache",
             "More primaries than the stack runs for a minute: a split brain, writes may be lost.",
             "Find which server Sentinel names; the other one must become its replica (`REPLICAOF`), "
             "or restart its pod so the start-up script re-joins it."),
    AlertDoc("RedisReplicaLinkDown", CRITICAL, "data", "caches with replicas",
             "A replica has lost its link to the primary for two minutes: it serves stale reads and "
             "cannot take over without losing data.",
             "Replica logs (`MASTER <-> REPLICA sync`), the NetworkPolicy between the Redis pods, "
             "the primary's output buffer limits and disk space for the full sync."),
    AlertDoc("RedisMissingReplicas", WARNING, "data", "caches with replicas",
             "The primary has fewer connected replicas than the stack runs for five minutes: one more "
             "failure can lose data or leave no failover target.",
             "`kubectl get pods` for pending or crash-looping replicas; `INFO replication` on the primary."),
    AlertDoc("RedisReplicationLag", WARNING, "data", "caches with replicas",
             "A replica has not acknowledged replication for longer than the stack tolerates "
             "(`minReplicasMaxLag`, else 30 s) for two minutes.",
             "Network or CPU saturation of the replica, a long full sync, or a large write burst; with "
             "minReplicasToWrite the primary refuses writes while too few replicas are fresh."),
    AlertDoc("RedisMemoryNearMaxmemory", WARNING, "data", "noeviction stores and volatile-* caches",
             "Used memory is above 90% of maxmemory for five minutes. A noeviction store then refuses "
             "writes (OOM errors); a volatile-* cache can only evict keys that have a TTL.",
             "Raise `memory` (maxmemory follows it), shorten TTLs, or find what grows (`MEMORY STATS`, "
             "`--bigkeys`). Do not switch a store to an evicting policy: that loses data."),
    AlertDoc("RedisStoreEvictingKeys", CRITICAL, "data", "noeviction stores",
             "A store configured `noeviction` evicted keys: its policy was changed at run time, and "
             "evicted entries (sessions...) are lost.",
             "`CONFIG GET maxmemory-policy` on every node and restore noeviction (the pods' config sets "
             "it at start); find who changed it."),
    AlertDoc("RedisCacheEvictionChurn", WARNING, "data", "evicting caches (allkeys-*, volatile-*)",
             "The cache evicts more keys per hour than it holds, for fifteen minutes: it is too small for "
             "its working set and the hit ratio suffers.",
             "Raise `memory` or plan it with `capacity`; check for keys written without a TTL or a "
             "burst of one-off keys."),
    AlertDoc("RedisRejectedConnections", WARNING, "data", "every scraped cache",
             "Redis refused connections in the last five minutes (maxclients reached).",
             "Look for a connection leak (`CLIENT LIST`), pool sizes times replicas of the apps; "
             "see RedisTooManyConnections."),
    AlertDoc("RedisTooManyConnections", WARNING, "data", "every scraped cache",
             "More than 85% of maxclients are connected for five minutes.",
             "Same as RedisRejectedConnections, before it happens: shrink the apps' pools or raise maxclients."),
    AlertDoc("RedisMaxmemoryMismatch", WARNING, "data", "caches whose maxmemory this program sets",
             "Redis runs with a maxmemory other than the one the stack planned, for ten minutes: the "
             "config did not reach the server (0 means no limit: the pod is OOM-killed instead of evicting).",
             "`CONFIG GET maxmemory` on the pods; for operator caches check that the operator applies "
             "maxmemory (OT-CONTAINER-KIT writes it only with its init-config feature gate)."),
    AlertDoc("RedisSentinelDown", WARNING, "sentinel", "caches with Sentinels",
             "A Sentinel's exporter answers but the Sentinel does not, for two minutes.",
             "Sentinel pod logs; two Sentinels down out of three leaves no majority to fail over."),
    AlertDoc("RedisSentinelMasterNotOk", CRITICAL, "sentinel", "caches with Sentinels",
             "A Sentinel has seen the primary as down (sdown/odown) for a minute: no failover has fixed it.",
             "Check RedisMissingPrimary and the Sentinel logs (`-failover-abort-*`); a failover needs a "
             "healthy, connected replica and a majority of Sentinels."),
    AlertDoc("RedisSentinelQuorumLost", CRITICAL, "sentinel", "caches with Sentinels",
             "No Sentinel can reach the quorum and majority needed to authorize a failover "
             "(`SENTINEL CKQUORUM` fails everywhere) for two minutes: the next primary failure is an outage.",
             "Bring the Sentinel pods back (PDB, node drains) and check that they reach each other on 26379."),
    AlertDoc("RedisSentinelsMissing", WARNING, "sentinel", "caches with Sentinels",
             "Even the best-connected Sentinel sees fewer healthy Sentinels than the stack runs, for five "
             "minutes: quorum still holds, but one more loss may break it.",
             "Find the missing Sentinel pod (pending, crash loop, partition)."),
    AlertDoc("RedisFailoverFlapping", WARNING, "sentinel", "caches with Sentinels",
             "More than two failovers in an hour (the configuration epoch, taken across Sentinels and "
             "across the primary's changing address).",
             "A primary that keeps dying (OOM, liveness probe) or a down-after-milliseconds too short for "
             "the network; read the Sentinel logs for `+switch-master`."),
    AlertDoc("RedisSentinelTilt", WARNING, "sentinel", "caches with Sentinels",
             "A Sentinel stays in TILT mode (its timer jumped, e.g. a stalled node) for a minute: it takes "
             "no action meanwhile.",
             "CPU starvation or pauses of the Sentinel's node; give the Sentinel pods their own CPU request."),
    AlertDoc("CacheBackupTooOld", CRITICAL, "backup", "caches with `backup.pushgateway`",
             "The last successful backup is older than twice the schedule's longest interval: a restore now "
             "loses more than the schedule promises.",
             "The backup Job's log and termination message name the failure (`kubectl get jobs -l "
             "app.kubernetes.io/component=backup`); see CacheBackupFailing and docs/backup.md."),
    AlertDoc("CacheBackupNeverSucceeded", WARNING, "backup", "caches with `backup.pushgateway`",
             "No successful backup of this cache has reached Prometheus for twice the schedule's longest "
             "interval: every run failed, or the Pushgateway is not scraped.",
             "Check the backup Jobs, and that Prometheus scrapes the Pushgateway with honorLabels: true."),
    AlertDoc("CacheBackupFailing", WARNING, "backup", "caches with `backup.pushgateway`",
             "The last backup run failed (the previous backups are untouched).",
             "Read the failed Job's termination message: missing-bucket, credentials-rejected, "
             "expired-credentials, wrong-key, corrupted, unreachable, no-source, snapshot or retention "
             "(docs/backup.md)."),
    AlertDoc("CacheL1HitRatioCollapsed", WARNING, "client", "two-tier caches (`l1`)",
             "The L1 hit ratio of a namespace's app pods over 15 minutes is below half its own average of "
             "the previous day, for fifteen minutes: reads fall through to L2.",
             "An invalidation storm (many writes or flush messages), a lost subscription "
             "(CacheInvalidationSubscriptionLost), L1 errors, or an L1 too small (`l1.memory`)."),
    AlertDoc("CacheInvalidationSubscriptionLost", WARNING, "client", "two-tier caches (`l1`)",
             "An app pod's client has not been subscribed to the invalidation channel for two minutes: "
             "it stops populating L1 (safe, but every read goes to L2).",
             "L2 reachability from the pod, pub/sub permissions of the L2 user (`&` channels), "
             "and the client's logs (`cache invalidation subscription lost`)."),
)}


@dataclass(frozen=True)
class Rule:
    """One alerting rule as a PrometheusRule holds it."""

    alert: str
    expr: str
    for_: str | None
    labels: dict
    annotations: dict

    def as_dict(self) -> dict:
        out: dict = {"alert": self.alert, "expr": self.expr}
        if self.for_:
            out["for"] = self.for_
        out["labels"] = dict(self.labels)
        out["annotations"] = dict(self.annotations)
        return out


def _sel(**matchers: str) -> str:
    """A label selector `{k="v",...}`; a key ending in `_re` becomes a regex matcher."""
    parts = []
    for key, value in matchers.items():
        op = "=~" if key.endswith("_re") else "="
        name = key[:-3] if key.endswith("_re") else key
        parts.append(f'{name}{op}"{value}"')
    return "{" + ",".join(parts) + "}"


class _Builder:
    def __init__(self, t: CacheTarget):
        self.t = t
        self.rules: list[Rule] = []
        self.component = "redis"

    def add(self, name: str, expr: str, for_: str | None, summary: str) -> None:
        doc = CATALOGUE[name]
        # `component` tells the Redis and the Sentinel copies of the exporter alerts apart (and routes).
        labels = {"severity": doc.severity, "stack": self.t.stack, "cache": self.t.cache, "component": self.component}
        annotations = {"summary": f"{summary} ({self.t.title})", "description": doc.meaning,
                       "runbook": doc.runbook}
        self.rules.append(Rule(name, " ".join(expr.split()), for_, labels, annotations))


def _exporter_rules(b: _Builder, job: str, what: str) -> None:
    j = _sel(job=job)
    b.add("RedisExporterDown", f"up{j} == 0", "5m", f"{what} exporter {{{{ $labels.instance }}}} cannot be scraped")
    b.add("RedisMetricsAbsent", f"absent(up{j})", "10m", f"no {what} exporter of job {job} is scraped")


def _data_rules(b: _Builder) -> None:
    t = b.t
    assert t.data is not None
    job = t.data.job
    j = _sel(job=job)
    primary = _sel(job=job, role="master")
    n = t.shards
    _exporter_rules(b, job, "Redis")
    b.add("RedisDown", f"redis_up{j} == 0", "1m", "Redis {{ $labels.instance }} is down")
    # `unless` instead of `or vector(0)`: the left side has one series per job whose exporters
    # answer, removed only while the job has at least `n` primaries.
    b.add("RedisMissingPrimary",
          f"count by (job) (redis_up{j}) unless on (job) (count by (job) (redis_instance_info{primary}) >= {n})",
          "1m", "no primary" if n == 1 else f"fewer than {n} primaries")
    b.add("RedisTooManyPrimaries", f"count by (job) (redis_instance_info{primary}) > {n}", "1m",
          "{{ $value }} servers report role:master")
    if t.replicas > 0:
        b.add("RedisReplicaLinkDown", f"redis_master_link_up{j} == 0", "2m",
              "replica {{ $labels.instance }} lost its link to {{ $labels.master_host }}")
        b.add("RedisMissingReplicas",
              f"(redis_connected_slaves{j} and on (instance) redis_instance_info{primary}) < {t.replicas}", "5m",
              f"primary {{{{ $labels.instance }}}} has {{{{ $value }}}} of {t.replicas} replicas")
        b.add("RedisReplicationLag", f"redis_connected_slave_lag_seconds{j} > {t.replication_lag_s}", "2m",
              "replica {{ $labels.slave_ip }}:{{ $labels.slave_port }} lags {{ $value }}s")
    if not t.evicting:
        b.add("RedisMemoryNearMaxmemory", f"redis_memory_used_bytes{j} / (redis_memory_max_bytes{j} > 0) > 0.9",
              "5m", "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of maxmemory")
    if t.store:
        b.add("RedisStoreEvictingKeys", f"increase(redis_evicted_keys_total{j}[5m]) > 0", None,
              "noeviction store {{ $labels.instance }} evicted keys")
    else:
        b.add("RedisCacheEvictionChurn",
              f"rate(redis_evicted_keys_total{j}[15m]) * 3600 > sum without (db) (redis_db_keys{j})", "15m",
              "{{ $labels.instance }} evicts more keys per hour than it holds")
    b.add("RedisRejectedConnections", f"increase(redis_rejected_connections_total{j}[5m]) > 0", None,
          "{{ $labels.instance }} rejected connections")
    b.add("RedisTooManyConnections", f"redis_connected_clients{j} / (redis_max_clients{j} > 0) > 0.85", "5m",
          "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of maxclients")
    if t.maxmemory is not None:
        b.add("RedisMaxmemoryMismatch", f"redis_memory_max_bytes{j} != {t.maxmemory}", "10m",
              f"{{{{ $labels.instance }}}} runs with maxmemory {{{{ $value }}}}, the stack planned {t.maxmemory}")


def _sentinel_rules(b: _Builder) -> None:
    t = b.t
    assert t.sentinel is not None
    job = t.sentinel.job
    j = _sel(job=job)
    _exporter_rules(b, job, "Sentinel")
    b.add("RedisSentinelDown", f"redis_up{j} == 0", "2m", "Sentinel {{ $labels.instance }} is down")
    b.add("RedisSentinelMasterNotOk", f"redis_sentinel_master_status{j} == 0", "1m",
          "Sentinel {{ $labels.instance }} sees {{ $labels.master_name }} {{ $labels.master_status }}")
    # The message label changes with the answer, so aggregate it away.
    b.add("RedisSentinelQuorumLost",
          f"max by (job, master_name) (redis_sentinel_master_ckquorum_status{j}) == 0", "2m",
          "no Sentinel can authorize a failover of {{ $labels.master_name }}")
    b.add("RedisSentinelsMissing",
          f"max by (job, master_name) (redis_sentinel_master_ok_sentinels{j}) < {t.sentinels}", "5m",
          f"{{{{ $value }}}} of {t.sentinels} Sentinels are healthy (quorum {t.quorum})")
    # master_address changes at every failover (a new series), so take the epoch across addresses
    # and Sentinels first, then count its changes over a subquery.
    b.add("RedisFailoverFlapping",
          f"changes(max by (job, master_name) (redis_sentinel_master_config_epoch{j})[1h:1m]) > 2", None,
          "{{ $value }} failovers of {{ $labels.master_name }} in an hour")
    b.add("RedisSentinelTilt", f"redis_sentinel_tilt{j} == 1", "1m", "Sentinel {{ $labels.instance }} is in TILT mode")


def _ratio(sel_hits: str, sel_misses: str, window: str, offset: str = "") -> str:
    by = "sum by (namespace, cache)"
    off = f" offset {offset}" if offset else ""
    hits = f"{by} (rate({CLIENT_HITS}{sel_hits}[{window}]{off}))"
    misses = f"{by} (rate({CLIENT_MISSES}{sel_misses}[{window}]{off}))"
    return f"({hits} / ({hits} + {misses}))"


def _client_rules(b: _Builder, c: ClientTarget) -> None:
    scope = dict(cache=c.cache, namespace_re="|".join(c.namespaces))
    l1 = _sel(tier="l1", **scope)
    reads = (f"sum by (namespace, cache) (rate({CLIENT_HITS}{l1}[15m])) + "
             f"sum by (namespace, cache) (rate({CLIENT_MISSES}{l1}[15m]))")
    b.add("CacheL1HitRatioCollapsed",
          f"{_ratio(l1, l1, '15m')} < {L1_COLLAPSE_FACTOR} * {_ratio(l1, l1, '1d', '15m')} "
          f"and ({reads}) > {L1_MIN_READS_PER_S}", "15m",
          "L1 hit ratio in {{ $labels.namespace }} fell to {{ $value | humanizePercentage }}")
    b.add("CacheInvalidationSubscriptionLost", f"{CLIENT_SUBSCRIBED}{_sel(**scope)} == 0", "2m",
          "pod {{ $labels.pod }} has no invalidation subscription")


def _duration(seconds: int) -> str:
    """A Prometheus duration, in the largest whole unit."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _backup_rules(b: _Builder, backup: BackupTarget) -> None:
    sel = _sel(cache=backup.cache)
    limit = 2 * backup.interval_s
    b.add("CacheBackupTooOld",
          f"time() - max by (cache) (cache_backup_last_success_timestamp_seconds{sel}) > {limit}", None,
          f"the last good backup is {{{{ $value }}}} s old (limit {limit} s)")
    b.add("CacheBackupNeverSucceeded", f"absent(cache_backup_last_success_timestamp_seconds{sel})", _duration(limit),
          f"no successful backup of {backup.cache} for {_duration(limit)}")
    b.add("CacheBackupFailing", f"max by (cache) (cache_backup_last_run_success{sel}) == 0", None,
          f"the last backup of {backup.cache} failed")


def alerts(t: CacheTarget) -> list[Rule]:
    """Every alerting rule of one cache."""
    b = _Builder(t)
    if t.data is not None:
        b.component = "redis"
        _data_rules(b)
    if t.sentinel is not None:
        b.component = "sentinel"
        _sentinel_rules(b)
    if t.client is not None:
        b.component = "client"
        _client_rules(b, t.client)
    if t.backup is not None:
        b.component = "backup"
        _backup_rules(b, t.backup)
    return b.rules


def group_name(t: CacheTarget) -> str:
    return ".".join(filter(None, ("cache-patterns", t.stack, t.cache, t.part)))


def groups(t: CacheTarget) -> list[dict]:
    """`spec.groups` of the cache's PrometheusRule (also what `promtool check rules` reads)."""
    rules = alerts(t)
    return [{"name": group_name(t), "rules": [r.as_dict() for r in rules]}] if rules else []
