# Start-up of a Redis member: find the current primary before deciding the role, so a restarted
# pod never comes back as a second (or an empty) primary. Ends by exec'ing redis-server.
#
# Order of authority: a majority of the Sentinels; else the one peer that reports role:master;
# else what every answering Sentinel says; else, if nobody names any primary, the designated
# initial primary (ordinal 0) starts as primary and the others wait for it.
#
# Environment (besides common.sh): CONF_DIR (read-only templates), RUN_DIR (writable, for the
# runtime config holding the password), ORDINAL (default: the suffix of POD_NAME or HOSTNAME),
# DISCOVERY_TIMEOUT (seconds to find a primary before failing so the kubelet restarts the
# container), FAILOVER_WAIT (seconds to wait for Sentinel to promote a replica when it still names
# this restarted server), ACL_PASSWORD_DIR (with acl-users.conf: the users' passwords), REDIS_SERVER;
# with TLS, tls.sh's (the certificate files Redis loads are TLS_LIVE_DIR's, kept by tls-reload.sh).
#
# PROTECT_DATA=yes (caches with backups or a restore: their data is meant to outlive any pod) trades
# availability for the data where the two conflict:
#   - a server never becomes primary when that would make a peer throw away data (data_at_risk: a
#     promotable replica with replicated data, or any peer with data while this server has none), and
#     no failover happened: not as ordinal 0 when nobody names a primary, not after FAILOVER_WAIT. It
#     exits (the kubelet retries) naming that replica, instead of coming back empty or with an older
#     RDB and making the replicas resync from it (redis/redis#7046, kubeblocks#10753);
#   - every server starts with replica-priority 0, so Sentinel never promotes it, until it has
#     completed a sync from its primary as a replica (probe.sh ready then sets the default back):
#     a new or restarted replica still loading its first copy is never promoted (spotahome#205).

CONF_DIR=${CONF_DIR:-/etc/cache-patterns/conf}
. "$CONF_DIR/common.sh"
if [ -n "${TLS_SECRET_DIR:-}" ]; then
    . "$CONF_DIR/tls.sh"
    tls_init || exit 1
fi

RUN_DIR=${RUN_DIR:-/run/cache-patterns}
REDIS_SERVER=${REDIS_SERVER:-$(command -v valkey-server || command -v redis-server)}
POD=${POD_NAME:-${HOSTNAME:-}}
ORDINAL=${ORDINAL:-${POD##*-}}
DISCOVERY_TIMEOUT=${DISCOVERY_TIMEOUT:-60}
FAILOVER_WAIT=${FAILOVER_WAIT:-70}

# ACL users: acl-users.conf (ConfigMap) has `user <name> <rules>` lines without passwords; each
# gets `on >password` appended, the password read from ACL_PASSWORD_DIR/<name> (the Secret). The
# password comes last, so no rule can follow it and switch the user off or drop the password.
acl_users() {
    if [ -z "$PASSWORD" ]; then
        log "ACL users need auth: no password in PASSWORD_FILE"
        exit 1
    fi
    while IFS= read -r _line || [ -n "$_line" ]; do
        case $_line in
            "user "*) ;;
            *) continue ;;
        esac
        _name=${_line#user }
        _name=${_name%% *}
        _file="${ACL_PASSWORD_DIR:?is not set, but $CONF_DIR/acl-users.conf names users}/$_name"
        if [ ! -s "$_file" ]; then
            log "no password for ACL user $_name in $_file"
            exit 1
        fi
        _pw=$(cat "$_file")
        # One word in the config line, as common.sh requires of PASSWORD.
        case $_pw in
            *'"'* | *'\'* | *' '* | *'	'* | *'
'*)
                log "the password in $_file contains a quote, backslash or whitespace"
                exit 1 ;;
        esac
        printf '%s on >%s\n' "$_line" "$_pw"
    done < "$CONF_DIR/acl-users.conf"
}

# Read before discovery, so a missing password fails at once.
ACL_LINES=""
if [ -f "$CONF_DIR/acl-users.conf" ]; then
    ACL_LINES=$(acl_users)
fi

ROLE=""
PRIMARY=""

decide() {
    ask_sentinels
    if [ -n "$SENTINEL_PRIMARY" ] && [ "$SENTINEL_PRIMARY" != "$SELF_ADDRESS" ]; then
        ROLE=replica PRIMARY=$SENTINEL_PRIMARY WHY="a majority of Sentinels name it"
        return 0
    fi
    ask_peers
    if [ "$SENTINEL_PRIMARY" = "$SELF_ADDRESS" ]; then
        if [ "$PEER_HISTORY" = yes ] || [ -n "$PEER_PRIMARY" ]; then
            ROLE=wait
        else
            ROLE=primary WHY="the Sentinels name this server and no peer holds replicated data"
        fi
        return 0
    fi
    case $PEER_PRIMARY in
        conflict)
            log "several peers report role:master; waiting for Sentinel to settle it"
            return 0 ;;
        ?*)
            ROLE=replica PRIMARY=$PEER_PRIMARY WHY="it is the only peer reporting role:master"
            return 0 ;;
    esac
    if [ -n "$SENTINEL_UNANIMOUS" ]; then
        if [ "$SENTINEL_UNANIMOUS" = "$SELF_ADDRESS" ]; then
            if [ "$PEER_HISTORY" = no ]; then
                ROLE=primary WHY="the answering Sentinels name this server and no peer holds data"
            else
                ROLE=wait
            fi
        else
            ROLE=replica PRIMARY=$SENTINEL_UNANIMOUS WHY="every answering Sentinel names it"
        fi
        return 0
    fi
    if [ "$SENTINEL_NAMED" = no ] && [ "$ORDINAL" = 0 ]; then
        if [ "${PROTECT_DATA:-no}" = yes ] && data_at_risk; then
            log "nobody names a primary, and $AT_RISK would lose data to this server: not starting as primary"
            return 0
        fi
        ROLE=primary WHY="nobody knows a primary and this is the designated initial primary"
    fi
}

# data_at_risk: starting as primary would make a reachable peer throw away data: a promotable replica
# (replica-priority not 0: it completed a sync in its current life, so it holds the newest copy) with
# replicated data, or, when this server has no data set of its own at all, any peer holding data.
# Replicas that restarted too (priority 0, data from their own RDB) are no newer than this server's
# own data set: a whole cache coming back from its volumes starts as before. Sets AT_RISK.
data_at_risk() {
    AT_RISK=""
    _dir=$(sed -n 's/^dir //p' "$CONF_DIR/redis.conf" | tr -d '"')
    _mine=no
    if [ -s "$_dir/dump.rdb" ] || [ -d "$_dir/appendonlydir" ]; then
        _mine=yes
    fi
    for _p in $PEERS; do
        [ "$_p" = "$SELF_ADDRESS" ] && continue
        _info=$(cli "$_p" INFO replication) || continue
        [ "$(printf '%s\n' "$_info" | field role)" = slave ] || continue
        _off=$(printf '%s\n' "$_info" | field master_repl_offset)
        _prio=$(printf '%s\n' "$_info" | field slave_priority)
        if [ "${_off:-0}" -gt 0 ] && [ "${_prio:-100}" != 0 ]; then
            AT_RISK="$_p (offset $_off, a promotable replica)"
            return 0
        fi
        if [ "$_mine" = no ]; then
            _keys=$(cli "$_p" INFO keyspace | grep -c '^db[0-9]*:keys=[1-9]' || true)
            if [ "${_off:-0}" -gt 0 ] || [ "${_keys:-0}" -gt 0 ]; then
                AT_RISK="$_p (it holds data, this server has none)"
                return 0
            fi
        fi
    done
    return 1
}

# Sentinel still names this server, which was restarted, while the replicas hold data it lost or
# may lack: staying down lets Sentinel promote the best replica, after which this one rejoins as
# its replica. Bounded: if no failover happens, Sentinel's choice (this server) stands.
wait_for_failover() {
    log "the Sentinels still name this restarted server; waiting up to ${FAILOVER_WAIT}s for a failover"
    _until=$(( $(now) + FAILOVER_WAIT ))
    while [ "$(now)" -lt "$_until" ]; do
        sleep 1
        ask_sentinels
        if [ -n "$SENTINEL_PRIMARY" ] && [ "$SENTINEL_PRIMARY" != "$SELF_ADDRESS" ]; then
            ROLE=replica PRIMARY=$SENTINEL_PRIMARY WHY="Sentinel promoted it while this server was down"
            return 0
        fi
    done
    if [ "${PROTECT_DATA:-no}" = yes ] && data_at_risk; then
        log "no failover within ${FAILOVER_WAIT}s, and $AT_RISK holds data this restarted server lacks or" \
            "has older: refusing to start as primary (the replicas would resync from it and lose it)." \
            "Promote that replica (docs/backup.md, 'A primary that cannot come back'); exiting so the kubelet retries"
        exit 1
    fi
    ROLE=primary WHY="no failover within ${FAILOVER_WAIT}s and the Sentinels still name this server"
}

deadline=$(( $(now) + DISCOVERY_TIMEOUT ))
while :; do
    WHY=""
    decide
    if [ "$ROLE" = wait ]; then
        wait_for_failover
    fi
    [ -n "$ROLE" ] && break
    if [ "$(now)" -ge "$deadline" ]; then
        log "no primary found within ${DISCOVERY_TIMEOUT}s; exiting so the kubelet retries"
        exit 1
    fi
    sleep 1
done

if [ "$ROLE" = primary ]; then
    log "starting as primary: $WHY"
else
    log "starting as replica of $PRIMARY: $WHY"
fi

umask 077
mkdir -p "$RUN_DIR"
conf="$RUN_DIR/redis.conf"
{
    cat "$CONF_DIR/redis.conf"
    echo "# Added by redis-start.sh: per-pod and secret settings, never in the ConfigMap."
    echo "replica-announce-ip $(host_of "$SELF_ADDRESS")"
    echo "replica-announce-port $(port_of "$SELF_ADDRESS")"
    if [ -n "$PASSWORD" ]; then
        echo "requirepass \"$PASSWORD\""
        echo "masterauth \"$PASSWORD\""
    fi
    if [ -n "$ACL_LINES" ]; then
        printf '%s\n' "$ACL_LINES"
    fi
    if [ "$ROLE" = replica ]; then
        echo "replicaof $(host_of "$PRIMARY") $(port_of "$PRIMARY")"
    fi
    if [ "$ROLE" = replica ] || [ "${PROTECT_DATA:-no}" = yes ]; then
        # Not promotable until its first sync is done: an empty or stale replica Sentinel promoted
        # mid-sync would become an empty primary. `probe.sh ready` restores the priority once synced.
        # With PROTECT_DATA a server starting as primary is held too, until it has synced as a
        # replica: data_at_risk counts a promotable replica as one holding the newest copy.
        echo "replica-priority 0"
    fi
} > "$conf.tmp"
if [ "$ROLE" = replica ] || [ "${PROTECT_DATA:-no}" = yes ]; then
    _priority=$(sed -n 's/^replica-priority \([0-9][0-9]*\)$/\1/p' "$CONF_DIR/redis.conf" | tail -n 1)
    echo "${_priority:-100}" > "$RUN_DIR/replica-priority"
else
    rm -f "$RUN_DIR/replica-priority"
fi
mv "$conf.tmp" "$conf"
exec "$REDIS_SERVER" "$conf"
