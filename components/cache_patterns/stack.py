"""The stack's config: every `cache-patterns:*` key, composed from each pattern's settings model and
parsed once, before any resource exists.

`parse()` is pure (plain data in, frozen models out, or one ConfigError listing every problem of the
file, including the rules that span keys, such as an app bound to a cache that does not exist).
Reading what the Pulumi engine passed, or a stack file, is in `cache_patterns.stack_reader`.
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Mapping, Union

from pydantic import Field, PrivateAttr, TypeAdapter, ValidationError, ValidationInfo, model_validator

from cache_patterns.config.app import CACHE_NAME, AppConfig
from cache_patterns.config.base import StrictModel
from cache_patterns.config.cache import StackFacts
from cache_patterns.config.capacity import split_findings
from cache_patterns.config.common import ENVIRONMENTS, NAMESPACE_NAME, Environment, doc
from cache_patterns.config.errors import ConfigError, app_label, problems_of
from cache_patterns.config.images import ImagesConfig
from cache_patterns.config.placement import NO_PLACEMENT, Placement
from cache_patterns.config.types import Flag, Text
from cache_patterns.core import image_set, naming, ownership
from cache_patterns.core import placement as placing
from cache_patterns.core.component import NATIVE_SIDECAR_SINCE
from cache_patterns.observability import settings as observability
from cache_patterns.observability.settings import ObservabilityConfig
from cache_patterns.patterns import PATTERNS, contract_problems
from cache_patterns.patterns.external.settings import AwsConfig
from cache_patterns.patterns.operator import charts
from cache_patterns.patterns.operator.settings import Operator, OperatorInstall

NAMESPACE = "cache-patterns"
# Oldest and newest Kubernetes minor versions every stack is validated against (kubernetes-validate).
K8S_OLDEST, K8S_NEWEST = (1, 28), (1, 37)
K8S_VERSION = Annotated[str, Text(r"1\.(2[89]|3[0-7])", f"a quoted Kubernetes minor version from {'.'.join(map(str, K8S_OLDEST))} "
                                         f"to {'.'.join(map(str, K8S_NEWEST))}, such as \"1.33\"")]
CLUSTER_DOMAIN = Annotated[str, Text(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", "a DNS domain")]

# One `pattern` union, assembled from the pattern folders (patterns/__init__.py is the registry).
CacheConfig = Annotated[Union[tuple(p.settings for p in PATTERNS.values())],  # type: ignore[valid-type]
                        Field(discriminator="pattern")]
_CACHE = TypeAdapter(CacheConfig)
_APP = TypeAdapter(AppConfig)


class StackConfig(StrictModel):
    """The whole stack's config: every top-level key, plus the stack's name (`stack`)."""

    TITLE = "stack config"
    CONTEXT_DEFAULTS = {"namespace": "stack"}
    environment: Environment = doc(
        ..., "What the stack is for; production and staging tighten defaults and checks (see the table).")
    namespace: NAMESPACE_NAME = doc(..., "Namespace of the stack's caches and default namespace of "
                                                         "its apps.", "the stack name")
    kubernetes_version: K8S_VERSION = doc(
        "1.33", "Kubernetes minor version of the target cluster: selects native or plain-container sidecars and the "
                "schema the render is validated against.")
    kube_context: Annotated[str, Text(r"\S+", "a kubeconfig context name")] | None = doc(
        None, "kubeconfig context of the explicit Kubernetes provider.", "the current context", secret="honoured")
    cluster_domain: CLUSTER_DOMAIN = doc("cluster.local", "The cluster's DNS domain.")
    manage_namespaces: Flag = doc(
        True, "Create the namespaces (labelled for the restricted Pod Security Standard); false: they exist.")
    caches: Annotated[dict[CACHE_NAME, CacheConfig], Field(min_length=1)] = doc(
        ..., "Named caches; each app binds to one by name.")
    apps: tuple[AppConfig, ...] = doc((), "Apps wired to a cache.", "none")
    aws: AwsConfig | None = doc(None, "AWS region and network (for ElastiCache).")
    operators: dict[Operator, OperatorInstall] = doc(
        {}, "Operator installs, by operator.", "none: operators are assumed installed", secret="honoured")
    # Absent: the defaults of the stack's environment (validated, so `enabled` follows it).
    observability: ObservabilityConfig = Field(
        {}, validate_default=True, description="Metrics, alert rules, dashboards and cloud alarms for every cache "
                                               "(docs/observability.md).",
        json_schema_extra={"x-default": "on in production and staging"})
    placement: Placement = doc(
        NO_PLACEMENT, "Where every pod the program runs for its caches and operators goes (node selector, tolerations, "
                      "affinity, spread, priority class, pod labels and annotations); a cache's `placement` and its "
                      "components' go over it (docs/production.md). Not the apps' pods: `apps[].placement`.", "none")
    images: ImagesConfig = doc(
        ImagesConfig(), "Where images come from: a registry for every image the program names, per-image "
                        "repository, tag and digest, the pull policy, and pull Secrets for every pod "
                        "(docs/production.md).", "each image as the catalogue names it")
    passwords: dict[CACHE_NAME, Annotated[str, Text(allowed="a secret string", secret=True)]] = doc(
        {}, "Secret: passwords of `kind: endpoint` caches by cache name "
            "(`pulumi config set --secret --path 'passwords.<cache>'`).", "none", secret="required")
    _stack: str = PrivateAttr("")
    _secret_keys: frozenset = PrivateAttr(frozenset())
    _warnings: tuple = PrivateAttr(())

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> "StackConfig":
        context = info.context or {}
        self._stack = context.get("stack", "")
        self._secret_keys = frozenset(context.get("secret_keys", ()))
        return self

    @property
    def stack(self) -> str:
        return self._stack

    @property
    def warnings(self) -> tuple[tuple[str, str], ...]:
        """What the plan advises against but does not stop (docs/planning.md), as (key, message)."""
        return self._warnings

    @property
    def secret_keys(self) -> frozenset[str]:
        """The top-level keys the engine passed as secrets (`pulumi config set --secret`)."""
        return self._secret_keys

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def k8s_version(self) -> tuple[int, int]:
        major, minor = self.kubernetes_version.split(".")
        return int(major), int(minor)

    @property
    def native_sidecars(self) -> bool:
        return self.k8s_version >= NATIVE_SIDECAR_SINCE

    def apps_of(self, cache: str) -> tuple[AppConfig, ...]:
        return tuple(a for a in self.apps if a.cache == cache)


TOP_KEYS = tuple(StackConfig.config_keys())
# Keys whose value is an object or list: Pulumi passes them to the program as JSON text.
STRUCTURED_KEYS = frozenset({"caches", "apps", "aws", "operators", "observability", "passwords", "placement", "images"})


def cross_problems(stack: str, caches: Mapping[str, Any], apps: list[tuple[int, AppConfig]], passwords: Mapping[str, str],
                   aws: AwsConfig | None, operators: Mapping[str, OperatorInstall], obs: ObservabilityConfig | None,
                   *, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The rules that span keys, over whatever parsed (so one bad cache does not hide them). `raw` is
    the input: a cache that failed to parse still exists for the apps, a block with an error in it is
    still present (an unknown key inside `aws` does not make the caches lack `aws`), and apps are
    named in errors. Each cache's own rules with the rest of the stack are its settings' methods."""
    raw_caches = raw.get("caches") if isinstance(raw.get("caches"), dict) else {}
    raw_apps = raw.get("apps") if isinstance(raw.get("apps"), list) else []
    facts = StackFacts(passwords=passwords, aws=aws, aws_given=raw.get("aws") is not None,
                       acl_patterns=tuple(t for t, p in PATTERNS.items() if "acl_users" in p.settings.model_fields))
    out: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for i, app in apps:
        key = app_label(raw_apps, i)
        if app.name in seen:
            out.append((f"{key}.name", f"{app.name!r} is already the name of apps[{seen[app.name]}]; "
                                       f"app names are unique"))
        seen.setdefault(app.name, i)
        cache = caches.get(app.cache)
        if cache is None:
            if app.cache not in raw_caches:
                out.append((f"{key}.cache", f"{app.cache!r} is not a cache of this stack "
                                            f"(caches: {', '.join(map(str, raw_caches)) or 'none'})"))
            continue
        if app.password_env and not cache.auth_enabled:
            out.append((f"{key}.passwordEnv", f"cache {app.cache!r} has no password to put in the environment"))
        out += cache.app_problems(key, app, app.cache, facts)
        out += contract_problems(key, app, app.cache, cache)
    for name, cache in caches.items():
        out += cache.stack_problems(name, facts)
        app_namespaces = {a.namespace: f"{app_label(raw_apps, i)}.namespace" for i, a in reversed(apps)
                          if a.cache == name}
        out += naming.problems(cache.name_checks(stack, name, app_namespaces))
    for name in passwords:
        cache = caches.get(name)
        if (name in caches and not cache.takes_password) or name not in raw_caches:
            out.append((f"passwords.{name}", "only caches whose password is set in config (kind: endpoint) take one; "
                                             "the others generate one"))
    if obs is not None:
        out += observability.stack_problems(obs, caches)
    installs = [charts.install_of(op, o.release, o.namespace, o.chart, o.repository, o.values)
                for op, o in operators.items() if o.install]
    out += charts.clashes(installs)
    out += install_problems(operators, raw)
    used = {c.operator_install for c in caches.values()}
    unparsed = any(name not in caches for name in raw_caches)
    for op in operators:
        if op not in used and not unparsed:
            out.append((f"operators.{op}", "no cache of this stack uses this operator"))
    return out


def install_problems(operators: Mapping[str, OperatorInstall], raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What an operator's chart cannot take: placement keys it has no value for, more pull Secrets than
    its template writes (chart_values.py)."""
    from cache_patterns.patterns.operator.chart_values import MAX_PULL_SECRETS

    out = [p for op, o in operators.items() if o.install for p in o.problems_as(op, f"operators.{op}")]
    images = raw.get("images") if isinstance(raw.get("images"), dict) else {}
    secrets = images.get("pullSecrets") if isinstance(images.get("pullSecrets"), list) else []
    for op, o in operators.items():
        limit = MAX_PULL_SECRETS.get(op)
        if o.install and limit is not None and len(secrets) > limit:
            out.append(("images.pullSecrets", f"the {op} chart writes its imagePullSecrets key once per Secret, so "
                                              f"its pod takes {limit}: give {limit}, or install {op} yourself "
                                              f"(operators.{op}.install: false), got {len(secrets)}"))
    return out


def parse(values: Mapping[str, Any], stack: str, *, secret_keys: frozenset[str] = frozenset(),
          problems: list[tuple[str, str]] | None = None) -> StackConfig:
    """Parse a stack's `cache-patterns:*` config (short keys, decoded values) into a StackConfig.

    Raises ConfigError listing every problem: those of each key, those that span keys (checked over
    whatever parsed) and `problems` found before (by the engine reader)."""
    found = list(problems or [])
    values = dict(values)
    secret = {k.split(":", 1)[-1] for k in secret_keys}
    env = values.get("environment")
    ns = values.get("namespace", stack)
    environment = env if env in ENVIRONMENTS else "development"
    context = {"stack": stack, "environment": environment, "namespace": ns if isinstance(ns, str) else stack,
               "secret_keys": frozenset(secret),
               # Exporters default to whether observability is on, before that key itself is parsed.
               "observability": observability.requested(values.get("observability"), environment)}
    if "namespace" not in values and not naming.is_label(stack):
        found.append(("namespace", f"is required: the stack name {stack!r} is not a valid namespace name"))
        values["namespace"] = "invalid-stack-name"
    owner_problem = ownership.label_value_problem(stack)
    if owner_problem:
        found.append(("(stack name)", owner_problem))
    k8s = values.get("kubernetesVersion")
    if isinstance(k8s, (int, float, str)) and not isinstance(k8s, bool) and re.fullmatch(r"1\.[1-9]", str(k8s)):
        found.append(("kubernetesVersion", f"must be a quoted minor version such as \"1.30\" (YAML reads an unquoted "
                                           f"1.30 as the number 1.3), got {k8s!r}"))
        values.pop("kubernetesVersion")
    try:
        cfg = StackConfig.model_validate(values, context=context)
    except ValidationError as exc:
        found += problems_of(exc, values, secret=secret, tags=set(PATTERNS), root=StackConfig)
        found += _partial_problems(values, context)
    else:
        found += cross_problems(stack, cfg.caches, list(enumerate(cfg.apps)), cfg.passwords, cfg.aws, cfg.operators,
                                cfg.observability, raw=values)
    if found:
        raise ConfigError(found)
    cfg._warnings = tuple(w for name, c in cfg.caches.items()
                          for w in split_findings(c.plan_findings(), cfg.environment, f"caches.{name}.")[1])
    cfg._warnings += tuple(image_set.unknown_images(image_set.ImageSet(cfg.images), cfg.caches))
    cfg._warnings += tuple(annotation_warnings(cfg))
    return cfg


def annotation_warnings(cfg: StackConfig) -> list[tuple[str, str]]:
    """Pod annotations a cache's pods will not carry: OT-CONTAINER-KIT copies a RedisReplication's
    annotations to its Redis pods only (operator/pods.py)."""
    out = []
    for name, c in cfg.caches.items():
        if getattr(c, "kind", None) == "ot-replication" and placing.merge(cfg.placement, c.placement).pod_annotations:
            out.append((f"caches.{name}.placement.podAnnotations",
                        "RedisReplication's Sentinel pods get no pod annotations (the operator copies the resource's "
                        "annotations to its Redis pods only)"))
    return out


def workload(cache: Any, pods: int | None = None) -> Any:
    """A cache's `capacity` as the planner's workload (see CacheSettings.workload)."""
    return cache.workload(pods)


def engine_of(cache: Any) -> Any:
    """The engine a plan is for (see CacheSettings.plan_engine)."""
    return cache.plan_engine()


def _partial_problems(values: Mapping[str, Any], context: dict) -> list[tuple[str, str]]:
    """The rules that span keys, over the parts that parse on their own (StackConfig's own check only
    runs when every key parsed): so a typo in one cache does not hide a dangling app reference."""
    def each(adapter: TypeAdapter, value: Any) -> Any:
        try:
            return adapter.validate_python(value, context=context)
        except ValidationError:
            return None

    raw_caches = values.get("caches") if isinstance(values.get("caches"), dict) else {}
    caches = {k: c for k, v in raw_caches.items() if (c := each(_CACHE, v)) is not None}
    raw_apps = values.get("apps") if isinstance(values.get("apps"), list) else []
    apps = [(i, a) for i, v in enumerate(raw_apps) if (a := each(_APP, v)) is not None]
    parts = {}
    for key, model in (("aws", AwsConfig), ("observability", ObservabilityConfig), ("operators", None),
                       ("passwords", None)):
        value = values.get(key)
        if model is not None:
            parts[key] = each(TypeAdapter(model), value) if value is not None else None
        else:
            parts[key] = value if isinstance(value, dict) else {}
    operators = {k: o for k, v in parts["operators"].items() if (o := each(TypeAdapter(OperatorInstall), v))}
    passwords = {k: v for k, v in parts["passwords"].items() if isinstance(v, str)}
    obs = parts["observability"] if "observability" in values else each(TypeAdapter(ObservabilityConfig), {})
    return cross_problems(context["stack"], caches, apps, passwords, parts["aws"], operators, obs, raw=values)
