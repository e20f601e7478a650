"""ACL users of the StatefulSet pattern: config validation, the rendered acl-users.conf (rules, never a
password), the per-user generated passwords in the Secrets, what each pod mounts, and what an app bound
with `cacheUser` gets. tests/live runs the same files in real redis-server processes."""
from __future__ import annotations

import json

import pytest

from cache_patterns import stack as config
from cache_patterns.core import contract
from cache_patterns.patterns.statefulset import ha
from cache_patterns.core.redis_conf import ACL_USERS_FILE, ReplicatedServer, acl_rule_problems, acl_users_conf
from cache_patterns.config.errors import ConfigError
from tests.conftest import CANARY
from testbed.support import ACL_RULE_EXAMPLES, ACL_USERS
from tools import harness

USERS = [{"name": "app", "permissions": "~app:* +@read +@write -@dangerous"},
         {"name": "reports", "permissions": "%R~* +@read -@all +get +mget (~shared:* +get)"}]
APPS = [
    {"name": "api", "namespace": "shop", "image": "a:1", "cache": "sessions", "cacheUser": "app"},
    {"name": "web", "namespace": "cache", "image": "w:1", "cache": "sessions", "cacheUser": "reports"},
    {"name": "admin", "namespace": "ops", "image": "o:1", "cache": "sessions"},
]


def cfg(cache=None, apps=None, environment="staging"):
    return {
        "cache-patterns:environment": environment,
        "cache-patterns:namespace": "cache",
        "cache-patterns:caches": {"sessions": {"pattern": "statefulset", "memory": "256Mi", "aclUsers": USERS,
                                               **(cache or {})}},
        "cache-patterns:apps": APPS if apps is None else apps,
    }


def parse(cache=None, apps=None, environment="staging"):
    values = {"environment": environment, "namespace": "cache",
              "caches": {"sessions": {"pattern": "statefulset", "aclUsers": USERS, **(cache or {})}},
              "apps": APPS if apps is None else apps}
    return config.parse(values, "stg")


def problems(**kwargs) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as exc:
        parse(**kwargs)
    return exc.value.problems


@pytest.fixture(scope="module")
def run():
    return harness.run("stg", cfg(), password=CANARY)


def manifests(run, kind):
    return [o for o in run.manifests() if o["kind"] == kind]


def deployment(run, name):
    (d,) = [o for o in manifests(run, "Deployment") if o["metadata"]["name"] == name]
    return d["spec"]["template"]["spec"]


def statefulset(run, name):
    (s,) = [o for o in manifests(run, "StatefulSet") if o["metadata"]["name"] == name]
    return s["spec"]["template"]["spec"]


def env_of(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def secrets_by_namespace(run):
    out = {}
    for r in run.k8s_objects:
        if r.type == "kubernetes:core/v1:Secret":
            out[r.inputs["metadata"]["namespace"]] = r
    return out


# -- config ------------------------------------------------------------------------------------

def test_acl_users_and_cache_user_parse():
    c = parse()
    users = c.caches["sessions"].acl_users
    assert [(u.name, u.permissions) for u in users] == [(u["name"], u["permissions"]) for u in USERS]
    assert [a.cache_user for a in c.apps] == ["app", "reports", None]
    assert parse(cache={"aclUsers": []}, apps=[]).caches["sessions"].acl_users == ()


@pytest.mark.parametrize("users, key, message", [
    ([{"name": "default", "permissions": "~* +@read"}], "aclUsers[0].name", "'default' is the user of `requirepass`"),
    ([{"name": "App", "permissions": "~* +@read"}], "aclUsers[0].name", "must be an ACL user name"),
    ([{"name": "app", "permissions": "~a:* on"}], "aclUsers[0].permissions", "'on' is set by the program"),
    ([{"name": "app", "permissions": "nopass ~a:*"}], "aclUsers[0].permissions", "'nopass' is set by the program"),
    ([{"name": "app", "permissions": "~a:* OFF"}], "aclUsers[0].permissions", "'OFF' is set by the program"),
    ([{"name": "app", "permissions": "reset ~a:*"}], "aclUsers[0].permissions", "'reset' is set by the program"),
    ([{"name": "app", "permissions": "resetpass ~a:*"}], "aclUsers[0].permissions", "'resetpass' is set"),
    ([{"name": "app", "permissions": "~a:* <old"}], "aclUsers[0].permissions", "a '<' rule would set or remove"),
    ([{"name": "app", "permissions": "~a:* #" + "a" * 64}], "aclUsers[0].permissions", "a '#' rule"),
    ([{"name": "app", "permissions": "~a:* +@raed"}], "aclUsers[0].permissions",
     "'raed' is not an ACL category (one of all, keyspace, read"),
    ([{"name": "app", "permissions": "~a:* read"}], "aclUsers[0].permissions",
     "'read' is not an ACL rule (allowed: ~keys"),
    ([{"name": "app", "permissions": "~a:$HOME"}], "aclUsers[0].permissions", "contains '$'"),
    ([{"name": "app", "permissions": '~"a b"'}], "aclUsers[0].permissions", "contains '\"'"),
    ([{"name": "app", "permissions": "~a:* (~b:* +get"}], "aclUsers[0].permissions", "is not closed"),
    ([{"name": "app", "permissions": "   "}], "aclUsers[0].permissions", "is empty"),
    ([{"name": "app", "permissions": "~a:*"}, {"name": "app", "permissions": "~b:*"}], "aclUsers[1].name",
     "'app' is already the name of aclUsers[0]"),
    ([{"name": "app"}], "aclUsers[0].permissions", "is required"),
])
def test_bad_acl_users_are_refused_naming_the_key_and_what_is_allowed(users, key, message):
    found = problems(cache={"aclUsers": users}, apps=[])
    assert any(k == f"caches.sessions.{key}" and message in m for k, m in found), found


def test_a_password_in_the_rules_is_refused_and_never_echoed():
    found = problems(cache={"aclUsers": [{"name": "app", "permissions": "~a:* >hunter2secret"}]}, apps=[])
    assert found and "hunter2secret" not in json.dumps(found)
    assert "passwords are generated" in found[0][1]


def test_acl_users_need_auth():
    found = problems(cache={"auth": False}, apps=[], environment="development")
    assert ("caches.sessions.aclUsers", "need auth: true (with auth off every client is the default user, "
                                        "with every permission)") in found


@pytest.mark.parametrize("cache, apps, message", [
    ({}, [{"name": "a", "image": "a:1", "cache": "sessions", "cacheUser": "nobody"}],
     "'nobody' is not an ACL user of cache 'sessions' (aclUsers: app, reports)"),
    ({"aclUsers": []}, [{"name": "a", "image": "a:1", "cache": "sessions", "cacheUser": "app"}],
     "(aclUsers: none)"),
    ({"l1": {"memory": "64Mi"}}, [{"name": "a", "image": "a:1", "cache": "sessions", "cacheUser": "app"}],
     "is two-tier (l1)"),
])
def test_cache_user_must_name_a_user_of_its_cache(cache, apps, message):
    found = problems(cache=cache, apps=apps)
    assert any(k == "apps[a].cacheUser" and message in m for k, m in found), found


def test_cache_user_only_on_a_statefulset_cache():
    values = {"environment": "development", "caches": {"local": {"pattern": "sidecar"}},
              "apps": [{"name": "a", "image": "a:1", "cache": "local", "cacheUser": "app"}]}
    with pytest.raises(ConfigError) as exc:
        config.parse(values, "dev")
    assert ("apps[a].cacheUser", "only caches with pattern: statefulset define ACL users (aclUsers); cache 'local' "
                                 "has pattern: sidecar") in exc.value.problems


@pytest.mark.parametrize("rules", ACL_RULE_EXAMPLES + tuple(rules for _, rules in ACL_USERS))
def test_valid_rules_are_accepted(rules):
    """The same examples a live test loads into redis-server."""
    assert acl_rule_problems(rules) == []


# -- rendering ---------------------------------------------------------------------------------

def test_acl_users_conf_holds_rules_and_no_password():
    text = acl_users_conf([("app", "~app:*   +@read (~s:* +get)"), ("ro", "~* +@read")])
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == ["user app ~app:* +@read (~s:* +get)", "user ro ~* +@read"]
    assert ">" not in "".join(lines) and " on" not in "".join(lines)


def test_the_server_refuses_users_it_could_not_render_safely():
    with pytest.raises(ValueError, match="need auth"):
        ReplicatedServer(maxmemory=1 << 20, maxmemory_policy="noeviction", auth=False, acl_users=(("a", "~*"),))
    with pytest.raises(ValueError, match="'on' is set by the program"):
        ReplicatedServer(maxmemory=1 << 20, maxmemory_policy="noeviction", acl_users=(("a", "~* on"),))
    with pytest.raises(ValueError, match="used twice"):
        ReplicatedServer(maxmemory=1 << 20, maxmemory_policy="noeviction", acl_users=(("a", "~*"), ("a", "~*")))


def test_only_the_redis_files_carry_the_users_and_no_rendered_file_changes_without_them():
    names = ha.PodNames(statefulset="stg-sessions", namespace="cache", servers=2, sentinels=3)
    with_users = ha.plan(parse().caches["sessions"], names)
    without = ha.plan(parse(cache={"aclUsers": []}, apps=[]).caches["sessions"], names)
    assert with_users.files("redis")[ACL_USERS_FILE] == acl_users_conf([(u["name"], u["permissions"]) for u in USERS])
    assert ACL_USERS_FILE not in without.files("redis")
    assert with_users.files("redis")["redis.conf"] == without.files("redis")["redis.conf"]
    for role in ("sentinel", "haproxy"):
        assert with_users.files(role) == without.files(role)
    redis_env = {e["name"]: e.get("value") for e in with_users.env("redis")}
    assert redis_env["ACL_PASSWORD_DIR"] == ha.ACL_PASSWORD_DIR
    assert "ACL_PASSWORD_DIR" not in {e["name"] for e in with_users.env("sentinel")}
    assert "ACL_PASSWORD_DIR" not in {e["name"] for e in without.env("redis")}


# -- the component -----------------------------------------------------------------------------

def test_each_user_has_its_own_generated_password(run):
    generated = {r.name for r in run.resources if r.type == "random:index/randomPassword:RandomPassword"}
    assert generated == {"sessions-password", "sessions-user-app", "sessions-user-reports"}
    prod = harness.run("p", cfg(cache={"tls": {"issuer": "ca"}}, environment="production"))
    assert all(r.protect for r in prod.resources if r.type == "random:index/randomPassword:RandomPassword")


def test_secrets_carry_exactly_the_passwords_each_namespace_needs_as_pulumi_secrets(run):
    secrets = secrets_by_namespace(run)
    keys = {ns: sorted(r.inputs["stringData"]) for ns, r in secrets.items()}
    assert keys == {
        # the workloads' Secret: every user, and the exporters' password map (exporters are on in staging)
        "cache": ["exporter-passwords.json", "password", "user-app", "user-reports"],
        "shop": ["user-app"],                                # api authenticates as app: no default password
        "ops": ["password"],                                 # admin uses the default user
    }
    for r in secrets.values():
        assert "stringData" in r.secret_inputs


def test_no_password_outside_secrets(run):
    for r in run.k8s_objects:
        if r.type != "kubernetes:core/v1:Secret":
            assert CANARY not in json.dumps(r.inputs), f"password in {r.type} {r.name}"
    assert CANARY not in json.dumps(run.outputs["caches"].value, default=str)


def test_only_the_redis_pods_mount_the_users_passwords(run):
    def auth_items(spec):
        (vol,) = [v for v in spec["volumes"] if v["name"] == contract.AUTH_VOLUME]
        return vol["secret"]["items"]
    redis = statefulset(run, "stg-sessions")
    exporter_map = {"key": "exporter-passwords.json", "path": "exporter-passwords.json"}
    assert auth_items(redis) == [{"key": "password", "path": "password"},
                                 {"key": "user-app", "path": "users/app"},
                                 {"key": "user-reports", "path": "users/reports"}, exporter_map]
    assert env_of(redis["containers"][0])["ACL_PASSWORD_DIR"] == "/etc/cache-patterns/auth/users"
    assert auth_items(statefulset(run, "stg-sessions-sentinel")) == [{"key": "password", "path": "password"},
                                                                     exporter_map]
    haproxy = next(o for o in manifests(run, "Deployment") if o["metadata"]["labels"]["app.kubernetes.io/component"]
                   == "endpoint")["spec"]["template"]["spec"]
    assert auth_items(haproxy) == [{"key": "password", "path": "password"}]
    conf = next(o for o in manifests(run, "ConfigMap") if ACL_USERS_FILE in o["data"])
    assert "user app ~app:* +@read +@write -@dangerous" in conf["data"][ACL_USERS_FILE]


def test_an_app_bound_as_an_acl_user_gets_its_name_and_only_its_password(run):
    secrets = secrets_by_namespace(run)
    for app, ns, user in (("api", "shop", "app"), ("web", "cache", "reports")):
        pod = deployment(run, app)
        env = env_of(pod["containers"][0])
        assert env["CACHE_USERNAME"] == user and env["CACHE_PASSWORD_FILE"] == contract.PASSWORD_FILE
        assert env["CACHE_HOST"] == "stg-sessions.cache.svc.cluster.local"
        assert env["CACHE_READ_HOST"] == "stg-sessions-read.cache.svc.cluster.local"
        # The Sentinels take only the default password, which this app must not hold.
        assert not any(name.startswith("CACHE_SENTINEL") for name in env)
        (vol,) = [v for v in pod["volumes"] if v["name"] == contract.AUTH_VOLUME]
        assert vol["secret"]["items"] == [{"key": f"user-{user}", "path": "password"}]
        assert vol["secret"]["secretName"] == secrets[ns].outputs["metadata"]["name"]
    admin = env_of(deployment(run, "admin")["containers"][0])
    assert "CACHE_USERNAME" not in admin and admin["CACHE_SENTINEL_MASTER"] == "stg-sessions"


def test_password_env_for_an_acl_user_references_its_key_and_names_the_user_in_the_url():
    apps = [{"name": "api", "namespace": "shop", "image": "a:1", "cache": "sessions", "cacheUser": "app",
             "passwordEnv": True}]
    env = env_of(deployment(harness.run("stg", cfg(apps=apps)), "api")["containers"][0])
    assert env["CACHE_PASSWORD"]["secretKeyRef"]["key"] == "user-app"
    assert env["CACHE_URL"] == "redis://$(CACHE_USERNAME):$(CACHE_PASSWORD)@stg-sessions.cache.svc.cluster.local:6379"


def test_discovery_names_where_each_user_password_is_never_the_value(run):
    out = run.outputs["caches"].value["sessions"]
    cache_secret = secrets_by_namespace(run)["cache"].outputs["metadata"]["name"]
    assert out["aclUsers"] == {"app": {"secret": cache_secret, "key": "user-app"},
                               "reports": {"secret": cache_secret, "key": "user-reports"}}
    assert not run.outputs["caches"].secret


def test_without_acl_users_nothing_changes():
    plain = harness.run("stg", cfg(cache={"aclUsers": []}, apps=[a for a in APPS if "cacheUser" not in a]))
    assert not any(ACL_USERS_FILE in o["data"] for o in manifests(plain, "ConfigMap"))
    keys = {ns: sorted(r.inputs["stringData"]) for ns, r in secrets_by_namespace(plain).items()}
    assert keys == {"ops": ["password"], "cache": ["exporter-passwords.json", "password"]}
    assert "ACL_PASSWORD_DIR" not in env_of(statefulset(plain, "stg-sessions")["containers"][0])
    assert "aclUsers" not in plain.outputs["caches"].value["sessions"]
