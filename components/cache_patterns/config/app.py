"""An app's config (`apps[]`): the workload wired to a cache, and the env variables it reads."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import model_validator

from cache_patterns.config.base import Shape, StrictModel, fail
from cache_patterns.config.common import CPU, IMAGE, NAMESPACE_NAME, doc
from cache_patterns.config.types import Bool, Int, Quantity, Str
from cache_patterns.core import naming, redis_conf, sizing
from cache_patterns.core.contract import CONTRACT_NAMES

ENV_NAME = Str(pattern=r"[A-Za-z_][A-Za-z0-9_]*", pattern_doc="an environment variable name")
LABEL_VALUE = Str(pattern=r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?", pattern_doc="a label value", max_len=63,
                  min_len=0)
LABEL_KEY = Str(pattern=r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?",
                pattern_doc="a label key", max_len=317)
HTTP_PATH = Str(pattern=r"/[^\s]*", pattern_doc="an HTTP path starting with /")
APP_NAME = Str(pattern=naming.DNS_LABEL, pattern_doc=naming.DNS_LABEL_DOC, max_len=naming.APP_NAME_MAX)
CACHE_NAME = Str(pattern=naming.DNS_LABEL, pattern_doc=naming.DNS_LABEL_DOC, max_len=naming.CACHE_NAME_MAX)
CONTRACT_VAR = Str(choices=CONTRACT_NAMES)
RESERVED_ENV = re.compile(r"CACHE_.*")
SECRETISH = re.compile(r"(?i).*(passw(or)?d|secret|token|api_?key|credential).*")
# Paths an app may not mount over (emptyDir) without hiding files its pod needs.
HIDDEN_PATHS = ("/", "/etc", "/etc/cache-patterns", "/run/cache")


class Resources(StrictModel):
    TITLE = "app resources"
    cpu: Annotated[int, CPU] = doc(100, "CPU request.", "100m")
    cpu_limit: Annotated[int | None, CPU] = doc(None, "CPU limit.", "none")
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
    readiness_path: Annotated[str | None, HTTP_PATH] = doc(None, "HTTP readiness path.", "a TCP check of `port`")
    liveness_path: Annotated[str | None, HTTP_PATH] = doc(None, "HTTP liveness path.", "a TCP check of `port`")
    startup_path: Annotated[str | None, HTTP_PATH] = doc(None, "HTTP startup path.", "the liveness check")
    initial_delay: Annotated[int, Int(0, 600)] = doc(0, "Seconds before the first readiness and liveness check.")


class Peer(StrictModel):
    """An ingress source for an app's NetworkPolicy: pods in a namespace, optionally by label."""

    TITLE = "ingress source"
    namespace: Annotated[str, NAMESPACE_NAME] = doc(..., "Namespace of the pods allowed in.")
    pod_labels: Annotated[dict[Annotated[str, LABEL_KEY], Annotated[str, LABEL_VALUE]],
                          Shape("map", LABEL_VALUE.describe(), LABEL_KEY)] = doc(
        {}, "Only pods with these labels.", "all pods")


class AppConfig(StrictModel):
    """An app wired to a cache."""

    TITLE = "an app"
    CONTEXT_DEFAULTS = {"namespace": "namespace"}
    name: Annotated[str, APP_NAME] = doc(..., "Deployment and Service name (stable; renaming replaces the app).")
    namespace: Annotated[str, NAMESPACE_NAME] = doc(..., "Namespace.", "the stack's `namespace`")
    image: Annotated[str, IMAGE] = doc(..., "Image (`name:tag`, `name@sha256:...` or both).")
    replicas: Annotated[int, Int(0, 100)] = doc(1, "Pods in the app's Deployment (for apps, the Kubernetes meaning).")
    port: Annotated[int, Int(1024, 65535)] = doc(8080, "Container port, also the Service port.")
    resources: Resources = doc(Resources(), "Requests and limits.", "100m / 128Mi, limit 256Mi")
    probes: Probes = doc(Probes(), "Readiness, liveness and startup probes.", "TCP checks of `port`")
    env: Annotated[dict[Annotated[str, ENV_NAME], Annotated[str, Str(min_len=0, max_len=4096)]],
                   Shape("map", "a string of at most 4096 characters", ENV_NAME)] = doc(
        {}, "Extra plain environment variables.", "none")
    cache: Annotated[str, CACHE_NAME] = doc(..., "Name of the cache (under `caches`) the app binds to.")
    reads: Annotated[tuple[Annotated[str, CONTRACT_VAR], ...], Shape("list", "a contract variable name")] = doc(
        (), "The contract variables the app reads (such as CACHE_URL): the cache must provide each, whatever its "
            "pattern; a config change that would drop one is refused. CACHE_URL or CACHE_PASSWORD here implies "
            "passwordEnv.", "none declared")
    password_env: Annotated[bool, Bool()] = doc(
        False, "Also put the password in CACHE_PASSWORD (secretKeyRef) and CACHE_URL; by default it is only a file.")
    allow_from: Annotated[tuple[Peer, ...] | None, Shape("list", "an object (ingress source)")] = doc(
        None, "Who may reach the app's port.", "pods of its own namespace")
    writable_paths: Annotated[tuple[Annotated[str, Str(pattern=r"/[-A-Za-z0-9_./]*", pattern_doc="an absolute path")],
                                    ...], Shape("list", "an absolute path")] = doc(
        ("/tmp",), "emptyDir mounts (the root filesystem is read-only).", "/tmp")
    run_as_user: Annotated[int, Int(10000, 2**31 - 1)] = doc(10001, "UID (and GID) the app runs as.")
    mount_service_account_token: Annotated[bool, Bool()] = doc(False, "Mount the service account token.")
    cache_user: Annotated[str | None, Str(pattern=redis_conf.ACL_NAME.pattern, pattern_doc="an ACL user name",
                                          max_len=32)] = doc(
        None, "Authenticate as this user of the cache's `aclUsers` (pattern statefulset): CACHE_USERNAME and that "
              "user's password file; no Sentinel variables (the Sentinels take only the default password).",
        "the default user")

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
