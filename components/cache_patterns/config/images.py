"""The stack's `images` block: where every image the program names is pulled from (a registry mirror),
per image a repository, tag and digest, the pull policy, and the pull Secrets every pod gets.
`core/image_set.py` turns it into references; `core/images.py` records what each image holds."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from cache_patterns.config.base import StrictModel, fail
from cache_patterns.config.common import doc
from cache_patterns.config.types import Text
from cache_patterns.core.image_set import CATALOGUE

_HOST = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?"
_PATH = r"[a-z0-9]+([._-][a-z0-9]+)*"
REGISTRY = Annotated[str, Text(f"{_HOST}(/{_PATH})*", "a registry host[:port], with an optional path "
                                                        "(registry.example.com/mirror)", max_len=255)]
REPOSITORY = Annotated[str, Text(f"{_PATH}(/{_PATH})*", "a repository path such as library/redis", max_len=255)]
TAG = Annotated[str, Text(r"(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "an image tag (not latest)")]
DIGEST = Annotated[str, Text(r"sha256:[0-9a-f]{64}", "a digest: sha256: and 64 lower-case hex digits")]
PullPolicy = Literal["IfNotPresent", "Always", "Never"]
SECRET_NAME = Annotated[str, Text(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
                                  "a Secret name", max_len=253)]


class ImageOverride(StrictModel):
    """One image the program names, moved or pinned: absent keys keep the default."""

    TITLE = "image"
    DOCUMENTED_ONCE = True
    registry: REGISTRY | None = doc(None, "Registry of this image.", "`images.registry`, else the image's own")
    repository: REPOSITORY | None = doc(None, "Repository path in that registry.", "the image's own")
    tag: TAG | None = doc(None, "Tag.", "the image's own")
    digest: DIGEST | None = doc(None, "Digest the tag is pinned to (`<repository>:<tag>@<digest>`).", "none")
    pull_policy: PullPolicy | None = doc(None, "Pull policy of this image.", "`images.pullPolicy`")


def _override(key: str) -> object:
    image = CATALOGUE[key]
    where = f"{image.registry}/{image.repository}" + (f":{image.tag}" if image.tag else " (the chart's tag)")
    return Field(None, alias=key, description=f"{image.used_by[0].upper()}{image.used_by[1:]}: {where}.",
                 json_schema_extra={"x-default": "the default image"})


class ImagesConfig(StrictModel):
    """Where images come from: every image the program names (not the apps' own), and the pull Secrets."""

    TITLE = "images"
    registry: REGISTRY | None = doc(
        None, "Registry every image the program names is pulled from (a mirror or an internal registry); images of "
              "Docker Hub keep their path (library/redis). Not the apps' images, nor an `image:` given in full.",
        "each image's own (docker.io, quay.io)")
    pull_policy: PullPolicy = doc(
        "IfNotPresent", "imagePullPolicy of every container the program creates (the operators' charts keep their own "
                        "unless set).")
    pull_secrets: Annotated[tuple[SECRET_NAME, ...], Field(max_length=16)] = doc(
        (), "Names of existing image pull Secrets, put on every pod the program creates (apps included) and given "
            "to the operators: they must exist in every namespace the stack deploys to.", "none")
    valkey_8_1: ImageOverride | None = _override("valkey-8.1")
    valkey_9_0: ImageOverride | None = _override("valkey-9.0")
    redis_7_2: ImageOverride | None = _override("redis-7.2")
    haproxy: ImageOverride | None = _override("haproxy")
    exporter: ImageOverride | None = _override("exporter")
    exporter_scratch: ImageOverride | None = _override("exporter-scratch")
    restic: ImageOverride | None = _override("restic")
    ot_redis: ImageOverride | None = _override("ot-redis")
    ot_sentinel: ImageOverride | None = _override("ot-sentinel")
    ot_operator: ImageOverride | None = _override("ot-operator")
    spotahome_operator: ImageOverride | None = _override("spotahome-operator")

    def override(self, key: str) -> ImageOverride | None:
        return getattr(self, key.replace("-", "_").replace(".", "_"))

    @model_validator(mode="after")
    def _check(self) -> "ImagesConfig":
        out = []
        for key, image in CATALOGUE.items():
            o = self.override(key)
            if o is not None and image.tag is None and o.digest is not None and o.tag is None:
                out.append((f"{key}.digest", f"the operator chart writes its image as <name>:<tag>, so a digest "
                                             f"needs `tag` beside it (the chart's own tag, such as v0.26.0)"))
        seen = set()
        for i, name in enumerate(self.pull_secrets):
            if name in seen:
                out.append((f"pullSecrets[{i}]", f"{name!r} is listed twice"))
            seen.add(name)
        fail(out)
        return self


IMAGE_KEYS = tuple(CATALOGUE)
