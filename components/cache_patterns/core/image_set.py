"""Which image each container pulls, and from where: the images the program names (by a key of its own,
`valkey-8.1`, `haproxy`, `exporter`, ...), each a registry, a repository, a tag and optionally a digest,
and the stack's `images` block over them (a registry for every image, per-image overrides, the pull
policy and the pull Secrets every pod gets).

Without an `images` block every reference is rendered as it always was (`valkey/valkey:8.1.11-alpine`,
`quay.io/opstree/redis:v7.0.15`). With a registry, an image of Docker Hub is written with its full
path (`<registry>/library/redis:7.2.11-alpine`), which is how registry mirrors and pull-through caches
lay Docker Hub out. A digest pins the tag: `<repository>:<tag>@sha256:<digest>`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

DOCKER_HUB = "docker.io"
PULL_POLICY = "IfNotPresent"


@dataclass(frozen=True)
class DefaultImage:
    """An image the program names: where it comes from by default, and what runs it."""

    registry: str
    repository: str          # the path in the registry (Docker Hub's official images: library/<name>)
    tag: str | None          # None: the operator chart's own default tag
    used_by: str

    @property
    def reference(self) -> str:
        """The default reference, written as the program always has."""
        return render(self.registry, self.repository, self.tag, None, short=True)


CATALOGUE: dict[str, DefaultImage] = {
    "valkey-8.1": DefaultImage(DOCKER_HUB, "valkey/valkey", "8.1.11-alpine",
                               "Redis and Sentinel pods, sidecars and L1s of valkey 8.1 caches"),
    "valkey-9.0": DefaultImage(DOCKER_HUB, "valkey/valkey", "9.0.8-alpine",
                               "Redis and Sentinel pods and sidecars of valkey 9.0 caches"),
    "redis-7.2": DefaultImage(DOCKER_HUB, "library/redis", "7.2.11-alpine",
                              "Redis and Sentinel pods and sidecars of redis 7.2 caches, Spotahome's Redis and "
                              "Sentinels"),
    "haproxy": DefaultImage(DOCKER_HUB, "library/haproxy", "3.2-alpine", "the write endpoint of statefulset caches"),
    "exporter": DefaultImage(DOCKER_HUB, "oliver006/redis_exporter", "v1.88.0-alpine",
                             "the exporters in the pods of statefulset caches"),
    "exporter-scratch": DefaultImage(DOCKER_HUB, "oliver006/redis_exporter", "v1.88.0",
                                     "the operators' exporters and the standalone Sentinel exporter"),
    "restic": DefaultImage(DOCKER_HUB, "restic/restic", "0.19.1",
                           "the init container that copies restic into the backup and restore pods of statefulset caches"),
    "ot-redis": DefaultImage("quay.io", "opstree/redis", "v7.0.15", "OT-CONTAINER-KIT caches' Redis pods"),
    "ot-sentinel": DefaultImage("quay.io", "opstree/redis-sentinel", "v7.0.15", "OT-CONTAINER-KIT caches' Sentinels"),
    "ot-operator": DefaultImage("quay.io", "opstree/redis-operator", None,
                                "the OT-CONTAINER-KIT operator (its Helm chart's image)"),
    "spotahome-operator": DefaultImage("quay.io", "spotahome/redis-operator", None,
                                       "the Spotahome operator (its Helm chart's image)"),
}
# The images the operators' Helm charts run (the others are in pod templates and custom resources).
CHART_IMAGES = {"ot-container-kit": "ot-operator", "spotahome": "spotahome-operator"}


def render(registry: str, repository: str, tag: str | None, digest: str | None, short: bool = False) -> str:
    """A reference. `short`: Docker Hub images without `docker.io/` and official ones without `library/`."""
    path = repository
    if short and registry == DOCKER_HUB:
        path = repository.removeprefix("library/")
    else:
        path = f"{registry}/{repository}"
    return path + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


@dataclass(frozen=True)
class Resolved:
    """One catalogue image after the stack's `images` block."""

    key: str
    registry: str
    repository: str
    tag: str | None
    digest: str | None
    pull_policy: str
    policy_given: bool       # the stack set a pull policy (for charts, whose own default is otherwise kept)
    moved: bool              # registry or repository differ from the default

    @property
    def reference(self) -> str:
        return render(self.registry, self.repository, self.tag, self.digest, short=not self.moved)

    @property
    def name(self) -> str:
        """registry/repository, as a chart's image name value."""
        return render(self.registry, self.repository, None, None, short=not self.moved)

    @property
    def chart_tag(self) -> str | None:
        """The chart's tag value: the tag, with the digest after it (the charts write `name:tag`)."""
        if self.tag is None:
            return None
        return self.tag + (f"@{self.digest}" if self.digest else "")


class ImageSet:
    """The stack's `images` block (an ImagesConfig, or None: every default) as what containers pull."""

    def __init__(self, config: Any = None):
        self.config = config
        self.registry = getattr(config, "registry", None)
        self.pull_policy = getattr(config, "pull_policy", None) or PULL_POLICY
        self.policy_given = "pull_policy" in getattr(config, "model_fields_set", ())
        self.pull_secrets: tuple[str, ...] = tuple(getattr(config, "pull_secrets", ()) or ())

    def override(self, key: str) -> Any:
        return self.config.override(key) if self.config is not None else None

    def resolve(self, key: str) -> Resolved:
        base, o = CATALOGUE[key], self.override(key)
        registry = getattr(o, "registry", None) or self.registry or base.registry
        repository = getattr(o, "repository", None) or base.repository
        policy = getattr(o, "pull_policy", None)
        return Resolved(key=key, registry=registry, repository=repository,
                        tag=getattr(o, "tag", None) or base.tag, digest=getattr(o, "digest", None),
                        pull_policy=policy or self.pull_policy, policy_given=bool(policy) or self.policy_given,
                        moved=(registry, repository) != (base.registry, base.repository))

    def ref(self, key: str) -> str:
        return self.resolve(key).reference

    def container(self, key: str) -> dict:
        """The `image` and `imagePullPolicy` of a container running catalogue image `key`."""
        r = self.resolve(key)
        return {"image": r.reference, "imagePullPolicy": r.pull_policy}

    def given(self, reference: str, key: str | None = None) -> dict:
        """The same for an image given in full by config (`image:`, an app's image): used as written."""
        policy = self.resolve(key).pull_policy if key else self.pull_policy
        return {"image": reference, "imagePullPolicy": policy}

    def pick(self, given: str | None, key: str) -> dict:
        """An image given in config, else catalogue image `key`."""
        return self.given(given, key) if given else self.container(key)

    def secret_refs(self) -> list[dict]:
        """`imagePullSecrets` of every pod."""
        return [{"name": n} for n in self.pull_secrets]


DEFAULT_IMAGES = ImageSet()


def of(images: Any) -> ImageSet:
    """An `images` arg (an ImageSet, an ImagesConfig, a dict of its keys, or None) as an ImageSet."""
    if isinstance(images, ImageSet):
        return images
    if images is None:
        return DEFAULT_IMAGES
    if isinstance(images, Mapping):
        from cache_patterns.config.images import ImagesConfig

        return ImageSet(ImagesConfig.model_validate(images))
    return ImageSet(images)


def unknown_images(images: ImageSet, caches: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, warning) for every image the stack runs that the image table (core/images.py) does not
    know: an override is accepted, but what the pod scripts rely on in the default image (its programs,
    shell, user) is then the user's to check, and the warning says what that is."""
    from cache_patterns.core import images as facts

    def warn(key: str, reference: str, default: str) -> list[tuple[str, str]]:
        known = facts.facts(default)
        if known is None or facts.facts(reference) is not None:
            return []
        return [(key, f"{reference!r} is not in the image table (core/images.py), so nothing here checks what the "
                      f"pods run in it; they rely on what {default} has: {facts.describe(known)}. Check that it has "
                      f"the same, or add it to the table")]

    out = []
    for key, base in CATALOGUE.items():
        if images.override(key) is not None and base.tag is not None:
            out += warn(f"images.{key}", images.ref(key), base.reference)
    for name, cache in caches.items():
        keys = cache.image_keys() if hasattr(cache, "image_keys") else {}
        for field, role in (("image", "redis"), ("sentinel_image", "sentinel")):
            given = getattr(cache, field, None)
            default = keys.get(role, (None, None))[1] or _engine_key(cache)
            if given and default:
                out += warn(f"caches.{name}.{'sentinelImage' if field == 'sentinel_image' else 'image'}", given,
                            CATALOGUE[default].reference)
    return out


def _engine_key(cache: Any) -> str | None:
    from cache_patterns.config.common import image_key

    engine = getattr(cache, "engine", None)
    return image_key(engine, getattr(cache, "version", None)) if engine else None
