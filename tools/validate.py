"""Validation of rendered objects: official Kubernetes schemas (kubernetes-validate, strict) for
built-in kinds, and operator CRD schemas for custom resources (tools/crds.py)."""
from __future__ import annotations

import os
from pathlib import Path

import kubernetes_validate

from cache_patterns.stack import K8S_NEWEST, K8S_OLDEST

# Groups whose kinds kubernetes-validate knows; anything else is a custom resource.
BUILTIN_GROUPS = {"", "apps", "batch", "policy", "networking.k8s.io", "rbac.authorization.k8s.io", "discovery.k8s.io",
                  "autoscaling", "storage.k8s.io", "coordination.k8s.io", "scheduling.k8s.io"}
SUPPORTED_VERSIONS = tuple(f"{K8S_OLDEST[0]}.{m}" for m in range(K8S_OLDEST[1], K8S_NEWEST[1] + 1))
VALIDATED_VERSIONS = (SUPPORTED_VERSIONS[0], SUPPORTED_VERSIONS[-1])
CRDS_ENV = "CACHE_PATTERNS_CRDS"
# Upstream data (CRDs, charts, sizing measurements) is read from the shared folder beside the checkout,
# never copied in: `../shared` relative to it, or wherever $CACHE_PATTERNS_SHARED says.
SHARED_ENV = "CACHE_PATTERNS_SHARED"
CHECKOUT = Path(__file__).resolve().parent.parent


def group_of(obj: dict) -> str:
    api = obj.get("apiVersion", "")
    return api.split("/")[0] if "/" in api else ""


def is_custom(obj: dict) -> bool:
    return group_of(obj) not in BUILTIN_GROUPS


def describe(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}"


def validate_k8s(obj: dict, version: str) -> list[str]:
    """Problems of one built-in object against the official schema of Kubernetes `version` (strict:
    unknown fields are errors, since the API server would drop them silently)."""
    try:
        kubernetes_validate.validate(obj, f"{version}.0", strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path) or "<root>"
        return [f"{describe(obj)}: {where}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{describe(obj)}: no Kubernetes {version} schema for {obj.get('apiVersion')} {obj.get('kind')}"]
    return []


def shared_dir() -> Path:
    """The shared folder: $CACHE_PATTERNS_SHARED, else `../shared` relative to this checkout (it may
    not exist: callers say what is missing)."""
    return Path(os.environ.get(SHARED_ENV) or CHECKOUT.parent / "shared").resolve()


def shared_path(*parts: str) -> Path | None:
    """A folder of the shared folder (`charts/redis-operator`), None when it is absent."""
    path = shared_dir().joinpath(*parts)
    return path if path.exists() else None


def crds_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The CRD folder: an explicit path, else $CACHE_PATTERNS_CRDS, else `schemas/crds` of the shared
    folder (shared_dir). None when it does not exist (tests then skip, or fail in CI, saying so)."""
    if explicit or os.environ.get(CRDS_ENV):
        path = Path(explicit or os.environ[CRDS_ENV])
        return path if path.is_dir() else None
    path = shared_path("schemas", "crds")
    return path if path is not None and path.is_dir() else None
