"""Alert rules for one cache, generated from what the stack created (a CacheTarget): the expected
number of primaries and replicas, the Sentinel count and quorum, the configured maxmemory and
eviction policy, the lag the stack tolerates, and the scrape jobs of its exporters.

Every rule selects exactly one job, so the Sentinels' exporters (which also report `redis_up` and a
`redis_instance_info` without a role) never mix with the data nodes'. Each alert's meaning and
runbook line live in catalogue.CATALOGUE, which the annotations and docs/observability.md are both
made from. Every alert carries `namespace` (the data and Sentinel rules as a rule label, since an
aggregation or `absent()` drops it), so namespace-routed Alertmanager configs and the inhibition
rules (alertmanager.py) see it.

Three upstream mistakes are avoided on purpose (see docs/observability.md): `count(...) or vector(0)`
(with `by`, `vector(0)` matches no group and the alert fires while a primary exists), `changes()` on
a series whose `master_address` label changes at each failover, and `redis_config_maxclients` (absent
where CONFIG is refused; `redis_max_clients` comes from INFO).
"""
from __future__ import annotations

from dataclasses import dataclass

from cache_patterns.observability.catalogue import CATALOGUE, CRITICAL, WARNING, AlertDoc, runbook_url
from cache_patterns.observability.target import BackupTarget, CacheTarget, ClientTarget

__all__ = ["CATALOGUE", "CRITICAL", "WARNING", "AlertDoc", "Rule", "alerts", "groups"]
# The client counters (clients/python, cache_patterns_client.metrics): one series per app pod.
CLIENT_HITS = "cache_patterns_client_hits_total"
CLIENT_MISSES = "cache_patterns_client_misses_total"
CLIENT_SUBSCRIBED = "cache_patterns_client_invalidation_subscribed"
# Under this share of its own daily L1 hit ratio, an L1 has collapsed.
L1_COLLAPSE_FACTOR = 0.5
# Reads per second (all pods of a namespace) below which a hit ratio says nothing.
L1_MIN_READS_PER_S = 1
# Series that come from outside the exporters: the kubelet's cAdvisor and kube-state-metrics (both
# scraped by kube-prometheus-stack). RedisMemoryNearLimit reads them.
KUBE_METRICS = ("container_memory_working_set_bytes", "kube_pod_container_resource_limits")
NEAR_LIMIT = 0.9
# How long after its last sample a job whose every target is gone still counts as one that should be
# there (RedisMissingPrimary, RedisSentinelQuorumLost); after that RedisMetricsAbsent remains.
GONE_WINDOW = "1d"


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
    def __init__(self, t: CacheTarget, runbook_base: str | None):
        self.t = t
        self.runbook_base = runbook_base
        self.rules: list[Rule] = []
        self.component = "redis"

    def add(self, name: str, expr: str, for_: str | None, summary: str, severity: str | None = None) -> None:
        doc = CATALOGUE[name]
        # `component` tells the Redis and the Sentinel copies of the exporter alerts apart (and routes).
        labels = {"severity": severity or doc.severity, "stack": self.t.stack, "cache": self.t.cache,
                  "component": self.component}
        if self.component != "client":
            # Every series of the job comes from the cache's namespace; the client rules keep the
            # apps' namespaces from their own series.
            labels["namespace"] = self.t.namespace
        annotations = {"summary": f"{summary} ({self.t.title})",
                       "description": f"{doc.meaning} What to do: {doc.runbook}",
                       "runbook_url": runbook_url(doc, self.runbook_base)}
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
    b.add("RedisDown", f"redis_up{j} == 0", "5m", "Redis {{ $labels.instance }} is down")
    # `unless` instead of `or vector(0)`: the left side has one series per job whose exporters
    # answer, or whose targets are all gone (no `up` left, but servers seen within GONE_WINDOW: every
    # pod deleted or unschedulable), removed only while the job has at least `n` primaries.
    answering = f"count by (job) (redis_up{j})"
    gone = f"(count by (job) (max_over_time(redis_up{j}[{GONE_WINDOW}])) unless on (job) up{j})"
    b.add("RedisMissingPrimary",
          f"({answering} or {gone}) unless on (job) (count by (job) (redis_instance_info{primary}) >= {n})",
          "1m", "no primary" if n == 1 else f"fewer than {n} primaries")
    b.add("RedisTooManyPrimaries", f"count by (job) (redis_instance_info{primary}) > {n}", "1m",
          "{{ $value }} servers report role:master")
    if t.replicas > 0:
        b.add("RedisReplicaLinkDown", f"redis_master_link_up{j} == 0", "5m",
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
    b.add("RedisMemoryNearLimit", _near_limit(t.namespace, j), "5m",
          "{{ $labels.pod }}/{{ $labels.container }} uses {{ $value | humanizePercentage }} of its memory limit")
    b.add("RedisBackgroundSaveFailed", f"redis_rdb_last_bgsave_status{j} == 0", "1m",
          "the last background save of {{ $labels.instance }} failed",
          severity=WARNING if t.rdb_saves is False else CRITICAL)
    b.add("RedisAofWriteFailed", f"redis_aof_last_write_status{j} == 0", "1m",
          "{{ $labels.instance }} cannot write its append-only file")
    b.add("RedisRejectedConnections", f"increase(redis_rejected_connections_total{j}[5m]) > 0", None,
          "{{ $labels.instance }} rejected connections")
    b.add("RedisTooManyConnections", f"redis_connected_clients{j} / (redis_max_clients{j} > 0) > 0.85", "5m",
          "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of maxclients")
    if t.maxmemory is not None:
        b.add("RedisMaxmemoryMismatch", f"redis_memory_max_bytes{j} != {t.maxmemory}", "10m",
              f"{{{{ $labels.instance }}}} runs with maxmemory {{{{ $value }}}}, the stack planned {t.maxmemory}")


def _near_limit(namespace: str, j: str) -> str:
    """Working set over limit of every container of the job's pods (the redis container, and the
    exporter and tls-reload beside it): cAdvisor's and kube-state-metrics' series, joined per container,
    kept for the pods that are targets of the job."""
    by = "max by (namespace, pod, container)"
    used = f'{by} (container_memory_working_set_bytes{{namespace="{namespace}",container!="",container!="POD"}})'
    limit = f'{by} (kube_pod_container_resource_limits{{namespace="{namespace}",resource="memory"}})'
    return f"{used} / on (namespace, pod, container) ({limit} > 0) > {NEAR_LIMIT} and on (namespace, pod) up{j}"


def _sentinel_rules(b: _Builder) -> None:
    t = b.t
    assert t.sentinel is not None
    job = t.sentinel.job
    j = _sel(job=job)
    _exporter_rules(b, job, "Sentinel")
    b.add("RedisSentinelDown", f"redis_up{j} == 0", "2m", "Sentinel {{ $labels.instance }} is down")
    b.add("RedisSentinelMasterNotOk", f"redis_sentinel_master_status{j} == 0", "1m",
          "Sentinel {{ $labels.instance }} sees {{ $labels.master_name }} {{ $labels.master_status }}")
    # The message label changes with the answer, so aggregate it away. No Sentinel answering at all
    # (every pod gone, or none reachable by its exporter), while no scrape fails: quorum lost too.
    quorum = f"redis_sentinel_master_ckquorum_status{j}"
    silent = (f"(0 * max by (job, master_name) (max_over_time({quorum}[{GONE_WINDOW}])) "
              f"unless on (job) (redis_up{j} == 1) unless on (job) (up{j} == 0))")
    b.add("RedisSentinelQuorumLost", f"max by (job, master_name) ({quorum}) == 0 or {silent}", "2m",
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


def _backup_rules(b: _Builder, backup: BackupTarget) -> None:
    """The results backup.sh pushes (a Pushgateway group job/namespace/cache=<statefulset>)."""
    sel = _sel(cache=backup.cache)
    limit = 2 * backup.interval_s
    b.add("CacheBackupTooOld",
          f"time() - max by (cache) (cache_backup_last_success_timestamp_seconds{sel}) > {limit}", None,
          f"the last good backup is {{{{ $value }}}} s old (limit {limit} s)")
    b.add("CacheBackupNeverSucceeded", f"absent(cache_backup_last_success_timestamp_seconds{sel})", _duration(limit),
          f"no successful backup of {backup.cache} for {_duration(limit)}")
    b.add("CacheBackupFailing", f"max by (cache) (cache_backup_last_run_success{sel}) == 0", None,
          f"the last backup of {backup.cache} failed")


def _duration(seconds: int) -> str:
    """A Prometheus duration, in the largest whole unit."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def alerts(t: CacheTarget, runbook_base: str | None = None) -> list[Rule]:
    """Every alerting rule of one cache; `runbook_base`: where docs/observability.md is published
    (`observability.runbookUrl`)."""
    b = _Builder(t, runbook_base)
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


def groups(t: CacheTarget, runbook_base: str | None = None) -> list[dict]:
    """`spec.groups` of the cache's PrometheusRule (also what `promtool check rules` reads)."""
    rules = alerts(t, runbook_base)
    return [{"name": group_name(t), "rules": [r.as_dict() for r in rules]}] if rules else []
