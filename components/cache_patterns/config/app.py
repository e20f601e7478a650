"""An app's config (`apps[]`): the workload wired to a cache, and the env variables it reads."""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from cache_patterns.config.base import StrictModel, fail
from cache_patterns.config.common import CPU, IMAGE, NAMESPACE_NAME, doc
from cache_patterns.config.placement import NO_PLACEMENT, Placement
from cache_patterns.config.types import Allowed, Flag, Quantity, Text
from cache_patterns.core import naming, redis_conf, sizing
from cache_patterns.core.contract import CONTRACT_NAMES

ENV_NAME = Annotated[str, Text(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name")]
LABEL_VALUE = Annotated[str, Text(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?", "a label value", max_len=63, min_len=0)]
LABEL_KEY = Annotated[str, Text(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", "a label key",
                 max_len=317)]
HTTP_PATH = Annotated[str, Text(r"/[^\s]*", "an HTTP path starting with /")]
APP_NAME = Annotated[str, Text(naming.DNS_LABEL, naming.DNS_LABEL_DOC, max_len=naming.APP_NAME_MAX)]
CACHE_NAME = Annotated[str, Text(naming.DNS_LABEL, naming.DNS_LABEL_DOC, max_len=naming.CACHE_NAME_MAX)]
CONTRACT_VAR = Literal[CONTRACT_NAMES]
Labels = dict[LABEL_KEY, LABEL_VALUE]
RESERVED_ENV = re.compile(r"CACHE_.*")
SECRETISH = re.compile(r"(?i).*(passw(or)?d|secret|token|api_?key|credential).*")
# Paths an app may not mount over (emptyDir) without hiding files its pod needs.
HIDDEN_PATHS = ("/", "/etc", "/etc/cache-patterns", "/run/cache")


class Resources(StrictModel):
    TITLE = "app resources"
    cpu: CPU = doc(100, "CPU request.", "100m")
    cpu_limit: CPU | None = doc(None, "CPU limit.", "none")
    memory: Annotated[int, Quantity("bytes", min=4 * sizing.MI)] = doc(128 * sizing.MI, "Memory request.", "128Mi")
    memory_limit: Annotated[int, Quantity("bytes", min=4 * sizing.MI)] = doc(256 * sizing.MI, "Memory limit.", "256Mi")

    @model_validator(mode="after")
    def _check(self) -> "Resources":
        out = []
        if self.memory > self.memory_limit:
            out.append(("memory", f"request {sizing.format_bytes(self.memory)} is above memoryLimit "
                                  f"{sizing.format_bytes(self.memory_limit)}"))
        if self.cpu_limit is not None and self.cpu > self.cpu_limit:
            out.append(("cpu", f"request {sizing.format_millicores(self.cpu)} is above cpuLimit "
                               f"{sizing.format_millicores(self.cpu_limit)}"))
        fail(out)
        return self


class Probes(StrictModel):
    TITLE = "probes"
    readiness_path: HTTP_PATH | None = doc(None, "HTTP readiness path.", "a TCP check of `port`")
    liveness_path: HTTP_PATH | None = doc(None, "HTTP liveness path.", "a TCP check of `port`")
    startup_path: HTTP_PATH | None = doc(None, "HTTP startup path.", "the liveness check")
    initial_delay: Annotated[int, Field(strict=True, ge=0, le=600)] = doc(0, "Seconds before the first readiness and liveness check.")


class Peer(StrictModel):
    """An ingress source for an app's NetworkPolicy: pods in a namespace, optionally by label."""

    TITLE = "ingress source"
    namespace: NAMESPACE_NAME = doc(..., "Namespace of the pods allowed in.")
    pod_labels: Labels = doc(
        {}, "Only pods with these labels.", "all pods")


class AppConfig(StrictModel):
    """An app wired to a cache."""

    TITLE = "an app"
    CONTEXT_DEFAULTS = {"namespace": "namespace"}
    name: APP_NAME = doc(..., "Deployment and Service name (stable; renaming replaces the app).")
    namespace: NAMESPACE_NAME = doc(..., "Namespace.", "the stack's `namespace`")
    image: IMAGE = doc(..., "Image (`name:tag`, `name@sha256:...` or both).")
    replicas: Annotated[int, Field(strict=True, ge=0, le=100)] = doc(1, "Pods in the app's Deployment (for apps, the Kubernetes meaning).")
    port: Annotated[int, Field(strict=True, ge=1024, le=65535)] = doc(8080, "Container port, also the Service port.")
    resources: Resources = doc(Resources(), "Requests and limits.", "100m / 128Mi, limit 256Mi")
    probes: Probes = doc(Probes(), "Readiness, liveness and startup probes.", "TCP checks of `port`")
    env: dict[ENV_NAME, Annotated[str, Text(max_len=4096, min_len=0)]] = doc(
        {}, "Extra plain environment variables.", "none")
    cache: CACHE_NAME = doc(..., "Name of the cache (under `caches`) the app binds to.")
    reads: Annotated[tuple[CONTRACT_VAR, ...], Allowed("a list of contract variable names")] = doc(
        (), "The contract variables the app reads (such as CACHE_URL): the cache must provide each, whatever its "
            "pattern; a config change that would drop one is refused. CACHE_URL or CACHE_PASSWORD here implies "
            "passwordEnv.", "none declared")
    password_env: Flag = doc(
        False, "Also put the password in CACHE_PASSWORD (secretKeyRef) and CACHE_URL; by default it is only a file.")
    allow_from: tuple[Peer, ...] | None = doc(
        None, "Who may reach the app's port.", "pods of its own namespace")
    writable_paths: tuple[Annotated[str, Text(r"/[-A-Za-z0-9_./]*", "an absolute path")], ...] = doc(
        ("/tmp",), "emptyDir mounts (the root filesystem is read-only).", "/tmp")
    run_as_user: Annotated[int, Field(strict=True, ge=10000, le=2**31 - 1)] = doc(10001, "UID (and GID) the app runs as.")
    mount_service_account_token: Flag = doc(False, "Mount the service account token.")
    cache_user: Annotated[str, Text(redis_conf.ACL_NAME.pattern, "an ACL user name", max_len=32)] | None = doc(
        None, "Authenticate as this user of the cache's `aclUsers` (pattern statefulset): CACHE_USERNAME and that "
              "user's password file; no Sentinel variables (the Sentinels take only the default password).",
        "the default user")
    placement: Placement = doc(
        NO_PLACEMENT, "Where the app's pods run, with the sidecar or L1 they carry (the stack's `placement` is the "
                      "caches' pods', not the apps').", "with 2+ replicas, spread over nodes and zones")

    @property
    def wants_password_env(self) -> bool:
        """The password in the environment: asked for, or needed by a variable the app reads."""
        return self.password_env or bool({"CACHE_URL", "CACHE_PASSWORD"} & set(self.reads))

    @model_validator(mode="after")
    def _check(self) -> "AppConfig":
        out = []
        for key in self.env:
            if RESERVED_ENV.fullmatch(key):
                out.append((f"env.{key}", "CACHE_* variables are set by the cache binding (see the env contract)"))
            elif SECRETISH.fullmatch(key):
                out.append((f"env.{key}", "looks like a secret: env values are plain text in the Deployment; "
                                          "use a Kubernetes Secret, not stack config"))
        for p in self.writable_paths:
            if p in HIDDEN_PATHS:
                out.append(("writablePaths", f"{p!r} would hide files the pod needs"))
        if self.port in (6379, 26379):
            out.append(("port", f"{self.port} is taken by the cache sidecar or Sentinel; pick another port"))
        fail(out)
        return self
