# preStop of a Redis member: if it is the primary, hand over to a replica before the kubelet stops
# it, so no acknowledged write is lost and clients see a failover of ~2 s instead of down-after.
#
#   1. CLIENT PAUSE WRITE: writes wait (they are not refused), so the offset stops moving;
#   2. wait until every online replica has acknowledged that offset (asking each for it at once);
#   3. SENTINEL FAILOVER, then wait until that Sentinel names the promoted replica;
#   4. REPLICAOF that primary (Sentinel would only do so ~8 s later), then unpause: writes that
#      waited now get READONLY and clients reconnect to the new primary.
# Bounded by PRESTOP_TIMEOUT (default 30 s); on any failure it unpauses and returns, and Sentinel's
# ordinary failover after down-after takes over. Always exits 0: the pod stops either way.

CONF_DIR=${CONF_DIR:-/etc/cache-patterns/conf}
. "$CONF_DIR/common.sh"

PRESTOP_TIMEOUT=${PRESTOP_TIMEOUT:-30}
deadline=$(( $(now) + PRESTOP_TIMEOUT ))
self=$SELF_ADDRESS

info=$(cli "$self" INFO replication) || exit 0
[ "$(printf '%s\n' "$info" | field role)" = master ] || exit 0
if [ "$(printf '%s\n' "$info" | field connected_slaves)" = 0 ]; then
    log "primary without replicas: nothing to hand over to"
    exit 0
fi

give_up() {
    log "$1; unpausing and leaving the failover to Sentinel"
    cli "$self" CLIENT UNPAUSE > /dev/null || true
    exit 0
}

log "primary: pausing writes and handing over"
cli "$self" CLIENT PAUSE "$((PRESTOP_TIMEOUT * 1000))" WRITE > /dev/null || give_up "CLIENT PAUSE failed"

# Every online replica (one still loading its first copy cannot be promoted) must acknowledge the
# final offset. Replicas acknowledge once a second on their own; REPLCONF GETACK makes one acknowledge
# at once. The primary sends that itself for WAIT, but not while writes are paused (it would move the
# offset), so the script asks each replica. GETACK has no reply: `redis-cli --pipe` sends it followed
# by an ECHO of its own and returns once that comes back. Should a server ignore it, the
# once-a-second acknowledgements still come, only later.
getack() {
    _addr=$1
    if [ -n "${TLS_CA_FILE:-}" ]; then
        set -- --tls --cacert "$TLS_CA_FILE"
    else
        set --
    fi
    printf '*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n' |
        timeout "$CLI_TIMEOUT" "$REDIS_CLI" "$@" -h "$(host_of "$_addr")" -p "$(port_of "$_addr")" --pipe \
        > /dev/null 2>&1 || true
}

asked=no
while :; do
    info=$(cli "$self" INFO replication) || give_up "cannot read INFO"
    target=$(printf '%s\n' "$info" | field master_repl_offset)
    offsets=$(printf '%s\n' "$info" | sed -n 's/^slave[0-9]*:.*state=online,offset=\([0-9]*\).*/\1/p')
    [ -n "$offsets" ] || give_up "no replica is online"
    behind=$(printf '%s\n' "$offsets" | grep -vcx "$target" || true)
    [ "$behind" = 0 ] && break
    [ "$(now)" -lt "$deadline" ] || give_up "replicas did not catch up"
    if [ "$asked" = no ]; then
        asked=yes
        for replica in $(printf '%s\n' "$info" |
            sed -n 's/^slave[0-9]*:ip=\([^,]*\),port=\([0-9]*\),state=online,.*/\1:\2/p'); do
            getack "$replica" &
        done
        wait
        continue
    fi
    sleep 0.05
done

leader=""
while [ -z "$leader" ]; do
    for s in $SENTINELS; do
        # INPROG: that Sentinel is already failing over (an earlier attempt of this script); a
        # second Sentinel must not be asked to start a competing one.
        if reply=$(CLI_ERRORS=yes cli "$s" SENTINEL FAILOVER "$MASTER_NAME") ||
            case $reply in *INPROG*) true ;; *) false ;; esac; then
            leader=$s
            log "Sentinel $s is failing over"
            break
        fi
    done
    [ -n "$leader" ] && break
    [ "$(now)" -lt "$deadline" ] || give_up "no Sentinel accepted SENTINEL FAILOVER"
    sleep 0.5
done

# The Sentinel running the failover names the new primary once it has promoted it; the others
# follow within a hello period (2 s), which need not be waited for.
while :; do
    reply=$(cli "$leader" SENTINEL get-master-addr-by-name "$MASTER_NAME") || reply=""
    new="$(printf '%s\n' "$reply" | sed -n 1p):$(printf '%s\n' "$reply" | sed -n 2p)"
    if [ "$new" != ":" ] && [ "$new" != "$self" ] &&
        [ "$(cli "$new" INFO replication | field role)" = master ]; then
        break
    fi
    [ "$(now)" -lt "$deadline" ] || give_up "no new primary named in time"
    sleep 0.1
done
cli "$self" REPLICAOF "$(host_of "$new")" "$(port_of "$new")" > /dev/null || true
cli "$self" CLIENT UNPAUSE > /dev/null || true
log "handed over to $new"
