"""What every alert means and what to do about it: the rules' annotations, the generated table of
docs/observability.md and the runbook anchors (`runbook_url`) are all made from this one catalogue.

Severity follows one rule: `critical` pages, and only for what stops the cache serving or loses
data (no primary, a split brain, writes refused, a store losing keys, no failover possible);
everything a cache survives meanwhile (a replica or a Sentinel lost, an exporter down) is a
`warning`, as the redis_exporter mixin waits 5 minutes for a server down.
"""
from __future__ import annotations

from dataclasses import dataclass

CRITICAL, WARNING = "critical", "warning"
# Where the runbooks live unless `observability.runbookUrl` says: this page, in this repository.
RUNBOOK_PAGE = "docs/observability.md"


@dataclass(frozen=True)
class AlertDoc:
    """What an alert means and what to do: the annotations and the docs page share this text."""

    name: str
    severity: str
    scope: str          # the exporters or clients it reads: data, sentinel, client
    applies: str        # when the stack gets this rule
    meaning: str
    runbook: str

    @property
    def anchor(self) -> str:
        """The id of the alert's row in docs/observability.md, the fragment of its runbook_url."""
        return self.name.lower()


def runbook_url(doc: AlertDoc, base: str | None) -> str:
    return f"{base or RUNBOOK_PAGE}#{doc.anchor}"


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
    AlertDoc("RedisDown", WARNING, "data", "every scraped cache",
             "An exporter answers but its Redis does not (`redis_up == 0`) for five minutes. A warning: while "
             "a primary serves, the cache serves; a primary lost without a failover pages as RedisMissingPrimary.",
             "`kubectl describe pod` / logs of the redis container: OOMKilled, crash loop, volume or TLS "
             "trouble."),
    AlertDoc("RedisMissingPrimary", CRITICAL, "data", "every scraped cache",
             "Fewer primaries than the stack runs (one, or one per shard) for a minute: writes fail. Also fires "
             "when every pod of the job is gone (no target left, after the job was scraped within a day).",
             "`kubectl get pods` (all gone: the StatefulSet, the operator's resource, node loss); ask a Sentinel "
             "`SENTINEL get-master-addr-by-name <master>` and check RedisSentinelQuorumLost; a failover that "
             "cannot find a healthy replica leaves no primary (see the Sentinel logs)."),
    AlertDoc("RedisTooManyPrimaries", CRITICAL, "data", "every scraped cache",
             "More primaries than the stack runs for a minute: a split brain, writes may be lost.",
             "Find which server Sentinel names; the other one must become its replica (`REPLICAOF`), "
             "or restart its pod so the start-up script re-joins it."),
    AlertDoc("RedisReplicaLinkDown", WARNING, "data", "caches with replicas",
             "A replica has lost its link to the primary for five minutes: it serves stale reads and "
             "cannot take over without losing data (the primary still serves).",
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
    AlertDoc("RedisMemoryNearLimit", WARNING, "data", "every scraped cache",
             "A container of a Redis pod uses more than 90% of its memory limit (working set, the kubelet's "
             "measure) for five minutes: the next fork (save, full sync) or burst gets it OOM-killed. Reads "
             "the kubelet's cAdvisor metrics and kube-state-metrics' limits.",
             "Compare maxmemory with the limit (`./run plan` sizes the headroom a fork needs); raise "
             "`memory` or lower maxmemory; a growing exporter or tls-reload container is a bug."),
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
    AlertDoc("RedisBackgroundSaveFailed", CRITICAL, "data",
             "every scraped cache (a warning where the stack configures no RDB save points)",
             "The last background save (BGSAVE) of a server failed. With RDB save points Redis then refuses "
             "every write (`MISCONF`, stop-writes-on-bgsave-error) until a save succeeds.",
             "The redis container's log (`Background saving error`): a full or read-only volume, a fork "
             "refused for memory (see RedisMemoryNearLimit); `BGSAVE` again once fixed."),
    AlertDoc("RedisAofWriteFailed", CRITICAL, "data", "every scraped cache",
             "A server with the append-only file on failed to write it: Redis refuses every write until an "
             "AOF write succeeds, and what it acknowledged last may not be on disk.",
             "The redis container's log (`Error writing to the AOF file`): a full or failing volume; grow the "
             "claim (`storage`) and watch `aof_last_write_status` in `INFO persistence` turn ok."),
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
             "(`SENTINEL CKQUORUM` fails everywhere, or no Sentinel answers at all) for two minutes: the next "
             "primary failure is an outage.",
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
