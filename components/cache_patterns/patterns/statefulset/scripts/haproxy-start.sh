# Start-up of the write/read endpoint: hand HAProxy the password through its environment (the
# config expands "${REDIS_PASSWORD}") read from the mounted Secret file, so the password is neither
# in the ConfigMap nor in the pod spec. HAProxy runs master-worker (-W): a reload starts a new
# worker on the same listeners. With TLS (TLS_SECRET_DIR set) the CA bundle its checks trust is
# TLS_LIVE_DIR's (tls.sh), and tls-reload.sh beside it reloads HAProxy through the master CLI
# socket HAPROXY_MASTER_SOCKET when that bundle changes.
# Environment: CONF_DIR, PASSWORD_FILE, HAPROXY, RUN_DIR; with TLS: tls.sh's, HAPROXY_MASTER_SOCKET,
# HAPROXY_STATE_FILE.

set -eu
CONF_DIR=${CONF_DIR:-/etc/cache-patterns/conf}
HAPROXY=${HAPROXY:-haproxy}
REDIS_PASSWORD=""
if [ -n "${PASSWORD_FILE:-}" ] && [ -s "$PASSWORD_FILE" ]; then
    REDIS_PASSWORD=$(cat "$PASSWORD_FILE")
fi
export REDIS_PASSWORD
set -- -W -db -f "$CONF_DIR/haproxy.cfg"
if [ -n "${TLS_SECRET_DIR:-}" ]; then
    . "$CONF_DIR/tls.sh"
    tls_init
    # Server states saved before a reload are for that reload only, never for a later start.
    rm -f "${HAPROXY_STATE_FILE:?HAPROXY_STATE_FILE is not set}"
    tls_generation > "${RUN_DIR:?RUN_DIR is not set}/haproxy.generation"
    set -- "$@" -S "${HAPROXY_MASTER_SOCKET:?HAPROXY_MASTER_SOCKET is not set}"
fi
exec "$HAPROXY" "$@"
