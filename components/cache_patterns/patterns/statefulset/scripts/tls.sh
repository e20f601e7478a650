# Sourced by the start scripts and tls-reload.sh when TLS is on: keeps the files a process serves
# and trusts (TLS_LIVE_DIR, an in-memory volume of the pod) in step with the Secret volume
# (TLS_SECRET_DIR) that cert-manager renews in place. POSIX sh; busybox ash and dash.
#
# The kubelet updates a Secret volume by writing a new hidden directory and swapping the `..data`
# symlink to it; tls.crt, tls.key and ca.crt are symlinks through `..data`. A copy is consistent
# when `..data` named the same directory before and after it (a swap in between: copy again).
#
# A new CA is rolled out in two steps, so no verifier ever meets a certificate it does not trust:
#   1. at once: the new ca.crt is trusted beside the one it replaces (ca.crt here is both);
#   2. TLS_TRUST_DELAY seconds later: the new key pair is served. By then the kubelet has updated
#      every other pod's volume (within its sync period) and each of them trusts the new CA too.
# A key pair renewed under the same CA is served at once.
#
# Files in TLS_LIVE_DIR: tls.crt, tls.key (served), ca.crt (trusted), secret-ca.crt (the Secret's
# CA last seen), serve-after (epoch seconds from when a pending key pair may be served) and
# generation (bumped on every change: each process compares it with the one it has loaded).
#
# Environment: TLS_SECRET_DIR, TLS_LIVE_DIR, TLS_TRUST_DELAY (seconds, default 150).

TLS_SECRET_DIR=${TLS_SECRET_DIR:?TLS_SECRET_DIR is not set}
TLS_LIVE_DIR=${TLS_LIVE_DIR:?TLS_LIVE_DIR is not set}
TLS_TRUST_DELAY=${TLS_TRUST_DELAY:-150}

tls_log() {
    printf '%s %s: %s\n' "$(date -u +%H:%M:%S)" "${0##*/}" "$*" >&2
}

# tls_put SRC NAME: replace TLS_LIVE_DIR/NAME by a copy of SRC, atomically (mode 600 via umask).
tls_put() {
    cat "$1" > "$TLS_LIVE_DIR/.$2.tmp" && mv "$TLS_LIVE_DIR/.$2.tmp" "$TLS_LIVE_DIR/$2"
}

tls_generation() {
    cat "$TLS_LIVE_DIR/generation" 2> /dev/null || echo 0
}

# Copies the Secret's files into TLS_LIVE_DIR/.incoming; fails when the volume was swapped meanwhile.
tls_snapshot() {
    _in="$TLS_LIVE_DIR/.incoming"
    mkdir -p "$_in"
    _before=$(readlink "$TLS_SECRET_DIR/..data" 2> /dev/null || true)
    for _f in tls.crt tls.key ca.crt; do
        if [ -e "$TLS_SECRET_DIR/$_f" ]; then
            cat "$TLS_SECRET_DIR/$_f" > "$_in/$_f" || return 1
        else
            rm -f "$_in/$_f"
        fi
    done
    [ "$(readlink "$TLS_SECRET_DIR/..data" 2> /dev/null || true)" = "$_before" ]
}

# Brings TLS_LIVE_DIR up to date with the Secret. Sets TLS_CHANGED=yes when anything a process
# loads changed (the generation was bumped). A pod that mounts only ca.crt (HAProxy) only trusts.
tls_refresh() {
    TLS_CHANGED=no
    umask 077
    mkdir -p "$TLS_LIVE_DIR"
    if ! tls_snapshot; then
        tls_log "the Secret volume changed while it was read; reading it again next round"
        return 0
    fi
    _in="$TLS_LIVE_DIR/.incoming"
    if [ ! -s "$_in/ca.crt" ]; then
        tls_log "no ca.crt in $TLS_SECRET_DIR"
        return 1
    fi
    _now=$(date +%s)
    if [ ! -s "$TLS_LIVE_DIR/generation" ]; then
        # First start of the pod: everything as the Secret has it.
        if [ -s "$_in/tls.crt" ]; then
            tls_put "$_in/tls.key" tls.key && tls_put "$_in/tls.crt" tls.crt || return 1
        fi
        tls_put "$_in/ca.crt" ca.crt && tls_put "$_in/ca.crt" secret-ca.crt || return 1
        TLS_CHANGED=yes
    else
        if ! cmp -s "$_in/ca.crt" "$TLS_LIVE_DIR/secret-ca.crt"; then
            cat "$_in/ca.crt" "$TLS_LIVE_DIR/secret-ca.crt" > "$TLS_LIVE_DIR/.bundle" &&
                tls_put "$TLS_LIVE_DIR/.bundle" ca.crt && tls_put "$_in/ca.crt" secret-ca.crt || return 1
            echo $((_now + TLS_TRUST_DELAY)) > "$TLS_LIVE_DIR/.serve-after" &&
                mv "$TLS_LIVE_DIR/.serve-after" "$TLS_LIVE_DIR/serve-after"
            TLS_CHANGED=yes
            tls_log "a new CA: trusted now beside the previous one; its key pair is served in ${TLS_TRUST_DELAY}s"
        fi
        if [ -s "$_in/tls.crt" ] && ! cmp -s "$_in/tls.crt" "$TLS_LIVE_DIR/tls.crt"; then
            _after=$(cat "$TLS_LIVE_DIR/serve-after" 2> /dev/null || echo 0)
            if [ "$_now" -ge "$_after" ]; then
                tls_put "$_in/tls.key" tls.key && tls_put "$_in/tls.crt" tls.crt || return 1
                TLS_CHANGED=yes
                tls_log "serving the new certificate"
            fi
        fi
    fi
    if [ "$TLS_CHANGED" = yes ]; then
        echo $(( $(tls_generation) + 1 )) > "$TLS_LIVE_DIR/.generation" &&
            mv "$TLS_LIVE_DIR/.generation" "$TLS_LIVE_DIR/generation"
    fi
}

# At start-up: install the files on the pod's first start; a restarted container keeps what the
# pod serves (its watcher moves it forward).
tls_init() {
    if [ ! -s "$TLS_LIVE_DIR/generation" ]; then
        tls_refresh
    fi
}
