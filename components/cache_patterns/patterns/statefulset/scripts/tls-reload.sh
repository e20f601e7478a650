# Certificate reload, in the pod: cert-manager renews the Secret in place and the kubelet swaps the
# mounted files, but Redis, Sentinel and HAProxy read them only at start. Polls the Secret volume
# every TLS_POLL seconds (tls.sh decides what to serve and trust) and makes each process load the
# new files, without a restart where the process can reload:
#
#   tls-reload.sh redis           a container beside Redis: CONFIG SET tls-cert-file tls-key-file
#                                 tls-ca-cert-file (Redis re-reads all three; connections stay up)
#   tls-reload.sh haproxy         a container beside HAProxy: saves the servers' states, then
#                                 `reload` on the master CLI socket (new worker, same listeners)
#   tls-reload.sh sentinel CONF   the Sentinel container itself: runs redis-sentinel CONF as its
#                                 child and restarts it (Sentinel cannot reload TLS), one Sentinel
#                                 at a time across pods: in its own time slot, ordinal-staggered
#                                 (slot = (now / TLS_RESTART_SLOT) mod Sentinels), and only while
#                                 every other Sentinel answers, names the same primary and sees the
#                                 others, so a quorum is always up and no failover starts.
#   tls-reload.sh alive ROLE      the liveness probe of the redis and haproxy loops: each round
#                                 notes the time, and a loop silent for 6 rounds (30 s at least) is dead
#
# Environment: tls.sh's; TLS_POLL (seconds, default 5); redis and sentinel: common.sh's, and
# TLS_RESTART_SLOT (seconds, default 10); haproxy: HAPROXY_MASTER_SOCKET, HAPROXY_STATE_FILE, RUN_DIR.

CONF_DIR=${CONF_DIR:-/etc/cache-patterns/conf}
role=${1:?usage: tls-reload.sh redis|haproxy|sentinel CONF}
TLS_POLL=${TLS_POLL:-5}
TLS_RESTART_SLOT=${TLS_RESTART_SLOT:-10}
if [ "$role" = alive ]; then
    last=$(cat "${TLS_LIVE_DIR:?}/.alive-${2:?usage: tls-reload.sh alive ROLE}" 2> /dev/null || echo 0)
    limit=$(( ${TLS_POLL%.*} * 6 ))
    [ "$limit" -ge 30 ] || limit=30
    [ $(( $(date +%s) - last )) -le "$limit" ]
    exit
fi
if [ "$role" != haproxy ]; then
    . "$CONF_DIR/common.sh"
fi
. "$CONF_DIR/tls.sh"
set +e

heartbeat() {
    date +%s > "$TLS_LIVE_DIR/.alive-$role.tmp" && mv "$TLS_LIVE_DIR/.alive-$role.tmp" "$TLS_LIVE_DIR/.alive-$role"
}

# The redis and haproxy loops are their container's PID 1, which gets no default signal action: a
# SIGTERM they did not trap would be ignored and every deleted pod would wait out its grace period.
# `wait` on a background sleep returns at once when the signal arrives (a foreground sleep would
# delay the trap).
SLEEP_PID=""
stop_loop() {
    kill "$SLEEP_PID" 2> /dev/null
    exit 0
}

pause() {
    sleep "$1" &
    SLEEP_PID=$!
    wait "$SLEEP_PID"
}

wait_for_files() {
    while [ ! -s "$TLS_LIVE_DIR/generation" ]; do
        heartbeat
        pause 1
    done
}

# -- Redis: CONFIG SET ------------------------------------------------------------------------
reload_redis() {
    trap stop_loop TERM INT
    self="127.0.0.1:$(port_of "$SELF_ADDRESS")"
    wait_for_files
    applied=""
    failed=""
    while :; do
        heartbeat
        tls_refresh
        gen=$(tls_generation)
        if [ "$gen" != "$applied" ]; then
            if reply=$(CLI_ERRORS=yes cli "$self" CONFIG SET tls-cert-file "$TLS_LIVE_DIR/tls.crt" \
                    tls-key-file "$TLS_LIVE_DIR/tls.key" tls-ca-cert-file "$TLS_LIVE_DIR/ca.crt") &&
                [ "$reply" = OK ]; then
                [ -z "$applied" ] || tls_log "Redis loaded TLS generation $gen"
                applied=$gen
                failed=""
            elif [ "$failed" != "$gen" ]; then
                # Redis is not up yet, or refused the files (it then keeps the previous ones).
                tls_log "CONFIG SET of TLS generation $gen failed (${reply:-no answer}); retrying"
                failed=$gen
            fi
        fi
        pause "$TLS_POLL"
    done
}

# -- HAProxy: reload through the master CLI ---------------------------------------------------
master_cli() {
    printf '%s\n' "$1" | timeout 10 socat -t 5 stdio "unix-connect:$HAPROXY_MASTER_SOCKET"
}

reload_haproxy() {
    trap stop_loop TERM INT
    wait_for_files
    # The generation HAProxy started with (haproxy-start.sh notes it).
    applied=$(cat "$RUN_DIR/haproxy.generation" 2> /dev/null || echo "")
    while :; do
        heartbeat
        tls_refresh
        gen=$(tls_generation)
        if [ "$gen" != "$applied" ]; then
            # A new worker starts with every server up until its first check; the saved states keep
            # writes on the elected primary (load-server-state-from-file in haproxy.cfg).
            if master_cli "@1 show servers state" > "$HAPROXY_STATE_FILE.tmp" &&
                mv "$HAPROXY_STATE_FILE.tmp" "$HAPROXY_STATE_FILE" &&
                reply=$(master_cli reload) &&
                case $reply in *Success=0*) false ;; *) true ;; esac; then
                tls_log "HAProxy reloaded for TLS generation $gen"
                applied=$gen
                echo "$gen" > "$RUN_DIR/haproxy.generation"
            else
                tls_log "HAProxy reload for TLS generation $gen failed: ${reply:-no answer}; retrying"
            fi
        fi
        pause "$TLS_POLL"
    done
}

# -- Sentinel: supervised restarts, one Sentinel at a time ------------------------------------
field_after() {
    # The value after line NAME in a flat `redis-cli` reply of field/value lines.
    sed -n "/^$1\$/{n;p;q;}"
}

my_slot() {
    _n=$(count_words "$SENTINELS")
    _t=$(now)
    # The first half of this Sentinel's slot: a restart (well under a second, plus a few seconds to
    # see its peers again) ends before the next Sentinel's slot begins.
    [ $(( (_t / TLS_RESTART_SLOT) % _n )) -eq "$ORDINAL" ] &&
        [ $(( _t % TLS_RESTART_SLOT )) -lt $(( (TLS_RESTART_SLOT + 1) / 2 )) ]
}

# Sets WHY and fails unless every other Sentinel answers and names the primary this one names,
# this one sees every other Sentinel, and the primary is healthy (no s_down, o_down, failover).
peers_healthy() {
    _r=$(cli "$self" SENTINEL get-master-addr-by-name "$MASTER_NAME") || { WHY="this Sentinel does not answer"; return 1; }
    _mine=$(printf '%s\n' "$_r" | tr '\n' ' ')
    for _s in $SENTINELS; do
        [ "$_s" = "$SELF_ADDRESS" ] && continue
        _r=$(cli "$_s" SENTINEL get-master-addr-by-name "$MASTER_NAME") || { WHY="Sentinel $_s does not answer"; return 1; }
        _theirs=$(printf '%s\n' "$_r" | tr '\n' ' ')
        [ "$_theirs" = "$_mine" ] || { WHY="Sentinel $_s names $_theirs, this one $_mine"; return 1; }
    done
    _state=$(cli "$self" SENTINEL MASTER "$MASTER_NAME") || { WHY="SENTINEL MASTER failed"; return 1; }
    _flags=$(printf '%s\n' "$_state" | field_after flags)
    [ "$_flags" = master ] || { WHY="the primary is flagged $_flags"; return 1; }
    _others=$(printf '%s\n' "$_state" | field_after num-other-sentinels)
    [ "${_others:-0}" -ge $(( $(count_words "$SENTINELS") - 1 )) ] ||
        { WHY="this Sentinel sees ${_others:-0} other Sentinels"; return 1; }
}

start_sentinel() {
    applied=$(tls_generation)
    "$REDIS_SENTINEL" "$conf" &
    SENTINEL_PID=$!
}

stop_sentinel() {
    kill -TERM "$SENTINEL_PID" 2> /dev/null
    wait "$SENTINEL_PID"
}

on_signal() {
    kill "$SLEEP_PID" 2> /dev/null
    stop_sentinel
    exit 0
}

supervise_sentinel() {
    conf=${2:?usage: tls-reload.sh sentinel CONF}
    REDIS_SENTINEL=${REDIS_SENTINEL:-$(command -v valkey-sentinel || command -v redis-sentinel)}
    POD=${POD_NAME:-${HOSTNAME:-}}
    ORDINAL=${ORDINAL:-${POD##*-}}
    self="127.0.0.1:$(port_of "$SELF_ADDRESS")"
    SLEEP_PID=""
    # While a restart waits for its slot, look every second (or every poll, if that is shorter): the
    # first half of a slot must not slip by between two looks.
    case $TLS_POLL in
        0.*) pending=$TLS_POLL ;;
        *) pending=1 ;;
    esac
    trap on_signal TERM INT
    start_sentinel
    waiting=""
    while :; do
        # `wait` returns at once when a signal arrives; a foreground sleep would delay the trap.
        if [ "$(tls_generation)" != "$applied" ]; then sleep "$pending" & else sleep "$TLS_POLL" & fi
        SLEEP_PID=$!
        wait "$SLEEP_PID"
        if ! kill -0 "$SENTINEL_PID" 2> /dev/null; then
            wait "$SENTINEL_PID"
            status=$?
            tls_log "redis-sentinel exited ($status)"
            exit "$status"
        fi
        tls_refresh
        gen=$(tls_generation)
        [ "$gen" != "$applied" ] || continue
        my_slot || continue
        if ! peers_healthy; then
            [ "$waiting" = "$WHY" ] || tls_log "TLS generation $gen waits before restarting Sentinel: $WHY"
            waiting=$WHY
            continue
        fi
        waiting=""
        # Asking the peers took time: still this Sentinel's slot?
        my_slot || continue
        tls_log "restarting Sentinel to load TLS generation $gen"
        stop_sentinel
        start_sentinel
        _until=$(( $(now) + 30 ))
        until [ "$(cli "$self" PING)" = PONG ] || [ "$(now)" -ge "$_until" ]; do
            sleep 0.1
        done
        tls_log "Sentinel restarted with TLS generation $gen"
    done
}

case $role in
    redis) reload_redis ;;
    haproxy) reload_haproxy ;;
    sentinel) supervise_sentinel "$@" ;;
    *) echo "usage: tls-reload.sh redis|haproxy|sentinel CONF" >&2; exit 2 ;;
esac
