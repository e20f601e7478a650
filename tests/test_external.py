"""Pattern 1, external: ElastiCache (replication group, serverless) and existing endpoints, evaluated
through the real program under mocks (tools/harness.py), plus the config rules that guard them."""
from __future__ import annotations

import copy
import functools
import json
from typing import Any

import pytest
import yaml

from cache_patterns import stack as config
from cache_patterns.config.errors import ConfigError
from tools import harness, mock_outputs, validate

RG = "aws:elasticache/replicationGroup:ReplicationGroup"
SERVERLESS = "aws:elasticache/serverlessCache:ServerlessCache"
SG = "aws:ec2/securityGroup:SecurityGroup"
USER = "aws:elasticache/user:User"
USER_GROUP = "aws:elasticache/userGroup:UserGroup"
PARAMS = "aws:elasticache/parameterGroup:ParameterGroup"
SUBNETS = "aws:elasticache/subnetGroup:SubnetGroup"
LOGS = "aws:cloudwatch/logGroup:LogGroup"
PASSWORD = "random:index/randomPassword:RandomPassword"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SERVICE = "kubernetes:core/v1:Service"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"

CANARY = "CANARY0external0secret0value0000000000000000000"
CLIENT_SGS = ["sg-0aaaaaaaaaaaaaaa1", "sg-0bbbbbbbbbbbbbbb2"]
SUBNET_IDS = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2", "subnet-0ccccccccccccccc3"]
AWS = {"region": "eu-west-1", "vpcId": "vpc-0aaaaaaaaaaaaaaa1", "subnetIds": SUBNET_IDS,
       "clientSecurityGroupIds": CLIENT_SGS}
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2FjaGVQYXR0ZXJucw==\n-----END CERTIFICATE-----\n"

RG_CACHE = {"pattern": "external", "kind": "elasticache", "nodeType": "cache.r7g.large"}
SERVERLESS_CACHE = {"pattern": "external", "kind": "elasticache-serverless",
                    "limits": {"dataStorageGb": 10, "ecpuPerSecond": 5000}}


def app(name: str, cache: str, namespace: str) -> dict:
    return {"name": name, "namespace": namespace, "image": f"ghcr.io/acme/{name}:1.0.0", "cache": cache}


def stack(caches: dict, environment: str = "production", aws: dict | None = AWS, passwords: dict | None = None,
          apps: list | None = None) -> dict:
    """A stack config; by default every cache is bound by two apps in two namespaces."""
    cfg: dict[str, Any] = {
        "cache-patterns:environment": environment,
        "cache-patterns:caches": caches,
        "cache-patterns:apps": apps if apps is not None else [
            a for c in caches for a in (app(f"{c}-web", c, "web"), app(f"{c}-jobs", c, "jobs"))],
    }
    if aws is not None:
        cfg["cache-patterns:aws"] = aws
    if passwords:
        cfg["cache-patterns:passwords"] = {name: {"secure": "v1:encrypted"} for name in passwords}
    return cfg


def run(cfg: dict, stack_name: str = "prod", **kw) -> harness.Run:
    return harness.run(stack_name, copy.deepcopy(cfg), **kw)


@functools.lru_cache(maxsize=None)
def _cached(key: str) -> harness.Run:
    return run(json.loads(key))


def cached(cfg: dict) -> harness.Run:
    """Runs are deterministic, so tests that only read one share it."""
    return _cached(json.dumps(cfg, sort_keys=True))


def env_of(r: harness.Run, app_name: str) -> dict[str, Any]:
    dep = r.one(DEPLOYMENT, f"{app_name}-deployment")
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in dep.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}


def parse(caches: dict, environment: str = "production", aws: dict | None = AWS, passwords: dict | None = None,
          stack_name: str = "prod", **top) -> config.StackConfig:
    values: dict[str, Any] = {"environment": environment, "caches": caches,
                              "apps": [app(f"{c}-web", c, "web") for c in caches], **top}
    if aws is not None:
        values["aws"] = aws
    if passwords is not None:
        values["passwords"] = passwords
    return config.parse(values, stack_name)


def problems(**kw) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as err:
        parse(**kw)
    return err.value.problems


# ---------------------------------------------------------------------------------------------
# Replication group: secure and highly available by default.

def test_replication_group_production_defaults():
    r = cached(stack({"sessions": RG_CACHE}))
    rg = r.one(RG)
    i = rg.inputs
    assert i["transitEncryptionEnabled"] is True and i["transitEncryptionMode"] == "required"
    assert i["atRestEncryptionEnabled"] is True
    # production defaults to 2 replicas: primary + 2, spread over AZs with failover
    assert i["numCacheClusters"] == 3 and i["clusterMode"] == "disabled"
    assert i["automaticFailoverEnabled"] is True and i["multiAzEnabled"] is True
    assert i["snapshotRetentionLimit"] == 7 and i["autoMinorVersionUpgrade"] is True
    assert (i["engine"], i["engineVersion"], i["nodeType"]) == ("valkey", "8.1", "cache.r7g.large")
    assert i["replicationGroupId"] == "prod-sessions"
    assert rg.protect and rg.retain_on_delete and rg.delete_before_replace
    # the subnet group is ours (never "default") and holds the given private subnets
    subnets = r.one(SUBNETS)
    assert i["subnetGroupName"] == subnets.inputs["name"] != "default"
    assert subnets.inputs["subnetIds"] == SUBNET_IDS
    params = r.one(PARAMS)
    assert i["parameterGroupName"] == params.inputs["name"] == "prod-sessions-valkey8"
    assert params.inputs["family"] == "valkey8"
    assert {p["name"]: p["value"] for p in params.inputs["parameters"]} == {"maxmemory-policy": "allkeys-lru"}
    # the auth token is a secret input and is rotated, never ignored
    assert "authToken" in rg.secret_inputs and i["authTokenUpdateStrategy"] == "ROTATE"
    assert "authToken" not in rg.ignore_changes


def test_development_single_node_has_no_failover_and_no_protection():
    r = cached(stack({"sessions": RG_CACHE}, environment="development"))
    rg = r.one(RG)
    assert rg.inputs["numCacheClusters"] == 1
    assert rg.inputs["automaticFailoverEnabled"] is False and rg.inputs["multiAzEnabled"] is False
    assert not rg.protect and not rg.retain_on_delete
    env = env_of(r, "sessions-web")
    assert "CACHE_READ_HOST" not in env  # no replica: reads go to the primary


def test_staging_replica_gets_failover_and_a_read_endpoint():
    r = cached(stack({"sessions": RG_CACHE}, environment="staging"))
    rg = r.one(RG)
    assert rg.inputs["numCacheClusters"] == 2
    assert rg.inputs["automaticFailoverEnabled"] is True and rg.inputs["multiAzEnabled"] is True
    env = env_of(r, "sessions-web")
    assert env["CACHE_HOST"] == rg.outputs["primaryEndpointAddress"]
    assert env["CACHE_READ_HOST"] == rg.outputs["readerEndpointAddress"] != env["CACHE_HOST"]
    assert env["CACHE_TLS"] == "true" and env["CACHE_CLUSTER"] == "false"
    assert env["CACHE_PASSWORD_FILE"] == "/etc/cache-patterns/auth/password"


def test_customer_kms_key_windows_and_user_parameters_reach_the_group():
    key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    cache = {**RG_CACHE, "kmsKeyArn": key, "snapshotWindow": "02:00-03:00", "maintenanceWindow": "sun:04:00-sun:05:00",
             "maxmemoryPolicy": "noeviction", "parameters": {"notify-keyspace-events": "Ex"},
             "engine": "redis", "version": "7.1", "autoMinorVersionUpgrade": False, "snapshotRetention": 14}
    r = cached(stack({"sessions": cache}))
    i = r.one(RG).inputs
    assert i["kmsKeyId"] == key
    assert (i["snapshotWindow"], i["maintenanceWindow"]) == ("02:00-03:00", "sun:04:00-sun:05:00")
    assert (i["engine"], i["engineVersion"], i["autoMinorVersionUpgrade"], i["snapshotRetentionLimit"]) == \
        ("redis", "7.1", False, 14)
    params = r.one(PARAMS).inputs
    assert params["family"] == "redis7" and params["name"] == "prod-sessions-redis7"
    assert {p["name"]: p["value"] for p in params["parameters"]} == {
        "maxmemory-policy": "noeviction", "notify-keyspace-events": "Ex"}


def test_slow_and_engine_logs_go_to_cloudwatch_with_retention():
    r = cached(stack({"sessions": {**RG_CACHE, "logs": {"retentionDays": 90}}}))
    groups = {g.inputs["name"]: g for g in r.of_type(LOGS)}
    deliveries = {d["logType"]: d for d in r.one(RG).inputs["logDeliveryConfigurations"]}
    assert set(deliveries) == {"slow-log", "engine-log"}
    for log_type, d in deliveries.items():
        assert d["destinationType"] == "cloudwatch-logs" and d["destination"] in groups
        assert groups[d["destination"]].inputs["retentionInDays"] == 90
    quiet = cached(stack({"sessions": {**RG_CACHE, "logs": {"slow": False, "engine": False}}}))
    assert quiet.of_type(LOGS) == [] and quiet.one(RG).inputs["logDeliveryConfigurations"] == []


def test_r6gd_nodes_get_data_tiering():
    r = cached(stack({"sessions": {**RG_CACHE, "nodeType": "cache.r6gd.xlarge"}}))
    assert r.one(RG).inputs["dataTieringEnabled"] is True
    assert "dataTieringEnabled" not in cached(stack({"sessions": RG_CACHE})).one(RG).inputs


# ---------------------------------------------------------------------------------------------
# Network scope.

def _ingress_scope(sg: harness.Registered) -> list[tuple[int, int, tuple[str, ...]]]:
    return sorted((int(rule["fromPort"]), int(rule["toPort"]), tuple(rule["securityGroups"]))
                  for rule in sg.inputs["ingress"])


@pytest.mark.parametrize("cache,ports", [(RG_CACHE, [6379]), ({**RG_CACHE, "port": 6390}, [6390]),
                                         (SERVERLESS_CACHE, [6379, 6380])])
def test_security_group_admits_only_the_cluster_security_groups(cache, ports):
    r = cached(stack({"c": cache}))
    sg = r.one(SG)
    assert sg.inputs["vpcId"] == AWS["vpcId"]
    assert _ingress_scope(sg) == [(p, p, tuple(CLIENT_SGS)) for p in ports]
    for rule in sg.inputs["ingress"]:
        assert rule["protocol"] == "tcp" and rule["description"].strip()
        assert not rule.get("cidrBlocks") and not rule.get("ipv6CidrBlocks") and not rule.get("self")
    assert sg.inputs["egress"] == []  # the default allow-all egress is removed
    assert "0.0.0.0/0" not in json.dumps(sg.inputs)
    cache_resource = r.one(SERVERLESS if cache is SERVERLESS_CACHE else RG)
    assert cache_resource.inputs["securityGroupIds"] == [sg.outputs.get("id") or f"{sg.name}-id"]


# ---------------------------------------------------------------------------------------------
# Secrets never leak.

def test_passwords_are_secret_in_every_input_and_absent_from_plain_objects_and_outputs():
    cfg = stack({"rg": RG_CACHE, "sl": SERVERLESS_CACHE,
                 "ep": {"pattern": "external", "kind": "endpoint", "host": "redis.example.net", "caCertificate": CA_PEM}},
                passwords=["ep"])
    r = run(cfg, password=CANARY)
    carriers = 0
    for res in r.resources:
        if res.type == PASSWORD:
            continue
        for key, value in res.inputs.items():
            if CANARY in json.dumps(value):
                carriers += 1
                assert key in res.secret_inputs, f"{res.type} {res.name}: input {key} holds the password in plain"
        if res.is_k8s_object and res.manifest.get("kind") != "Secret":
            assert CANARY not in json.dumps(res.inputs), f"{res.name} carries the password"
    # RG token, 2 serverless users, 3 caches x 2 namespaces of Secrets
    assert carriers == 1 + 2 + 6
    for name, out in r.outputs.items():
        assert CANARY not in json.dumps(out.value, default=str), f"stack output {name} leaks the password"
    secrets = r.of_type(SECRET)
    assert len(secrets) == 6 and all(s.inputs["stringData"]["password"] == CANARY for s in secrets)


# ---------------------------------------------------------------------------------------------
# Cluster mode.

def test_cluster_mode_shape_and_binding():
    r = cached(stack({"feed": {**RG_CACHE, "shards": 3, "replicas": 1}}))
    rg = r.one(RG)
    i = rg.inputs
    assert (i["clusterMode"], i["numNodeGroups"], i["replicasPerNodeGroup"]) == ("enabled", 3, 1)
    assert "numCacheClusters" not in i
    assert i["automaticFailoverEnabled"] is True and i["multiAzEnabled"] is True
    assert len(rg.outputs["memberClusters"]) == 6
    params = {p["name"]: p["value"] for p in r.one(PARAMS).inputs["parameters"]}
    assert params["cluster-enabled"] == "yes"
    env = env_of(r, "feed-web")
    assert env["CACHE_CLUSTER"] == "true"
    assert env["CACHE_HOST"] == rg.outputs["configurationEndpointAddress"]
    assert env["CACHE_HOST"].startswith("clustercfg.") and "CACHE_READ_HOST" not in env


def test_cluster_mode_without_replicas_still_enables_failover_in_development():
    r = cached(stack({"feed": {**RG_CACHE, "shards": 2, "replicas": 0}}, environment="development"))
    i = r.one(RG).inputs
    assert i["automaticFailoverEnabled"] is True and i["multiAzEnabled"] is False


# ---------------------------------------------------------------------------------------------
# Serverless.

def test_serverless_has_a_user_group_with_the_default_user_switched_off():
    r = cached(stack({"catalog": SERVERLESS_CACHE}))
    users = {u.inputs["userName"]: u for u in r.of_type(USER)}
    assert set(users) == {"default", "prod-catalog-app"}
    default, app_user = users["default"], users["prod-catalog-app"]
    assert default.inputs["accessString"].split()[0] == "off"
    assert app_user.inputs["accessString"].split()[0] == "on"
    for u in users.values():
        assert u.inputs["authenticationMode"]["type"] == "password" and "authenticationMode" in u.secret_inputs
        assert u.inputs["engine"] == "valkey"
    group = r.one(USER_GROUP)
    assert sorted(group.inputs["userIds"]) == sorted(u.inputs["userId"] for u in users.values())
    cache = r.one(SERVERLESS)
    assert cache.inputs["userGroupId"] == group.inputs["userGroupId"]
    assert cache.inputs["cacheUsageLimits"] == {"dataStorage": {"maximum": 10, "unit": "GB"},
                                                "ecpuPerSeconds": [{"maximum": 5000}]}
    assert cache.inputs["majorEngineVersion"] == "8" and cache.inputs["subnetIds"] == SUBNET_IDS
    assert cache.protect and cache.retain_on_delete
    env = env_of(r, "catalog-web")
    host = cache.outputs["endpoints"][0]["address"]
    assert (env["CACHE_HOST"], env["CACHE_PORT"]) == (host, "6379")
    assert (env["CACHE_READ_HOST"], env["CACHE_READ_PORT"]) == (host, "6380")
    assert env["CACHE_USERNAME"] == "prod-catalog-app"
    assert env["CACHE_CLUSTER"] == "true" and env["CACHE_TLS"] == "true"
    # the Secret apps read is written only after the user (with that password) and the cache exist
    secret = r.one(SECRET, "catalog-password-web")
    assert app_user.urn in secret.dependencies and cache.urn in secret.dependencies


def test_serverless_without_auth_in_development_has_no_users():
    r = cached(stack({"catalog": {**SERVERLESS_CACHE, "auth": False}}, environment="development"))
    assert r.of_type(USER) == [] and r.of_type(USER_GROUP) == [] and r.of_type(SECRET) == []
    assert "userGroupId" not in r.one(SERVERLESS).inputs
    assert "CACHE_PASSWORD_FILE" not in env_of(r, "catalog-web")


# ---------------------------------------------------------------------------------------------
# Rotation.

def _keepers(r: harness.Run) -> dict[str, dict]:
    return {p.name: p.inputs["keepers"] for p in r.of_type(PASSWORD)}


def test_token_rotation_regenerates_with_rotate_then_sets():
    base = cached(stack({"sessions": RG_CACHE}))
    bumped = cached(stack({"sessions": {**RG_CACHE, "rotation": {"generation": 2}}}))
    settled = cached(stack({"sessions": {**RG_CACHE, "rotation": {"generation": 2, "strategy": "set"}}}))
    assert _keepers(base)["sessions-auth-token"] == {"generation": "1"}
    assert _keepers(bumped)["sessions-auth-token"] == {"generation": "2"}  # a new token
    assert bumped.one(RG).inputs["authTokenUpdateStrategy"] == "ROTATE"      # old and new both accepted
    assert _keepers(settled) == _keepers(bumped)                             # same token ...
    assert settled.one(RG).inputs["authTokenUpdateStrategy"] == "SET"        # ... now the only one
    # the generator is never protected, or a rotation could not replace it
    assert not any(p.protect for p in bumped.of_type(PASSWORD))
    # the apps' Secret follows the group: it is rebuilt after the group accepted the new token
    assert bumped.one(RG).urn in bumped.one(SECRET, "sessions-password-web").dependencies


def test_serverless_rotation_keeps_the_previous_password_until_set():
    def app_passwords(r: harness.Run) -> list:
        return r.one(USER, "catalog-app-user").inputs["authenticationMode"]["passwords"]

    one = cached(stack({"catalog": SERVERLESS_CACHE}))
    two = cached(stack({"catalog": {**SERVERLESS_CACHE, "rotation": {"generation": 2}}}))
    two_set = cached(stack({"catalog": {**SERVERLESS_CACHE, "rotation": {"generation": 2, "strategy": "set"}}}))
    three = cached(stack({"catalog": {**SERVERLESS_CACHE, "rotation": {"generation": 3}}}))
    k1, k2, k3 = _keepers(one), _keepers(two), _keepers(three)
    assert "catalog-app-password-b" not in k1 and len(app_passwords(one)) == 1
    # generation 2: slot a (generation 1's password) is untouched, slot b is new; both accepted
    assert k2["catalog-app-password-a"] == k1["catalog-app-password-a"]
    assert "catalog-app-password-b" in k2 and len(app_passwords(two)) == 2
    assert len(app_passwords(two_set)) == 1
    # generation 3: slot a is regenerated, slot b (generation 2's) is kept
    assert k3["catalog-app-password-a"] != k2["catalog-app-password-a"]
    assert k3["catalog-app-password-b"] == k2["catalog-app-password-b"]


# ---------------------------------------------------------------------------------------------
# Existing endpoints.

def test_endpoint_with_tls_and_a_private_ca():
    cache = {"pattern": "external", "kind": "endpoint", "host": "10.20.0.5", "port": 6378, "caCertificate": CA_PEM,
             "readHost": "10.20.0.6", "username": "app"}
    r = cached(stack({"memorystore": cache}, aws=None, passwords=["memorystore"]))
    assert not [res for res in r.resources if res.type.startswith("aws:")]
    assert r.of_type(SERVICE) == [] or all(s.inputs["spec"].get("type") != "ExternalName" for s in r.of_type(SERVICE))
    maps = {m.inputs["metadata"]["namespace"]: m for m in r.of_type(CONFIG_MAP)}
    assert set(maps) == {"web", "jobs"} and all(m.inputs["data"] == {"ca.crt": CA_PEM} for m in maps.values())
    env = env_of(r, "memorystore-web")
    assert (env["CACHE_HOST"], env["CACHE_PORT"], env["CACHE_TLS"]) == ("10.20.0.5", "6378", "true")
    assert (env["CACHE_READ_HOST"], env["CACHE_READ_PORT"]) == ("10.20.0.6", "6378")
    assert env["CACHE_TLS_CA_FILE"] == "/etc/cache-patterns/tls/ca.crt" and env["CACHE_USERNAME"] == "app"
    volumes = r.one(DEPLOYMENT, "memorystore-web-deployment").inputs["spec"]["template"]["spec"]["volumes"]
    ca_volume = next(v for v in volumes if "configMap" in v)
    assert ca_volume["configMap"]["name"] == maps["web"].outputs["metadata"]["name"]
    assert {s.inputs["metadata"]["namespace"] for s in r.of_type(SECRET)} == {"web", "jobs"}


def test_endpoint_without_tls_gets_a_stable_in_cluster_name():
    cache = {"pattern": "external", "kind": "endpoint", "host": "redis.internal.example", "tls": False,
             "readHost": "redis-ro.internal.example", "readPort": 6380}
    r = cached(stack({"legacy": cache}, environment="development", aws=None, passwords=["legacy"]))
    services = {(s.inputs["metadata"]["namespace"], s.inputs["metadata"]["name"]): s for s in r.of_type(SERVICE)
                if s.inputs["spec"]["type"] == "ExternalName"}
    assert set(services) == {(ns, n) for ns in ("web", "jobs") for n in ("prod-legacy", "prod-legacy-read")}
    assert services[("web", "prod-legacy")].inputs["spec"]["externalName"] == "redis.internal.example"
    assert services[("web", "prod-legacy-read")].inputs["spec"]["externalName"] == "redis-ro.internal.example"
    assert all(s.delete_before_replace for s in services.values())
    env = env_of(r, "legacy-jobs")
    assert env["CACHE_HOST"] == "prod-legacy.jobs.svc.cluster.local" and env["CACHE_TLS"] == "false"
    assert (env["CACHE_READ_HOST"], env["CACHE_READ_PORT"]) == ("prod-legacy-read.jobs.svc.cluster.local", "6380")
    assert r.of_type(CONFIG_MAP) == []


@pytest.mark.parametrize("version", validate.VALIDATED_VERSIONS)
def test_endpoint_objects_validate_strictly(version):
    with_ca = {"pattern": "external", "kind": "endpoint", "host": "10.20.0.5", "caCertificate": CA_PEM}
    plain = {"pattern": "external", "kind": "endpoint", "host": "redis.internal.example", "tls": False,
             "readHost": "redis-ro.internal.example"}
    for r in (cached(stack({"memorystore": with_ca}, aws=None, passwords=["memorystore"])),
              cached(stack({"legacy": plain}, environment="development", aws=None, passwords=["legacy"]))):
        problems = [p for obj in r.manifests() for p in validate.validate_k8s(obj, version)]
        assert not problems, "\n".join(problems)


SLICE = "kubernetes:discovery.k8s.io/v1:EndpointSlice"
IP_ENDPOINT = {"pattern": "external", "kind": "endpoint", "host": "10.20.0.5", "tls": False,
               "readHost": "2001:db8::6", "readPort": 6380}


def in_cluster(r: harness.Run) -> tuple[dict, dict]:
    """(the cache's Services, EndpointSlices) by (namespace, name); apps' own Services left out."""
    def key(res):
        return res.inputs["metadata"]["namespace"], res.inputs["metadata"]["name"]
    return ({key(s): harness.ints(s.inputs) for s in r.of_type(SERVICE) if "-endpoint" in s.name},
            {key(s): harness.ints(s.inputs) for s in r.of_type(SLICE)})


def test_an_ip_endpoint_gets_a_selector_less_service_and_an_endpoint_slice_per_family():
    r = cached(stack({"legacy": IP_ENDPOINT}, environment="development", aws=None, passwords=["legacy"]))
    services, slices = in_cluster(r)
    assert set(services) == set(slices) == {(ns, n) for ns in ("web", "jobs") for n in ("prod-legacy", "prod-legacy-read")}
    for (ns, name), svc in services.items():
        spec = svc["spec"]
        family, ip, port = (("IPv4", "10.20.0.5", 6379) if name == "prod-legacy" else ("IPv6", "2001:db8::6", 6380))
        assert spec["type"] == "ClusterIP" and "selector" not in spec and "externalName" not in spec
        assert (spec["ipFamilyPolicy"], spec["ipFamilies"]) == ("SingleStack", [family])
        assert spec["ports"] == [{"name": "redis", "port": port, "targetPort": port, "protocol": "TCP"}]
        eps = slices[(ns, name)]
        # The slice belongs to the Service by this label, and its port by name.
        assert eps["metadata"]["labels"]["kubernetes.io/service-name"] == name
        assert eps["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] != "endpointslice-controller.k8s.io"
        assert eps["addressType"] == family
        assert eps["endpoints"] == [{"addresses": [ip], "conditions": {"ready": True}}]
        assert eps["ports"] == [{"name": "redis", "port": port, "protocol": "TCP"}]
    env = env_of(r, "legacy-web")
    assert env["CACHE_HOST"] == "prod-legacy.web.svc.cluster.local"
    assert (env["CACHE_READ_HOST"], env["CACHE_READ_PORT"]) == ("prod-legacy-read.web.svc.cluster.local", "6380")


def test_a_dns_name_keeps_its_external_name_service_and_gets_no_slice():
    cache = {**IP_ENDPOINT, "readHost": "redis-ro.internal.example"}
    r = cached(stack({"legacy": cache}, environment="development", aws=None, passwords=["legacy"]))
    services, slices = in_cluster(r)
    assert services[("web", "prod-legacy-read")]["spec"]["type"] == "ExternalName"
    assert set(slices) == {("web", "prod-legacy"), ("jobs", "prod-legacy")}


@pytest.mark.parametrize("version", validate.VALIDATED_VERSIONS)
def test_ip_endpoint_objects_validate_strictly(version):
    r = cached(stack({"legacy": IP_ENDPOINT}, environment="development", aws=None, passwords=["legacy"]))
    kinds = {obj["kind"] for obj in r.manifests()}
    assert {"Service", "EndpointSlice"} <= kinds
    assert not validate.is_custom({"apiVersion": "discovery.k8s.io/v1"})  # validated as built-in
    problems = [p for obj in r.manifests() for p in validate.validate_k8s(obj, version)]
    assert not problems, "\n".join(problems)


def test_switching_a_host_between_a_name_and_an_ip_replaces_the_service_and_keeps_the_apps():
    """The Service keeps its URN and name, so the change is a replacement (delete first: the name is
    fixed), which replaceOnChanges forces; the apps see the same host and do not roll."""
    from tools import snapshot

    names = {**IP_ENDPOINT, "host": "redis.internal.example", "readHost": "redis-ro.internal.example"}
    by_name = cached(stack({"legacy": names}, environment="development", aws=None, passwords=["legacy"]))
    by_ip = cached(stack({"legacy": IP_ENDPOINT}, environment="development", aws=None, passwords=["legacy"]))
    before, after = snapshot.snapshot(by_name), snapshot.snapshot(by_ip)
    (urn,) = [u for u in before if u.endswith("::legacy-endpoint-web")]
    assert urn in after
    assert (before[urn]["spec.type"], after[urn]["spec.type"]) == ("ExternalName", "ClusterIP")
    for entry in (before[urn], after[urn]):
        assert "spec.type" in entry["replaceOnChanges"] and "spec.ipFamilies" in entry["replaceOnChanges"]
        assert "deleteBeforeReplace" in entry["options"]
    slices = [u for u in set(after) - set(before) if SLICE in u]
    assert len(slices) == 4 and all("addressType" in after[u]["replaceOnChanges"] for u in slices)
    for app in ("legacy-web", "legacy-jobs"):
        dep = [by_name.one(DEPLOYMENT, f"{app}-deployment"), by_ip.one(DEPLOYMENT, f"{app}-deployment")]
        assert dep[0].inputs["spec"]["template"] == dep[1].inputs["spec"]["template"]


def test_an_ipv6_endpoint_over_tls_is_bracketed_in_the_url():
    cache = {"pattern": "external", "kind": "endpoint", "host": "2001:db8::5", "auth": False}
    r = cached(stack({"v6": cache}, environment="development", aws=None))
    env = env_of(r, "v6-web")
    assert env["CACHE_HOST"] == "2001:db8::5" and env["CACHE_URL"] == "rediss://[2001:db8::5]:6379"
    assert in_cluster(r) == ({}, {})


# ---------------------------------------------------------------------------------------------
# Network from the cluster's stack.

@pytest.mark.parametrize("client_sgs", ["sg-0ddddddddddddddd4", ["sg-0ddddddddddddddd4", "sg-0eeeeeeeeeeeeeee5"]])
def test_network_from_a_stack_reference(client_sgs):
    network_from = {"stack": "acme/eks/prod", "subnetIdsOutput": "cacheSubnets",
                    "clientSecurityGroupIdsOutput": "nodeSg"}
    outputs = {"acme/eks/prod": {"vpcId": "vpc-0ddddddddddddddd4", "cacheSubnets": SUBNET_IDS[:2],
                                 "nodeSg": client_sgs}}
    cfg = stack({"sessions": RG_CACHE, "catalog": SERVERLESS_CACHE},
                aws={"region": "eu-west-1", "networkFrom": network_from})
    r = run(cfg, stack_outputs=outputs)
    expected = [client_sgs] if isinstance(client_sgs, str) else client_sgs
    for sg in r.of_type(SG):
        assert sg.inputs["vpcId"] == "vpc-0ddddddddddddddd4"
        assert all(rule["securityGroups"] == expected for rule in sg.inputs["ingress"])
    assert r.one(SUBNETS).inputs["subnetIds"] == SUBNET_IDS[:2]
    assert r.one(SERVERLESS).inputs["subnetIds"] == SUBNET_IDS[:2]


@pytest.mark.parametrize("outputs,message", [
    ({"vpcId": "vpc-0ddddddddddddddd4", "privateSubnetIds": ["subnet-0aaaaaaaaaaaaaaa1"],
      "nodeSecurityGroupIds": "sg-0ddddddddddddddd4"}, "aws.networkFrom.subnetIdsOutput"),
    ({"vpcId": "vpc-0ddddddddddddddd4", "privateSubnetIds": SUBNET_IDS}, "aws.networkFrom.clientSecurityGroupIdsOutput"),
])
def test_network_from_a_stack_with_wrong_outputs_fails_naming_the_key(outputs, message):
    cfg = stack({"sessions": RG_CACHE}, aws={"region": "eu-west-1", "networkFrom": {"stack": "acme/eks/prod"}})
    with pytest.raises(Exception) as err:
        run(cfg, stack_outputs={"acme/eks/prod": outputs})
    assert message in str(err.value)


# ---------------------------------------------------------------------------------------------
# Upgrade safety: what can be replaced, and how.

def test_replacement_options_are_deliberate():
    r = cached(stack({"sessions": RG_CACHE, "catalog": SERVERLESS_CACHE}))
    # fixed ids: replacing means deleting first (and protect refuses that in production)
    for res in [r.one(RG), r.one(SERVERLESS), *r.of_type(USER), r.one(USER_GROUP)]:
        assert res.delete_before_replace, res.name
    # names that carry what forces their replacement are created before the old one goes
    assert not r.one(PARAMS).delete_before_replace and not any(sg.delete_before_replace for sg in r.of_type(SG))
    assert r.one(PARAMS).inputs["name"].endswith("-valkey8")
    assert r.one(RG).ignore_changes == ()


# ---------------------------------------------------------------------------------------------
# Config rules (pure, before any resource exists).

EP = {"pattern": "external", "kind": "endpoint", "host": "redis.example.net"}


@pytest.mark.parametrize("kw,key,words", [
    (dict(caches={"s": {**RG_CACHE, "replicas": 0}}), "caches.s.replicas", "at least 1 replica"),
    (dict(caches={"s": {**RG_CACHE, "nodeType": "db.r6g.large"}}), "caches.s.nodeType", "ElastiCache node type"),
    (dict(caches={"s": {**RG_CACHE, "nodeType": "cache.x9.huge"}}), "caches.s.nodeType", "ElastiCache node type"),
    (dict(caches={"s": {k: v for k, v in RG_CACHE.items() if k != "nodeType"}}), "caches.s.nodeType", "required"),
    (dict(caches={"s": {**RG_CACHE, "tls": False}}), "caches.s.tls", "always on"),
    (dict(caches={"s": {**EP, "tls": False}}, passwords={"s": "x" * 20}), "caches.s.tls", "production requires TLS"),
    (dict(caches={"s": {**RG_CACHE, "engine": "valkey", "version": "6.2"}}), "caches.s.version", "parameter group family"),
    (dict(caches={"s": {**RG_CACHE, "engine": "redis", "version": "7.2"}}), "caches.s.version", "7.0, 7.1"),
    (dict(caches={"s": {**SERVERLESS_CACHE, "limits": None}}), "caches.s.limits", "required"),
    (dict(caches={"s": {**SERVERLESS_CACHE, "engine": "redis", "version": "6.2"}}), "caches.s.version", "major version"),
    (dict(caches={"s": {**SERVERLESS_CACHE, "nodeType": "cache.r7g.large"}}), "caches.s.nodeType", "only applies"),
    (dict(caches={"s": {**SERVERLESS_CACHE, "shards": 2}}), "caches.s.shards", "only applies"),
    (dict(caches={"s": {**SERVERLESS_CACHE, "port": 6390}}), "caches.s.port", "6379"),
    (dict(caches={"s": {**SERVERLESS_CACHE, "atRestEncryption": False}}), "caches.s.atRestEncryption", "always"),
    (dict(caches={"s": {**RG_CACHE, "limits": {"dataStorageGb": 1, "ecpuPerSecond": 1000}}}), "caches.s.limits",
     "only applies"),
    (dict(caches={"s": {**RG_CACHE, "cluster": True}}), "caches.s.cluster", "set `shards`"),
    (dict(caches={"s": EP}), "passwords.s", "pulumi config set --secret --path 'passwords.s'"),
    (dict(caches={"s": {**EP, "nodeType": "cache.r7g.large"}}, passwords={"s": "x" * 20}), "caches.s.nodeType",
     "only applies"),
    (dict(caches={"s": {**EP, "rotation": {"generation": 2}}}, passwords={"s": "x" * 20}), "caches.s.rotation",
     "passwords.s"),
    (dict(caches={"s": RG_CACHE}, aws={**AWS, "networkFrom": {"stack": "acme/eks/prod"}}), "aws.networkFrom",
     "not both"),
    (dict(caches={"s": RG_CACHE}, aws={**AWS, "subnetIds": SUBNET_IDS[:1]}), "aws.subnetIds", "at least 2"),
    (dict(caches={"s": RG_CACHE}, aws={**AWS, "subnetIds": [SUBNET_IDS[0], SUBNET_IDS[0]]}), "aws.subnetIds",
     "more than once"),
    (dict(caches={"s": RG_CACHE}, aws=None), "caches.s", "needs the `aws` key"),
    (dict(caches={"s": {**RG_CACHE, "parameters": {"maxmemory-policy": "noeviction"}}}),
     "caches.s.parameters.maxmemory-policy", "maxmemoryPolicy"),
    (dict(caches={"s": {**RG_CACHE, "parameters": {"cluster-enabled": "yes"}}}),
     "caches.s.parameters.cluster-enabled", "shards"),
    (dict(caches={"s": {**RG_CACHE, "logs": {"retentionDays": 10}}}), "caches.s.logs.retentionDays", "14"),
    (dict(caches={"s": {**RG_CACHE, "kmsKeyArn": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd",
                        "atRestEncryption": False}}), "caches.s.kmsKeyArn", "atRestEncryption"),
    (dict(caches={"s": {**RG_CACHE, "auth": False}}), "caches.s.auth", "development"),
    (dict(caches={"s": {**RG_CACHE, "snapshotRetention": 0}}), "caches.s.snapshotRetention", "at least 1 day"),
    (dict(caches={"s": {**RG_CACHE, "snapshotWindow": "04:30-05:30", "maintenanceWindow": "sun:05:00-sun:06:00"}}),
     "caches.s.snapshotWindow", "overlaps"),
    (dict(caches={"s": {**RG_CACHE, "snapshotWindow": "04:00-04:30"}}), "caches.s.snapshotWindow", "60 minutes"),
    (dict(caches={"s": {**RG_CACHE, "maintenanceWindow": "sun:25:00-sun:26:00"}}), "caches.s.maintenanceWindow",
     "time of day"),
    (dict(caches={"s": {**EP, "caCertificate": CA_PEM, "tls": False}}, environment="development",
          passwords={"s": "x" * 20}), "caches.s.caCertificate", "tls: true"),
    (dict(caches={"s": {**EP, "host": "10.0.0.256"}}, passwords={"s": "x" * 20}), "caches.s.host",
     "must be a host name, an IPv4 or an IPv6 address, got '10.0.0.256'"),
    (dict(caches={"s": {**EP, "host": "010.0.0.1"}}, passwords={"s": "x" * 20}), "caches.s.host",
     "an IPv4 or an IPv6 address, got '010.0.0.1'"),
    (dict(caches={"s": {**EP, "host": "2001:db8::zz"}}, passwords={"s": "x" * 20}), "caches.s.host",
     "an IPv4 or an IPv6 address, got '2001:db8::zz'"),
    (dict(caches={"s": {**EP, "host": "[2001:db8::1]"}}, passwords={"s": "x" * 20}), "caches.s.host",
     "an IPv6 address"),
    (dict(caches={"s": {**EP, "host": "127.0.0.1"}}, passwords={"s": "x" * 20}), "caches.s.host",
     "'127.0.0.1' is a loopback address, which Kubernetes refuses"),
    (dict(caches={"s": {**EP, "host": "::1"}}, passwords={"s": "x" * 20}), "caches.s.host", "loopback"),
    (dict(caches={"s": {**EP, "host": "0.0.0.0"}}, passwords={"s": "x" * 20}), "caches.s.host", "unspecified"),
    (dict(caches={"s": {**EP, "host": "169.254.169.254"}}, passwords={"s": "x" * 20}), "caches.s.host", "link-local"),
    (dict(caches={"s": {**EP, "readHost": "fe80::1"}}, passwords={"s": "x" * 20}), "caches.s.readHost",
     "link-local"),
    (dict(caches={"s": {**EP, "readHost": "224.0.0.5"}}, passwords={"s": "x" * 20}), "caches.s.readHost",
     "link-local multicast"),
])
def test_bad_configs_are_rejected_with_the_key_and_the_rule(kw, key, words):
    found = problems(**kw)
    assert any(k == key and words in msg for k, msg in found), found


def test_every_problem_is_reported_at_once():
    found = problems(caches={"s": {**RG_CACHE, "replicas": 0, "tls": False, "version": "5.0"},
                             "t": {**SERVERLESS_CACHE, "limits": None}})
    keys = {k for k, _ in found}
    assert {"caches.s.replicas", "caches.s.tls", "caches.s.version", "caches.t.limits"} <= keys


def test_derived_ids_longer_than_elasticache_allows_are_config_errors():
    long_cache = "session-store-primary-eu"  # 24 characters, the longest cache name
    found = problems(caches={long_cache: RG_CACHE}, stack_name="production-eu-central")
    assert any(k == f"caches.{long_cache}" and "replication group id" in m and "at most 40" in m for k, m in found)
    found = problems(caches={"catalog-readthrough": SERVERLESS_CACHE}, stack_name="production-eu-c1")
    assert any(k == "caches.catalog-readthrough" and "user id" in m for k, m in found)
    found = problems(caches={"s": RG_CACHE}, stack_name="prod--eu")
    assert any(k == "caches.s" and "'--'" in m for k, m in found)
    # at the limit it is fine: 40 characters
    assert parse(caches={"a" * 15: RG_CACHE}, stack_name="p" * 24).caches


def test_valid_windows_including_one_across_midnight():
    cfg = parse(caches={"s": {**RG_CACHE, "snapshotWindow": "23:30-00:30", "maintenanceWindow": "tue:02:00-tue:03:00"}})
    assert cfg.caches["s"].snapshot_window == "23:30-00:30"


def test_engine_version_defaults_and_families():
    cfg = parse(caches={"v": RG_CACHE, "r": {**RG_CACHE, "engine": "redis"}, "n": {**RG_CACHE, "version": "9.0"}})
    assert (cfg.caches["v"].engine_version, cfg.caches["v"].parameter_family) == ("8.1", "valkey8")
    assert (cfg.caches["r"].engine_version, cfg.caches["r"].parameter_family) == ("7.1", "redis7")
    assert cfg.caches["n"].parameter_family == "valkey9"


# ---------------------------------------------------------------------------------------------
# The prod stack and the mocks.

def test_prod_stack_is_a_real_production_shape_without_secure_values():
    data = yaml.safe_load(harness.stack_file("prod").read_text())["config"]

    def secure_values(v: Any) -> int:
        if isinstance(v, dict):
            return int(set(v) == {"secure"}) + sum(secure_values(x) for x in v.values())
        return sum(secure_values(x) for x in v) if isinstance(v, list) else 0

    assert secure_values(data) == 0
    assert data["cache-patterns:environment"] == "production"
    r = cached(data)
    rg = r.one(RG)
    assert rg.inputs["nodeType"] == "cache.r7g.large" and rg.inputs["numCacheClusters"] == 3
    assert rg.inputs["multiAzEnabled"] is True and rg.protect
    assert r.one(SERVERLESS).protect
    # every app that binds a shared cache reads its password from a Secret in its own namespace
    for dep in r.of_type(DEPLOYMENT):
        ns = dep.inputs["metadata"]["namespace"]
        volumes = dep.inputs["spec"]["template"]["spec"]["volumes"]
        secret_names = {v["secret"]["secretName"] for v in volumes if "secret" in v}
        own = {s.outputs["metadata"]["name"] for s in r.of_type(SECRET) if s.inputs["metadata"]["namespace"] == ns}
        assert secret_names and secret_names <= own


@pytest.mark.parametrize("region,code", [("us-east-1", "use1"), ("eu-west-1", "euw1"), ("ap-southeast-2", "apse2"),
                                         ("eu-central-1", "euc1")])
def test_mock_endpoints_use_the_region_code(region, code):
    assert mock_outputs.region_code(region) == code
    r = cached(stack({"sessions": RG_CACHE}, aws={**AWS, "region": region}))
    assert r.one(RG).outputs["primaryEndpointAddress"].endswith(f".{code}.cache.amazonaws.com")
    assert r.one(RG).outputs["arn"].startswith(f"arn:aws:elasticache:{region}:")
