# Operations the rollout driver (rollout.py) runs in a pod, beside the probes:
#   admin.sh retire      a replica about to be removed by a scale-down: replica-priority 0, so Sentinel
#                        never promotes it, and the readiness probe no longer restores the priority
#   admin.sh handover    the primary hands over to a promotable replica (the preStop hand-over) and
#                        stays up as a replica: before a scale-down removes its ordinal
#   admin.sh reset       in a Sentinel: SENTINEL RESET, so it forgets replicas a scale-down removed
#                        (it rediscovers the live ones from the primary within a second or so);
#                        refused (exit 1) while it names another primary than a majority of the others
#                        or is still in a failover
#   admin.sh maxmemory N CONFIG SET maxmemory N: a new maxmemory within the same container limit,
#                        applied without a restart (the ConfigMap holds it for the next start)
# Environment: common.sh's; RUN_DIR.

CONF_DIR=${CONF_DIR:-/etc/cache-patterns/conf}
. "$CONF_DIR/common.sh"

RUN_DIR=${RUN_DIR:-/run/cache-patterns}
addr=127.0.0.1:$(port_of "$SELF_ADDRESS")
case ${1:-} in
    retire)
        rm -f "$RUN_DIR/replica-priority"
        [ "$(cli "$addr" INFO replication | field role)" = slave ] || { log "not a replica: not retiring"; exit 1; }
        [ "$(cli "$addr" CONFIG SET replica-priority 0)" = OK ] ;;
    handover)
        sh "$CONF_DIR/redis-prestop.sh"
        [ "$(cli "$addr" INFO replication | field role)" = slave ] ;;
    maxmemory)
        [ "$(cli "$addr" CONFIG SET maxmemory "${2:?usage: admin.sh maxmemory BYTES}")" = OK ] ;;
    reset)
        # Only a Sentinel that names the primary a majority of the others name: RESET forgets the
        # replicas and Sentinels it knows, and one still pointing at a removed primary would then hear
        # of the new one from nobody (it would stay s_down on a dead address).
        # Nor while this Sentinel leads a failover: from its reconf-slaves state on it already names
        # the promoted replica, but a RESET then aborts the failover before its switch and leaves it
        # naming the old, removed primary (seen in tests/live/test_scaling.py: a scale-down's removed
        # replica never acknowledges the reconfiguration, so the failover runs on until its timeout).
        if cli "$addr" SENTINEL MASTER "$MASTER_NAME" | grep -q failover_in_progress; then
            log "this Sentinel is still in a failover of $MASTER_NAME: not resetting"
            exit 1
        fi
        _mine=$(cli "$addr" SENTINEL get-master-addr-by-name "$MASTER_NAME" | sed -n 1,2p | tr '\n' ':')
        ask_sentinels
        if [ -z "$SENTINEL_PRIMARY" ] || [ "$SENTINEL_PRIMARY:" != "$_mine" ]; then
            log "this Sentinel names ${_mine%:}, a majority of the others ${SENTINEL_PRIMARY:-nothing}: not resetting"
            exit 1
        fi
        case $(cli "$addr" SENTINEL RESET "$MASTER_NAME") in
            1) exit 0 ;;
            *) exit 1 ;;
        esac ;;
    *)
        echo "usage: admin.sh retire|handover|reset|maxmemory BYTES" >&2
        exit 2 ;;
esac
