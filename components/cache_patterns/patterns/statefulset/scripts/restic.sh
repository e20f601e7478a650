# Sourced by backup.sh and restore.sh (after common.sh): the restic repository of one cache, and
# what its failures mean. POSIX sh (busybox ash in the pods, dash in the live tests).
#
# Environment:
#   RESTIC                  the restic program (default: restic on PATH, else TOOLS_DIR/restic)
#   TOOLS_DIR               where the pod's init container copied restic and the CA bundle to
#   RESTIC_REPOSITORY       s3:<endpoint>/<bucket>/<prefix>: one repository per cache
#   RESTIC_PASSWORD_FILE    the repository key (a mounted Secret key): restic encrypts everything with it
#   S3_KEY_DIR              the S3 access key as files (the pods' secrets volume): AWS_ACCESS_KEY_ID,
#                           AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, each read into restic's own
#                           environment as it starts; or else, as env, those three, or
#                           AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (EKS workload identity), read by
#                           restic itself
#   S3_BUCKET_LOOKUP        path | dns | auto (path-style or virtual-host requests)
#   S3_REGION               the bucket's region (empty: restic asks the endpoint)
#   S3_CA_FILE              a CA bundle for an endpoint with a private CA (empty: the system's)
#   BACKUP_HOST             the snapshots' host field: the cache's StatefulSet (one repository may
#                           hold several caches; every query is scoped to it and to the cache tag)
#   BACKUP_CACHE            the cache's name (tag cache=<name>)

TOOLS_DIR=${TOOLS_DIR:-/cache-patterns/tools}
if [ -z "${RESTIC:-}" ]; then
    RESTIC=$(command -v restic || printf '%s' "$TOOLS_DIR/restic")
fi
# The restic image's CA bundle, copied beside it: the engine images need not have one.
if [ -z "${SSL_CERT_FILE:-}" ] && [ -f "$TOOLS_DIR/ca-certificates.crt" ]; then
    SSL_CERT_FILE="$TOOLS_DIR/ca-certificates.crt"
    export SSL_CERT_FILE
fi
RESTIC_REPOSITORY=${RESTIC_REPOSITORY:?RESTIC_REPOSITORY is not set}
RESTIC_PASSWORD_FILE=${RESTIC_PASSWORD_FILE:?RESTIC_PASSWORD_FILE is not set}
BACKUP_HOST=${BACKUP_HOST:?BACKUP_HOST is not set}
BACKUP_CACHE=${BACKUP_CACHE:?BACKUP_CACHE is not set}
export RESTIC_REPOSITORY RESTIC_PASSWORD_FILE
# restic would write its cache under $HOME; the pods' root filesystem is read-only and the job runs
# once, so no cache. `--retry-lock`: a backup pod killed mid-run leaves a lock restic calls stale
# after 30 minutes; a run waits that long at most.
RESTIC_RETRY_LOCK=${RESTIC_RETRY_LOCK:-35m}

# S3 answers restic retries for 15 minutes although no retry can fix them: a missing bucket, a key the
# endpoint does not know, a wrong secret, an expired token. rs stops restic at the first one.
PERMANENT='bucket does not exist|NoSuchBucket|signature we calculated does not match|SignatureDoesNotMatch|Access Key Id you provided does not exist|InvalidAccessKeyId|ExpiredToken|token has expired|[Tt]oken is expired|InvalidToken'
RS_CALLS=0

# s3_key_env: the access key files of S3_KEY_DIR (a Secret's files, read again at each start, so a
# renewed key is used at once) exported: called in restic's subshell only, nothing else gets them.
s3_key_env() {
    [ -n "${S3_KEY_DIR:-}" ] || return 0
    for _k in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN; do
        if [ -f "$S3_KEY_DIR/$_k" ]; then
            export "$_k=$(cat "$S3_KEY_DIR/$_k")" || return 1
        fi
    done
    [ -f "$S3_KEY_DIR/AWS_ACCESS_KEY_ID" ] && [ -f "$S3_KEY_DIR/AWS_SECRET_ACCESS_KEY" ] || {
        echo "S3 credentials missing: no AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY file in $S3_KEY_DIR" >&2
        return 1
    }
}

# rs ARG...: restic with the repository's options; its stderr comes out when it ends.
rs() {
    set -- --no-cache --retry-lock "$RESTIC_RETRY_LOCK" -o "s3.bucket-lookup=${S3_BUCKET_LOOKUP:-auto}" "$@"
    if [ -n "${S3_REGION:-}" ]; then
        set -- -o "s3.region=$S3_REGION" "$@"
    fi
    if [ -n "${S3_CA_FILE:-}" ]; then
        set -- --cacert "$S3_CA_FILE" "$@"
    fi
    RS_CALLS=$((RS_CALLS + 1))
    _rs_err="$WORK_DIR/rs-$$-$RS_CALLS.err"
    (s3_key_env && exec "$RESTIC" "$@") 2> "$_rs_err" &
    _rs_pid=$!
    while kill -0 "$_rs_pid" 2> /dev/null; do
        if grep -Eqs "$PERMANENT" "$_rs_err"; then
            kill "$_rs_pid" 2> /dev/null || true
            wait "$_rs_pid" 2> /dev/null || true
            cat "$_rs_err" >&2
            rm -f "$_rs_err"
            return 1
        fi
        sleep 0.2
    done
    _rs_rc=0
    wait "$_rs_pid" || _rs_rc=$?
    cat "$_rs_err" >&2
    rm -f "$_rs_err"
    return "$_rs_rc"
}

# explain FILE: one line saying what restic's error output in FILE means, for the logs and the
# failure metric's reason. Matches the S3 error codes and restic's own messages.
explain() {
    _e=$(tr '\n' ' ' < "$1")
    case $_e in
        *NoSuchBucket* | *"bucket does not exist"*)
            echo "missing-bucket: the bucket of $RESTIC_REPOSITORY does not exist (the backup never creates buckets: create it with its encryption and access policy)" ;;
        *ExpiredToken* | *"token has expired"* | *"oken is expired"*)
            echo "expired-credentials: the S3 endpoint says the credentials have expired (renew the Secret, or check the workload identity's token)" ;;
        *InvalidAccessKeyId* | *"Access Key Id you provided does not exist"* | *SignatureDoesNotMatch* | *"signature we calculated"* | *AccessDenied* | *"Access Denied"* | *InvalidToken*)
            echo "credentials-rejected: the S3 endpoint refused the credentials (an unknown, revoked or expired access key, a wrong secret, or a policy without access to the bucket): $(printf '%s' "$_e" | grep -o 'Stat: [^.]*\.' | head -n 1)" ;;
        *"wrong password"* | *"no key found"*)
            echo "wrong-key: the repository key (the encryption key Secret) does not open the repository at $RESTIC_REPOSITORY" ;;
        *"ciphertext verification failed"* | *"hash mismatch"* | *"invalid data returned"* | *"decrypting blob"* | *"is damaged"* | *"checksum"*)
            echo "corrupted: an object of the repository is damaged (restic's checksum or authentication failed): $(printf '%s' "$_e" | cut -c1-300)" ;;
        *"repository does not exist"* | *"unable to open config file"*)
            echo "no-repository: no restic repository at $RESTIC_REPOSITORY" ;;
        *"no such host"* | *"connection refused"* | *"i/o timeout"* | *"dial tcp"* | *"x509"* | *"certificate"*)
            echo "unreachable: cannot reach the S3 endpoint of $RESTIC_REPOSITORY ($(printf '%s' "$_e" | cut -c1-300))" ;;
        *)
            echo "restic-error: $(printf '%s' "$_e" | cut -c1-400)" ;;
    esac
}

# repository_ready init|open: the repository opens with the key, or (init) is created in an existing
# bucket. Sets REPO_PROBLEM (empty when ready). restic alone would create a missing bucket on `init`:
# a mistyped or deleted bucket must be an error, never a new empty one. A missing repository and a
# missing bucket look alike to a HEAD request (404, no body), so before `init` restic asks once more
# without a region: it then asks the bucket's location first (GetBucketLocation), which names a
# missing bucket (NoSuchBucket).
repository_ready() {
    REPO_PROBLEM=""
    _err="$WORK_DIR/restic-config.err"
    if rs cat config > /dev/null 2> "$_err"; then
        return 0
    fi
    REPO_PROBLEM=$(explain "$_err")
    case $REPO_PROBLEM in
        no-repository:*) ;;
        *) return 1 ;;
    esac
    if (S3_REGION="" rs cat config > /dev/null 2> "$_err"); then
        REPO_PROBLEM=""
        return 0
    fi
    REPO_PROBLEM=$(explain "$_err")
    case $REPO_PROBLEM in
        no-repository:*) ;;
        *) return 1 ;;
    esac
    if [ "${1:-open}" != init ]; then
        return 1
    fi
    log "no repository at $RESTIC_REPOSITORY yet: creating it (the first backup of this cache)"
    if ! rs init > /dev/null 2> "$_err"; then
        REPO_PROBLEM=$(explain "$_err")
        return 1
    fi
    REPO_PROBLEM=""
}

# json_field NAME < one JSON object: the value of a string or number field (restic's output is
# compact, one object per line).
json_field() {
    sed -n "s/.*[{,]\"$1\":\"\{0,1\}\([^\",}]*\)\"\{0,1\}[,}].*/\1/p" | head -n 1
}

# tags_of < one snapshot object: its tags, one per line.
tags_of() {
    sed -n 's/.*"tags":\[\([^]]*\)\].*/\1/p' | tr ',' '\n' | tr -d '"'
}

# tag NAME < tags: the value of a NAME=value tag.
tag() {
    sed -n "s/^$1=//p" | head -n 1
}

# manifests: every complete backup of this cache, newest last: one line per snapshot, the snapshot
# object as restic prints it. A snapshot without the manifest tag is a backup whose verification
# or manifest never finished: never a restore source, and removed by the retention step.
manifests() {
    rs snapshots --json --host "$BACKUP_HOST" --tag "cache=$BACKUP_CACHE,manifest=1" "$@" |
        sed 's/^\[//; s/\]$//; s/},{"time"/}\n{"time"/g'
}
