"""What caches of several patterns share: environments, engines and their image table, the value types
of sizing, names and versions, TLS, and `doc` (a field with its reference text)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo

from cache_patterns.config.base import StrictModel
from cache_patterns.config.types import Duration, Quantity, Text
from cache_patterns.core import naming, sizing
from cache_patterns.core.image_set import CATALOGUE

Environment = Literal["production", "staging", "development"]
ENVIRONMENTS: tuple[str, ...] = Environment.__args__
MaxmemoryPolicy = Literal["noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
                          "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"]
MAXMEMORY_POLICIES: tuple[str, ...] = MaxmemoryPolicy.__args__
Engine = Literal["redis", "valkey"]
ENGINES: tuple[str, ...] = Engine.__args__
# Default images of in-cluster caches, by (engine, version): tags current in 2026-11; pin a digest
# (`image: name:tag@sha256:...`) in production. Redis 7.2 is the last BSD-licensed Redis line
# (7.4+ is RSALv2/SSPLv1, 8.0+ adds AGPLv3); Valkey stays BSD-3-Clause.
# The images themselves are in core/image_set.py's catalogue, by key (`images.<key>` moves or pins one).
ENGINE_IMAGE_KEYS = {("valkey", "8.1"): "valkey-8.1", ("valkey", "9.0"): "valkey-9.0", ("redis", "7.2"): "redis-7.2"}
ENGINE_IMAGES = {engine: (CATALOGUE[key].reference, "BSD-3-Clause") for engine, key in ENGINE_IMAGE_KEYS.items()}
DEFAULT_ENGINE_VERSION = {"valkey": "8.1", "redis": "7.2"}

# An image is `repository[:tag][@sha256:<64 hex>]` with a tag or a digest; `latest` alone is refused
# because it is not a version (a digest pins it, so `name:latest@sha256:...` is accepted).
IMAGE = Annotated[str, Text(r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
             r"((:(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})",
             "an image reference with a version tag or an @sha256 digest (not :latest)")]
MEMORY_LIMIT = Annotated[int, Quantity("bytes", min=sizing.MIN_REDIS_MEMORY, max=1024 * sizing.GI)]
CPU = Annotated[int, Quantity("cpu", min=1, max=64_000)]
PERCENT = Annotated[int, Field(strict=True, ge=10, le=95)]
TTL = Annotated[int, Duration(min_ms=1000, max_ms=365 * 86_400_000, whole_seconds=True)]
VERSION = Annotated[str, Text(r"\d+(\.\d+){0,2}", "a version such as 8.1")]
NAMESPACE_NAME = Annotated[str, Text(naming.DNS_LABEL, "a Kubernetes namespace name", max_len=naming.LABEL_MAX)]
STORAGE_CLASS = Annotated[str, Text(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", "a StorageClass name")]


def doc(default: Any = ..., text: str = "", default_doc: str | None = None, **extra: Any) -> Any:
    """A field: its default (`...`: required), the sentence the reference shows, and how the
    reference describes the default when the value alone would not say it."""
    schema_extra = {f"x-{k}": v for k, v in extra.items()}
    if default_doc is not None:
        schema_extra["x-default"] = default_doc
    return Field(default, description=text, json_schema_extra=schema_extra or None)


def environment(info: ValidationInfo) -> str:
    return (info.context or {}).get("environment", "development")


def default_image(engine: str, version: str | None) -> str | None:
    """The image table's entry for an in-cluster cache, or None where the table has none."""
    entry = ENGINE_IMAGES.get((engine, version or DEFAULT_ENGINE_VERSION[engine]))
    return entry[0] if entry else None


def image_key(engine: str, version: str | None) -> str | None:
    """The catalogue key of an in-cluster cache's default image (core/image_set.py), or None."""
    return ENGINE_IMAGE_KEYS.get((engine, version or DEFAULT_ENGINE_VERSION[engine]))


class TlsSettings(StrictModel):
    """TLS for an in-cluster cache: a certificate Secret the user provides, or one cert-manager issues.
    TLS is on exactly when one of the two is given."""

    TITLE = "TLS: on when a certificate source is given"
    certificate_secret: Annotated[str, Text(naming.DNS_LABEL, "a Secret name")] | None = doc(
        None, "A kubernetes.io/tls Secret (with ca.crt) you provide, in the cache's namespace.", reference=True)
    issuer: Annotated[str, Text(naming.DNS_LABEL, "a cert-manager issuer name")] | None = doc(
        None, "A cert-manager issuer that issues the certificate (instead of certificateSecret).")
    issuer_kind: Literal["Issuer", "ClusterIssuer"] = doc("ClusterIssuer", "Kind of that issuer.")

    @property
    def enabled(self) -> bool:
        return self.certificate_secret is not None or self.issuer is not None

    def problems(self, production: bool) -> list[tuple[str, str]]:
        if self.certificate_secret is not None and self.issuer is not None:
            return [("tls", "give one of certificateSecret or issuer, not both")]
        if not self.enabled and production:
            return [("tls", "production requires TLS for every cache reached over the network: "
                            "set tls.certificateSecret or tls.issuer")]
        return []


NO_TLS = TlsSettings()
