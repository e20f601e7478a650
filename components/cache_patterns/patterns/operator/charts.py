"""The operators' Helm charts: where they come from, the release names this program gives them, and
the objects each chart names, so the config can refuse two installs that would clash before any
resource exists.

Helm refuses a second release of one name in one namespace, and refuses to create an object that
another release already owns (its `meta.helm.sh/release-name` annotation). The charts name their
objects by fixed rules, read from their templates:

- OT-CONTAINER-KIT `redis-operator` chart (OT-CONTAINER-KIT/redis-operator charts/redis-operator @v0.26.0,
  templates/role.yaml, role-binding.yaml, operator-deployment.yaml, service-account.yaml): ClusterRole,
  ClusterRoleBinding and Deployment are all `values.redisOperator.name` (default `redis-operator`),
  the ServiceAccount `values.serviceAccountName` (default `redis-operator`), whatever the release is
  called. With `rbac.scope: namespace` the role and binding are namespaced instead.
- Spotahome `redis-operator` chart 3.3.0 (spotahome/redis-operator charts/redisoperator,
  templates/_helpers.tpl `chart.fullname`, service-account.yaml, deployment.yaml, service.yaml):
  every object is the full name: `values.fullnameOverride`, else the release name when it contains
  the chart name (`values.nameOverride` or `redis-operator`), else `<release>-<name>`; 63 characters
  at most. Namespaced objects go to `values.namespace`, else the release's namespace.

So with both charts released as `redis-operator`, the second install fails in the same namespace
(release name) and in any other namespace too (the ClusterRole `redis-operator`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

# operator -> (chart, repository). OT publishes `redis-operator` to this index
# (.github/workflows/publish-charts.yaml); in recent releases the chart version equals the operator's
# (0.26.0 for v0.26.0). Spotahome's last chart is 3.3.0 (operator 1.3.0).
CHARTS = {
    "ot-container-kit": ("redis-operator", "https://ot-container-kit.github.io/helm-charts/"),
    "spotahome": ("redis-operator", "https://spotahome.github.io/redis-operator"),
}
# Release names by operator. OT keeps the name it always had (renaming a release replaces it: the
# operator is uninstalled and installed again); Spotahome's must differ from it (see above).
DEFAULT_RELEASES = {"ot-container-kit": "redis-operator", "spotahome": "spotahome-redis-operator"}
# The API group of each operator's CRDs: two installs of one chart bring two controllers for them.
CRD_GROUPS = {"ot-container-kit": "redis.redis.opstreelabs.in", "spotahome": "databases.spotahome.com"}
# Helm limits release names to 53 characters (lowercase DNS labels joined by dots).
RELEASE_MAX = 53


@dataclass(frozen=True)
class Install:
    """What one `operators.<operator>` entry with `install: true` installs."""

    operator: str        # the config key: ot-container-kit or spotahome
    release: str
    namespace: str
    chart: str
    repository: str
    values: Mapping[str, Any]

    @property
    def path(self) -> str:
        return f"operators.{self.operator}"

    def chart_of(self) -> str | None:
        """Which known operator's chart this installs (None: a chart whose object names are unknown)."""
        for operator, (chart, repository) in CHARTS.items():
            if (self.chart, self.repository.rstrip("/")) == (chart, repository.rstrip("/")):
                return operator
        return None


def install_of(operator: str, release: str | None, namespace: str, chart: str | None, repository: str | None,
               values: Mapping[str, Any]) -> Install:
    default_chart, default_repository = CHARTS[operator]
    return Install(operator=operator, release=release or DEFAULT_RELEASES[operator], namespace=namespace,
                   chart=chart or default_chart, repository=repository or default_repository, values=values)


def _value(values: Mapping[str, Any], dotted: str, default: Any) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def objects(install: Install) -> dict[tuple[str, str, str], str]:
    """The chart's objects whose names can clash: (kind, namespace or "" for cluster-scoped, name) ->
    the config key that decides that name. Empty for a chart this module does not know."""
    out: dict[tuple[str, str, str], str] = {}
    chart = install.chart_of()
    v, path = install.values, install.path
    if chart == "ot-container-kit":
        name = str(_value(v, "redisOperator.name", "redis-operator"))
        name_key = f"{path}.values.redisOperator.name"
        out[("Deployment", install.namespace, name)] = name_key
        if _value(v, "rbac.enabled", True):
            account = str(_value(v, "serviceAccountName", "redis-operator"))
            out[("ServiceAccount", install.namespace, account)] = f"{path}.values.serviceAccountName"
            if _value(v, "rbac.scope", "cluster") == "namespace":
                out[("Role", install.namespace, name)] = name_key
                out[("RoleBinding", install.namespace, name)] = name_key
            else:
                out[("ClusterRole", "", name)] = name_key
                out[("ClusterRoleBinding", "", name)] = name_key
    elif chart == "spotahome":
        override = _value(v, "fullnameOverride", "")
        short = _value(v, "nameOverride", "") or install.chart
        if override:
            full, key = str(override), f"{path}.values.fullnameOverride"
        else:
            full = install.release if short in install.release else f"{install.release}-{short}"
            key = f"{path}.release"
        full = full[:63].rstrip("-")
        namespace = str(_value(v, "namespace", None) or install.namespace)
        for kind in ("Deployment", "Service"):
            out[(kind, namespace, full)] = key
        if _value(v, "serviceAccount.create", True):
            out[("ServiceAccount", namespace, str(_value(v, "serviceAccount.name", "") or full))] = key
            out[("ClusterRole", "", full)] = key
            out[("ClusterRoleBinding", "", full)] = key
    return out


def clashes(installs: list[Install]) -> list[tuple[str, str]]:
    """(config key, message) for every pair of installs that cannot both succeed, reported on the
    later one: the same release name in one namespace, one chart installed twice, or an object
    name two charts would both create."""
    problems: list[tuple[str, str]] = []
    for i, later in enumerate(installs):
        for earlier in installs[:i]:
            if (later.release, later.namespace) == (earlier.release, earlier.namespace):
                problems.append((f"{later.path}.release", (
                    f"release {later.release!r} in namespace {later.namespace!r} is also {earlier.path}'s release "
                    f"(Helm allows one release of a name per namespace): set {later.path}.release to another name")))
                continue
            chart = later.chart_of()
            if chart is not None and chart == earlier.chart_of():
                problems.append((later.path, (
                    f"installs chart {later.chart!r} from {later.repository}, which {earlier.path} installs too: two "
                    f"installs of one operator run two controllers for the {CRD_GROUPS[chart]} resources and "
                    f"bring its CRDs twice; install it once")))
                continue
            theirs = objects(earlier)
            for (kind, namespace, name), key in sorted(objects(later).items()):
                if (kind, namespace, name) in theirs:
                    where = "cluster-wide" if not namespace else f"in namespace {namespace!r}"
                    problems.append((key, (
                        f"{later.path} (release {later.release!r}) would create {kind} {name!r} {where}, which "
                        f"{earlier.path} (release {earlier.release!r}, set by {theirs[(kind, namespace, name)]}) "
                        f"creates too; Helm refuses an object another release owns: change {key}")))
                    break
    return problems


def local_chart_version(chart_path: str) -> tuple[str | None, str | None]:
    """The `version` a local chart folder's Chart.yaml declares (relative paths: from the project
    directory, where the engine runs the program), or the problem that stops reading it."""
    import yaml

    chart_yaml = Path(chart_path) / "Chart.yaml"
    try:
        data = yaml.safe_load(chart_yaml.read_text())
    except OSError as exc:
        return None, f"{chart_path!r} is not a chart folder: {chart_yaml} cannot be read ({exc.strerror})"
    except yaml.YAMLError as exc:
        return None, f"{chart_yaml} is not YAML: {str(exc).splitlines()[0]}"
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str):
        return None, f"{chart_yaml} declares no chart version (a `version:` string)"
    return version, None
