# Probes: `probe.sh alive` (the server answers at all, even LOADING: never restart a replica that
# is loading a large data set), `probe.sh ready` (a primary, or a replica whose link to the primary
# is up and whose first sync is done: a replica still syncing is not counted as available by the
# PodDisruptionBudget; on its first success it restores the replica-priority redis-start.sh held at
# 0, so a replica is promotable only once it holds the data), `probe.sh sentinel` (the Sentinel
# monitors the primary and reaches a quorum and a majority: SENTINEL CKQUORUM, so a rolling update of
# the Sentinels never takes the next one down before the new one counts), and `probe.sh state`
# (one line for the rollout driver: role, link, sync, offset, connected replicas, priority, version,
# used_memory, maxmemory).
# PROBE_ADDRESS defaults to 127.0.0.1 and the port of SELF_ADDRESS.

CONF_DIR=${CONF_DIR:-/etc/cache-patterns/conf}
. "$CONF_DIR/common.sh"

addr=${PROBE_ADDRESS:-127.0.0.1:$(port_of "$SELF_ADDRESS")}
RUN_DIR=${RUN_DIR:-/run/cache-patterns}
case ${1:-} in
    alive)
        if [ -n "${TLS_CA_FILE:-}" ]; then
            set -- --tls --cacert "$TLS_CA_FILE"
        else
            set --
        fi
        # Any reply means the process is serving; only a failed connection (exit 1) counts.
        timeout "$CLI_TIMEOUT" "$REDIS_CLI" "$@" -h "$(host_of "$addr")" -p "$(port_of "$addr")" PING > /dev/null ;;
    ready)
        info=$(cli "$addr" INFO replication)
        case $(printf '%s\n' "$info" | field role) in
            master) exit 0 ;;
            slave)
                [ "$(printf '%s\n' "$info" | field master_link_status)" = up ] || exit 1
                [ "$(printf '%s\n' "$info" | field master_sync_in_progress)" = 0 ] || exit 1
                if [ -s "$RUN_DIR/replica-priority" ]; then
                    cli "$addr" CONFIG SET replica-priority "$(cat "$RUN_DIR/replica-priority")" > /dev/null || exit 1
                    rm -f "$RUN_DIR/replica-priority"
                fi ;;
            *) exit 1 ;;
        esac ;;
    sentinel)
        case $(cli "$addr" SENTINEL CKQUORUM "$MASTER_NAME") in
            OK*) exit 0 ;;
            *) exit 1 ;;
        esac ;;
    state)
        info=$(cli "$addr" INFO replication) || exit 1
        server=$(cli "$addr" INFO server) || exit 1
        version=$(printf '%s\n' "$server" | field valkey_version)
        [ -n "$version" ] || version=$(printf '%s\n' "$server" | field redis_version)
        priority=$(cli "$addr" CONFIG GET replica-priority | sed -n 2p)
        memory=$(cli "$addr" INFO memory) || exit 1
        printf 'role=%s link=%s sync=%s offset=%s replicas=%s priority=%s version=%s used=%s maxmemory=%s\n' \
            "$(printf '%s\n' "$info" | field role)" "$(printf '%s\n' "$info" | field master_link_status)" \
            "$(printf '%s\n' "$info" | field master_sync_in_progress)" \
            "$(printf '%s\n' "$info" | field master_repl_offset)" \
            "$(printf '%s\n' "$info" | field connected_slaves)" "$priority" "$version" \
            "$(printf '%s\n' "$memory" | field used_memory)" "$(printf '%s\n' "$memory" | field maxmemory)" ;;
    *)
        echo "usage: probe.sh alive|ready|sentinel|state" >&2
        exit 2 ;;
esac
