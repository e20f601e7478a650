# Start-up of the write/read endpoint: hand HAProxy the password through its environment (the
# config expands "${REDIS_PASSWORD}") read from the mounted Secret file, so the password is neither
# in the ConfigMap nor in the pod spec. Environment: CONF_DIR, PASSWORD_FILE, HAPROXY.

set -eu
CONF_DIR=${CONF_DIR:-/etc/cache-patterns/conf}
HAPROXY=${HAPROXY:-haproxy}
REDIS_PASSWORD=""
if [ -n "${PASSWORD_FILE:-}" ] && [ -s "$PASSWORD_FILE" ]; then
    REDIS_PASSWORD=$(cat "$PASSWORD_FILE")
fi
export REDIS_PASSWORD
exec "$HAPROXY" -db -f "$CONF_DIR/haproxy.cfg"
