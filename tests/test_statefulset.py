"""Pattern 2, the component: names that are DNS contracts, the StatefulSets, the write/read endpoints,
PDBs, NetworkPolicies, TLS, the exporter, and the binding apps get. The processes themselves are
proven in tests/live with the same rendered files."""
from __future__ import annotations

import json

import pytest

from cache_patterns import stack_reader
from cache_patterns import stack as config
from cache_patterns.core import contract
from cache_patterns.patterns.statefulset import exporter as statefulset_module
from cache_patterns.patterns.statefulset import ha
from cache_patterns.config.errors import ConfigError
from tests.conftest import CANARY, stack_run
from tools import harness

BASE_CACHE = {"pattern": "statefulset", "replicas": 2, "memory": "1Gi"}


def cfg(cache=None, environment="staging", apps=None, **top):
    return {
        "cache-patterns:environment": environment,
        "cache-patterns:namespace": "cache",
        "cache-patterns:caches": {"sessions": {**BASE_CACHE, **(cache or {})}},
        "cache-patterns:apps": apps if apps is not None else [
            {"name": "api", "namespace": "shop", "image": "a:1", "cache": "sessions", "replicas": 2},
            {"name": "web", "namespace": "cache", "image": "w:1", "cache": "sessions"}],
        **{f"cache-patterns:{k}": v for k, v in top.items()},
    }


def objs(run, kind):
    return [o for o in run.manifests() if o["kind"] == kind]


def one(run, kind, name):
    (o,) = [o for o in objs(run, kind) if o["metadata"]["name"] == name]
    return o


def res(run, type_, name):
    return run.one(type_, name)


@pytest.fixture(scope="module")
def staging():
    return harness.run("stg", cfg())


def test_names_are_derived_from_stack_and_cache_and_never_random(staging):
    sts = one(staging, "StatefulSet", "stg-sessions")
    assert sts["spec"]["serviceName"] == "stg-sessions-headless"
    headless = one(staging, "Service", "stg-sessions-headless")
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    assert one(staging, "Service", "stg-sessions")["spec"]["type"] == "ClusterIP"
    assert one(staging, "Service", "stg-sessions-read")
    assert one(staging, "StatefulSet", "stg-sessions-sentinel")["spec"]["serviceName"] == "stg-sessions-sentinel-headless"
    assert one(staging, "Service", "stg-sessions-sentinel-headless")["spec"]["publishNotReadyAddresses"] is True


def test_a_name_too_long_for_its_consumers_is_a_config_error():
    with pytest.raises(ConfigError, match=r"caches\.sessions: the StatefulSet name .* at most 43"):
        harness.run("a-very-long-stack-name-for-a-team-xyz", cfg())


def test_replicas_means_read_replicas_beside_the_primary(staging):
    assert one(staging, "StatefulSet", "stg-sessions")["spec"]["replicas"] == 3
    assert one(staging, "StatefulSet", "stg-sessions-sentinel")["spec"]["replicas"] == 3


def test_pod_management_is_parallel_and_immutable_fields_replace_deliberately(staging):
    sts = one(staging, "StatefulSet", "stg-sessions")
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    r = res(staging, "kubernetes:apps/v1:StatefulSet", "sessions-redis")
    assert r.delete_before_replace and "spec.volumeClaimTemplates" in r.replace_on_changes
    assert not r.protect


def test_no_storage_means_no_claims_and_an_emptydir(staging):
    sts = one(staging, "StatefulSet", "stg-sessions")
    assert "volumeClaimTemplates" not in sts["spec"]
    data = next(v for v in sts["spec"]["template"]["spec"]["volumes"] if v["name"] == "data")
    assert "emptyDir" in data


@pytest.mark.parametrize("environment,retention,protect", [("production", "Retain", True), ("staging", "Delete", False)])
def test_storage_claims_and_retention_follow_the_environment(environment, retention, protect):
    run = harness.run("p", cfg({"storage": "10Gi", "storageClass": "gp3", "persistence": "aof",
                                "tls": {"issuer": "ca"}}, environment=environment))
    sts = one(run, "StatefulSet", "p-sessions")
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi" and claim["spec"]["storageClassName"] == "gp3"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": retention, "whenScaled": retention}
    assert res(run, "kubernetes:apps/v1:StatefulSet", "sessions-redis").protect is protect


def test_memory_limit_and_maxmemory_below_it(staging):
    c = one(staging, "StatefulSet", "stg-sessions")["spec"]["template"]["spec"]["containers"][0]
    assert c["resources"]["limits"]["memory"] == "1Gi" == c["resources"]["requests"]["memory"]
    conf = one(staging, "ConfigMap", next(o["metadata"]["name"] for o in objs(staging, "ConfigMap")
                                          if "redis.conf" in o["data"]))["data"]["redis.conf"]
    maxmemory = int(next(line.split()[1] for line in conf.splitlines() if line.startswith("maxmemory ")))
    assert maxmemory < 1024**3


def test_configmaps_hold_exactly_the_files_the_live_tests_run(staging):
    s = config.parse(stack_reader.decode(harness.engine_config(cfg(), lambda k: "x")[0], "stg"), "stg").caches["sessions"]
    plan = ha.plan(s, ha.PodNames(statefulset="stg-sessions", namespace="cache", servers=3, sentinels=3))
    rendered = {frozenset(o["data"]): o["data"] for o in objs(staging, "ConfigMap")}
    for role in ("redis", "sentinel", "haproxy"):
        assert plan.files(role) in rendered.values(), f"{role} ConfigMap differs from ha.plan().files()"


def test_no_password_in_configmaps_args_or_env_values():
    run = harness.run("stg", cfg(), password=CANARY)
    for r in run.k8s_objects:
        if r.type == "kubernetes:core/v1:Secret":
            assert "stringData" in r.secret_inputs
            continue
        assert CANARY not in json.dumps(r.inputs), f"password in {r.type} {r.name}"


def test_every_pod_runs_restricted_with_probes(staging):
    for name in ("stg-sessions", "stg-sessions-sentinel"):
        spec = one(staging, "StatefulSet", name)["spec"]["template"]["spec"]
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] and c["securityContext"]["runAsNonRoot"]
            assert "livenessProbe" in c and "readinessProbe" in c


def test_graceful_shutdown_hands_over_before_the_primary_exits(staging):
    spec = one(staging, "StatefulSet", "stg-sessions")["spec"]["template"]["spec"]
    redis = spec["containers"][0]
    assert redis["lifecycle"]["preStop"]["exec"]["command"][-1].endswith("redis-prestop.sh")
    assert spec["terminationGracePeriodSeconds"] > 30


def test_pods_spread_over_nodes_and_zones(staging):
    spec = one(staging, "StatefulSet", "stg-sessions")["spec"]["template"]["spec"]
    assert spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert spec["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"


def test_disruption_budgets_outside_development(staging):
    budgets = {o["metadata"]["labels"]["app.kubernetes.io/component"]: o["spec"]["maxUnavailable"]
               for o in objs(staging, "PodDisruptionBudget") if o["metadata"]["namespace"] == "cache"}
    assert budgets == {"redis": 1, "sentinel": 1, "endpoint": 1}
    dev = harness.run("d", cfg(environment="development"))
    assert not [o for o in objs(dev, "PodDisruptionBudget") if o["metadata"]["namespace"] == "cache"]


def test_network_policies_admit_only_the_bound_apps_and_the_cache_itself(staging):
    policies = {o["metadata"]["labels"]["app.kubernetes.io/component"]: o
                for o in objs(staging, "NetworkPolicy") if o["metadata"]["namespace"] == "cache"
                and o["metadata"]["labels"].get("app.kubernetes.io/name") == "stg-sessions"}
    assert set(policies) == {"redis", "sentinel", "endpoint"}
    redis_from = policies["redis"]["spec"]["ingress"][0]["from"]
    shop = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "api", "app.kubernetes.io/instance": "api"}}}
    assert shop in redis_from
    assert all("namespaceSelector" not in p or "podSelector" in p for p in redis_from), "a whole namespace is admitted"
    assert policies["endpoint"]["spec"]["ingress"][0]["ports"] == [{"port": 6379, "protocol": "TCP"},
                                                                    {"port": 6380, "protocol": "TCP"}]


def test_exporters_run_the_image_binary_read_a_password_map_and_are_scraped_only_from_the_metrics_namespace():
    run = harness.run("stg", cfg({"exporter": True, "tls": {"issuer": "ca"}},
                                 observability={"prometheus": {"namespace": "observability"}}), password=CANARY)
    targets = {}
    for sts, role, port, headless in (("stg-sessions", "redis", 6379, "stg-sessions-headless"),
                                      ("stg-sessions-sentinel", "sentinel", 26379, "stg-sessions-sentinel-headless")):
        spec = one(run, "StatefulSet", sts)["spec"]["template"]["spec"]
        exporter = next(c for c in spec["containers"] if c["name"] == "exporter")
        # The image keeps its binary at /redis_exporter, off PATH (IMAGE-NOTES); no shell in between.
        assert exporter["command"] == ["/redis_exporter"] and "args" not in exporter
        env = {e["name"]: e for e in exporter["env"]}
        assert all("valueFrom" not in e or "fieldRef" in e["valueFrom"] for e in env.values())
        assert not any(CANARY in json.dumps(e) for e in env.values()) and "REDIS_PASSWORD" not in env
        # REDIS_PASSWORD_FILE is a JSON map of the exact target URI to the password (exporter/pwd_file.go),
        # mounted from the Secret beside the pods; one map serves both roles.
        target = env["REDIS_ADDR"]["value"]
        assert target == f"rediss://127.0.0.1:{port}"
        path = env["REDIS_PASSWORD_FILE"]["value"]
        mount = next(m for m in exporter["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        item = next(i for i in volume["secret"]["items"] if i["path"] == path[len(mount["mountPath"]) + 1:])
        secret = next(o for o in objs(run, "Secret") if o["metadata"]["name"] == volume["secret"]["secretName"])
        targets[role] = target
        assert json.loads(secret["stringData"][item["key"]])[target] == CANARY
        # Loopback, but the certificate is checked against the pod's own name, with the CA bundle the pod trusts.
        assert env["REDIS_EXPORTER_TLS_SERVER_NAME"]["value"] == f"$(POD_NAME).{headless}.cache.svc.cluster.local"
        assert env["REDIS_EXPORTER_TLS_CA_CERT_FILE"]["value"] == f"{ha.TLS_LIVE_DIR}/ca.crt"
        assert list(env).index("POD_NAME") < list(env).index("REDIS_EXPORTER_TLS_SERVER_NAME")
        for probe in ("readinessProbe", "livenessProbe"):
            assert exporter[probe]["httpGet"] == {"path": "/health", "port": "metrics"}
        policy = next(o for o in objs(run, "NetworkPolicy") if o["metadata"]["labels"].get("app.kubernetes.io/component")
                      == role and o["metadata"]["namespace"] == "cache")
        scrape = policy["spec"]["ingress"][-1]
        assert scrape["ports"] == [{"port": 9121, "protocol": "TCP"}]
        assert scrape["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}]
    assert json.loads(next(o for o in objs(run, "Secret") if "exporter-passwords.json" in o.get("stringData", {}))
                      ["stringData"]["exporter-passwords.json"]) == {t: CANARY for t in targets.values()}


def test_exporter_without_tls_or_auth():
    plain = harness.run("stg", cfg({"exporter": True}), password=CANARY)
    spec = one(plain, "StatefulSet", "stg-sessions")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in next(c for c in spec["containers"] if c["name"] == "exporter")["env"]}
    assert env == {"REDIS_ADDR": "redis://127.0.0.1:6379", "REDIS_PASSWORD_FILE": statefulset_module.EXPORTER_PASSWORD_FILE}
    no_auth = harness.run("stg", cfg({"exporter": True, "auth": False}, environment="development"))
    spec = one(no_auth, "StatefulSet", "stg-sessions")["spec"]["template"]["spec"]
    exporter = next(c for c in spec["containers"] if c["name"] == "exporter")
    assert [e["name"] for e in exporter["env"]] == ["REDIS_ADDR"] and exporter["volumeMounts"] == []


def test_tls_from_an_issuer_covers_every_name_clients_dial():
    run = harness.run("stg", cfg({"tls": {"issuer": "internal-ca"}}))
    cert = one(run, "Certificate", "stg-sessions-tls")
    names = cert["spec"]["dnsNames"]
    for expected in ("stg-sessions.cache.svc.cluster.local", "stg-sessions-read.cache.svc",
                     "*.stg-sessions-headless.cache.svc.cluster.local",
                     "*.stg-sessions-sentinel-headless.cache.svc.cluster.local"):
        assert expected in names
    assert cert["spec"]["issuerRef"] == {"name": "internal-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    # the CA reaches the app namespace through a certificate issued there
    assert any(o["metadata"]["namespace"] == "shop" for o in objs(run, "Certificate"))
    env = {e["name"]: e.get("value") for e in
           one(run, "Deployment", "api")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CACHE_TLS"] == "true" and env["CACHE_TLS_CA_FILE"] == contract.CA_FILE


def test_tls_from_a_user_secret_is_mounted_and_needs_no_certificate():
    run = harness.run("stg", cfg({"tls": {"certificateSecret": "redis-tls"}}))
    assert not objs(run, "Certificate")
    spec = one(run, "StatefulSet", "stg-sessions")["spec"]["template"]["spec"]
    assert {"name": "tls", "secret": {"secretName": "redis-tls", "defaultMode": 0o440}} in spec["volumes"]


def test_apps_get_write_read_and_sentinel_endpoints(staging):
    for app, ns in (("api", "shop"), ("web", "cache")):
        pod = one(staging, "Deployment", app)["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        assert env["CACHE_HOST"] == "stg-sessions.cache.svc.cluster.local"
        assert env["CACHE_READ_HOST"] == "stg-sessions-read.cache.svc.cluster.local"
        assert env["CACHE_SENTINELS"].split(",")[0] == \
            "stg-sessions-sentinel-0.stg-sessions-sentinel-headless.cache.svc.cluster.local:26379"
        assert env["CACHE_SENTINEL_MASTER"] == "stg-sessions"
        assert env["CACHE_PASSWORD_FILE"] == env["CACHE_SENTINEL_PASSWORD_FILE"] == contract.PASSWORD_FILE
        secret = next(v for v in pod["volumes"] if v["name"] == contract.AUTH_VOLUME)["secret"]["secretName"]
        assert any(o["metadata"]["name"] == secret and o["metadata"]["namespace"] == ns for o in objs(staging, "Secret"))


def test_service_discovery_outputs(staging):
    out = staging.outputs["caches"].value["sessions"]
    assert out["pods"] == [f"stg-sessions-{i}.stg-sessions-headless.cache.svc.cluster.local" for i in range(3)]
    assert out["write"] == "stg-sessions.cache.svc.cluster.local:6379"
    assert out["read"] == "stg-sessions-read.cache.svc.cluster.local:6379"
    assert out["headlessService"] == "stg-sessions-headless.cache.svc.cluster.local"
    assert len(out["sentinels"]) == 3 and out["sentinelMaster"] == "stg-sessions"
    assert not staging.outputs["caches"].secret


def test_cluster_domain_is_configurable():
    run = harness.run("stg", cfg(clusterDomain="k8s.example.internal"))
    assert run.outputs["caches"].value["sessions"]["write"] == "stg-sessions.cache.svc.k8s.example.internal:6379"


def test_staging_stack_uses_the_pattern_with_two_apps():
    run = stack_run("staging")
    assert run.outputs["caches"].value["sessions"]["pattern"] == "statefulset"
    assert {a["namespace"] for a in run.outputs["apps"].value.values()} == {"shop", "identity"}
