# The backup job of a StatefulSet cache: a snapshot of a healthy replica streamed into the cache's
# restic repository, verified on the way, with its manifest, then retention. Runs in the cache's
# engine image (valkey-cli, valkey-check-rdb, busybox) with restic copied in by an init container.
#
#   backup.sh             take a backup (the CronJob's container)
#   backup.sh stream ADDR the RDB of ADDR on stdout, verified (restic runs this; not for people)
#
#   1. the repository opens with the key, in an existing bucket (created on the first run; restic
#      opens it before it runs the stream, so a wrong key or bucket never forks the replica);
#   2. the source: the replica with the highest offset among those whose link to the one primary is
#      up and not resyncing; the primary only when the cache has no replica (or ALLOW_PRIMARY=yes
#      and no replica is healthy);
#   3. `valkey-cli --rdb -` as the backup ACL user (SYNC, REPLCONF, INFO, PING and nothing else),
#      streamed through sha256sum and valkey-check-rdb into `restic backup --stdin-from-command`:
#      restic stores the snapshot only if the stream command exits 0, which it does only when the
#      transfer finished and check-rdb read the whole RDB as valid (its checksum too);
#   4. the manifest (sha256, size, engine, RDB version, key count, source pod, time) as the
#      snapshot's tags, `manifest=1` last: a restore only ever takes a snapshot with a manifest;
#   5. retention, only after a good backup: the KEEP_LAST newest, and of those only the ones within
#      KEEP_WITHIN of the newest (the newest always stays); then unreferenced data is pruned.
# A failure anywhere leaves every earlier backup as it was, and exits 1 with a line saying why.
#
# Environment (besides common.sh's and restic.sh's): BACKUP_USER (the ACL user; PASSWORD_FILE is its
# password), WORK_DIR (writable, small), KEEP_LAST, KEEP_WITHIN (restic duration: 7d, 36h),
# ALLOW_PRIMARY, DUMP_TIMEOUT (seconds), PUSHGATEWAY_URL (optional: metrics pushed there),
# METRICS_JOB, METRICS_NAMESPACE, TERMINATION_LOG (optional: the result for `kubectl get pod`).

CONF_DIR=${CONF_DIR:-/etc/cache-patterns/conf}
. "$CONF_DIR/common.sh"
WORK_DIR=${WORK_DIR:-/work}
. "$CONF_DIR/restic.sh"

BACKUP_USER=${BACKUP_USER:?BACKUP_USER is not set}
CHECK_RDB=${CHECK_RDB:-$(command -v valkey-check-rdb || command -v redis-check-rdb)}
DUMP_TIMEOUT=${DUMP_TIMEOUT:-3600}
KEEP_LAST=${KEEP_LAST:-7}
KEEP_WITHIN=${KEEP_WITHIN:-}
ALLOW_PRIMARY=${ALLOW_PRIMARY:-no}

# as_backup ADDR ARG...: a command as the backup user.
as_backup() {
    _a=$1
    shift
    cli "$_a" --user "$BACKUP_USER" "$@"
}

# stream ADDR: the RDB on stdout. Results in WORK_DIR/stream.*; exit 0 only for a verified RDB.
stream() {
    _addr=$1
    _w="$WORK_DIR/stream"
    rm -rf "$_w"
    mkdir -p "$_w"
    mkfifo "$_w/sha" "$_w/check"
    sha256sum < "$_w/sha" > "$_w/sha256" &
    _sha_pid=$!
    "$CHECK_RDB" "$_w/check" > "$_w/check.out" 2>&1 &
    _check_pid=$!
    set -- --rdb -
    if [ -n "${TLS_CA_FILE:-}" ]; then
        set -- --tls --cacert "$TLS_CA_FILE" "$@"
    fi
    # No pipefail in POSIX sh: each stage records its own status. The first 9 bytes (the RDB
    # header: REDIS0011, VALKEY080) are read one by one, so none of the stream is lost.
    {
        {
            timeout "$DUMP_TIMEOUT" "$REDIS_CLI" -h "$(host_of "$_addr")" -p "$(port_of "$_addr")" \
                --user "$BACKUP_USER" "$@" 2> "$_w/cli.err"
            echo $? > "$_w/cli.rc"
        } | {
            dd bs=1 count=9 2> /dev/null | tee "$_w/header"
            cat
        }
    } | tee "$_w/sha" "$_w/check"
    wait "$_sha_pid"
    _check_rc=0
    wait "$_check_pid" || _check_rc=$?
    if [ "$(cat "$_w/cli.rc")" != 0 ]; then
        log "the transfer from $_addr failed: $(tr '\n' ' ' < "$_w/cli.err")"
        return 1
    fi
    if [ "$_check_rc" != 0 ] || ! grep -q 'RDB looks OK' "$_w/check.out"; then
        log "the RDB from $_addr is not valid: $(sed -n '/RDB ERROR DETECTED/{n;p;n;p;}' "$_w/check.out" | tr '\n' ' ')"
        return 1
    fi
}

# choose_source: SOURCE (address) and SOURCE_ROLE, or fails saying why.
choose_source() {
    SOURCE="" SOURCE_ROLE="" _primaries="" _best_off=-1 _replicas=0 _why=""
    for _p in $PEERS; do
        _info=$(as_backup "$_p" INFO replication) || {
            _why="$_why $_p unreachable;"
            continue
        }
        case $(printf '%s\n' "$_info" | field role) in
            master) _primaries="$_primaries $_p" ;;
            slave)
                _replicas=$((_replicas + 1))
                _link=$(printf '%s\n' "$_info" | field master_link_status)
                _sync=$(printf '%s\n' "$_info" | field master_sync_in_progress)
                _off=$(printf '%s\n' "$_info" | field slave_repl_offset)
                _of="$(printf '%s\n' "$_info" | field master_host):$(printf '%s\n' "$_info" | field master_port)"
                if [ "$_link" != up ] || [ "$_sync" != 0 ]; then
                    _why="$_why $_p link $_link, syncing $_sync;"
                    continue
                fi
                eval "_follows_$_replicas=\$_of"
                if [ "${_off:-0}" -gt "$_best_off" ]; then
                    _best_off=${_off:-0} SOURCE=$_p _best_of=$_of
                fi ;;
        esac
    done
    # shellcheck disable=SC2086
    set -- $_primaries
    if [ $# -gt 1 ]; then
        log "several servers report role:master ($_primaries): not taking a backup while Sentinel settles it"
        return 1
    fi
    _primary=${1:-}
    if [ -n "$SOURCE" ] && [ "$_best_of" = "$_primary" ]; then
        SOURCE_ROLE=replica
        return 0
    fi
    if [ -n "$SOURCE" ]; then
        _why="$_why the best replica $SOURCE follows $_best_of, not the primary ${_primary:-(none found)};"
        SOURCE=""
    fi
    if [ -n "$_primary" ] && { [ "$(count_words "$PEERS")" = 1 ] || [ "$ALLOW_PRIMARY" = yes ]; }; then
        SOURCE=$_primary SOURCE_ROLE=primary
        return 0
    fi
    log "no healthy replica to take the snapshot from:$_why not forking the primary ${_primary:-(none found)} (allowPrimary: false)"
    return 1
}

# push_metrics ok|failed REASON: the result, for Prometheus (through a Pushgateway; the grouping key
# job/namespace/cache, cache being the StatefulSet, labels every series), and as the container's
# termination message.
push_metrics() {
    _now=$(now)
    if [ "$1" = ok ]; then
        _body="# TYPE cache_backup_last_success_timestamp_seconds gauge
cache_backup_last_success_timestamp_seconds $_now
# TYPE cache_backup_duration_seconds gauge
cache_backup_duration_seconds $(( _now - STARTED ))
# TYPE cache_backup_size_bytes gauge
cache_backup_size_bytes $SIZE
# TYPE cache_backup_keys gauge
cache_backup_keys ${KEYS:-0}
# TYPE cache_backup_last_run_success gauge
cache_backup_last_run_success 1
"
        _message="ok $SNAPSHOT sha256=$SHA256 size=$SIZE keys=$KEYS source=$SOURCE_POD"
    else
        _body="# TYPE cache_backup_last_failure_timestamp_seconds gauge
cache_backup_last_failure_timestamp_seconds $_now
# TYPE cache_backup_last_run_success gauge
cache_backup_last_run_success 0
"
        _message="failed $2"
    fi
    if [ -n "${TERMINATION_LOG:-}" ]; then
        printf '%s\n' "$_message" | cut -c1-4000 > "$TERMINATION_LOG" 2> /dev/null || true
    fi
    [ -n "${PUSHGATEWAY_URL:-}" ] || return 0
    # POST replaces only the metrics it names: a failure keeps the last success time.
    _url="${PUSHGATEWAY_URL%/}/metrics/job/${METRICS_JOB:-cache-backup}/namespace/${METRICS_NAMESPACE:-default}/cache/$BACKUP_HOST"
    # timeout(1), not wget -T: Debian's BusyBox 1.35 wget crashes (SIGSEGV) with -T.
    if ! timeout 10 wget -q -O /dev/null --post-data "$_body" "$_url" 2> "$WORK_DIR/push.err"; then
        log "could not push the metrics to $_url: $(tr '\n' ' ' < "$WORK_DIR/push.err")"
    fi
}

fail() {
    log "backup failed: $1"
    push_metrics failed "$1"
    exit 1
}

# retention: the KEEP_LAST newest complete backups, of those the ones within KEEP_WITHIN of the
# newest (and the newest whatever its age); snapshots without a manifest (a job killed between the
# upload and the manifest) go too; unreferenced data is pruned when something was removed.
retention() {
    # One --tag with a comma: both tags (several --tag options would be either one).
    rs forget --host "$BACKUP_HOST" --tag "cache=$BACKUP_CACHE,manifest=1" --group-by host \
        --keep-last "$KEEP_LAST" > "$WORK_DIR/forget.out" 2>&1 || return 1
    if [ -n "$KEEP_WITHIN" ]; then
        rs forget --host "$BACKUP_HOST" --tag "cache=$BACKUP_CACHE,manifest=1" --group-by host \
            --keep-within "$KEEP_WITHIN" --keep-last 1 >> "$WORK_DIR/forget.out" 2>&1 || return 1
    fi
    if [ -n "$PARTIAL" ]; then
        # shellcheck disable=SC2086
        rs forget $PARTIAL >> "$WORK_DIR/forget.out" 2>&1 || return 1
    fi
    if [ -n "$PARTIAL" ] || grep -q '^remove [0-9]* snapshots' "$WORK_DIR/forget.out"; then
        rs prune >> "$WORK_DIR/forget.out" 2>&1 || return 1
    fi
}

# upload: the snapshot streamed from SOURCE into the repository (created on the first run).
upload() {
    _try=1
    while :; do
        # The stream command's stderr is restic's: its log lines land in the job's log.
        if rs backup --json --stdin-from-command --stdin-filename dump.rdb --host "$BACKUP_HOST" \
            --tag "cache-patterns,cache=$BACKUP_CACHE" -- sh "$CONF_DIR/backup.sh" stream "$SOURCE" \
            > "$WORK_DIR/backup.out" 2> "$WORK_DIR/backup.err"; then
            return 0
        fi
        cat "$WORK_DIR/backup.err" >&2
        case $(explain "$WORK_DIR/backup.err") in
            no-repository:*)
                [ "$_try" = 1 ] || fail "$(explain "$WORK_DIR/backup.err")"
                repository_ready init || fail "$REPO_PROBLEM" ;;
            restic-error:*) fail "snapshot: the snapshot of $SOURCE failed verification or transfer (see the log)" ;;
            *) fail "$(explain "$WORK_DIR/backup.err")" ;;
        esac
        _try=2
    done
}

main() {
    STARTED=$(now)
    mkdir -p "$WORK_DIR"
    choose_source || fail "no-source: no healthy replica to take the snapshot from (see the log)"
    _info=$(as_backup "$SOURCE" INFO server) || fail "no-source: $SOURCE stopped answering"
    _name=$(printf '%s\n' "$_info" | field server_name)
    _version=$(printf '%s\n' "$_info" | field "${_name:-redis}_version")
    [ -n "$_version" ] || _version=$(printf '%s\n' "$_info" | field redis_version)
    ENGINE="${_name:-redis}-$_version"
    # The pod's name: the first label of its DNS name (an IP address stays the whole address).
    case $(host_of "$SOURCE") in
        *[a-z]*) SOURCE_POD=$(host_of "$SOURCE"); SOURCE_POD=${SOURCE_POD%%.*} ;;
        *) SOURCE_POD=$SOURCE ;;
    esac
    log "taking the snapshot from the $SOURCE_ROLE $SOURCE ($ENGINE)"
    upload
    _summary=$(grep '"message_type":"summary"' "$WORK_DIR/backup.out")
    SNAPSHOT=$(printf '%s\n' "$_summary" | json_field snapshot_id)
    [ -n "$SNAPSHOT" ] || fail "restic-error: restic reported no snapshot id: $(tail -c 300 "$WORK_DIR/backup.out")"
    _w="$WORK_DIR/stream"
    SHA256=$(cut -d' ' -f1 < "$_w/sha256")
    KEYS=$(sed -n 's/.*\[info\] \([0-9]*\) keys read.*/\1/p' "$_w/check.out")
    SIZE=$(printf '%s\n' "$_summary" | json_field total_bytes_processed)
    RDB=$(tr -dc 'A-Z0-9' < "$_w/header")
    log "streamed $SIZE bytes in $(printf '%s\n' "$_summary" | json_field total_duration | cut -c1-5) s:" \
        "snapshot ${SNAPSHOT%"${SNAPSHOT#????????}"}, $(( $(now) - STARTED )) s into the job"
    rs tag --add "sha256=$SHA256,size=$SIZE,rdb=$RDB,engine=$ENGINE,keys=${KEYS:-0},pod=$SOURCE_POD,role=$SOURCE_ROLE" \
        --add "manifest=1" "$SNAPSHOT" > /dev/null 2> "$WORK_DIR/tag.err" || fail "$(explain "$WORK_DIR/tag.err")"
    # The manifest's snapshot (tagging writes a new one), and the ones without a manifest.
    _all=$(rs snapshots --json --host "$BACKUP_HOST" --tag "cache=$BACKUP_CACHE" 2> "$WORK_DIR/list.err" |
        sed 's/^\[//; s/\]$//; s/},{"time"/}\n{"time"/g') || fail "$(explain "$WORK_DIR/list.err")"
    SNAPSHOT=$(printf '%s\n' "$_all" | grep '"manifest=1"' | grep "\"sha256=$SHA256\"" | tail -n 1 | json_field short_id)
    [ -n "$SNAPSHOT" ] || fail "restic-error: the tagged snapshot is not listed"
    PARTIAL=$(printf '%s\n' "$_all" | grep -v '"manifest=1"' | json_field id | tr '\n' ' ')
    log "backup $SNAPSHOT: sha256 $SHA256, $SIZE bytes, $RDB, $ENGINE, ${KEYS:-0} keys, from $SOURCE_POD ($SOURCE_ROLE)"
    retention || fail "retention: $(explain "$WORK_DIR/forget.out")"
    log "done in $(( $(now) - STARTED )) s"
    push_metrics ok
}

case ${1:-} in
    stream) stream "${2:?stream ADDRESS}" ;;
    "") main ;;
    *) echo "usage: backup.sh [stream ADDRESS]" >&2; exit 2 ;;
esac
