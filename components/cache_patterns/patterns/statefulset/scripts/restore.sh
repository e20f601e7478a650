# Restore of a StatefulSet cache from its restic repository. Runs in the cache's engine image with
# restic copied in (TOOLS_DIR).
#
#   restore.sh init          the Redis pods' init container: restores RESTORE_FROM into this pod's data
#                            dir when, and only when, the cache holds no data anywhere (created, or
#                            every pod and Sentinel came back empty) and this is ordinal 0, the
#                            designated initial primary; otherwise it leaves everything alone
#   restore.sh verify [ID]   downloads a backup and checks it exactly as a restore would, writing
#                            nothing (the first step of restoring an existing cache: docs/backup.md)
#   restore.sh list          the complete backups of the cache, oldest first
#
# A restore refuses, before anything is written to the data dir, a backup without a manifest, one
# whose RDB version this engine cannot load (naming both versions), and once downloaded (into a
# scratch dir beside the data) one whose sha256, size or key count differs from its manifest or
# that valkey-check-rdb does not read as valid. Only then is the file moved into place: dump.rdb,
# or with PERSISTENCE=aof the base of a new append-only file (Redis ignores dump.rdb then).
#
# Environment (besides common.sh's and restic.sh's): RESTORE_FROM (latest | a snapshot id),
# DATA_DIR, PERSISTENCE (none | rdb | aof), ORDINAL (default: the suffix of POD_NAME), REDIS_SERVER.

CONF_DIR=${CONF_DIR:-/etc/cache-patterns/conf}
. "$CONF_DIR/common.sh"
DATA_DIR=${DATA_DIR:-/data}
# Scratch space: beside the data for a restore (the download is as large as the data set, and a
# rename moves it into place); the pod's small in-memory run dir for the others.
case ${1:-} in
    init) WORK_DIR=${WORK_DIR:-$DATA_DIR/.restore} ;;
    *) WORK_DIR=${WORK_DIR:-${RUN_DIR:-/run/cache-patterns}/restore} ;;
esac
. "$CONF_DIR/restic.sh"

REDIS_SERVER=${REDIS_SERVER:-$(command -v valkey-server || command -v redis-server)}
CHECK_RDB=${CHECK_RDB:-$(command -v valkey-check-rdb || command -v redis-check-rdb)}
RESTORE_FROM=${RESTORE_FROM:-latest}
PERSISTENCE=${PERSISTENCE:-none}
POD=${POD_NAME:-${HOSTNAME:-}}
ORDINAL=${ORDINAL:-${POD##*-}}

refuse() {
    log "restore refused: $1"
    rm -rf "$WORK_DIR"
    exit 1
}

# has_data: this server's data dir holds a data set (an RDB or an append-only file).
has_data() {
    [ -s "$DATA_DIR/dump.rdb" ] || [ -d "$DATA_DIR/appendonlydir" ] || [ -s "$DATA_DIR/appendonly.aof" ]
}

# engine_loads HEADER: this engine's check-rdb accepts an RDB that starts with HEADER (REDIS0011,
# VALKEY080): a file of the header, the EOF opcode and a zero checksum (no check), which every
# engine reads as an empty data set if it knows the version.
engine_loads() {
    printf '%s\377\0\0\0\0\0\0\0\0' "$1" > "$WORK_DIR/probe.rdb"
    "$CHECK_RDB" "$WORK_DIR/probe.rdb" > "$WORK_DIR/probe.out" 2>&1
}

# newest_loadable HEADER: the newest REDISnnnn format below HEADER's this engine loads.
newest_loadable() {
    _n=$(printf '%s' "$1" | tr -dc '0-9' | sed 's/^0*//')
    case $1 in
        REDIS*) ;;
        *) _n=13 ;;   # another signature (Valkey 9's VALKEY080): look below the newest REDIS format
    esac
    while [ "${_n:-0}" -gt 1 ]; do
        _n=$((_n - 1))
        _h=$(printf 'REDIS%04d' "$_n")
        if engine_loads "$_h"; then
            printf '%s' "$_h"
            return 0
        fi
    done
    printf 'none'
}

# select_backup FROM: MANIFEST (the snapshot object) of FROM, or refuses.
select_backup() {
    if [ "$1" = latest ]; then
        MANIFEST=$(manifests --latest 1 2> "$WORK_DIR/list.err" | tail -n 1) || refuse "$(explain "$WORK_DIR/list.err")"
        [ -n "$MANIFEST" ] || refuse "no complete backup of cache $BACKUP_CACHE in $RESTIC_REPOSITORY"
        return 0
    fi
    _all=$(rs snapshots --json --host "$BACKUP_HOST" --tag "cache=$BACKUP_CACHE" 2> "$WORK_DIR/list.err") ||
        refuse "$(explain "$WORK_DIR/list.err")"
    MANIFEST=$(printf '%s\n' "$_all" | sed 's/^\[//; s/\]$//; s/},{"time"/}\n{"time"/g' |
        grep -e "\"id\":\"$1" -e "\"short_id\":\"$1\"" | head -n 1)
    [ -n "$MANIFEST" ] || refuse "no backup $1 of cache $BACKUP_CACHE in $RESTIC_REPOSITORY (restore.sh list shows them)"
    case $MANIFEST in
        *'"manifest=1"'*) ;;
        *) refuse "backup $1 has no manifest: its verification never finished, so it is not a restore source" ;;
    esac
}

# check_manifest: the backup's RDB version is one this engine loads (before any download).
check_manifest() {
    TAGS=$(printf '%s\n' "$MANIFEST" | tags_of)
    ID=$(printf '%s\n' "$MANIFEST" | json_field short_id)
    WANT_SHA=$(printf '%s\n' "$TAGS" | tag sha256)
    WANT_SIZE=$(printf '%s\n' "$TAGS" | tag size)
    WANT_KEYS=$(printf '%s\n' "$TAGS" | tag keys)
    RDB=$(printf '%s\n' "$TAGS" | tag rdb)
    FROM_ENGINE=$(printf '%s\n' "$TAGS" | tag engine)
    ENGINE=$("$REDIS_SERVER" --version | sed -n 's/^\([A-Za-z]*\) server v=\([^ ]*\).*/\1 \2/p')
    [ -n "$WANT_SHA" ] && [ -n "$WANT_SIZE" ] && [ -n "$RDB" ] || refuse "backup $ID: its manifest is incomplete ($TAGS)"
    if ! engine_loads "$RDB"; then
        refuse "backup $ID is RDB format $RDB (written by $FROM_ENGINE); this engine, $ENGINE, cannot load it (the newest format it loads is $(newest_loadable "$RDB")): restore into an engine at least as new as $FROM_ENGINE"
    fi
    log "backup $ID: $RDB from $FROM_ENGINE, $WANT_SIZE bytes, $WANT_KEYS keys, sha256 $WANT_SHA ($ENGINE loads it)"
}

# download TARGET: the backup's RDB into TARGET (a file, or /dev/null), checked against the manifest.
download() {
    _t=$1
    rm -f "$WORK_DIR/sha" "$WORK_DIR/check"
    mkfifo "$WORK_DIR/sha" "$WORK_DIR/check"
    sha256sum < "$WORK_DIR/sha" > "$WORK_DIR/sha256" &
    _sha_pid=$!
    "$CHECK_RDB" "$WORK_DIR/check" > "$WORK_DIR/check.out" 2>&1 &
    _check_pid=$!
    {
        rs dump "$ID" /dump.rdb 2> "$WORK_DIR/dump.err"
        echo $? > "$WORK_DIR/dump.rc"
    } | tee "$WORK_DIR/sha" "$WORK_DIR/check" > "$_t"
    wait "$_sha_pid"
    _check_rc=0
    wait "$_check_pid" || _check_rc=$?
    [ "$(cat "$WORK_DIR/dump.rc")" = 0 ] || refuse "backup $ID cannot be read: $(explain "$WORK_DIR/dump.err")"
    _sha=$(cut -d' ' -f1 < "$WORK_DIR/sha256")
    [ "$_sha" = "$WANT_SHA" ] || refuse "backup $ID: sha256 $_sha, the manifest says $WANT_SHA"
    if [ "$_t" != /dev/null ]; then
        _size=$(wc -c < "$_t" | tr -d ' ')
        [ "$_size" = "$WANT_SIZE" ] || refuse "backup $ID: $_size bytes, the manifest says $WANT_SIZE"
    fi
    if [ "$_check_rc" != 0 ] || ! grep -q 'RDB looks OK' "$WORK_DIR/check.out"; then
        refuse "backup $ID is not an RDB $ENGINE loads: $(sed -n '/RDB ERROR DETECTED/{n;p;n;p;}' "$WORK_DIR/check.out" | tr '\n' ' ')"
    fi
    _keys=$(sed -n 's/.*\[info\] \([0-9]*\) keys read.*/\1/p' "$WORK_DIR/check.out")
    [ "$_keys" = "$WANT_KEYS" ] || refuse "backup $ID: $_keys keys, the manifest says $WANT_KEYS"
}

# place FILE: the verified RDB becomes this server's data set (a rename within the data volume).
place() {
    if [ "$PERSISTENCE" = aof ]; then
        _d="$WORK_DIR/appendonlydir"
        mkdir -p "$_d"
        mv "$1" "$_d/appendonly.aof.1.base.rdb"
        printf 'file appendonly.aof.1.base.rdb seq 1 type b\n' > "$_d/appendonly.aof.manifest"
        mv "$_d" "$DATA_DIR/appendonlydir"
    else
        mv "$1" "$DATA_DIR/dump.rdb"
    fi
    printf '%s %s %s\n' "$ID" "$WANT_SHA" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$DATA_DIR/restored-from"
}

# why_not_restore: empty when the cache holds no data anywhere and this pod restores; else why not.
why_not_restore() {
    if has_data; then
        echo "this server has its own data set in $DATA_DIR"
        return
    fi
    ask_sentinels
    if [ "$SENTINEL_NAMED" = yes ]; then
        echo "a Sentinel names a primary (${SENTINEL_PRIMARY:-$SENTINEL_UNANIMOUS}): the cache exists and this server joins it"
        return
    fi
    ask_peers
    if [ -n "$PEER_PRIMARY" ] || [ "$PEER_HISTORY" = yes ]; then
        echo "a peer holds data or is a primary (${PEER_PRIMARY:-a replica with replicated data}): this server joins it"
        return
    fi
    if [ "$ORDINAL" != 0 ]; then
        echo "ordinal $ORDINAL starts empty and replicates from the restored ordinal 0"
    fi
}

prepare() {
    rm -rf "$WORK_DIR"
    mkdir -p "$WORK_DIR"
    repository_ready open || refuse "$REPO_PROBLEM"
}

case ${1:-} in
    init)
        why=$(why_not_restore)
        if [ -n "$why" ]; then
            log "no restore: $why"
            exit 0
        fi
        log "the cache holds no data anywhere: restoring backup $RESTORE_FROM of $BACKUP_CACHE"
        prepare
        select_backup "$RESTORE_FROM"
        check_manifest
        download "$WORK_DIR/dump.rdb"
        place "$WORK_DIR/dump.rdb"
        rm -rf "$WORK_DIR"
        log "restored backup $ID ($WANT_KEYS keys): this server starts as the primary with it" ;;
    verify)
        prepare
        select_backup "${2:-$RESTORE_FROM}"
        check_manifest
        download /dev/null
        rm -rf "$WORK_DIR"
        log "backup $ID verified: restic read it, sha256, key count and check-rdb match its manifest" ;;
    list)
        prepare
        manifests | while IFS= read -r m; do
            printf '%s %s %s\n' "$(printf '%s\n' "$m" | json_field short_id)" "$(printf '%s\n' "$m" | json_field time)" \
                "$(printf '%s\n' "$m" | tags_of | grep -v '^cache' | tr '\n' ' ')"
        done
        rm -rf "$WORK_DIR" ;;
    *)
        echo "usage: restore.sh init | verify [ID] | list" >&2
        exit 2 ;;
esac
