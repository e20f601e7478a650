"""The planted faults of issue 22 (tools/mutants.py holds the others): backups, restore, the empty-node
protections, and the stack-wide checks a stack with backups met (pod security, plaintext secrets,
wiring)."""
from __future__ import annotations

from tools.mutant import Mutant

BACKUP_MUTANTS = (
    Mutant("protect-data-refusal", "a primary back with an older RDB, that no failover replaced, takes the role: "
           "its replicas resync from it and lose what it lacks (kubeblocks#10753)",
           "components/cache_patterns/patterns/statefulset/scripts/redis-start.sh",
           '    if [ "${PROTECT_DATA:-no}" = yes ] && data_at_risk; then\n        log "no failover',
           '    if false; then\n        log "no failover',
           ("tests/live/test_protect_data_scripts.py::test_no_failover_within_the_wait_refuses_and_names_the_replica",
            "tests/live/test_backup_protect_live.py::"
            "test_a_primary_back_with_an_older_rdb_and_no_failover_is_not_kept_as_primary")),
    Mutant("protect-data-priority", "an empty replica still waiting for its first copy is promoted when the "
           "primary dies, and the cache is wiped (spotahome#205)",
           "components/cache_patterns/patterns/statefulset/scripts/redis-start.sh",
           '        echo "replica-priority 0"\n', '        echo "replica-priority 100"\n',
           ("tests/live/test_protect_data_scripts.py::test_every_server_starts_unpromotable_with_protect_data",
            "tests/live/test_backup_protect_live.py::test_an_empty_replica_waiting_for_its_first_copy_is_never_promoted")),
    Mutant("backup-from-primary", "the backup forks the primary although a healthy replica exists",
           "components/cache_patterns/patterns/statefulset/scripts/backup.sh",
           '    if [ -n "$SOURCE" ] && [ "$_best_of" = "$_primary" ]; then\n',
           '    if [ -n "$_primary" ]; then SOURCE=$_primary; fi\n    if [ -n "$SOURCE" ]; then\n',
           ("tests/live/test_backup_live.py::test_backup_streams_a_verified_snapshot_of_a_replica_under_a_steady_writer",)),
    Mutant("backup-unverified", "an RDB that check-rdb rejects is stored as a backup",
           "components/cache_patterns/patterns/statefulset/scripts/backup.sh",
           """    if [ "$_check_rc" != 0 ] || ! grep -q 'RDB looks OK' "$_w/check.out"; then\n""",
           "    if false; then\n",
           ("tests/live/test_backup_live.py::test_an_rdb_that_fails_check_rdb_is_never_stored",)),
    Mutant("restore-unchecked-sum", "a restore takes a backup whose sha256 differs from its manifest",
           "components/cache_patterns/patterns/statefulset/scripts/restore.sh",
           '    [ "$_sha" = "$WANT_SHA" ] || refuse', '    true || refuse',
           ("tests/live/test_backup_live.py::test_restore_refuses_a_checksum_mismatch_and_leaves_the_data_dir_alone",)),
    Mutant("backup-creates-bucket", "a mistyped or deleted bucket is created empty instead of failing the backup",
           "components/cache_patterns/patterns/statefulset/scripts/restic.sh",
           '    if (S3_REGION="" rs cat config', '    if (rs cat config',
           ("tests/live/test_backup_live.py::test_a_missing_bucket_fails_clearly_and_is_never_created",)),
    Mutant("retention-ignores-age", "backups older than maxAge are kept up to the count",
           "components/cache_patterns/patterns/statefulset/scripts/backup.sh",
           '--keep-within "$KEEP_WITHIN" --keep-last 1', '--keep-last 1000',
           ("tests/live/test_backup_live.py::test_retention_keeps_exactly_the_newest_within_the_age",)),
    Mutant("s3-key-files-ignored", "the pods' S3 access key files are never read: every backup and restore "
           "fails to authenticate", "components/cache_patterns/patterns/statefulset/scripts/restic.sh",
           '    (s3_key_env && exec "$RESTIC" "$@")', '    (exec "$RESTIC" "$@")',
           ("tests/test_backup.py::test_restic_alone_gets_the_access_key_files_read_at_each_start",)),
    Mutant("backup-user-without-password-dir", "a cache with backups and no aclUsers of its own: the servers "
           "load the backup user but redis-start.sh has no ACL_PASSWORD_DIR, and every Redis pod crash-loops",
           "components/cache_patterns/patterns/statefulset/ha.py",
           "acl_password_dir=ACL_PASSWORD_DIR if server.acl_users else None,",
           "acl_password_dir=ACL_PASSWORD_DIR if cache.acl_users else None,",
           ("tests/test_backup_render.py::"
            "test_every_acl_user_the_servers_load_has_its_password_file_where_redis_start_reads_it",)),
    Mutant("restic-temp-on-read-only-root", "restic keeps its packs in /tmp, on the backup pod's read-only root "
           "filesystem: every backup fails on a real node (found by tests/node/test_backup.py)",
           "components/cache_patterns/patterns/statefulset/backup.py", '            "TMPDIR": WORK_DIR}', "            }",
           ("tests/test_backup_render.py::test_restics_temporary_files_go_to_a_writable_volume_big_enough_for_them",)),
    # The stack-wide checks a stack with backups met: each kept its teeth.
    Mutant("pss-job-exception-leaks", "a Deployment's or StatefulSet's container without a probe passes the pod "
           "check, as only a Job's may: a hung server is never restarted nor taken out of its Service",
           "tools/pss.py", 'return spec.get("restartPolicy", "Always") in ("Never", "OnFailure")',
           'return spec.get("restartPolicy", "Never") in ("Never", "OnFailure")',
           ("tests/test_pss.py::test_a_serving_container_without_probes_fails_in_every_long_running_workload",)),
    Mutant("secret-check-trusts-any-mapping", "a plaintext password under a map of secrets (`passwords: {legacy: "
           "hunter2}`) passes the stack files' check, as only a settings group's keys may",
           "tests/test_stacks.py", "            if bare in groups and isinstance(v, dict):\n",
           "            if isinstance(v, dict) and set(v) != {\"secure\"}:\n",
           ("tests/test_stacks.py::test_the_plaintext_secret_check_catches_a_plain_password",)),
    Mutant("wiring-blind-to-cronjobs", "the wiring check cannot see a CronJob's pods: a backup egress policy that "
           "selects nothing (its pods without their DNS, Redis and S3 egress) goes unnoticed",
           "tests/test_wiring.py", '    if obj["kind"] == "CronJob":\n', "    if False:\n",
           ("tests/test_wiring.py::test_the_wiring_check_sees_the_pods_a_cronjob_starts",
            "tests/test_wiring.py::test_services_policies_and_budgets_select_pods_and_ports_that_exist[staging]")),
)
