# Start-up of a Sentinel: copy the read-only sentinel.conf into RUN_DIR (Sentinel rewrites its own
# config), point the monitor line at the current primary, add the announced address and the
# password, and exec redis-sentinel.
#
# The current primary is what a majority of the other Sentinels name; else the one peer reporting
# role:master; else what every answering Sentinel names; else the template's own monitor line (the
# designated initial primary, ordinal 0). A container restart in the same pod keeps the Sentinel's
# id and epochs from its rewritten file, so it neither appears as a new Sentinel nor votes twice in
# an epoch it already voted in. A new pod (empty volume) gets a new id; the other Sentinels drop
# the old id when the new one announces itself from the same address.
#
# Environment (besides common.sh): CONF_DIR, RUN_DIR, DISCOVERY_TIMEOUT (seconds spent asking before
# falling back to the template), REDIS_SENTINEL; with TLS, tls.sh's and tls-reload.sh's: Sentinel reads
# its certificate files only at start, so this shell then stays, runs Sentinel as its child and
# restarts it when they change (tls-reload.sh sentinel).

CONF_DIR=${CONF_DIR:-/etc/cache-patterns/conf}
. "$CONF_DIR/common.sh"
if [ -n "${TLS_SECRET_DIR:-}" ]; then
    . "$CONF_DIR/tls.sh"
    tls_refresh || exit 1
fi

RUN_DIR=${RUN_DIR:-/run/cache-patterns}
REDIS_SENTINEL=${REDIS_SENTINEL:-$(command -v valkey-sentinel || command -v redis-sentinel)}
DISCOVERY_TIMEOUT=${DISCOVERY_TIMEOUT:-10}
template="$CONF_DIR/sentinel.conf"

# shellcheck disable=SC2086
set -- $(grep '^sentinel monitor ' "$template")
if [ "$3" != "$MASTER_NAME" ]; then
    log "MASTER_NAME=$MASTER_NAME but $template monitors $3"
    exit 1
fi
primary="$4:$5"
why="the template's designated initial primary"

deadline=$(( $(now) + DISCOVERY_TIMEOUT ))
while :; do
    ask_sentinels
    if [ -n "$SENTINEL_PRIMARY" ]; then
        primary=$SENTINEL_PRIMARY why="a majority of Sentinels name it"
        break
    fi
    ask_peers
    case $PEER_PRIMARY in
        conflict) ;;
        ?*) primary=$PEER_PRIMARY why="it is the only server reporting role:master"
            break ;;
    esac
    if [ -n "$SENTINEL_UNANIMOUS" ]; then
        primary=$SENTINEL_UNANIMOUS why="every answering Sentinel names it"
        break
    fi
    if [ "$SENTINEL_NAMED" = no ] && [ "$PEER_PRIMARY" = "" ]; then
        break
    fi
    if [ "$(now)" -ge "$deadline" ]; then
        break
    fi
    sleep 1
done
log "monitoring $primary: $why"

umask 077
mkdir -p "$RUN_DIR"
conf="$RUN_DIR/sentinel.conf"
{
    while IFS= read -r line; do
        case $line in
            "sentinel monitor "*)
                # shellcheck disable=SC2086
                set -- $line
                echo "sentinel monitor $3 $(host_of "$primary") $(port_of "$primary") $6" ;;
            *)
                printf '%s\n' "$line" ;;
        esac
    done < "$template"
    echo "# Added by sentinel-start.sh: per-pod and secret settings, never in the ConfigMap."
    echo "sentinel announce-ip $(host_of "$SELF_ADDRESS")"
    echo "sentinel announce-port $(port_of "$SELF_ADDRESS")"
    if [ -n "$PASSWORD" ]; then
        # Sentinel's own password; Sentinels also use it to reach each other.
        echo "requirepass \"$PASSWORD\""
        echo "sentinel auth-pass $MASTER_NAME \"$PASSWORD\""
    fi
    if [ -f "$conf" ]; then
        grep -E '^sentinel (myid|current-epoch|leader-epoch) ' "$conf" || true
    fi
} > "$conf.tmp"
mv "$conf.tmp" "$conf"
if [ -n "${TLS_SECRET_DIR:-}" ]; then
    exec sh "$CONF_DIR/tls-reload.sh" sentinel "$conf"
fi
exec "$REDIS_SENTINEL" "$conf"
