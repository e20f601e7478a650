# Sourced by every cache-patterns script of the StatefulSet pattern. POSIX sh: runs under busybox ash
# (the official alpine images) and dash. All addresses are "host:port"; in a pod they are FQDNs of
# the headless Services, in the live tests 127.0.0.1 with distinct ports: same code either way.
#
# Environment:
#   MASTER_NAME     Sentinel's name for the primary
#   SENTINELS       every Sentinel, space-separated
#   PEERS           every Redis server in ordinal order; the first is the designated initial primary
#   SELF_ADDRESS    the address this container announces (one of PEERS or SENTINELS)
#   PASSWORD_FILE   the password (a mounted Secret key); unset or empty file: no auth
#   TLS_CA_FILE     set: connect with TLS, verifying servers against this CA
#   CLI_TIMEOUT     seconds one redis-cli call may take (default 2)

set -eu
set -f

REDIS_CLI=${REDIS_CLI:-$(command -v valkey-cli || command -v redis-cli)}
CLI_TIMEOUT=${CLI_TIMEOUT:-2}
MASTER_NAME=${MASTER_NAME:?MASTER_NAME is not set}
SENTINELS=${SENTINELS:?SENTINELS is not set}
PEERS=${PEERS:?PEERS is not set}
SELF_ADDRESS=${SELF_ADDRESS:?SELF_ADDRESS is not set}

log() {
    printf '%s %s: %s\n' "$(date -u +%H:%M:%S)" "${0##*/}" "$*" >&2
}

PASSWORD=""
if [ -n "${PASSWORD_FILE:-}" ] && [ -s "$PASSWORD_FILE" ]; then
    PASSWORD=$(cat "$PASSWORD_FILE")
    case $PASSWORD in
        *'"'* | *'\'* | *' '* | *'	'* | *'
'*)
            # It is written into a config file between double quotes; refuse rather than mangle it.
            log "the password in $PASSWORD_FILE contains a quote, backslash or whitespace"
            exit 1 ;;
    esac
    # redis-cli reads the password from the environment, so it never shows up in `ps`.
    REDISCLI_AUTH=$PASSWORD
    VALKEYCLI_AUTH=$PASSWORD
    export REDISCLI_AUTH VALKEYCLI_AUTH
fi

now() {
    date +%s
}

host_of() {
    printf '%s' "${1%:*}"
}

port_of() {
    printf '%s' "${1##*:}"
}

# cli ADDRESS ARG...: one command with a hard time limit; prints the reply without CRs. Fails when
# the server cannot be reached in time or replies with an error (printed too if CLI_ERRORS=yes).
cli() {
    _addr=$1
    shift
    if [ -n "${TLS_CA_FILE:-}" ]; then
        set -- --tls --cacert "$TLS_CA_FILE" "$@"
    fi
    if [ "${CLI_ERRORS:-no}" = yes ]; then
        _out=$(timeout "$CLI_TIMEOUT" "$REDIS_CLI" -e -h "$(host_of "$_addr")" -p "$(port_of "$_addr")" "$@" 2>&1) || {
            printf '%s\n' "$_out"
            return 1
        }
    else
        _out=$(timeout "$CLI_TIMEOUT" "$REDIS_CLI" -e -h "$(host_of "$_addr")" -p "$(port_of "$_addr")" "$@" 2>/dev/null) || return 1
    fi
    printf '%s\n' "$_out" | tr -d '\r'
}

# field NAME: the value of `NAME:value` in INFO output on stdin.
field() {
    sed -n "s/^$1://p" | head -n 1
}

count_words() {
    # shellcheck disable=SC2086
    set -- $1
    printf '%s' "$#"
}

# Sets SENTINEL_PRIMARY to the address a majority of all configured Sentinels name as the primary
# (empty if none does), SENTINEL_UNANIMOUS to the address every answering Sentinel names (empty if
# they disagree or none answered), and SENTINEL_NAMED to yes if any Sentinel named an address.
ask_sentinels() {
    SENTINEL_PRIMARY=""
    SENTINEL_UNANIMOUS=""
    SENTINEL_NAMED=no
    _answers=""
    for _s in $SENTINELS; do
        [ "$_s" = "$SELF_ADDRESS" ] && continue
        _r=$(cli "$_s" SENTINEL get-master-addr-by-name "$MASTER_NAME") || continue
        _h=$(printf '%s\n' "$_r" | sed -n 1p)
        _p=$(printf '%s\n' "$_r" | sed -n 2p)
        if [ -n "$_h" ] && [ -n "$_p" ]; then
            _answers="$_answers$_h:$_p
"
        fi
    done
    [ -n "$_answers" ] || return 0
    SENTINEL_NAMED=yes
    _need=$(( $(count_words "$SENTINELS") / 2 + 1 ))
    _top=$(printf '%s' "$_answers" | sort | uniq -c | sort -rn | head -n 1)
    # shellcheck disable=SC2086
    set -- $_top
    if [ "$1" -ge "$_need" ]; then
        SENTINEL_PRIMARY=$2
    fi
    if [ "$(printf '%s' "$_answers" | sort -u | wc -l)" -eq 1 ]; then
        SENTINEL_UNANIMOUS=$2
    fi
}

# Sets PEER_PRIMARY to the one other server that reports role:master (empty if none, "conflict" if
# several) and PEER_HISTORY to yes if a reachable replica has replicated data (offset > 0), that is
# has something a wrongly started empty primary would make it throw away.
ask_peers() {
    PEER_PRIMARY=""
    PEER_HISTORY=no
    _masters=0
    for _p in $PEERS; do
        [ "$_p" = "$SELF_ADDRESS" ] && continue
        _info=$(cli "$_p" INFO replication) || continue
        case $(printf '%s\n' "$_info" | field role) in
            master)
                _masters=$((_masters + 1))
                PEER_PRIMARY=$_p ;;
            slave)
                _off=$(printf '%s\n' "$_info" | field master_repl_offset)
                if [ "${_off:-0}" -gt 0 ]; then
                    PEER_HISTORY=yes
                fi ;;
        esac
    done
    if [ "$_masters" -gt 1 ]; then
        PEER_PRIMARY=conflict
    fi
}
