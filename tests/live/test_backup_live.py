"""Live: backups of a StatefulSet cache into a real S3 server (the toolchain's), with the rendered
scripts in the engine image's programs plus restic, as the backup pod and the Redis pods' restore step
run them (tests/live/backups.py): 3 Valkey + 3 Sentinels with backups on (PROTECT_DATA, the backup
ACL user), a steady writer while the snapshot is taken, and a restore into a fresh 1 + 2 + 3 set whose
every key's value digest is compared with the source's.

The 1 GB round trip is benchmarks/backup.py (docs/benchmarks.md); here the data set is ~12 MB so the
module takes about three minutes on a loaded 2-core machine (docs/backup.md, "Tests")."""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from typing import Iterator

import pytest
import redis

from testbed.backups import (RESTIC_KEY, Backups, backup_settings, digests, fill, protected_plan, raw, restic,
                             restore_from, start_restored)
from testbed.s3server import S3Server, require_s3
from testbed.statefulset import LocalStatefulSet as Cluster
from testbed.support import PASSWORD, Writer, new_root, require_binaries, wait_until, which
from tests.conftest import skip_or_fail

pytestmark = pytest.mark.live

KEYS = 12_000
VALUE = 1000




def forks(cluster: Cluster, i: int) -> int:
    with cluster.redis(i) as r:
        return int(r.info("stats")["total_forks"])


@pytest.fixture(scope="module")
def s3(request: pytest.FixtureRequest) -> Iterator[S3Server]:
    require_s3()
    root = new_root("cp-s3-")
    server = S3Server(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def source(request: pytest.FixtureRequest, s3: S3Server) -> Iterator[tuple[Cluster, Backups]]:
    """The backed-up cache: 3 Valkey + 3 Sentinels + HAProxy, busybox mode, with KEYS keys."""
    require_binaries()
    if restic() is None:
        skip_or_fail("restic is not built (./run toolchain restic)")
    root = new_root("cp-bk-src-")
    cluster = Cluster(root, plan=protected_plan(), busybox=which("busybox") is not None)
    cluster.start_all()
    creds = s3.credentials("src-bucket")
    backups = Backups(cluster, creds, backup_settings(creds, keep=5), restore=restore_from("latest"))
    try:
        primary = cluster.settle(timeout=60)
        with cluster.redis(primary, timeout=30) as r:
            fill(r, KEYS)
            assert r.execute_command("WAIT", 2, 10_000) == 2
        first = backups.run()              # the repository and a last good backup, for every test
        assert first.returncode == 0, first.stderr
        yield cluster, backups
    finally:
        cluster.stop_all()
        if request.session.testsfailed:
            print(f"\nbackup source kept at {root}\n{cluster.logs(tail=20)}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def primary_and_replicas(cluster: Cluster) -> tuple[int, list[int]]:
    primary = cluster.settle()
    return primary, [i for i in range(cluster.servers) if i != primary]


def test_backup_streams_a_verified_snapshot_of_a_replica_under_a_steady_writer(source) -> None:
    cluster, backups = source
    primary, replicas = primary_and_replicas(cluster)
    writer = Writer(lambda: cluster.endpoint(0.5), "during")
    writer.start()
    wait_until("writes through the endpoint", lambda: len(writer.acked) >= 50, 10)
    forks_before = {i: forks(cluster, i) for i in range(cluster.servers)}
    try:
        job = backups.run()
    finally:
        writer.stop()
    assert job.returncode == 0, job.stderr
    m = backups.manifests()[-1]
    assert job.snapshot == m["id"] and job.message.startswith(f"ok {m['id']} sha256={m['sha256']}")
    # From a replica; only that replica forked (the primary did not), and the writer kept going.
    # On 127.0.0.1 the "pod" is the server's address (in a pod, the first label of its DNS name).
    source_index = cluster.server_index(m["pod"])
    assert m["role"] == "replica" and source_index in replicas, m
    assert forks(cluster, primary) == forks_before[primary], "the primary forked for the backup"
    assert forks(cluster, source_index) == forks_before[source_index] + 1
    assert len(writer.acked) > 100 and not writer.errors, writer.errors[:5]
    # The manifest: what restic stores is byte for byte the RDB the manifest describes.
    raw_dump = backups.dump(m["id"])
    assert hashlib.sha256(raw_dump).hexdigest() == m["sha256"] and len(raw_dump) == int(m["size"])
    # The engine's own RDB format: Redis 7.0 writes version 10, Valkey 8.1 (like Redis 7.2) 11.
    formats = {"redis-7.0.": b"REDIS0010", "valkey-8.1.": b"REDIS0011"}
    assert raw_dump[:9] == m["rdb"].encode() == next(f for e, f in formats.items() if m["engine"].startswith(e)), m
    # Key count: every key the replica held at the fork (the writer adds keys, so bounded, not equal).
    assert KEYS <= int(m["keys"]) <= KEYS + len(writer.acked) + 50, m


def test_the_backup_user_can_take_a_snapshot_and_nothing_else(source) -> None:
    cluster, backups = source
    primary = cluster.settle()
    env = backups.job_env(backups.root)
    assert PASSWORD not in " ".join(env.values()), "the job must never hold the cache's password"
    with cluster.redis(primary) as r:
        rules = r.acl_getuser("backup")
    assert not rules["keys"] and not rules["channels"], rules
    with cluster.client(cluster.redis_addrs[primary], user="backup", password=backups.password_file.read_text()) as b:
        assert b.ping()
        assert b.info("replication")["role"] == "master"
        for command in (("GET", "k:1"), ("SET", "x", "1"), ("KEYS", "*"), ("SCAN", "0"), ("CONFIG", "GET", "*"),
                        ("FLUSHALL",), ("CLIENT", "LIST"), ("ACL", "LIST"), ("REPLICAOF", "NO", "ONE"),
                        ("SAVE",), ("BGSAVE",), ("SHUTDOWN",), ("MONITOR",), ("EVAL", "return 1", "0")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                b.execute_command(*command)


def test_a_transfer_that_fails_leaves_no_backup_and_changes_nothing(source) -> None:
    cluster, backups = source
    primary, replicas = primary_and_replicas(cluster)
    before = backups.manifests()
    objects_before = set(backups.s3_objects())
    # The replicas wait 5 s before streaming an RDB; the job gives the transfer 2 s.
    for i in replicas:
        with cluster.redis(i) as r:
            r.config_set("repl-diskless-sync-delay", 5)
    try:
        job = backups.run(extra_env={"DUMP_TIMEOUT": "2"})
    finally:
        for i in replicas:
            with cluster.redis(i) as r:
                r.config_set("repl-diskless-sync-delay", 1)
    assert job.returncode == 1 and job.message.startswith("failed snapshot:"), (job.message, job.stderr[-800:])
    assert "the transfer from" in job.stderr
    assert backups.manifests() == before
    # Nothing of the failed run is a snapshot: at most unreferenced data, which the next prune drops.
    assert all("snapshots/" not in o for o in set(backups.s3_objects()) - objects_before)


def test_an_rdb_that_fails_check_rdb_is_never_stored(source) -> None:
    cluster, backups = source
    cluster.settle()
    before = backups.manifests()
    failing = backups.tools / "failing-check-rdb"
    failing.write_text("#!/bin/sh\ncat \"$1\" > /dev/null\necho '--- RDB ERROR DETECTED ---'\n"
                       "echo '[offset 9] Unexpected EOF reading RDB file'\nexit 1\n")
    failing.chmod(0o755)
    job = backups.run(extra_env={"CHECK_RDB": str(failing)})
    assert job.returncode == 1 and job.message.startswith("failed snapshot:"), job.message
    assert "is not valid" in job.stderr and "Unexpected EOF" in job.stderr, job.stderr
    assert backups.manifests() == before


def fake_backups(backups: Backups, ages_h: list[float], partial_h: list[float] = ()) -> None:
    """Earlier backups of this cache as the job leaves them (same host, tags, manifest), `ages_h`
    hours old; `partial_h`: snapshots whose manifest never came (a killed job)."""
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    for age, manifest in [(a, True) for a in ages_h] + [(a, False) for a in partial_h]:
        when = (now - datetime.timedelta(hours=age)).strftime("%Y-%m-%d %H:%M:%S")
        tags = f"cache-patterns,cache={backups.plan.cache}" + (
            f",sha256=fake{age},size=1,rdb=REDIS0011,engine=valkey-8.1.1,keys=1,pod=old,role=replica,manifest=1"
            if manifest else "")
        p = backups.restic_cmd("backup", "--stdin-from-command", "--stdin-filename", "dump.rdb", "--host",
                               backups.plan.statefulset, "--tag", tags, "--time", when, "--", "echo", f"age {age}")
        assert p.returncode == 0, p.stderr


def ages(backups: Backups) -> list[int]:
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    out = []
    for m in backups.manifests():
        t = datetime.datetime.fromisoformat(m["time"][:26].rstrip("Z") + "+00:00")
        out.append(round((now - t).total_seconds() / 3600))
    return sorted(out)


@pytest.mark.parametrize("keep, max_age, older, expected", [
    (3, None, [240, 120, 50, 30, 1], [0, 1, 30]),          # count only
    (5, "40h", [240, 120, 50, 30, 1], [0, 1, 30]),         # the age bounds it below the count
])
def test_retention_keeps_exactly_the_newest_within_the_age(source, s3, keep, max_age, older, expected) -> None:
    cluster, src = source
    cluster.settle()
    bucket = f"ret-{keep}-{(max_age or 'none').lower()}"
    creds = s3.credentials(bucket)
    backups = Backups(cluster, creds, backup_settings(creds, keep=keep, max_age=max_age), cache="live")
    assert backups.restic_cmd("init").returncode == 0
    fake_backups(backups, older, partial_h=[2])
    job = backups.run()
    assert job.returncode == 0, job.stderr
    assert ages(backups) == expected
    listed = backups.restic_cmd("snapshots", "--json")
    assert listed.returncode == 0 and listed.stdout.count('"short_id"') == len(expected), "a partial snapshot stayed"


def two_backups(source, s3, bucket: str) -> tuple[Backups, str, str]:
    """A cache backed up twice into its own bucket: backup A, then every value rewritten and backup
    B, so B's data share no pack with A's."""
    cluster, _ = source
    primary = cluster.settle()
    creds = s3.credentials(bucket)
    backups = Backups(cluster, creds, backup_settings(creds), restore=restore_from("latest"))
    a = backups.run()
    assert a.returncode == 0, a.stderr
    with cluster.redis(primary, timeout=30) as r:
        fill(r, KEYS // 4, prefix="b")
        assert r.execute_command("WAIT", 2, 10_000) == 2
    objects = set(backups.s3_objects())
    b = backups.run()
    assert b.returncode == 0, b.stderr
    backups.b_packs = sorted(o for o in set(backups.s3_objects()) - objects if "/data/" in o)  # type: ignore[attr-defined]
    return backups, a.snapshot, b.snapshot


def test_a_wrong_key_fails_clearly_and_keeps_the_last_good_backup(source) -> None:
    cluster, backups = source
    cluster.settle()
    before = backups.manifests()
    right = backups.key_file.read_text()
    backups.set_key("not-the-key-of-this-repository")
    try:
        job = backups.run()
    finally:
        backups.set_key(right)
    assert job.returncode == 1 and job.message.startswith("failed wrong-key: the repository key"), job.message
    assert backups.manifests() == before
    assert backups.restore_script(0, "verify", before[-1]["id"]).returncode == 0


def test_a_missing_bucket_fails_clearly_and_is_never_created(source, s3) -> None:
    cluster, _ = source
    cluster.settle()
    creds = s3.credentials("present-bucket")
    missing = type(creds)(creds.endpoint, creds.access_key, creds.secret_key, "no-such-bucket")
    backups = Backups(cluster, missing, backup_settings(missing))
    job = backups.run()
    assert job.returncode == 1 and job.message.startswith("failed missing-bucket:"), (job.message, job.stderr[-500:])
    assert job.seconds < 30, f"the job took {job.seconds:.0f} s to give up"
    assert not s3.bucket_exists("no-such-bucket"), "the backup created the bucket"


def test_credentials_that_stopped_working_fail_clearly_and_keep_the_last_good_backup(source, s3) -> None:
    """A key that worked for the earlier backups and has since been revoked, as a provider revokes a
    rotated or expired key (403 InvalidAccessKeyId): the job stops at once (restic itself would retry
    for 15 minutes) and says so; the backups made with it stay restorable."""
    cluster, _ = source
    cluster.settle()
    creds = s3.credentials("expiring", own_key=True)
    backups = Backups(cluster, creds, backup_settings(creds), restore=restore_from("latest"))
    good = backups.run()
    assert good.returncode == 0, good.stderr
    s3.revoke(creds.access_key)
    job = backups.run()
    assert job.returncode == 1 and job.message.startswith("failed credentials-rejected:"), (job.message,
                                                                                             job.stderr[-500:])
    assert job.seconds < 30, f"the job took {job.seconds:.0f} s to give up"
    root = Backups(cluster, s3.credentials("expiring"), backups.settings, restore=restore_from("latest"))
    assert [m["id"] for m in root.manifests()] == [good.snapshot]
    assert root.restore_script(0, "verify", good.snapshot).returncode == 0


def test_a_corrupted_object_is_refused_before_anything_is_touched(source, s3) -> None:
    backups, a, b = two_backups(source, s3, "corrupted")
    assert backups.b_packs  # type: ignore[attr-defined]
    pack = backups.b_packs[0]  # type: ignore[attr-defined]
    data = bytearray(s3.get("corrupted", pack))
    data[len(data) // 2] ^= 0xFF
    s3.put("corrupted", pack, bytes(data))
    verify = backups.restore_script(0, "verify", b)
    assert verify.returncode == 1 and "restore refused: backup" in verify.stderr, verify.stderr
    assert "corrupted" in verify.stderr or "sha256" in verify.stderr, verify.stderr
    assert backups.restore_script(0, "verify", a).returncode == 0, "backup A shares nothing with B"
    # The restore step refuses B without writing into the (empty) data dir of a new pod.
    fresh = Cluster(new_root("cp-bk-corrupt-"), plan=protected_plan(servers=1, sentinels=1), busybox=False)
    try:
        restore = Backups(fresh, backups.s3, backups.settings, restore=restore_from(b))
        result = restore.restore_script(0, "init")
        assert result.returncode == 1 and "restore refused" in result.stderr, result.stderr
        assert list(fresh.members["redis-0"].data.iterdir()) == [], "the data dir was touched"
    finally:
        shutil.rmtree(fresh.root, ignore_errors=True)



def test_restore_into_a_fresh_set_gives_every_key_back(source, s3) -> None:
    cluster, backups = source
    primary = cluster.settle()
    with cluster.redis(primary, timeout=30) as r:
        assert r.execute_command("WAIT", 2, 10_000) == 2
    expected = digests(raw(cluster, primary))
    job = backups.run()
    assert job.returncode == 0, job.stderr
    snapshot = job.snapshot
    with cluster.redis(primary) as r:
        r.set("after-the-backup", "x")    # not in the backup
    target = Cluster(new_root("cp-bk-dst-"), plan=protected_plan(), busybox=which("busybox") is not None)
    try:
        restore = Backups(target, backups.s3, backups.settings, restore=restore_from("latest"))
        primary_ready, ready = start_restored(target, restore)
        # settle() also waits for the replicas to be promotable: the readiness probe (run every second
        # here, as the kubelet does) restores their priority only after a completed sync.
        assert target.settle(timeout=60) == 0
        assert f"restored backup {snapshot}" in restore.restored_log, restore.restored_log
        for i in range(3):
            got = digests(raw(target, i))
            assert got == expected, f"redis-{i}: {len(set(got) ^ set(expected))} keys differ"
        with target.redis(0) as r:
            assert r.get("after-the-backup") is None
        assert (target.members["redis-0"].data / "restored-from").read_text().startswith(snapshot)
        print(f"\nrestore of {len(expected)} keys: primary ready {primary_ready:.1f} s, replicas synced {ready:.1f} s")
    finally:
        target.stop_all()
        shutil.rmtree(target.root, ignore_errors=True)


def test_restore_refuses_an_rdb_version_the_engine_cannot_load_naming_both(source, s3) -> None:
    cluster, backups = source
    cluster.settle()
    m = backups.manifests()[-1]
    p = backups.restic_cmd("tag", "--remove", f"rdb={m['rdb']}", "--add", "rdb=REDIS0012", m["id"])
    assert p.returncode == 0, p.stderr
    forged = backups.manifests()[-1]
    try:
        result = backups.restore_script(0, "verify", forged["id"])
        assert result.returncode == 1, result.stderr
        assert (f"is RDB format REDIS0012 (written by {m['engine']})" in result.stderr
                and "cannot load it (the newest format it loads is REDIS001" in result.stderr), result.stderr
        assert "Restoring" not in result.stderr and "dump" not in result.stderr.split("refused", 1)[0]
    finally:
        backups.restic_cmd("tag", "--remove", "rdb=REDIS0012", "--add", f"rdb={m['rdb']}", forged["id"])


def test_restore_refuses_a_checksum_mismatch_and_leaves_the_data_dir_alone(source, s3) -> None:
    cluster, backups = source
    cluster.settle()
    m = backups.manifests()[-1]
    wrong = "0" * 64
    assert backups.restic_cmd("tag", "--remove", f"sha256={m['sha256']}", "--add", f"sha256={wrong}",
                              m["id"]).returncode == 0
    forged = backups.manifests()[-1]
    fresh = Cluster(new_root("cp-bk-sum-"), plan=protected_plan(servers=1, sentinels=1), busybox=False)
    try:
        restore = Backups(fresh, backups.s3, backups.settings, restore=restore_from(forged["id"]))
        result = restore.restore_script(0, "init")
        assert result.returncode == 1, result.stderr
        assert f"sha256 {m['sha256']}, the manifest says {wrong}" in result.stderr, result.stderr
        assert list(fresh.members["redis-0"].data.iterdir()) == []
    finally:
        shutil.rmtree(fresh.root, ignore_errors=True)
        backups.restic_cmd("tag", "--remove", f"sha256={wrong}", "--add", f"sha256={m['sha256']}", forged["id"])


def test_the_restore_step_leaves_a_cache_with_data_alone(source) -> None:
    cluster, backups = source
    primary, replicas = primary_and_replicas(cluster)
    for i in range(cluster.servers):
        result = backups.restore_script(i, "init")
        assert result.returncode == 0 and "no restore:" in result.stderr, result.stderr
    assert cluster.settle() == primary


class Pushgateway:
    """Records what is POSTed to it, as a Prometheus Pushgateway would receive it."""

    def __init__(self) -> None:
        import http.server
        import threading
        pushes = self.pushes = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                pushes.append((self.path, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass
        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def metrics(self, i: int = -1) -> tuple[str, dict[str, float]]:
        from prometheus_client.parser import text_string_to_metric_families
        path, body = self.pushes[i]
        return path, {s.name: s.value for f in text_string_to_metric_families(body) for s in f.samples}

    def close(self) -> None:
        self.server.shutdown()


def test_each_run_pushes_its_result_and_a_failure_keeps_the_last_success(source) -> None:
    cluster, backups = source
    cluster.settle()
    gateway = Pushgateway()
    try:
        started = time.time()
        job = backups.run(extra_env={"PUSHGATEWAY_URL": gateway.url, "METRICS_NAMESPACE": "cache"})
        assert job.returncode == 0, job.stderr
        assert gateway.pushes, f"nothing pushed to {gateway.url}: {job.stderr}"
        path, values = gateway.metrics()
        assert path == f"/metrics/job/cache-backup/namespace/cache/cache/{backups.plan.statefulset}"
        m = backups.manifests()[-1]
        assert started - 1 <= values["cache_backup_last_success_timestamp_seconds"] <= time.time() + 1
        assert values["cache_backup_size_bytes"] == int(m["size"]) and values["cache_backup_keys"] == int(m["keys"])
        assert 0 <= values["cache_backup_duration_seconds"] <= job.seconds + 1
        assert values["cache_backup_last_run_success"] == 1
        backups.set_key("wrong")
        try:
            failed = backups.run(extra_env={"PUSHGATEWAY_URL": gateway.url, "METRICS_NAMESPACE": "cache"})
        finally:
            backups.set_key(RESTIC_KEY)
        assert failed.returncode == 1
        _, values = gateway.metrics()
        # Only the failure's own series: POST leaves the last success time as it was.
        assert set(values) == {"cache_backup_last_failure_timestamp_seconds", "cache_backup_last_run_success"}
        assert values["cache_backup_last_run_success"] == 0
    finally:
        gateway.close()
