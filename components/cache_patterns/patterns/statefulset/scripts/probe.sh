# Probes: `probe.sh alive` (the server answers at all, even LOADING: never restart a replica that
# is loading a large data set), `probe.sh ready` (a primary, or a replica whose link to the primary
# is up: a replica still syncing is not counted as available by the PodDisruptionBudget),
# `probe.sh sentinel` (the Sentinel answers PING). With PROTECT_DATA, `ready` also makes a replica
# promotable once it has completed its first sync (redis-start.sh).
# PROBE_ADDRESS defaults to 127.0.0.1 and the port of SELF_ADDRESS.

CONF_DIR=${CONF_DIR:-/etc/cache-patterns/conf}
. "$CONF_DIR/common.sh"

addr=${PROBE_ADDRESS:-127.0.0.1:$(port_of "$SELF_ADDRESS")}
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
                # PROTECT_DATA: a completed sync makes this replica promotable (redis-start.sh).
                marker="${RUN_DIR:-/run/cache-patterns}/promotable-after-sync"
                if [ -f "$marker" ] && [ "$(printf '%s\n' "$info" | field master_sync_in_progress)" = 0 ]; then
                    cli "$addr" CONFIG SET replica-priority 100 > /dev/null && rm -f "$marker"
                fi
                exit 0 ;;
            *) exit 1 ;;
        esac ;;
    sentinel)
        [ "$(cli "$addr" PING)" = PONG ] ;;
    *)
        echo "usage: probe.sh alive|ready|sentinel" >&2
        exit 2 ;;
esac
