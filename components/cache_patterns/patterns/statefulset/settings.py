"""Settings of pattern 2, in-cluster StatefulSet (`pattern: statefulset`)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from cache_patterns import planning
from cache_patterns.config.base import StrictModel, fail
from cache_patterns.config.cache import InClusterSettings, StackFacts
from cache_patterns.config.common import DEFAULT_ENGINE_VERSION, NO_TLS, STORAGE_CLASS, TlsSettings, doc, environment
from cache_patterns.config.placement import ANNOTATION_VALUE, LABEL_KEY, Placement, RedisPlacement
from cache_patterns.config.resources import ContainerResources
from cache_patterns.config.types import Duration, Flag, Quantity, Text
from cache_patterns.core import naming, redis_conf, sizing
from cache_patterns.patterns.statefulset import autoscaling
from cache_patterns.patterns.statefulset.autoscaling import ReadScaling
from cache_patterns.patterns.statefulset.backup_settings import BACKUP_USER, BackupSettings, RestoreSettings
from cache_patterns.patterns.two_tier.settings import L1Settings

TAG = "statefulset"
SUMMARY = "a primary, `replicas` replicas, Sentinel failover and an HAProxy write endpoint in the cluster"


class AclUser(StrictModel):
    """A Redis ACL user of an in-cluster cache besides `default`: its rules; its password is generated."""

    TITLE = "an ACL user"
    name: Annotated[str, Text(redis_conf.ACL_NAME.pattern, "an ACL user name (a lower-case letter, then lower-case letters, digits, "
                                            "'_', '-')", max_len=32)] = doc(..., "The user name clients authenticate as (not `default`).")
    permissions: Annotated[str, Text(max_len=2048)] = doc(
        ..., "Redis ACL rules, as in ACL SETUSER: keys (`~app:*`, `%R~ref:*`), channels (`&events:*`), commands "
             "and categories (`+@read`, `-@dangerous`, `+get`), selectors (`(...)`). Not `on`/`off`/`nopass`/"
             "`reset`/`resetpass` or password rules: the user is always on with a generated password.")

    @model_validator(mode="after")
    def _check(self) -> "AclUser":
        fail([("name", p) for p in redis_conf.acl_name_problems(self.name)] +
             [("permissions", p) for p in redis_conf.acl_rule_problems(self.permissions)])
        return self


class PasswordRotation(StrictModel):
    """Rotation of the cache's generated passwords."""

    TITLE = "password rotation"
    generation: Annotated[int, Field(strict=True, ge=1, le=10_000)] = doc(
        1, "Bump to replace every generated password of the cache (the default user's and each ACL user's): new "
           "Secrets, and every pod that reads one rolls onto them: Sentinel, HAProxy and bound apps at once, then the Redis "
           "pods (OnDelete) by the rollout driver inside the same `pulumi up`. A server accepts one password at a time: "
           "until every Redis pod has rolled, clients and Sentinels on the new password are refused, and a replica on "
           "the new password cannot replicate from a primary on the old one, so on a cluster that runs the pods the "
           "driver waits for the first replaced replica and fails the `up` at its time-out: a rotation is an outage "
           "window today, not a rolling change (docs/upgrades.md). The old "
           "passwords are refused from then on. Production generators are protected: unprotect them first "
           "(docs/patterns/statefulset.md).")


class StatefulSetPlacement(Placement):
    """Where the cache's pods run: these keys for every pod of the cache (over the stack's
    `placement`), and per component below (over these)."""

    TITLE = "placement of a statefulset cache"
    redis: RedisPlacement = doc(RedisPlacement(), "The Redis pods.", "the cache's keys")
    sentinel: Placement = doc(Placement(), "The Sentinel pods.", "the cache's keys")
    haproxy: Placement = doc(Placement(), "The HAProxy write endpoint's pods.", "the cache's keys")


class StatefulSetResources(StrictModel):
    """Requests and limits of the containers beside Redis (Redis's own: `memory`, `cpu`, `cpuLimit`)."""

    TITLE = "resources of the containers beside Redis"
    sentinel: ContainerResources = doc(ContainerResources(), "Sentinel.", "25m / 64Mi, limit 64Mi")
    haproxy: ContainerResources = doc(ContainerResources(), "HAProxy.", "50m / 64Mi, limit 128Mi")
    exporter: ContainerResources = doc(ContainerResources(), "redis_exporter (beside Redis and each Sentinel).",
                                       "10m / 32Mi, limit 64Mi")
    tls_reload: ContainerResources = doc(ContainerResources(), "The certificate watcher (beside Redis and HAProxy, "
                                                               "with TLS).", "5m / 16Mi, limit 32Mi")

    def planned(self) -> dict:
        """component -> its resources with the planned defaults."""
        return {key: getattr(self, name).of(key) for key, (name, _) in self.config_keys().items()}


CIDR = Annotated[str, Text(r"[0-9a-fA-F.:]+/[0-9]{1,3}", "a CIDR such as 203.0.113.0/24")]
HOSTNAME = Annotated[str, Text(r"(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+",
                               "a DNS name", max_len=253)]


class Expose(StrictModel):
    """The write endpoint reached from outside the cluster: a LoadBalancer or NodePort Service in front of
    HAProxy, admitting only `sourceRanges` (needs auth and TLS)."""

    TITLE = "exposure outside the cluster"
    type: Literal["LoadBalancer", "NodePort"] = doc(..., "LoadBalancer (a cloud load balancer) or NodePort.")
    source_ranges: Annotated[tuple[CIDR, ...], Field(min_length=1, max_length=64)] = doc(
        ..., "Client networks allowed in (the load balancer's source ranges and the NetworkPolicy's ipBlocks).")
    node_port: Annotated[int, Field(strict=True, ge=30000, le=32767)] | None = doc(
        None, "The node port.", "one the cluster picks")
    annotations: dict[LABEL_KEY, ANNOTATION_VALUE] = doc(
        {}, "Annotations of the Service (a cloud load balancer's settings).", "none")
    hostnames: tuple[HOSTNAME, ...] = doc(
        (), "Names clients outside use, added to the certificate cert-manager issues (`tls.issuer`); with "
            "`tls.certificateSecret` your certificate must name them.", "none")

    @model_validator(mode="after")
    def _check(self) -> "Expose":
        import ipaddress

        out = []
        for i, cidr in enumerate(self.source_ranges):
            try:
                net = ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                out.append((f"sourceRanges[{i}]", f"must be a CIDR such as 203.0.113.0/24, got {cidr!r}"))
                continue
            if net.prefixlen == 0:
                out.append((f"sourceRanges[{i}]", f"{cidr} admits every address: name the client networks"))
        fail(out)
        return self


class StatefulSetSettings(InClusterSettings):
    """Pattern 2: a StatefulSet with one primary, `replicas` replicas and Sentinel failover."""

    TITLE = "pattern: statefulset"
    ENV_DEFAULTS = {"replicas": {"production": 2, "development": 1},
                    "retainVolumes": {"production": True, "development": False}}
    # Exporters follow the stack's `observability` unless the cache says otherwise.
    CONTEXT_DEFAULTS = {"exporter": "observability"}
    pattern: Literal["statefulset"] = doc(..., SUMMARY + ".")
    replicas: Annotated[int, Field(strict=True, ge=0, le=8)] = doc(1, "Read replicas beside the primary (pods = 1 + replicas).",
                                              "2 in production, else 1")
    storage: Annotated[int, Quantity("bytes", min=sizing.MI)] | None = doc(
        None, "Volume size per pod (absent: no persistence).")
    storage_class: STORAGE_CLASS | None = doc(None, "StorageClass of the volumes.", "the cluster's default")
    persistence: Literal["none", "rdb", "aof"] = doc(
        "none", "none: a pure cache; rdb: snapshots on the volume; aof: append-only file (needs storage).")
    retain_volumes: Flag = doc(False, "Keep the volumes when the StatefulSet is deleted or scaled "
                                                         "down.", "true in production, else false")
    auth: Flag = doc(True, "Require a password (generated, 48 alphanumeric characters).")
    tls: TlsSettings = doc(NO_TLS, "TLS for clients, replication and Sentinel (required in production).", "off")
    sentinels: Annotated[int, Field(strict=True, ge=3, le=7)] = doc(3, "Sentinel processes (odd, at least 3).")
    quorum: Annotated[int, Field(strict=True, ge=1, le=7)] | None = doc(None, "Sentinels that must agree the primary is down.", "a majority")
    down_after: Annotated[int, Duration(min_ms=1000, max_ms=600_000)] = doc(
        5000, "Silence before a Sentinel calls the primary down.", "5s")
    failover_timeout: Annotated[int, Duration(min_ms=3000, max_ms=3_600_000)] = doc(
        30_000, "Sentinel failover-timeout.", "30s")
    min_replicas_to_write: Annotated[int, Field(strict=True, ge=0, le=8)] = doc(
        0, "Refuse writes unless this many replicas are connected (bounds write loss on a partition).")
    min_replicas_max_lag: Annotated[int, Duration(min_ms=1000, max_ms=600_000)] = doc(
        10_000, "How stale a replica may be and still count for minReplicasToWrite.", "10s")
    exporter: Flag = doc(
        False, "Run redis_exporter beside every Redis and Sentinel (scraped from `observability.prometheus.namespace` "
               "only).", "`observability.enabled`")
    acl_users: Annotated[tuple[AclUser, ...], Field(max_length=16)] = doc(
        (), "Up to 16 Redis ACL users beside `default` (which replication, Sentinel and HAProxy use), each with its own "
            "generated password in the cache's Secret (key `user-<name>`); an app authenticates as one with "
            "`cacheUser` (needs auth).", "none")
    rotation: PasswordRotation = doc(PasswordRotation(), "Password rotation (needs auth).", "generation 1")
    l1: L1Settings | None = doc(None, "Two-tier: an L1 in every bound app pod (sidecar) or app process (in-process).")
    backup: BackupSettings | None = doc(None, "Scheduled backups to S3-compatible storage (docs/backup.md).", "none")
    restore: RestoreSettings | None = doc(
        None, "Create the cache from a backup of `backup.destination`: ordinal 0 restores it when the cache holds no "
              "data anywhere, then becomes the primary (docs/backup.md).", "none")
    placement: StatefulSetPlacement = doc(
        StatefulSetPlacement(), "Where the Redis, Sentinel and HAProxy pods run (over the stack's `placement`; "
                                "docs/production.md).", "the stack's `placement`")
    resources: StatefulSetResources = doc(StatefulSetResources(), "Requests and limits of the containers beside "
                                                                  "Redis.", "planned (docs/planning.md)")
    expose: Expose | None = doc(None, "Reach the write endpoint from outside the cluster (needs auth and TLS).",
                                "off: inside the cluster only")
    autoscaling: ReadScaling | None = doc(
        None, "Read replicas added by a HorizontalPodAutoscaler on the Redis pods' CPU use, between `replicas` and "
              "`maxReplicas`; scale-up only (a scale-down is the rollout driver's: docs/upgrades.md).", "off")
    prepared_replicas: Annotated[int, Field(strict=True, ge=0, le=8)] | None = doc(
        None, "Lets `pulumi up` lower `replicas` to this count once the rollout driver prepared the set for it "
              "(`rollout <namespace> <statefulset> scale-down <replicas + 1>`: the removed replicas retired, the primary "
              "moved off them); a `replicas` below the deployed one without it is refused at preview (docs/upgrades.md).",
        "none")

    @property
    def member_replicas(self) -> int:
        return self.replicas

    @property
    def server_slots(self) -> int:
        """Redis pods the peers and HAProxy know: 1 + replicas, or up to the autoscaler's maximum."""
        return autoscaling.server_slots(self)

    @property
    def persistence_mode(self) -> str:
        return self.persistence

    @property
    def volume(self) -> int | None:
        """Volume per pod: `storage`, else planned from `capacity` when persistence is on."""
        return self.pod.storage

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> "StatefulSetSettings":
        env = environment(info)
        out = self.sizing_problems(env) + self.auth_problems(env) + self.replica_problems(env)
        out += self.tls.problems(env == "production") + self.l1_problems()
        if self.persistence != "none" and self.volume is None:
            out.append(("persistence", f"{self.persistence!r} needs `storage` (a volume size) or `capacity` to plan it"))
        if self.sentinels % 2 == 0:
            out.append(("sentinels", f"must be odd so a majority exists after a partition, got {self.sentinels}"))
        quorum = self.quorum if self.quorum is not None else self.sentinels // 2 + 1
        if not self.sentinels // 2 + 1 <= quorum <= self.sentinels:
            out.append(("quorum", f"must be a majority of {self.sentinels} Sentinels "
                                  f"({self.sentinels // 2 + 1} to {self.sentinels}), got {quorum}"))
        if self.min_replicas_to_write > self.replicas:
            out.append(("minReplicasToWrite", f"must be <= replicas ({self.replicas}) or every write is refused, "
                                              f"got {self.min_replicas_to_write}"))
        if self.acl_users and not self.auth:
            out.append(("aclUsers", "need auth: true (with auth off every client is the default user, "
                                    "with every permission)"))
        out += self.backup_problems()
        out += self.pod_problems() + autoscaling.problems(self)
        seen: dict[str, int] = {}
        for i, user in enumerate(self.acl_users):
            if user.name in seen:
                out.append((f"aclUsers[{i}].name", f"{user.name!r} is already the name of aclUsers[{seen[user.name]}]; "
                                                   f"user names are unique"))
            seen.setdefault(user.name, i)
        fail(out)
        return self

    def deployed_facts(self) -> dict[str, Any]:
        """The engine line, replicas and memory the next run checks a change against (core/deployed.py)."""
        facts = {"pattern": self.pattern, "engine": self.engine, "version": self.engine_version,
                 "replicas": self.replicas, "memoryBytes": self.memory_limit, "maxmemoryBytes": self.maxmemory}
        w = self.workload()
        if w is not None:
            facts["plannedDataBytes"] = planning.plan_pod(w, self.plan_engine()).dataset
        return facts

    @property
    def engine_version(self) -> str:
        return self.version or DEFAULT_ENGINE_VERSION[self.engine]

    def change_problems(self, before: dict[str, Any]) -> list[tuple[str, str]]:
        """A downgrade or unsafe engine jump (naming the path that works), a replica shrink the rollout
        driver has not prepared, a maxmemory below the data set planned at the last deployment."""
        from cache_patterns.core import upgrades

        out = []
        engine, version = before.get("engine"), before.get("version")
        if isinstance(engine, str) and isinstance(version, str):
            problem = upgrades.check(engine, version, self.engine, self.engine_version)
            if problem is not None and (engine, version) != (self.engine, self.engine_version):
                out.append(("engine" if engine != self.engine else "version",
                            f"{engine} {version} (deployed) -> {self.engine} {self.engine_version} refused: {problem}"))
        replicas = _count(before.get("replicas"))
        if replicas is not None and self.replicas < replicas and self.prepared_replicas != self.replicas:
            gone = f"ordinal {replicas}" if replicas == self.replicas + 1 else f"ordinals {self.replicas + 1}-{replicas}"
            out.append(("replicas", f"{replicas} (deployed) -> {self.replicas} removes the pod of {gone}, which may "
                                    f"hold the primary: prepare it "
                                    f"first (`python -m cache_patterns.patterns.statefulset.rollout <namespace> "
                                    f"<statefulset> scale-down {self.replicas + 1}` retires them and moves the primary "
                                    f"off them), then set preparedReplicas: {self.replicas}"))
        planned = _count(before.get("plannedDataBytes"))
        if planned is not None and self.capacity is None and self.maxmemory < planned:
            out.append(("memory", f"maxmemory {self.maxmemory} B ({sizing.format_bytes(self.memory_limit)} limit) is "
                                  f"below the {planned} B data set planned at the last deployment (from its `capacity`): "
                                  f"keep `capacity` (with the smaller workload) or a memory that holds it"))
        return out

    def backup_problems(self) -> list[tuple[str, str]]:
        out = []
        if self.restore is not None and self.backup is None:
            out.append(("restore", "needs `backup` (the restore reads its destination, credentials and key)"))
        if self.backup is not None and not self.auth:
            out.append(("backup", "needs auth: true (the backup connects as its own ACL user, with a password)"))
        out += [(f"aclUsers[{i}].name", f"{BACKUP_USER!r} is the user of `backup`; pick another name")
                for i, u in enumerate(self.acl_users) if self.backup is not None and u.name == BACKUP_USER]
        return out

    @property
    def handover_grace_s(self) -> int:
        """The least terminationGracePeriodSeconds of a Redis pod: the preStop handover's bound, Redis's
        own shutdown and, with persistence, its final save (ha.HaPlan.termination_grace_period_s)."""
        from cache_patterns.patterns.statefulset import ha

        return ha.grace_floor(self.persistence)

    def pod_problems(self) -> list[tuple[str, str]]:
        """The Redis pods' grace period, the containers' resources, the exposure's needs."""
        out = [p for key, r in self.resources.planned().items() for p in r.problems(f"resources.{key}")]
        grace = self.placement.redis.termination_grace_period_seconds
        if grace is not None and grace < self.handover_grace_s:
            save = " and 60 s for the final save (persistence)" if self.persistence != "none" else ""
            out.append(("placement.redis.terminationGracePeriodSeconds",
                        f"must be at least {self.handover_grace_s}: the preStop handover's 30 s bound, 15 s for Redis "
                        f"to shut down{save}; got {grace}"))
        if self.expose is not None:
            if not self.auth:
                out.append(("expose", "needs auth: true (a cache reached from outside the cluster)"))
            if not self.tls.enabled:
                out.append(("expose", "needs TLS (tls.issuer or tls.certificateSecret): clients outside the cluster "
                                      "cross networks you do not control"))
        return out

    def plan_pods(self, environment: str) -> tuple[planning.PodGroup, ...]:
        """The Sentinel and HAProxy pods, each with the memory limits of its containers."""
        from cache_patterns.patterns.statefulset.component import endpoint_replicas

        r = self.resources.planned()
        sentinel = r["sentinel"].memory_limit + (r["exporter"].memory_limit if self.exporter else 0)
        haproxy = r["haproxy"].memory_limit + (r["tlsReload"].memory_limit if self.tls.enabled else 0)
        return (planning.PodGroup("Sentinel", self.sentinels, sentinel),
                planning.PodGroup("HAProxy", endpoint_replicas(environment), haproxy))

    def app_problems(self, key: str, app: Any, cache: str, stack: StackFacts) -> list[tuple[str, str]]:
        """An app's ACL user must be one of this cache's, and not on a two-tier cache."""
        if app.cache_user is None:
            return []
        out, key = [], f"{key}.cacheUser"
        users = [u.name for u in self.acl_users]
        if app.cache_user not in users:
            out.append((key, f"{app.cache_user!r} is not an ACL user of cache {cache!r} (aclUsers: "
                             f"{', '.join(users) or 'none'})"))
        if self.l1 is not None:
            out.append((key, f"cache {cache!r} is two-tier (l1), whose invalidation protocol is not yet wired for "
                             f"ACL users (it needs pub/sub on the shared tier); bind this app without cacheUser or drop l1"))
        return out

    def name_checks(self, stack: str, cache: str, app_namespaces: dict[str, str]) -> list:
        """Every name this cache derives: its StatefulSets and, with cert-manager TLS, the certificates."""
        checks = [lambda: naming.statefulset(stack, cache)]
        if self.tls.issuer is not None:
            checks += [lambda: naming.tls_secret(stack, cache)]
            checks += [lambda ns=ns, key=key: naming.ca_common_name(stack, cache, ns, key)
                       for ns, key in app_namespaces.items()]
        return checks


def _count(value: Any) -> int | None:
    """A whole number read back from stack outputs (JSON numbers may come back as floats), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        return None
    return int(value)
