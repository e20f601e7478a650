"""Settings of pattern 5, operator (`pattern: operator`), and of the operators' Helm installs (the
stack's `operators` key: one install per operator, shared by every cache that uses it)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from cache_patterns.config.base import StrictModel, fail
from cache_patterns.config.cache import InClusterSettings
from cache_patterns.config.common import IMAGE, NAMESPACE_NAME, NO_TLS, STORAGE_CLASS, TlsSettings, doc, environment
from cache_patterns.config.placement import Placement, RedisPlacement
from cache_patterns.config.resources import ContainerResources
from cache_patterns.config.types import Flag, Quantity, Text
from cache_patterns import planning
from cache_patterns.core import naming, sizing
from cache_patterns.core.image_set import CATALOGUE
from cache_patterns.patterns.operator import charts
from cache_patterns.patterns.two_tier.settings import L1Settings

TAG = "operator"
SUMMARY = "a Redis operator's custom resource (OT-CONTAINER-KIT or Spotahome), optionally with its Helm chart"
Operator = Literal["ot-container-kit", "spotahome"]
OPERATORS: tuple[str, ...] = Operator.__args__
# Default images of operator caches, by (operator, Redis version): (Redis image, Sentinel image).
# OT-CONTAINER-KIT needs its own images (their entrypoints turn the operator's env vars into
# redis.conf / sentinel.conf); Spotahome configures stock Redis images itself.
# By catalogue key (core/image_set.py), where `images.<key>` moves or pins them.
OPERATOR_IMAGE_KEYS = {("ot-container-kit", "7.0"): ("ot-redis", "ot-sentinel"), ("spotahome", "7.2"): ("redis-7.2", "redis-7.2")}
OPERATOR_IMAGES = {k: (CATALOGUE[r].reference, CATALOGUE[s].reference) for k, (r, s) in OPERATOR_IMAGE_KEYS.items()}
DEFAULT_OPERATOR_VERSION = {"ot-container-kit": "7.0", "spotahome": "7.2"}
OPERATOR_NAME_LIMITS = naming.OPERATOR_NAME_LIMITS


class OperatorPlacement(Placement):
    """Where the operator's pods run (through the custom resource's fields: docs/production.md has which
    operator takes what): these keys for every pod of the cache, and per component below."""

    TITLE = "placement of an operator cache"
    redis: RedisPlacement = doc(RedisPlacement(), "The Redis pods (ot-cluster: leaders and followers).",
                                "the cache's keys")
    sentinel: Placement = doc(Placement(), "The Sentinel pods (ot-replication, spotahome-failover).", "the cache's keys")
    exporter: Placement = doc(Placement(), "The Sentinel exporter's pod (ot-replication with exporter: the "
                                           "operator runs none for its Sentinels).", "the cache's keys")


class OperatorResources(StrictModel):
    """Requests and limits of the containers beside Redis (Redis's own: `memory`, `cpu`, `cpuLimit`)."""

    TITLE = "resources of an operator cache's other containers"
    sentinel: ContainerResources = doc(ContainerResources(), "Sentinel.", "25m / 64Mi, limit 64Mi")
    exporter: ContainerResources = doc(ContainerResources(), "redis_exporter.", "10m / 32Mi, limit 64Mi")


class OperatorSettings(InClusterSettings):
    """Pattern 5: custom resources of a Redis operator (which may be installed by this stack)."""

    TITLE = "pattern: operator"
    ENV_DEFAULTS = {"replicas": {"production": 2, "development": 1}}
    # Exporters follow the stack's `observability` unless the cache says otherwise.
    CONTEXT_DEFAULTS = {"exporter": "observability"}
    ELSEWHERE = {"expose": "is for statefulset caches only: an operator cache's Services are the operator's, "
                           "and which pod is primary is the operator's to say (docs/production.md, exposure)"}
    pattern: Literal["operator"] = doc(..., SUMMARY + ".")
    engine: Literal["redis", "valkey"] = doc(
        "redis", "redis or valkey (Valkey is BSD-licensed; Redis 7.4+ is not).")
    kind: Literal["ot-replication", "ot-cluster", "spotahome-failover"] = doc(
        "ot-replication", "Which custom resource: OT-CONTAINER-KIT RedisReplication (+Sentinel) or RedisCluster, or "
                          "Spotahome RedisFailover.")
    replicas: Annotated[int, Field(strict=True, ge=0, le=8)] = doc(1, "Read replicas per primary (per shard for ot-cluster).",
                                              "2 in production, else 1")
    shards: Annotated[int, Field(strict=True, ge=3, le=100)] = doc(3, "ot-cluster: number of shards (primaries).")
    sentinels: Annotated[int, Field(strict=True, ge=3, le=7)] = doc(3, "Sentinels (ot-replication, spotahome-failover).")
    storage: Annotated[int, Quantity("bytes", min=sizing.MI)] | None = doc(
        None, "Volume size per pod (absent: no persistence).")
    storage_class: STORAGE_CLASS | None = doc(None, "StorageClass of the volumes.")
    auth: Flag = doc(True, "Require a password.")
    tls: TlsSettings = doc(NO_TLS, "TLS (OT-CONTAINER-KIT only; required in production).", "off")
    exporter: Flag = doc(
        False, "Run the operator's redis_exporter beside Redis (and, for spotahome-failover, the Sentinels).",
        "`observability.enabled`")
    sentinel_image: IMAGE | None = doc(
        None, "Sentinel image (ot-replication, spotahome-failover); pin a digest in production.",
        "from the operator image table")
    l1: L1Settings | None = doc(None, "Two-tier: an L1 in every bound app pod (sidecar) or app process (in-process).")
    placement: OperatorPlacement = doc(
        OperatorPlacement(), "Where the operator's pods run (over the stack's `placement`; docs/production.md).",
        "the stack's `placement`")
    resources: OperatorResources = doc(OperatorResources(), "Requests and limits of the containers beside Redis.",
                                       "planned (docs/planning.md)")

    @property
    def operator(self) -> str:
        """The operator that reconciles this cache's custom resource (a key of `operators`)."""
        return "spotahome" if self.kind == "spotahome-failover" else "ot-container-kit"

    @property
    def cluster_mode(self) -> bool:
        return self.kind == "ot-cluster"

    @property
    def operator_install(self) -> str:
        return self.operator

    @property
    def member_replicas(self) -> int:
        return self.replicas

    @property
    def persistence_mode(self) -> str:
        # Planned as RDB when there is a volume to save to (what each operator's image writes there is
        # not checked here; AOF would need a larger volume, which `storage` then has to give).
        return "rdb" if self.storage is not None else "none"

    @property
    def plan_shards(self) -> int:
        return self.shards if self.kind == "ot-cluster" else 1

    def plan_engine(self) -> planning.Engine:
        return planning.Engine(self.engine, self.version or DEFAULT_OPERATOR_VERSION[self.operator])

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> "OperatorSettings":
        env = environment(info)
        out = self.sizing_problems(env, image_table=False) + self.auth_problems(env) + self.replica_problems(env)
        out += self.l1_problems()
        if self.engine != "redis":
            out.append(("engine", f"the operators run their own Redis images, got {self.engine!r} (allowed: redis)"))
        if self.kind == "spotahome-failover":
            if self.tls.enabled:
                out.append(("tls", "kind spotahome-failover has no TLS (RedisFailover has no TLS setting); "
                                   "use kind: ot-replication for TLS"))
            elif env == "production":
                out.append(("kind", "spotahome-failover cannot be used in production: production requires TLS, "
                                    "which the (unmaintained) Spotahome operator does not offer; use ot-replication"))
        else:
            out += self.tls.problems(env == "production")
        if self.kind == "ot-cluster":
            if self.sentinel_image is not None:
                out.append(("sentinelImage", "kind ot-cluster runs no Sentinel (cluster mode fails over by itself)"))
        elif self.sentinels % 2 == 0:
            out.append(("sentinels", f"must be odd so a majority exists after a partition, got {self.sentinels}"))
        out += self.pod_problems()
        version = self.version or DEFAULT_OPERATOR_VERSION[self.operator]
        needs_table = self.image is None or (self.kind != "ot-cluster" and self.sentinel_image is None)
        if needs_table and (self.operator, version) not in OPERATOR_IMAGES:
            known = ", ".join(v for op, v in OPERATOR_IMAGES if op == self.operator)
            out.append(("version", f"no default {self.operator} image for Redis {version!r} (table: {known}); "
                                   f"set `image`{'' if self.kind == 'ot-cluster' else ' and `sentinelImage`'} to "
                                   f"pinned images of that version"))
        fail(out)
        return self

    def plan_origins(self) -> dict[str, str]:
        return {"persistence": "storage (the operator's image saves RDB to it)" if self.storage else "no storage",
                "replicas": "replicas", "shards": "shards"}

    def pod_problems(self) -> list[tuple[str, str]]:
        """What the custom resource cannot carry, and the containers' resources."""
        from cache_patterns.patterns.operator.pods import OPERATOR_LABELS

        p, out = self.placement, []
        out += [x for key in ("sentinel", "exporter") for x in getattr(self.resources, key).of(key).problems(
            f"resources.{key}")]
        if self.kind == "ot-cluster" and p.sentinel.given:
            out.append(("placement.sentinel", "kind ot-cluster runs no Sentinel"))
        if p.exporter.given and not (self.kind == "ot-replication" and self.exporter):
            out.append(("placement.exporter", "only ot-replication with exporter runs an exporter pod of its own (the "
                                              "operators' exporters run inside the Redis and Sentinel pods)"))
        for component in ("redis", "sentinel"):
            level = getattr(p, component)
            if level.pod_labels:
                out.append((f"placement.{component}.podLabels", "the operator puts the custom resource's labels on "
                                                                "every pod it makes: set podLabels for the whole cache"))
            if level.pod_annotations and self.operator == "ot-container-kit":
                out.append((f"placement.{component}.podAnnotations", "OT-CONTAINER-KIT has no per-component pod "
                                                                     "annotations: set podAnnotations for the whole cache"))
        out += [(f"placement.podLabels.{k}", f"is a label the operator selects its pods by "
                                             f"({', '.join(OPERATOR_LABELS[self.operator])})")
                for k in p.pod_labels if k in OPERATOR_LABELS[self.operator]]
        return out

    def plan_pods(self, environment: str) -> tuple[planning.PodGroup, ...]:
        """The Sentinel pods, with their exporter where the operator runs one beside them (Spotahome)."""
        if self.kind == "ot-cluster":
            return ()
        r = {key: getattr(self.resources, key).of(key) for key in ("sentinel", "exporter")}
        exporter = r["exporter"].memory_limit if self.exporter and self.kind == "spotahome-failover" else 0
        return (planning.PodGroup("Sentinel", self.sentinels, r["sentinel"].memory_limit + exporter),)

    def images(self) -> tuple[str, str]:
        """(Redis image, Sentinel image): the configured ones, else the operator image table's."""
        table = OPERATOR_IMAGES.get((self.operator, self.version or DEFAULT_OPERATOR_VERSION[self.operator]), ("", ""))
        return self.image or table[0], self.sentinel_image or table[1]

    def image_keys(self) -> dict[str, tuple[str | None, str]]:
        """redis, sentinel, exporter -> (the image given in config, the catalogue key of the default)."""
        redis, sentinel = OPERATOR_IMAGE_KEYS.get(
            (self.operator, self.version or DEFAULT_OPERATOR_VERSION[self.operator]), ("", ""))
        return {"redis": (self.image, redis), "sentinel": (self.sentinel_image, sentinel),
                "exporter": (None, "exporter-scratch")}

    def name_checks(self, stack: str, cache: str, app_namespaces: dict[str, str]) -> list:
        """Every name this cache derives: its custom resource and, with cert-manager TLS, the certificates."""
        checks = [lambda: naming.operator_resource(stack, cache, self.kind)]
        if self.tls.issuer is not None:
            checks += [lambda: naming.tls_secret(stack, cache)]
            checks += [lambda ns=ns, key=key: naming.ca_common_name(stack, cache, ns, key)
                       for ns, key in app_namespaces.items()]
        return checks


class OperatorInstall(StrictModel):
    TITLE = "operator install"
    install: Flag = doc(False, "Install the operator with its Helm chart (else: assume it is "
                                                  "installed).")
    release: Annotated[str, Text(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", "a Helm release name",
                  max_len=charts.RELEASE_MAX)] | None = doc(
        None, "Helm release name (changing it replaces the release: the operator is uninstalled, then installed).",
        "`redis-operator` (OT-CONTAINER-KIT), `spotahome-redis-operator` (Spotahome)")
    namespace: NAMESPACE_NAME = doc("redis-operator", "Namespace of the operator.")
    chart: Annotated[str, Text(r"[a-z0-9][-a-z0-9]*", "a chart name")] | None = doc(
        None, "Chart name.", "the operator's chart")
    repository: Annotated[str, Text(r"(https|oci)://\S+", "an https:// or oci:// URL")] | None = doc(
        None, "Chart repository (a mirror, for air-gapped clusters).", "the operator's repository")
    chart_path: Annotated[str, Text(r"\S+", "a folder path")] | None = doc(
        None, "A local chart folder instead of a repository (relative: to the project directory). `version` must "
              "equal its Chart.yaml's.", "none: the chart comes from the repository")
    version: Annotated[str, Text(r"v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", "a pinned chart version")] | None = doc(
        None, "Chart version (required with install: true): what Helm fetches from the repository, or what a "
              "chartPath folder's Chart.yaml must say.")
    values: dict[Annotated[str, Text(r".+", "a key")], Any] = doc(
        {}, "Extra chart values (they win over the values the program derives).", "none")
    placement: Placement | None = doc(
        None, "Where the operator's own pod runs, through its chart's values (over the stack's `placement`; neither "
              "chart takes topologySpreadConstraints, Spotahome's no podLabels).", "the stack's `placement`")

    def problems_as(self, operator: str, key: str) -> list[tuple[str, str]]:
        """What this operator's chart cannot take (`key`: this install's config key)."""
        from cache_patterns.patterns.operator.chart_values import UNSUPPORTED

        p = self.placement
        return [(f"{key}.placement.{p.config_keys_by_name()[name]}",
                 f"the {operator} chart has no value for it") for name in UNSUPPORTED[operator]
                if p is not None and getattr(p, name) not in (None, {}, ())]

    @model_validator(mode="after")
    def _check(self) -> "OperatorInstall":
        out = []
        if self.install and self.version is None:
            out.append(("version", "is required with install: true (pin the chart version)"))
        if self.chart_path is not None:
            for key, value in (("chart", self.chart), ("repository", self.repository)):
                if value is not None:
                    out.append((key, f"is set with chartPath: a local chart is named by its folder's Chart.yaml "
                                     f"and comes from no repository (drop {key} or chartPath)"))
            declared, problem = charts.local_chart_version(self.chart_path)
            if problem:
                out.append(("chartPath", problem))
            elif self.version is not None and declared != self.version.removeprefix("v"):
                # Helm installs whatever the folder holds and ignores a version for a folder: the pin
                # is checked here instead, so it still says what is installed.
                out.append(("version", f"{self.version!r} is not the version of the chart in {self.chart_path!r}, "
                                       f"whose Chart.yaml says {declared!r}: pin {declared!r}, or point chartPath "
                                       f"at the folder of {self.version!r}"))
        fail(out)
        return self
