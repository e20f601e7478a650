"""What `backup:` and `restore:` render on a StatefulSet cache (the staging stack's `sessions` with both
on), and what ElastiCache's snapshot settings render: every object the live and cluster tiers then
run, checked here for its wiring (names, secrets, selectors, ports, order)."""
from __future__ import annotations

import copy

import pytest

from cache_patterns import ConfigError
from cache_patterns.core import contract
from cache_patterns.patterns.statefulset import backup as bk
from cache_patterns.patterns.statefulset import ha
from tools import harness

BACKUP = {"schedule": "0 */6 * * *",
          "destination": {"endpoint": "https://s3.eu-west-1.amazonaws.com", "bucket": "acme-backups",
                          "region": "eu-west-1", "egress": ["52.95.0.0/16"]},
          "credentials": {"secret": "cache-backup-s3"}, "encryptionKey": {"name": "cache-backup-key", "key": "password"},
          "retention": {"keep": 28, "maxAge": "168h"}, "pushgateway": "http://pushgateway.monitoring:9091"}


def staging(**cache_changes) -> harness.Run:
    """The staging stack (which turns backups on) with these settings of its cache (None: removed)."""
    cfg = copy.deepcopy(harness.load_stack_config("staging"))
    cache = cfg["cache-patterns:caches"]["sessions"]
    cache.update(cache_changes)
    for key in [k for k, v in cache_changes.items() if v is None]:
        del cache[key]
    return harness.run("staging", cfg)


@pytest.fixture(scope="module")
def run() -> harness.Run:
    return staging(backup=BACKUP, restore={"from": "latest"})


def objects(run: harness.Run, kind: str) -> list[dict]:
    return [m for m in run.manifests() if m["kind"] == kind]


def test_the_backup_cronjob_runs_the_engine_image_as_the_backup_user(run: harness.Run) -> None:
    (cj,) = objects(run, "CronJob")
    assert cj["metadata"]["name"] == "staging-sessions-backup"
    spec = cj["spec"]
    assert spec["schedule"] == "0 */6 * * *" and spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == 3600 and spec["timeZone"] == "Etc/UTC"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (init,), (job,) = pod["initContainers"], pod["containers"]
    assert init["image"] == bk.RESTIC_IMAGE and init["command"][0] == "cp"
    sts = next(m for m in objects(run, "StatefulSet") if m["metadata"]["name"] == "staging-sessions")
    assert job["image"] == sts["spec"]["template"]["spec"]["containers"][0]["image"]
    env = {e["name"]: e for e in job["env"]}
    assert env["PASSWORD_FILE"]["value"] == bk.USER_PASSWORD_FILE and env["BACKUP_USER"]["value"] == "backup"
    assert env["KEEP_LAST"]["value"] == "28" and env["KEEP_WITHIN"]["value"] == "168h"
    # The S3 access key is files of the secrets volume (S3_KEY_DIR), never env (checkov CKV_K8S_35).
    assert env["S3_KEY_DIR"]["value"] == bk.S3_KEY_DIR and not [e for e in job["env"] if "valueFrom" in e]
    assert env["RESTIC_REPOSITORY"]["value"] == \
        "s3:https://s3.eu-west-1.amazonaws.com/acme-backups/cache-patterns/staging-sessions"
    # The job's secrets: the restic key, the S3 access key, the backup user's password (not the cache's),
    # the cache's CA.
    (projected,) = [v for v in pod["volumes"] if v["name"] == bk.BACKUP_SECRETS_VOLUME]
    items = {(s["secret"]["name"], i["key"], i["path"]) for s in projected["projected"]["sources"]
             for i in s["secret"]["items"]}
    server_secret = next(s["secret"]["name"] for s in projected["projected"]["sources"]
                         if s["secret"]["items"][0]["key"] == "user-backup")
    assert items == {("cache-backup-key", "password", "restic-key"), (server_secret, "user-backup", "backup-password"),
                     ("staging-sessions-tls", "ca.crt", "ca.crt"),
                     ("cache-backup-s3", "AWS_ACCESS_KEY_ID", "s3/AWS_ACCESS_KEY_ID"),
                     ("cache-backup-s3", "AWS_SECRET_ACCESS_KEY", "s3/AWS_SECRET_ACCESS_KEY")}
    assert bk.S3_KEY_DIR == f"{bk.BACKUP_SECRET_DIR}/s3"
    assert (server_secret, contract.PASSWORD_KEY, "password") not in items


def _bytes(quantity: str) -> int:
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    return int(quantity[:-2]) * units[quantity[-2:]] if quantity[-2:] in units else int(quantity)


def test_restics_temporary_files_go_to_a_writable_volume_big_enough_for_them(run: harness.Run) -> None:
    """The job's root filesystem is read-only (so /tmp is): restic keeps the packs it has not uploaded
    yet in temporary files (found on the real node: `open /tmp/restic-temp-pack-...: read-only file
    system`, every backup failed). Its TMPDIR must be a volume the container writes, and that volume's
    sizeLimit must hold restic's worst case, or the kubelet evicts the pod mid-backup."""
    (cj,) = objects(run, "CronJob")
    pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (job,) = pod["containers"]
    assert job["securityContext"]["readOnlyRootFilesystem"] is True
    tmp = next((e["value"] for e in job["env"] if e["name"] == "TMPDIR"), None)
    assert tmp is not None, "restic's temporary files would go to /tmp, on the read-only root filesystem"
    (mount,) = [m for m in job["volumeMounts"] if tmp == m["mountPath"] or tmp.startswith(m["mountPath"] + "/")]
    assert not mount.get("readOnly")
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert "emptyDir" in volume, volume
    assert _bytes(volume["emptyDir"]["sizeLimit"]) >= bk.RESTIC_TEMP_MAX + 32 * 1024 * 1024, volume


def test_the_backup_user_exists_on_the_servers_with_its_own_password(run: harness.Run) -> None:
    redis_conf = next(m for m in objects(run, "ConfigMap") if "acl-users.conf" in (m.get("data") or {}))
    assert f"user backup {bk.BACKUP_RULES}" in redis_conf["data"]["acl-users.conf"]
    secret = next(m for m in objects(run, "Secret") if "user-backup" in (m.get("stringData") or m.get("data") or {}))
    assert secret["metadata"]["namespace"] == "cache"
    sts = next(m for m in objects(run, "StatefulSet") if m["metadata"]["name"] == "staging-sessions")
    auth = next(v for v in sts["spec"]["template"]["spec"]["volumes"] if v["name"] == contract.AUTH_VOLUME)
    assert {"key": "user-backup", "path": "users/backup"} in auth["secret"]["items"]
    redis = sts["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "PROTECT_DATA", "value": "yes"} in redis["env"]


def test_network_policies_admit_the_backup_pods_to_redis_and_let_them_reach_only_what_they_need(run) -> None:
    policies = {m["metadata"]["name"]: m for m in objects(run, "NetworkPolicy")}
    redis = next(p for p in policies.values()
                 if p["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "redis")
    backup_peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "staging-sessions",
                                                   "app.kubernetes.io/instance": "staging-sessions",
                                                   "app.kubernetes.io/component": "backup"}}}
    assert backup_peer in redis["spec"]["ingress"][0]["from"]
    egress = next(p for p in policies.values()
                  if p["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "backup")
    assert egress["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in egress["spec"]
    rules = egress["spec"]["egress"]
    assert [[p["port"] for p in r["ports"]] for r in rules] == [[53, 53], [6379], [443], [9091]]
    assert rules[2]["to"] == [{"ipBlock": {"cidr": "52.95.0.0/16"}}]
    (cj,) = objects(run, "CronJob")
    job_labels = cj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert all(job_labels[k] == v for k, v in egress["spec"]["podSelector"]["matchLabels"].items())


def test_a_restore_runs_before_redis_and_the_sentinels_come_after(run: harness.Run) -> None:
    sts = next(m for m in objects(run, "StatefulSet") if m["metadata"]["name"] == "staging-sessions")
    init = sts["spec"]["template"]["spec"]["initContainers"]
    assert [c["name"] for c in init][:2] == ["restic-tools", "restore"]
    assert init[1]["command"] == ["sh", "/etc/cache-patterns/conf/restore.sh", "init"]
    env = {e["name"]: e.get("value") for e in init[1]["env"]}
    assert env["RESTORE_FROM"] == "latest" and env["PASSWORD_FILE"] == contract.PASSWORD_FILE
    conf = next(m for m in objects(run, "ConfigMap") if "redis-start.sh" in (m.get("data") or {}))
    assert {"restic.sh", "restore.sh"} <= set(conf["data"])
    redis = run.one("kubernetes:apps/v1:StatefulSet", "sessions-redis")
    sentinels = run.one("kubernetes:apps/v1:StatefulSet", "sessions-sentinel")
    assert redis.urn in sentinels.dependencies
    plain = staging(backup=BACKUP)
    assert plain.one("kubernetes:apps/v1:StatefulSet", "sessions-redis").urn not in \
        plain.one("kubernetes:apps/v1:StatefulSet", "sessions-sentinel").dependencies
    assert "initContainers" not in next(m for m in plain.manifests() if m["kind"] == "StatefulSet"
                                        and m["metadata"]["name"] == "staging-sessions")["spec"]["template"]["spec"]


def test_the_alerts_and_dashboard_follow_the_schedule(run: harness.Run) -> None:
    (rule,) = [m for m in objects(run, "PrometheusRule") if m["metadata"]["name"] == "staging-sessions"]
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert alerts["CacheBackupTooOld"]["expr"].endswith("> 43200")
    assert 'cache="staging-sessions"' in alerts["CacheBackupFailing"]["expr"]


def problems(**cache_changes) -> str:
    with pytest.raises(ConfigError) as e:
        staging(**cache_changes)
    return str(e.value)


def test_config_mistakes_are_named() -> None:
    text = problems(backup=None, restore={"from": "latest"})
    assert "restore" in text and "needs `backup`" in text
    text = problems(backup=BACKUP, aclUsers=[{"name": "backup", "permissions": "~x:* +get"}])
    assert "is the user of `backup`" in text
    text = problems(backup={**BACKUP, "schedule": "*/10 * * * *"})
    assert "at most hourly" in text
    text = problems(backup={**BACKUP, "destination": {"endpoint": "ftp://x", "bucket": "B"}})
    assert "backup.destination.endpoint" in text and "backup.destination.bucket" in text


def test_the_staging_stack_file_turns_scheduled_backups_on() -> None:
    """issue 22's "done when": a committed stack file turns on scheduled backups (stacks/Pulumi.staging.yaml),
    with these very settings (the ones the tests above render), and renders the CronJob and its objects."""
    from tests.conftest import stack_run

    committed = harness.load_stack_config("staging")["cache-patterns:caches"]["sessions"]
    assert committed["backup"] == BACKUP and "restore" not in committed
    run = stack_run("staging")
    (cj,) = objects(run, "CronJob")
    assert cj["metadata"]["name"] == "staging-sessions-backup" and cj["spec"]["schedule"] == BACKUP["schedule"]
    assert [m for m in objects(run, "NetworkPolicy") if "backup-egress" in m["metadata"]["name"]]


def test_every_acl_user_the_servers_load_has_its_password_file_where_redis_start_reads_it() -> None:
    """redis-start.sh appends each acl-users.conf user's password from $ACL_PASSWORD_DIR/<name> and exits
    when that is unset: the committed staging stack (backups on, no aclUsers of its own) crash-looped on a
    real node until ACL_PASSWORD_DIR counted the backup user. Checked on the render: the env, the volume
    the Redis container mounts there, and a Secret item per user."""
    from tests.conftest import stack_run

    for run in (stack_run("staging"), staging(aclUsers=[{"name": "reports", "permissions": "~r:* +get"}])):
        conf = next(m for m in objects(run, "ConfigMap") if "acl-users.conf" in (m.get("data") or {}))
        users = {line.split()[1] for line in conf["data"]["acl-users.conf"].splitlines() if line.startswith("user ")}
        assert "backup" in users
        sts = next(m for m in objects(run, "StatefulSet") if m["metadata"]["name"] == "staging-sessions")
        pod = sts["spec"]["template"]["spec"]
        redis = next(c for c in pod["containers"] if c["name"] == "redis")
        env = {e["name"]: e.get("value") for e in redis["env"]}
        assert env.get("ACL_PASSWORD_DIR") == ha.ACL_PASSWORD_DIR, sorted(env)
        (mount,) = [m for m in redis["volumeMounts"] if ha.ACL_PASSWORD_DIR.startswith(m["mountPath"] + "/")]
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        sources = volume.get("projected", {}).get("sources") or [{"secret": volume["secret"]}]
        paths = {f"{mount['mountPath']}/{i['path']}" for s in sources if "secret" in s for i in s["secret"]["items"]}
        assert {f"{ha.ACL_PASSWORD_DIR}/{u}" for u in users} <= paths, (users, paths)
