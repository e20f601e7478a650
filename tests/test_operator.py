"""Pattern 5, operator: every custom resource of every variant is accepted by the operator's real CRD,
our sizes map onto the operator's fields, apps are wired to the Services the operators create, the
optional Helm release is what the resources wait for, and no password leaves a Secret."""
from __future__ import annotations

import copy
import json

import pytest

from cache_patterns import stack_reader
from cache_patterns import stack as config
from cache_patterns.core import naming
from cache_patterns.patterns.operator import charts
from cache_patterns import program
from cache_patterns.patterns.operator import install
from cache_patterns.patterns.operator import specs as operator
from cache_patterns.core import sizing
from cache_patterns.config.errors import ConfigError
from cache_patterns import planning
from tests.conftest import CANARY
from tools import crds, harness, render, validate

STACK = "platform"
OT_INSTALL = {"ot-container-kit": {"install": True, "version": "0.26.0"}}
TLS = {"issuer": "internal-ca", "issuerKind": "ClusterIssuer"}

# name: (environment, cache config, operators)
VARIANTS = {
    "replication+sentinel (the platform stack)": None,
    "replication, no storage, no exporter, with an L1": ("staging", {
        "pattern": "operator", "kind": "ot-replication", "l1": {"memory": "64Mi"}, "exporter": False}, {}),
    "replication, production, TLS by issuer": ("production", {
        "pattern": "operator", "kind": "ot-replication", "storage": "5Gi", "storageClass": "fast", "exporter": True,
        "tls": TLS, "cpuLimit": "2"}, OT_INSTALL),
    "replication, own TLS Secret, dev without auth": ("development", {
        "pattern": "operator", "kind": "ot-replication", "auth": False, "tls": {"certificateSecret": "cache-tls"}}, {}),
    "cluster with storage, exporter, TLS": ("production", {
        "pattern": "operator", "kind": "ot-cluster", "shards": 3, "replicas": 1, "storage": "10Gi", "exporter": True,
        "tls": TLS, "capacity": {"keys": 1_000_000, "valueBytes": 512}}, OT_INSTALL),
    "cluster without storage": ("staging", {"pattern": "operator", "kind": "ot-cluster", "shards": 4, "replicas": 2}, {}),
    "spotahome with storage and exporter": ("staging", {
        "pattern": "operator", "kind": "spotahome-failover", "replicas": 2, "storage": "1Gi", "exporter": True},
        {"spotahome": {"install": True, "version": "3.3.0"}}),
    "spotahome, dev, no storage, no auth": ("development", {
        "pattern": "operator", "kind": "spotahome-failover", "auth": False, "replicas": 0}, {}),
}
OPERATOR_GROUPS = {"redis.redis.opstreelabs.in", "databases.spotahome.com"}


def stack_config(environment: str | None = None, cache: dict | None = None, operators: dict | None = None) -> dict:
    cfg = copy.deepcopy(harness.load_stack_config(STACK))
    if environment is not None:
        cfg["cache-patterns:environment"] = environment
    if cache is not None:
        cfg["cache-patterns:caches"] = {"sessions": cache}
    if operators is not None:
        cfg["cache-patterns:operators"] = operators
    return cfg


_runs: dict[str, harness.Run] = {}


def run_variant(name: str, password: str = harness.PLACEHOLDER_PASSWORD) -> harness.Run:
    key = f"{name}|{password}"
    if key not in _runs:
        variant = VARIANTS[name]
        cfg = stack_config() if variant is None else stack_config(*variant)
        _runs[key] = harness.run(STACK, cfg, password=password)
    return _runs[key]


def manifests(run: harness.Run, kind: str) -> list[dict]:
    return [m for m in run.manifests() if m["kind"] == kind]


def the_cr(run: harness.Run) -> dict:
    (cr,) = [m for m in run.manifests() if validate.group_of(m) in OPERATOR_GROUPS]
    return harness.ints(cr)



def app_env(run: harness.Run, app: str) -> dict[str, str]:
    (dep,) = [m for m in manifests(run, "Deployment") if m["metadata"]["name"] == app]
    return {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}


@pytest.fixture(scope="module")
def index(crd_index) -> crds.Index:
    return crd_index


# ---- the custom resources are what the real CRDs accept ---------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_every_custom_resource_of_every_variant_validates_against_its_crd(variant, index):
    run = run_variant(variant)
    customs = [m for m in run.manifests() if validate.group_of(m) in OPERATOR_GROUPS]
    assert len(customs) == 1
    assert crds.validate(harness.ints(customs[0]), index) == []
    for obj in run.manifests():
        if not validate.is_custom(obj):
            assert validate.validate_k8s(harness.ints(obj), "1.33") == [], obj["kind"]


def test_the_kind_and_api_version_are_the_operators(index):
    seen = {(the_cr(run_variant(v))["apiVersion"], the_cr(run_variant(v))["kind"]) for v in VARIANTS}
    assert seen == {("redis.redis.opstreelabs.in/v1beta2", "RedisReplication"),
                    ("redis.redis.opstreelabs.in/v1beta2", "RedisCluster"),
                    ("databases.spotahome.com/v1", "RedisFailover")}
    assert seen <= set(index.versions)


def test_a_deliberately_wrong_field_in_a_rendered_resource_is_rejected(index):
    cr = the_cr(run_variant("cluster with storage, exporter, TLS"))
    assert crds.validate(cr, index) == []
    cr["spec"]["numberOfMasters"] = 3
    cr["spec"]["redisFollower"]["replicasPerMaster"] = 1
    found = crds.validate(cr, index)
    assert sorted(p.split(": ", 1)[1].split(":")[0] for p in found) == ["spec.numberOfMasters",
                                                                         "spec.redisFollower.replicasPerMaster"]


# ---- mapping of our settings onto the operators' fields ---------------------------------------

@pytest.mark.parametrize("shards,replicas", [(3, 1), (4, 2), (5, 0), (6, 3)])
def test_cluster_shards_and_replicas_per_shard_map_to_leader_count_and_follower_total(shards, replicas):
    settings = config.parse({"environment": "staging", "caches": {"c": {
        "pattern": "operator", "kind": "ot-cluster", "shards": shards, "replicas": replicas}}}, "t").caches["c"]
    spec = operator.ot_cluster_spec(settings, "pw", None, production=False, disruption_budget=True)
    assert spec["clusterSize"] == shards and spec["redisLeader"]["replicas"] == shards
    # redisFollower.replicas is the follower StatefulSet's size: a total across shards.
    assert spec["redisFollower"]["replicas"] == shards * replicas


def test_replication_and_failover_counts_include_the_primary():
    rr = the_cr(run_variant("replication+sentinel (the platform stack)"))
    cache = harness.load_stack_config(STACK)["cache-patterns:caches"]["sessions"]
    assert rr["spec"]["clusterSize"] == 1 + cache["replicas"]
    assert rr["spec"]["sentinel"]["size"] == cache["sentinels"]
    assert rr["spec"]["sentinel"]["quorum"] == str(cache["sentinels"] // 2 + 1)
    rf = the_cr(run_variant("spotahome with storage and exporter"))
    assert rf["spec"]["redis"]["replicas"] == 3 and rf["spec"]["sentinel"]["replicas"] == 3
    assert the_cr(run_variant("spotahome, dev, no storage, no auth"))["spec"]["redis"]["replicas"] == 1


def settings_of(name: str) -> config.OperatorCache:
    environment, cache, operators = VARIANTS[name]
    return config.parse({"environment": environment, "caches": {"sessions": cache}, "operators": operators},
                        STACK).caches["sessions"]


def extra_conf(run: harness.Run) -> tuple[str, dict]:
    """(name, data) of the ConfigMap holding an OT cache's extra redis.conf."""
    (cm,) = [m for m in manifests(run, "ConfigMap") if operator.OT_EXTRA_CONF_KEY in m.get("data", {})]
    return cm["metadata"]["name"], cm["data"]


def test_resources_and_maxmemory_come_from_the_plan():
    run = run_variant("replication, production, TLS by issuer")
    rr = the_cr(run)
    resources = rr["spec"]["kubernetesConfig"]["resources"]
    assert resources == {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "512Mi", "cpu": "2"}}
    # No workload, 2 replicas and a volume: maxmemory leaves room for a fork that copies everything and
    # for the replica buffer (docs/planning.md).
    head = planning.default_headroom(forks=True, replicas=2)
    planned = head.max_maxmemory(512 * sizing.MI)
    assert head.limit(planned) <= 512 * sizing.MI < head.limit(planned + sizing.MI)
    backlog = settings_of("replication, production, TLS by issuer").pod.backlog
    lines = [f"maxmemory {planned}", "maxmemory-policy allkeys-lru",
             f"client-output-buffer-limit replica {planning.headroom.replica_buffer(planned, None)} 0 0",
             f"repl-backlog-size {backlog}"]
    # In the file Redis reads at start, and as CONFIG SET for running pods; the operator's own
    # percent-of-limit field is left out (it never reaches Redis with the default feature gates).
    name, data = extra_conf(run)
    assert data == {"redis-additional.conf": "\n".join(lines) + "\n"}
    assert rr["spec"]["redisConfig"] == {"additionalRedisConfig": name, "dynamicConfig": lines}
    # Planned from capacity: 1M keys of 512 bytes over 3 shards, each a primary and a replica; a cluster
    # names the file for leaders and followers.
    run = run_variant("cluster with storage, exporter, TLS")
    rc = the_cr(run)
    c = settings_of("cluster with storage, exporter, TLS")
    plan = planning.plan_pod(config.workload(c), config.engine_of(c))
    assert plan.workload.keys == 333_334 and c.memory_limit == plan.limit
    assert rc["spec"]["kubernetesConfig"]["resources"]["limits"]["memory"] == sizing.format_bytes(plan.limit)
    name, data = extra_conf(run)
    assert data["redis-additional.conf"].startswith(f"maxmemory {c.maxmemory}\n")
    for role in ("redisLeader", "redisFollower"):
        assert rc["spec"][role]["redisConfig"] == {"additionalRedisConfig": name}
    rf = the_cr(run_variant("spotahome with storage and exporter"))
    spot = settings_of("spotahome with storage and exporter")
    buffer = f"replica {spot.pod.replica_buffer} 0 0"
    assert rf["spec"]["redis"]["customConfig"] == [
        f"maxmemory {spot.maxmemory}", "maxmemory-policy allkeys-lru", f"client-output-buffer-limit {buffer}",
        f"repl-backlog-size {spot.pod.backlog}"]
    assert rf["spec"]["redis"]["command"] == [
        "redis-server", "/redis/redis.conf", "--maxmemory", str(spot.maxmemory), "--maxmemory-policy", "allkeys-lru",
        "--client-output-buffer-limit", buffer, "--repl-backlog-size", str(spot.pod.backlog)]


def test_the_custom_resource_waits_for_its_config_map():
    run = run_variant("replication+sentinel (the platform stack)")
    (cm,) = [r for r in run.of_type("kubernetes:core/v1:ConfigMap") if r.name == "sessions-redis-conf"]
    (cr,) = [r for r in run.resources if r.type.endswith(":RedisReplication")]
    assert cm.urn in cr.dependencies and cm.inputs["metadata"]["namespace"] == cr.inputs["metadata"]["namespace"]


def test_storage_pdb_and_production_protection():
    prod = run_variant("replication, production, TLS by issuer")
    rr = the_cr(prod)
    assert rr["spec"]["storage"] == {"keepAfterDelete": True, "volumeClaimTemplate": {"spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}, "storageClassName": "fast"}}}
    assert rr["spec"]["pdb"] == {"enabled": True, "maxUnavailable": 1}
    (res,) = [r for r in prod.resources if r.type == "kubernetes:redis.redis.opstreelabs.in/v1beta2:RedisReplication"]
    assert res.protect and res.delete_before_replace
    assert prod.one("random:index/randomPassword:RandomPassword").protect
    dev = the_cr(run_variant("replication, own TLS Secret, dev without auth"))
    assert "storage" not in dev["spec"] and "pdb" not in dev["spec"]
    staging = the_cr(run_variant("spotahome with storage and exporter"))
    assert staging["spec"]["redis"]["storage"]["keepAfterDeletion"] is False
    assert staging["spec"]["redis"]["disablePodDisruptionBudget"] is False
    assert the_cr(run_variant("spotahome, dev, no storage, no auth"))["spec"]["redis"]["disablePodDisruptionBudget"]
    cluster = the_cr(run_variant("cluster with storage, exporter, TLS"))["spec"]
    assert cluster["persistenceEnabled"] and cluster["storage"]["nodeConfVolume"]
    assert cluster["redisLeader"]["pdb"] == cluster["redisFollower"]["pdb"] == {"enabled": True, "maxUnavailable": 1}


def _security_contexts(spec: dict):
    """(where, container securityContext, pod securityContext) of every pod-bearing part of a spec."""
    if "redis" in spec:  # Spotahome
        for part in ("redis", "sentinel"):
            yield part, spec[part]["containerSecurityContext"], spec[part]["securityContext"]
        yield "sentinel.configCopy", spec["sentinel"]["configCopy"]["containerSecurityContext"], None
        if "exporter" in spec["redis"]:
            yield "redis.exporter", spec["redis"]["exporter"]["containerSecurityContext"], None
        return
    pod = spec["podSecurityContext"]
    if "sentinel" in spec:
        yield "redis", spec["securityContext"], pod
        yield "sentinel", spec["sentinel"]["securityContext"], spec["sentinel"]["podSecurityContext"]
    else:
        for role in ("redisLeader", "redisFollower"):
            yield role, spec[role]["securityContext"], pod
    if "redisExporter" in spec:
        yield "redisExporter", spec["redisExporter"]["securityContext"], None


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_container_the_operator_runs_gets_a_restricted_security_context(variant):
    parts = list(_security_contexts(the_cr(run_variant(variant))["spec"]))
    assert parts
    for where, container, pod in parts:
        assert container["allowPrivilegeEscalation"] is False and container["runAsNonRoot"] is True, where
        assert container["capabilities"] == {"drop": ["ALL"]}, where
        assert container["seccompProfile"] == {"type": "RuntimeDefault"} and container["runAsUser"] > 0, where
        if pod is not None:
            assert pod["runAsNonRoot"] is True and pod["seccompProfile"] == {"type": "RuntimeDefault"}, where


def test_exporter_is_the_operators_own_switch():
    on = the_cr(run_variant("cluster with storage, exporter, TLS"))["spec"]
    assert on["redisExporter"]["enabled"] is True and on["redisExporter"]["image"] == operator.OT_EXPORTER_IMAGE
    assert "redisExporter" not in the_cr(run_variant("replication, no storage, no exporter, with an L1"))["spec"]
    rf = the_cr(run_variant("spotahome with storage and exporter"))["spec"]["redis"]
    assert rf["exporter"]["enabled"] is True
    assert "exporter" not in the_cr(run_variant("spotahome, dev, no storage, no auth"))["spec"]["redis"]


# ---- wiring: Services the operators create, Sentinel, cluster mode ----------------------------

def test_endpoint_names_are_the_services_each_operator_creates():
    rr = operator.endpoints("ot-replication", "p-s", "ns", "cluster.local", 3)
    assert rr.host == "p-s-master.ns.svc.cluster.local" and rr.read_host == "p-s-replica.ns.svc.cluster.local"
    assert rr.sentinels == tuple(f"p-s-s-{i}.p-s-s-hl.ns.svc.cluster.local:26379" for i in range(3))
    assert {"p-s-headless", "p-s-s-hl"} <= set(rr.services)
    rc = operator.endpoints("ot-cluster", "p-c", "ns", "k8s.internal", 3)
    assert rc.host == "p-c-leader.ns.svc.k8s.internal" and rc.read_host is None and rc.sentinels == ()
    assert {"p-c-leader-headless", "p-c-follower", "p-c-follower-headless"} <= set(rc.services)
    rf = operator.endpoints("spotahome-failover", "p-f", "ns", "cluster.local", 3)
    assert rf.host == "rfrm-p-f.ns.svc.cluster.local" and rf.read_host == "rfrs-p-f.ns.svc.cluster.local"
    assert rf.sentinels == ("rfs-p-f.ns.svc.cluster.local:26379",)


@pytest.mark.parametrize("variant,host,read_host,sentinels,cluster", [
    ("replication+sentinel (the platform stack)", "platform-sessions-master", "platform-sessions-replica",
     "platform-sessions-s-0.platform-sessions-s-hl.platform-cache.svc.cluster.local:26379,"
     "platform-sessions-s-1.platform-sessions-s-hl.platform-cache.svc.cluster.local:26379,"
     "platform-sessions-s-2.platform-sessions-s-hl.platform-cache.svc.cluster.local:26379", "false"),
    ("cluster without storage", "platform-sessions-leader", None, None, "true"),
    ("replication, no storage, no exporter, with an L1", "platform-sessions-master", "platform-sessions-replica",
     "platform-sessions-s-0.platform-sessions-s-hl.platform-cache.svc.cluster.local:26379,"
     "platform-sessions-s-1.platform-sessions-s-hl.platform-cache.svc.cluster.local:26379,"
     "platform-sessions-s-2.platform-sessions-s-hl.platform-cache.svc.cluster.local:26379", "false"),
    ("spotahome with storage and exporter", "rfrm-platform-sessions", "rfrs-platform-sessions",
     "rfs-platform-sessions.platform-cache.svc.cluster.local:26379", "false"),
])
def test_apps_in_both_namespaces_get_the_operator_services_sentinels_and_cluster_flag(variant, host, read_host,
                                                                                      sentinels, cluster):
    run = run_variant(variant)
    l1 = "l1" in (VARIANTS[variant] or (None, {}))[1]
    prefix = "CACHE_L2" if l1 else "CACHE"
    for app in ("checkout", "accounts"):
        env = app_env(run, app)
        assert env[f"{prefix}_HOST"] == f"{host}.platform-cache.svc.cluster.local"
        assert env[f"{prefix}_PORT"] == "6379" and env[f"{prefix}_CLUSTER"] == cluster
        assert env.get(f"{prefix}_READ_HOST") == (f"{read_host}.platform-cache.svc.cluster.local" if read_host else None)
        assert env.get(f"{prefix}_SENTINELS") == sentinels
        assert env.get(f"{prefix}_SENTINEL_MASTER") == ("mymaster" if sentinels else None)
        # The Sentinels take no password (sentinel.redisSecret unset), so no Sentinel password file.
        assert f"{prefix}_SENTINEL_PASSWORD_FILE" not in env
        if l1:
            assert env["CACHE_L1_HOST"] == "127.0.0.1"
    discovery = run.outputs["caches"].value["sessions"]
    assert discovery["host"] == f"{host}.platform-cache.svc.cluster.local" and discovery["cluster"] == (cluster == "true")


def test_the_network_policy_admits_bound_apps_own_pods_and_the_operator_only():
    run = run_variant("replication+sentinel (the platform stack)")
    (policy,) = [p for p in manifests(run, "NetworkPolicy") if p["metadata"]["namespace"] == "platform-cache"
                 and p["metadata"]["name"].startswith("sessions-ingress")]
    spec = harness.ints(policy["spec"])
    assert spec["podSelector"] == operator.pod_selector("ot-replication", "platform-sessions")
    assert spec["podSelector"]["matchExpressions"][0]["values"] == ["platform-sessions", "platform-sessions-s"]
    apps, own, op, metrics = spec["ingress"]
    assert [(p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
             p["podSelector"]["matchLabels"]["app.kubernetes.io/name"]) for p in apps["from"]] == \
        [("identity", "accounts"), ("shop", "checkout")]
    assert [p["port"] for p in apps["ports"]] == [6379, 26379]
    assert own == {"from": [{"podSelector": spec["podSelector"]}]}
    assert op["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "redis-operator"}}}]
    assert metrics["ports"] == [{"port": 9121, "protocol": "TCP"}]
    no_exporter = harness.ints([p for p in manifests(run_variant("replication, no storage, no exporter, with an L1"), "NetworkPolicy")
                         if p["metadata"]["namespace"] == "platform-cache"][0]["spec"])
    assert len(no_exporter["ingress"]) == 3
    cluster = harness.ints([p for p in manifests(run_variant("cluster without storage"), "NetworkPolicy")
                     if p["metadata"]["namespace"] == "platform-cache"][0]["spec"])
    assert [p["port"] for p in cluster["ingress"][0]["ports"]] == [6379]
    spotahome = operator.pod_selector("spotahome-failover", "x")
    assert spotahome == {"matchLabels": {"app.kubernetes.io/part-of": "redis-failover", "app.kubernetes.io/name": "x"}}


# ---- TLS ----------------------------------------------------------------------------------------

def test_tls_by_issuer_makes_a_server_certificate_and_delivers_the_ca_to_each_app_namespace():
    run = run_variant("replication, production, TLS by issuer")
    certs = {(c["metadata"]["namespace"], c["metadata"]["name"]): c["spec"] for c in manifests(run, "Certificate")}
    server = certs[("platform-cache", "platform-sessions-tls")]
    assert server["issuerRef"] == {"name": "internal-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    assert {"platform-sessions-master.platform-cache.svc.cluster.local",
            "*.platform-sessions-s-hl.platform-cache.svc.cluster.local"} <= set(server["dnsNames"])
    assert the_cr(run)["spec"]["TLS"] == {"ca": "ca.crt", "cert": "tls.crt", "key": "tls.key",
                                          "secret": {"secretName": "platform-sessions-tls"}}
    for ns, app in (("shop", "checkout"), ("identity", "accounts")):
        assert certs[(ns, "platform-sessions-ca")]["issuerRef"]["name"] == "internal-ca"
        env = app_env(run, app)
        assert env["CACHE_TLS"] == "true" and env["CACHE_TLS_CA_FILE"] == "/etc/cache-patterns/tls/ca.crt"
        (dep,) = [d for d in manifests(run, "Deployment") if d["metadata"]["name"] == app]
        volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        assert volumes["cache-tls-ca"]["secret"]["secretName"] == "platform-sessions-ca"
    (cr,) = [r for r in run.resources if r.type.endswith(":RedisReplication")]
    (server_res,) = [r for r in run.resources if r.name == "sessions-certificate"]
    assert server_res.urn in cr.dependencies


def test_a_user_provided_certificate_secret_is_referenced_not_created():
    run = run_variant("replication, own TLS Secret, dev without auth")
    assert manifests(run, "Certificate") == []
    assert the_cr(run)["spec"]["TLS"]["secret"] == {"secretName": "cache-tls"}
    env = app_env(run, "checkout")
    assert env["CACHE_TLS"] == "true" and "CACHE_PASSWORD_FILE" not in env
    assert "redisSecret" not in the_cr(run)["spec"]["kubernetesConfig"]


# ---- the operator install ---------------------------------------------------------------------

def test_the_helm_release_is_pinned_and_the_custom_resource_waits_for_it():
    cfg = stack_config(operators={"ot-container-kit": {
        "install": True, "namespace": "ops-redis", "version": "0.26.0", "values": {"redisOperator": {"webhook": False}}}})
    run = harness.run(STACK, cfg)
    release = run.one("kubernetes:helm.sh/v3:Release")
    inputs = harness.ints(release.inputs)
    assert (inputs["chart"], inputs["version"], inputs["namespace"], inputs["name"]) == \
        ("redis-operator", "0.26.0", "ops-redis", "redis-operator")
    assert inputs["repositoryOpts"] == {"repo": "https://ot-container-kit.github.io/helm-charts/"}
    # The stack's values over the restricted security context the program gives the operator's pod.
    assert inputs["values"] == {"redisOperator": {"webhook": False}, **install.RESTRICTED_CHART_VALUES["ot-container-kit"]}
    # The program creates the operator's namespace (owned, labelled, deleted on destroy), not Helm.
    assert inputs["createNamespace"] is False
    (ns,) = [m for m in manifests(run, "Namespace") if m["metadata"]["name"] == "ops-redis"]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    ns_urn = run.one("kubernetes:core/v1:Namespace", "ns-ops-redis").urn
    assert ns_urn in release.dependencies
    (cr,) = [r for r in run.resources if r.type.endswith(":RedisReplication")]
    assert release.urn in cr.dependencies
    (policy,) = [m for m in manifests(run, "NetworkPolicy") if m["metadata"]["namespace"] == "platform-cache"
                 and m["metadata"]["name"].startswith("sessions-ingress")]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops-redis"}}} in \
        [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    summary = render.summary(STACK, run, run.manifests(), [], None, check=False)
    assert "Helm release: chart redis-operator 0.26.0 from https://ot-container-kit.github.io/helm-charts/ into " \
           "namespace ops-redis; the objects the chart creates are NOT shown" in summary


def test_without_install_no_release_and_no_dependency():
    run = run_variant("replication, no storage, no exporter, with an L1")
    assert run.of_type("kubernetes:helm.sh/v3:Release") == []
    (cr,) = [r for r in run.resources if r.type.endswith(":RedisReplication")]
    assert not any("helm" in d for d in cr.dependencies)


def test_one_release_per_operator_serves_every_cache_of_the_stack():
    cfg = stack_config(operators=OT_INSTALL)
    cfg["cache-patterns:caches"] = {"sessions": {"pattern": "operator", "kind": "ot-replication"},
                                    "carts": {"pattern": "operator", "kind": "ot-cluster"}}
    run = harness.run(STACK, cfg)
    release = run.one("kubernetes:helm.sh/v3:Release")
    customs = [r for r in run.resources if r.type.startswith("kubernetes:redis.redis.opstreelabs.in")]
    assert len(customs) == 2 and all(release.urn in r.dependencies for r in customs)
    # A second evaluation makes its own release (nothing leaks between program runs).
    assert harness.run(STACK, cfg).one("kubernetes:helm.sh/v3:Release").urn == release.urn


def test_spotahome_installs_its_own_chart():
    release = harness.ints(run_variant("spotahome with storage and exporter").one("kubernetes:helm.sh/v3:Release").inputs)
    assert (release["chart"], release["version"], release["repositoryOpts"]["repo"]) == \
        ("redis-operator", "3.3.0", "https://spotahome.github.io/redis-operator")


BOTH_OPERATORS = {"environment": "staging",
                  "caches": {"a": {"pattern": "operator", "kind": "ot-replication"},
                             "b": {"pattern": "operator", "kind": "spotahome-failover"}}}
OT, SPOTAHOME = {"install": True, "version": "0.26.0"}, {"install": True, "version": "3.3.0"}


def test_both_operators_installed_side_by_side_get_distinct_releases():
    cfg = stack_config(operators={"ot-container-kit": OT, "spotahome": SPOTAHOME})
    cfg["cache-patterns:caches"] = {"sessions": BOTH_OPERATORS["caches"]["a"], "carts": BOTH_OPERATORS["caches"]["b"]}
    run = harness.run(STACK, cfg)
    releases = {harness.ints(r.inputs)["name"]: harness.ints(r.inputs) for r in run.of_type("kubernetes:helm.sh/v3:Release")}
    assert set(releases) == {"redis-operator", "spotahome-redis-operator"}
    assert {r["namespace"] for r in releases.values()} == {"redis-operator"}
    assert releases["spotahome-redis-operator"]["repositoryOpts"]["repo"] == "https://spotahome.github.io/redis-operator"
    # What each chart would create does not overlap (names from the charts' templates).
    installs = [charts.install_of(op, None, "redis-operator", None, None, {}) for op in ("ot-container-kit", "spotahome")]
    assert not set(charts.objects(installs[0])) & set(charts.objects(installs[1]))
    assert ("ClusterRole", "", "spotahome-redis-operator") in charts.objects(installs[1])


def test_a_release_name_is_configurable_and_reaches_the_release():
    cfg = stack_config(operators={"ot-container-kit": {**OT, "release": "platform-redis-operator"}})
    release = harness.ints(harness.run(STACK, cfg).one("kubernetes:helm.sh/v3:Release").inputs)
    assert release["name"] == "platform-redis-operator"


def both(ot: dict | None = None, spotahome: dict | None = None) -> dict:
    return {**BOTH_OPERATORS, "operators": {"ot-container-kit": {**OT, **(ot or {})},
                                            "spotahome": {**SPOTAHOME, **(spotahome or {})}}}


CLASHES = [
    ("one release name in one namespace", both(spotahome={"release": "redis-operator"}), "operators.spotahome.release",
     "release 'redis-operator' in namespace 'redis-operator' is also operators.ot-container-kit's release"),
    ("the old shared name, in two namespaces", both(spotahome={"release": "redis-operator", "namespace": "spotahome"}),
     "operators.spotahome.release",
     "would create ClusterRole 'redis-operator' cluster-wide, which operators.ot-container-kit (release "
     "'redis-operator', set by operators.ot-container-kit.values.redisOperator.name) creates too"),
    ("a full-name override", both(spotahome={"values": {"fullnameOverride": "redis-operator"}, "namespace": "sp"}),
     "operators.spotahome.values.fullnameOverride", "ClusterRole 'redis-operator'"),
    ("OT named after Spotahome's objects", both(ot={"values": {"redisOperator": {"name": "spotahome-redis-operator"}}}),
     "operators.spotahome.release", "would create ClusterRole 'spotahome-redis-operator' cluster-wide, which "
     "operators.ot-container-kit (release 'redis-operator', set by operators.ot-container-kit.values.redisOperator.name)"),
    ("one operator installed twice", both(spotahome={"chart": "redis-operator", "namespace": "other",
                                                     "repository": "https://ot-container-kit.github.io/helm-charts"}),
     "operators.spotahome", "two installs of one operator run two controllers for the redis.redis.opstreelabs.in"),
    ("a release name Helm refuses", both(ot={"release": "Redis_Operator"}), "operators.ot-container-kit.release",
     "a Helm release name"),
]


@pytest.mark.parametrize("description,values,key,message", CLASHES, ids=[c[0] for c in CLASHES])
def test_installs_that_would_clash_are_refused_naming_the_key_and_value(description, values, key, message):
    with pytest.raises(ConfigError) as err:
        config.parse(values, "t")
    problems = dict(err.value.problems)
    assert key in problems, problems
    assert message in problems[key]


def test_installs_whose_names_do_not_meet_are_accepted():
    config.parse(both(), "t")
    config.parse(both(spotahome={"namespace": "spotahome"}), "t")
    # OT with namespaced RBAC creates no ClusterRole, so Spotahome may keep the old name elsewhere.
    config.parse(both(ot={"values": {"rbac": {"scope": "namespace"}}},
                      spotahome={"release": "redis-operator", "namespace": "spotahome"}), "t")


# ---- secrets --------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["replication+sentinel (the platform stack)", "cluster with storage, exporter, TLS",
                                     "spotahome with storage and exporter"])
def test_the_password_is_only_in_secrets_and_the_resource_references_the_cache_namespace_secret(variant):
    run = run_variant(variant, password=CANARY)
    for r in run.resources:
        if r.type == "random:index/randomPassword:RandomPassword":
            continue
        for key, value in r.inputs.items():
            if CANARY in json.dumps(value, default=str):
                assert r.type == "kubernetes:core/v1:Secret" and key == "stringData" and key in r.secret_inputs, \
                    (r.type, r.name, key)
    assert CANARY not in json.dumps({k: o.value for k, o in run.outputs.items()}, default=str)
    secrets = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in manifests(run, "Secret")}
    spec = the_cr(run)["spec"]
    referenced = spec["auth"]["secretPath"] if "auth" in spec else spec["kubernetesConfig"]["redisSecret"]["name"]
    assert ("platform-cache", referenced) in secrets
    assert {ns for ns, _ in secrets} == {"platform-cache", "shop", "identity"}
    for app, ns in (("checkout", "shop"), ("accounts", "identity")):
        (dep,) = [d for d in manifests(run, "Deployment") if d["metadata"]["name"] == app]
        volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        assert (ns, volumes["cache-auth"]["secret"]["secretName"]) in secrets


# ---- names and bad configs ------------------------------------------------------------------------

@pytest.mark.parametrize("kind,limit", sorted(naming.OPERATOR_NAME_LIMITS.items()))
def test_resource_names_are_derived_and_kept_within_the_operator_limit(kind, limit):
    cache = "c" * 20
    fits = "s" * (limit - len(cache) - 1)
    cfg = config.parse({"environment": "development", "caches": {cache: {"pattern": "operator", "kind": kind}}}, fits)
    assert len(naming.physical_name(fits, cache, max_len=limit, what="x")) == limit
    assert cfg.caches[cache].kind == kind
    with pytest.raises(ConfigError) as err:
        config.parse({"environment": "development", "caches": {cache: {"pattern": "operator", "kind": kind}}},
                     fits + "s")
    (key, message), = err.value.problems
    assert key == f"caches.{cache}" and f"at most {limit} are allowed" in message


BASE = {"environment": "staging", "caches": {"c": {"pattern": "operator"}}}


def with_cache(**fields) -> dict:
    return {**BASE, "caches": {"c": {"pattern": "operator", **fields}}}


BAD = [
    ("valkey engine", with_cache(engine="valkey"), "caches.c.engine", "the operators run their own Redis images"),
    ("spotahome in production", {**with_cache(kind="spotahome-failover"), "environment": "production"},
     "caches.c.kind", "spotahome-failover cannot be used in production"),
    ("spotahome with TLS", with_cache(kind="spotahome-failover", tls={"issuer": "ca"}), "caches.c.tls",
     "has no TLS"),
    ("OT in production without TLS", {**with_cache(), "environment": "production"}, "caches.c.tls",
     "production requires TLS"),
    ("cluster in production without replicas", {**with_cache(kind="ot-cluster", replicas=0, tls={"issuer": "ca"}),
                                                "environment": "production"},
     "caches.c.replicas", "production needs at least 1 replica"),
    ("fewer than 3 shards", with_cache(kind="ot-cluster", shards=2), "caches.c.shards", "must be"),
    ("even number of Sentinels", with_cache(sentinels=4), "caches.c.sentinels", "must be odd"),
    ("Sentinel image on a cluster", with_cache(kind="ot-cluster", sentinelImage="quay.io/opstree/redis-sentinel:v7.0.15"),
     "caches.c.sentinelImage", "runs no Sentinel"),
    ("version without a default image", with_cache(version="6.2"), "caches.c.version",
     "no default ot-container-kit image for Redis '6.2'"),
    ("auth off outside development", with_cache(auth=False), "caches.c.auth", "only be turned off in development"),
    ("install without version", {**BASE, "operators": {"ot-container-kit": {"install": True}}},
     "operators.ot-container-kit.version", "is required with install: true"),
    ("an install no cache uses", {**BASE, "operators": {"spotahome": {"install": True, "version": "3.3.0"}}},
     "operators.spotahome", "no cache of this stack uses this operator"),
    ("an unknown kind", with_cache(kind="spotahome-cluster"), "caches.c.kind", "is not one of"),
]


@pytest.mark.parametrize("description,values,key,message", BAD, ids=[b[0] for b in BAD])
def test_bad_operator_configs_are_refused_with_a_clear_message(description, values, key, message):
    with pytest.raises(ConfigError) as err:
        config.parse(values, "t")
    problems = dict(err.value.problems)
    assert key in problems, problems
    assert message in problems[key]


def test_a_version_with_pinned_images_is_accepted():
    cfg = config.parse(with_cache(version="7.2", image="quay.io/opstree/redis:v7.2.7",
                                  sentinelImage="quay.io/opstree/redis-sentinel:v7.2.7"), "t")
    assert operator.images(cfg.caches["c"]) == ("quay.io/opstree/redis:v7.2.7", "quay.io/opstree/redis-sentinel:v7.2.7")


def test_binding_refuses_a_namespace_without_an_app():
    """Apps can only mount Secrets of their own namespace: a binding for a namespace where no bound
    app runs would point at a password Secret that does not exist."""
    import pulumi
    from pulumi.runtime import mocks as pmocks

    parsed = config.parse(stack_reader.decode(harness.engine_config(stack_config(), lambda k: "x")[0], STACK), STACK)
    pmocks.set_mocks(harness.ProgramMocks(), project=harness.PROJECT, stack=STACK, preview=False)
    try:
        cache = program.build_caches(parsed, pulumi.ResourceOptions())["sessions"]
        assert cache.binding("shop").connection.password is not None
        with pytest.raises(ValueError, match="no app in namespace 'elsewhere'"):
            cache.binding("elsewhere")
    finally:
        pulumi.runtime.settings.reset_options(project=harness.PROJECT, stack=STACK, preview=False)


# ---- a local chart folder (air-gapped clusters) --------------------------------------------------

def _chart_folder(tmp_path, version: str):
    folder = tmp_path / "redis-operator"
    folder.mkdir()
    (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: redis-operator\nversion: {version}\n")
    return str(folder)


def _parse(operators: dict):
    values = stack_reader.decode({k: json.dumps(v) if not isinstance(v, str) else v
                            for k, v in stack_config(operators=operators).items()}, STACK)
    return config.parse(values, STACK)


def test_a_local_chart_folder_is_installed_without_a_repository(tmp_path):
    folder = _chart_folder(tmp_path, "0.25.0")
    run = harness.run(STACK, stack_config(operators={"ot-container-kit": {
        "install": True, "chartPath": folder, "version": "0.25.0"}}))
    inputs = harness.ints(run.one("kubernetes:helm.sh/v3:Release").inputs)
    assert inputs["chart"] == folder and inputs["name"] == "redis-operator"
    # Helm ignores a version for a folder and would fetch nothing from a repository.
    assert "repositoryOpts" not in inputs and "version" not in inputs


@pytest.mark.parametrize("pin", ["0.26.0", "v0.26.0"])
def test_a_version_pin_that_is_not_the_folders_chart_version_is_refused(tmp_path, pin):
    """The shared chart folder is the operator's v0.26.0 tree whose Chart.yaml still says 0.25.0:
    a pin means the chart version Helm sees, so 0.26.0 is refused, naming both."""
    folder = _chart_folder(tmp_path, "0.25.0")
    with pytest.raises(ConfigError) as err:
        _parse({"ot-container-kit": {"install": True, "chartPath": folder, "version": pin}})
    message = dict(err.value.problems)["operators.ot-container-kit.version"]
    assert repr(pin) in message and "'0.25.0'" in message and folder in message


def test_a_chart_folder_with_a_repository_or_chart_name_or_no_chart_is_refused(tmp_path):
    folder = _chart_folder(tmp_path, "0.25.0")
    with pytest.raises(ConfigError) as err:
        _parse({"ot-container-kit": {"install": True, "chartPath": folder, "version": "0.25.0",
                                     "repository": "https://charts.example.com", "chart": "redis-operator"}})
    problems = dict(err.value.problems)
    assert "chartPath" in problems["operators.ot-container-kit.repository"]
    assert "chartPath" in problems["operators.ot-container-kit.chart"]
    with pytest.raises(ConfigError) as err:
        _parse({"ot-container-kit": {"install": True, "chartPath": str(tmp_path / "absent"), "version": "0.25.0"}})
    assert "is not a chart folder" in dict(err.value.problems)["operators.ot-container-kit.chartPath"]


def test_stack_values_win_over_the_restricted_defaults_key_by_key():
    merged = install._merged(install.RESTRICTED_CHART_VALUES["ot-container-kit"],
                              {"securityContext": {"readOnlyRootFilesystem": False}, "extra": 1})
    assert merged["securityContext"]["readOnlyRootFilesystem"] is False
    assert merged["securityContext"]["capabilities"] == {"drop": ["ALL"]} and merged["extra"] == 1
