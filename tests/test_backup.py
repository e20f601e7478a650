"""Backups of StatefulSet caches, without processes: the settings' checks, cron intervals, the plan's
environment (the job never holds the cache's password), the egress rules, and what each S3/restic
error message is reported as (restic.sh `explain`, run in sh on the messages AWS and restic print)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from cache_patterns.core import contract
from cache_patterns.core.redis_conf import acl_rule_problems
from cache_patterns.patterns.statefulset import backup as bk
from cache_patterns.patterns.statefulset import cron, ha
from cache_patterns.patterns.statefulset.backup_settings import BackupSettings, RestoreSettings

BASE = {"destination": {"endpoint": "https://s3.eu-west-1.amazonaws.com", "bucket": "acme-backups",
                        "region": "eu-west-1"},
        "credentials": {"secret": "s3"}, "encryptionKey": {"name": "key", "key": "password"}}


def settings(**changes) -> BackupSettings:
    return BackupSettings.model_validate({**BASE, **changes})


@pytest.mark.parametrize("schedule, hours", [
    ("0 3 * * *", 24), ("@hourly", 1), ("0 */6 * * *", 6), ("15 2 * * 1-5", 72), ("0 3 * * 1", 168),
    ("0 0 1 * *", 744), ("0 0 29 2 *", 35064), ("0 0 1,15 * 1", 168), ("30 1,13 * * *", 12),
])
def test_the_longest_gap_between_runs(schedule: str, hours: int) -> None:
    assert cron.longest_gap_s(schedule) == hours * 3600


@pytest.mark.parametrize("schedule, message", [
    ("0 3 * *", "5 fields"), ("61 * * * *", "outside 0-59"), ("0 3 * * MON", "names such as MON"),
    ("0 3 31 2 *", "runs less than twice"), ("*/0 * * * *", "at least 1"),
])
def test_invalid_schedules_are_named(schedule: str, message: str) -> None:
    with pytest.raises(cron.CronError, match=message):
        cron.longest_gap_s(schedule)


def test_settings_name_every_problem_at_once() -> None:
    with pytest.raises(ValidationError) as e:
        BackupSettings.model_validate({"schedule": "*/10 * * * *", "destination": {"endpoint": "ftp://x",
                                                                                   "bucket": "B"},
                                       "credentials": {}, "encryptionKey": {"name": "k", "key": "p"}})
    text = str(e.value)
    assert "destination.endpoint" in text and "destination.bucket" in text and "credentials.secret" in text
    with pytest.raises(ValidationError, match="backups at most hourly"):
        settings(schedule="*/10 * * * *")
    with pytest.raises(ValidationError, match="whole hours"):
        settings(retention={"keep": 3, "maxAge": "90m"})
    with pytest.raises(ValidationError, match="one of secret"):
        settings(credentials={"secret": "s3", "roleArn": "arn:aws:iam::123456789012:role/x"})


def test_repository_and_retention_as_restic_takes_them() -> None:
    s = settings(retention={"keep": 28, "maxAge": "168h"}, destination={**BASE["destination"], "prefix": "caches/prod"})
    assert s.destination.repository("prod-sessions") == \
        "s3:https://s3.eu-west-1.amazonaws.com/acme-backups/caches/prod/prod-sessions"
    assert s.keep_within == "168h" and settings().keep_within == ""
    assert s.destination.port == 443 and settings(destination={**BASE["destination"],
                                                               "endpoint": "http://minio:9000"}).destination.port == 9000
    assert RestoreSettings.model_validate({"from": "latest"}).from_ == "latest"
    with pytest.raises(ValidationError, match="from"):
        RestoreSettings.model_validate({"from": "yesterday"})


def plan(backup: BackupSettings, tls: bool = False) -> bk.BackupPlan:
    names = ha.PodNames(statefulset="prod-sessions", namespace="cache", servers=3, sentinels=3)
    topology = ha.Topology(master_name="prod-sessions", servers=names.server_addresses(),
                           sentinels=names.sentinel_addresses())
    from cache_patterns.core.redis_conf import ReplicatedServer, SentinelSettings, TlsFiles
    files = TlsFiles() if tls else None
    hp = ha.HaPlan(names=names, server=ReplicatedServer(maxmemory=1 << 30, maxmemory_policy="noeviction", tls=files),
                   sentinel=SentinelSettings(master_name="prod-sessions", initial_primary=str(topology.servers[0]),
                                             quorum=2),
                   scripts=ha.ScriptSettings(topology=topology, password_file=contract.PASSWORD_FILE,
                                             tls_ca_file=files.ca_file if files else None,
                                             tls_secret_dir=ha.TLS_DIR if tls else None,
                                             tls_live_dir=ha.TLS_LIVE_DIR if tls else None, protect_data=True),
                   endpoint=ha.Endpoint(topology=topology))
    return bk.BackupPlan(plan=hp, cache="sessions", backup=backup, restore=RestoreSettings(), persistence="rdb")


def test_the_job_reaches_the_servers_as_the_backup_user_only() -> None:
    env = plan(settings(pushgateway="http://pg.monitoring:9091")).job_env()
    assert env["PASSWORD_FILE"] == bk.USER_PASSWORD_FILE != contract.PASSWORD_FILE
    assert env["BACKUP_USER"] == bk.BACKUP_USER and "ACL_PASSWORD_DIR" not in env and "PROTECT_DATA" not in env
    assert env["PEERS"].split() == [f"prod-sessions-{i}.prod-sessions-headless.cache.svc.cluster.local:6379"
                                    for i in range(3)]
    assert env["RESTIC_REPOSITORY"].endswith("/acme-backups/cache-patterns/prod-sessions")
    assert env["S3_BUCKET_LOOKUP"] == "dns" and env["S3_REGION"] == "eu-west-1"
    assert env["PUSHGATEWAY_URL"] == "http://pg.monitoring:9091" and env["METRICS_NAMESPACE"] == "cache"
    assert not acl_rule_problems(bk.BACKUP_RULES)
    tls = plan(settings(), tls=True).job_env()
    assert tls["TLS_CA_FILE"] == bk.TLS_CA_FILE and "TLS_SECRET_DIR" not in tls


def test_the_restore_step_asks_with_the_pods_password_and_reads_the_same_repository() -> None:
    p = plan(settings())
    env = p.restore_env("$(POD_NAME).x:6379")
    assert env["PASSWORD_FILE"] == contract.PASSWORD_FILE and env["RESTORE_FROM"] == "latest"
    assert env["RESTIC_REPOSITORY"] == p.job_env()["RESTIC_REPOSITORY"] and env["PERSISTENCE"] == "rdb"


def test_credentials_come_from_the_secret_as_files_or_the_workload_identity() -> None:
    keyed = plan(settings(credentials={"secret": "s3", "sessionTokenKey": "token"}))
    (source,) = keyed.credential_items()
    assert source == {"secret": {"name": "s3", "items": [
        {"key": "AWS_ACCESS_KEY_ID", "path": "s3/AWS_ACCESS_KEY_ID"},
        {"key": "AWS_SECRET_ACCESS_KEY", "path": "s3/AWS_SECRET_ACCESS_KEY"},
        {"key": "token", "path": "s3/AWS_SESSION_TOKEN"}]}}
    assert source in keyed.backup_secret_items("") and keyed.restic_env()["S3_KEY_DIR"] == bk.S3_KEY_DIR
    role = plan(settings(credentials={"roleArn": "arn:aws:iam::123456789012:role/cache-backup"}))
    assert role.credential_items() == [] and "S3_KEY_DIR" not in role.restic_env()


def test_egress_is_dns_the_redis_pods_the_endpoint_and_the_pushgateway() -> None:
    rules = plan(settings(destination={**BASE["destination"], "egress": ["10.0.0.0/8"]},
                          pushgateway="http://pg:9091")).egress({"app": "x"}, 6379)
    ports = [[p["port"] for p in r["ports"]] for r in rules]
    assert ports == [[53, 53], [6379], [443], [9091]]
    assert rules[2]["to"] == [{"ipBlock": {"cidr": "10.0.0.0/8"}}] and rules[1]["to"][0]["podSelector"]


# What restic prints for each failure, as seen live (versitygw) or in AWS's documented error texts.
MESSAGES = {
    "missing-bucket": "Stat(<config/>) returned error, retrying after 1.4s: Stat: The specified bucket does not exist.",
    "expired-credentials": "Save(<data/1a>) returned error: client.PutObject: The provided token has expired. "
                           "(ExpiredToken)",
    "credentials-rejected": "Stat(<config/>) returned error, retrying after 1.4s: Stat: The AWS Access Key Id you "
                            "provided does not exist in our records.",
    "wrong-key": "Fatal: wrong password or no key found",
    "corrupted": "Fatal: failed to read pack: ciphertext verification failed",
    "no-repository": "Fatal: repository does not exist: unable to open config file: Stat: The specified key does "
                     "not exist.",
    "unreachable": "Stat: dial tcp 10.0.0.1:443: connect: connection refused",
}


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_each_restic_failure_is_named(kind: str, tmp_path: Path) -> None:
    (tmp_path / "err").write_text(MESSAGES[kind] + "\n")
    script = f"""
        set -eu
        log() {{ :; }}
        RESTIC_REPOSITORY=s3:x/b RESTIC_PASSWORD_FILE=/k BACKUP_HOST=h BACKUP_CACHE=c WORK_DIR={tmp_path}
        . {ha.SCRIPT_DIR / 'restic.sh'}
        explain {tmp_path / 'err'}
    """
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and out.stdout.startswith(f"{kind}:"), (out.stdout, out.stderr)


def test_restic_alone_gets_the_access_key_files_read_at_each_start(tmp_path: Path) -> None:
    """The pods' S3 access key is files (S3_KEY_DIR): rs exports them in restic's process only, reads
    them again at each start (a renewed Secret), and without them fails saying which files."""
    keys = tmp_path / "s3"
    keys.mkdir()
    (keys / "AWS_ACCESS_KEY_ID").write_text("AKIA0FIRST")
    (keys / "AWS_SECRET_ACCESS_KEY").write_text("s3cr3t-one")
    fake = tmp_path / "restic"
    fake.write_text('#!/bin/sh\necho "restic sees ${AWS_ACCESS_KEY_ID:-none}/${AWS_SECRET_ACCESS_KEY:-none}"\n')
    fake.chmod(0o755)
    script = f"""
        set -eu
        log() {{ :; }}
        RESTIC={fake} S3_KEY_DIR={keys} RESTIC_REPOSITORY=s3:x/b RESTIC_PASSWORD_FILE=/k BACKUP_HOST=h BACKUP_CACHE=c
        WORK_DIR={tmp_path}
        . {ha.SCRIPT_DIR / 'restic.sh'}
        rs snapshots
        echo "the shell sees ${{AWS_ACCESS_KEY_ID:-none}}"
        printf 'AKIA0SECOND' > {keys / 'AWS_ACCESS_KEY_ID'}
        rs snapshots
        rm {keys / 'AWS_SECRET_ACCESS_KEY'}
        rs snapshots || echo "failed $?"
    """
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["restic sees AKIA0FIRST/s3cr3t-one", "the shell sees none",
                                       "restic sees AKIA0SECOND/s3cr3t-one", "failed 1"]
    assert f"no AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY file in {keys}" in out.stderr
