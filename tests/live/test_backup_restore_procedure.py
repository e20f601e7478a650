"""Live: restoring an existing cache, step by step as docs/backup.md ("Restoring an existing cache")
tells an operator, with real processes: a cache with persistence (its pods' volumes hold RDBs), a
backup A, more writes, then the procedure brings back exactly A on every server, with the restored
node the primary before any Sentinel runs."""
from __future__ import annotations

import shutil

import pytest

from testbed.backups import (Backups, backup_settings, digests, fill, protected_plan, raw, restic, restore_from,
                             start_restored)
from testbed.s3server import S3Server, require_s3
from testbed.statefulset import LocalStatefulSet as Cluster
from testbed.support import new_root, require_binaries, which

from .test_backup_live import KEYS
from tests.conftest import skip_or_fail

pytestmark = pytest.mark.live


def test_the_documented_procedure_restores_an_existing_cache() -> None:
    require_binaries()
    require_s3()
    if restic() is None:
        skip_or_fail("restic is not built (./run toolchain restic)")
    s3 = S3Server(new_root("cp-proc-s3-"))
    s3.start()
    c = Cluster(new_root("cp-proc-"), plan=protected_plan(persistence="rdb"), busybox=which("busybox") is not None)
    try:
        c.start_all()
        primary = c.settle(timeout=60)
        creds = s3.credentials("procedure")
        backups = Backups(c, creds, backup_settings(creds))
        with c.redis(primary, timeout=30) as r:
            fill(r, KEYS // 4, prefix="a")
            assert r.execute_command("WAIT", 2, 10_000) == 2
        expected = digests(raw(c, primary))
        a = backups.run()
        assert a.returncode == 0, a.stderr
        with c.redis(primary, timeout=30) as r:
            fill(r, 500, prefix="after")          # written after backup A: must be gone
            r.delete("a:0", "a:1")                # deleted after A: must be back
            assert r.execute_command("WAIT", 2, 10_000) == 2

        # 1. restore: {from: A} on the pods (pulumi up); 2. verify A without touching anything.
        restore = Backups(c, creds, backups.settings, restore=restore_from(a.snapshot))
        verify = restore.restore_script(0, "verify", a.snapshot)
        assert verify.returncode == 0 and f"backup {a.snapshot} verified" in verify.stderr, verify.stderr
        # 4. Sentinels, then Redis, to 0; the claims deleted (persistence: the data dirs hold RDBs).
        for name in [n for n in c.members if n.startswith("sentinel-")]:
            c.stop(name)
        for name in [n for n in c.members if n.startswith("redis-")]:
            c.stop(name)
        # A pod with its data set never restores: with the claims still there, nothing happens.
        kept = restore.restore_script(0, "init")
        assert kept.returncode == 0 and "this server has its own data set" in kept.stderr, kept.stderr
        for i in range(c.servers):
            shutil.rmtree(c.members[f"redis-{i}"].data)
            c.members[f"redis-{i}"].data.mkdir()
            c._own(c.members[f"redis-{i}"].data, 0o700)
        # Scaled back up, every pod is new: empty in-memory run dirs (the Sentinels' state too).
        for m in c.members.values():
            for f in m.run_dir.iterdir():
                f.unlink() if f.is_file() else shutil.rmtree(f)
        # 5. pulumi up: the Redis pods (ordinal 0 restores), then the Sentinels and HAProxy.
        start_restored(c, restore)
        assert f"restored backup {a.snapshot}" in restore.restored_log
        assert c.settle(timeout=90) == 0
        for i in range(c.servers):
            got = digests(raw(c, i))
            assert got == expected, f"redis-{i}: {len(set(got) ^ set(expected))} keys differ from backup A"
    finally:
        c.stop_all()
        s3.stop()
        shutil.rmtree(c.root, ignore_errors=True)
        shutil.rmtree(s3.root, ignore_errors=True)
