"""Settings of pattern 5, operator (`pattern: operator`), and of the operators' Helm installs (the
stack's `operators` key: one install per operator, shared by every cache that uses it)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from cache_patterns.config.base import StrictModel, fail
from cache_patterns.config.cache import InClusterSettings
from cache_patterns.config.common import IMAGE, NAMESPACE_NAME, NO_TLS, STORAGE_CLASS, TlsSettings, doc, environment
from cache_patterns.config.types import Flag, Quantity, Text
from cache_patterns import planning
from cache_patterns.core import naming, sizing
from cache_patterns.patterns.operator import charts
from cache_patterns.patterns.two_tier.settings import L1Settings

TAG = "operator"
SUMMARY = "a Redis operator's custom resource (OT-CONTAINER-KIT or Spotahome), optionally with its Helm chart"
Operator = Literal["ot-container-kit", "spotahome"]
OPERATORS: tuple[str, ...] = Operator.__args__
# Default images of operator caches, by (operator, Redis version): (Redis image, Sentinel image).
# OT-CONTAINER-KIT needs its own images (their entrypoints turn the operator's env vars into
# redis.conf / sentinel.conf); Spotahome configures stock Redis images itself.
OPERATOR_IMAGES = {
    ("ot-container-kit", "7.0"): ("quay.io/opstree/redis:v7.0.15", "quay.io/opstree/redis-sentinel:v7.0.15"),
    ("spotahome", "7.2"): ("redis:7.2.11-alpine", "redis:7.2.11-alpine"),
}
DEFAULT_OPERATOR_VERSION = {"ot-container-kit": "7.0", "spotahome": "7.2"}
OPERATOR_NAME_LIMITS = naming.OPERATOR_NAME_LIMITS


class OperatorSettings(InClusterSettings):
    """Pattern 5: custom resources of a Redis operator (which may be installed by this stack)."""

    TITLE = "pattern: operator"
    ENV_DEFAULTS = {"replicas": {"production": 2, "development": 1}}
    # Exporters follow the stack's `observability` unless the cache says otherwise.
    CONTEXT_DEFAULTS = {"exporter": "observability"}
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

    def plan_pods(self, environment: str) -> tuple[planning.PodGroup, ...]:
        from cache_patterns.patterns.operator.specs import SENTINEL_RESOURCES

        if self.kind == "ot-cluster":
            return ()
        return (planning.PodGroup("Sentinel", self.sentinels, sizing.parse_bytes(SENTINEL_RESOURCES["limits"]["memory"])),)

    def images(self) -> tuple[str, str]:
        """(Redis image, Sentinel image): the configured ones, else the operator image table's."""
        table = OPERATOR_IMAGES.get((self.operator, self.version or DEFAULT_OPERATOR_VERSION[self.operator]), ("", ""))
        return self.image or table[0], self.sentinel_image or table[1]

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
        {}, "Extra chart values.", "none")

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
