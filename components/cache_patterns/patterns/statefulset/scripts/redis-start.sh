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
        ROLE=primary WHY="nobody knows a primary and this is the designated initial primary"
    fi
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
        # Not promotable until its first sync is done: an empty or stale replica Sentinel promoted
        # mid-sync would become an empty primary. `probe.sh ready` restores the priority once synced.
        echo "replica-priority 0"
    fi
} > "$conf.tmp"
if [ "$ROLE" = replica ]; then
    _priority=$(sed -n 's/^replica-priority \([0-9][0-9]*\)$/\1/p' "$CONF_DIR/redis.conf" | tail -n 1)
    echo "${_priority:-100}" > "$RUN_DIR/replica-priority"
else
    rm -f "$RUN_DIR/replica-priority"
fi
mv "$conf.tmp" "$conf"
exec "$REDIS_SERVER" "$conf"
