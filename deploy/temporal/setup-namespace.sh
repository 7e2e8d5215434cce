#!/bin/sh
# One-shot job, run in temporalio/admin-tools AFTER the Temporal server is up
# (docker-compose.yml: service `temporal-namespace-setup`; the worker waits for it to exit 0).
#
# Creates the namespace if it is missing and registers the engine's custom search attributes in
# it. With SQL visibility (PostgreSQL) custom search attributes are per namespace: they map onto
# columns the visibility schema pre-allocates, so they can only be added through a running
# server, which is why this is a separate job from setup-schema.sh.
#
# Safe to re-run: an existing namespace is left as it is, an attribute already registered with
# the same type is skipped, and one registered with a different type fails the job (a type
# cannot be changed in place).
#
# Environment: TEMPORAL_ADDRESS (host:port), TEMPORAL_NAMESPACE, TEMPORAL_NAMESPACE_RETENTION
# (applies to new namespaces only), SETUP_TIMEOUT_SECONDS.
set -eu

: "${TEMPORAL_ADDRESS:=temporal:7233}"
: "${TEMPORAL_NAMESPACE:=default}"
: "${TEMPORAL_NAMESPACE_RETENTION:=30d}"
: "${SETUP_TIMEOUT_SECONDS:=120}"

# The engine's search attributes: name and type, one a line. Keep in step with
# domain/contract.py SEARCH_ATTRIBUTES; tests/deployment/test_compose.py checks that they match.
SEARCH_ATTRIBUTES='
ApplicationId Keyword
CandidateId Keyword
RecruiterId Keyword
AtsSource Keyword
ProcessStage Keyword
SlaBreached Bool
'

namespace=$TEMPORAL_NAMESPACE
deadline=$(( $(date +%s) + SETUP_TIMEOUT_SECONDS ))

log() {
    echo "setup-namespace: $*"
}

fail() {
    echo "setup-namespace: $*" >&2
    exit 1
}

out_of_time() {
    [ "$(date +%s)" -ge "$deadline" ]
}

# Connect by IPv4 address, as Temporal's own compose scripts do; fall back to the name.
host=${TEMPORAL_ADDRESS%:*}
port=${TEMPORAL_ADDRESS##*:}
ip=$(getent ahosts "$host" 2>/dev/null | awk '$2 == "STREAM" && $1 ~ /^[0-9.]+$/ { print $1; exit }' || true)
address=${ip:-$host}:$port

t() {
    temporal "$@" --address "$address"
}

log "waiting for the Temporal server at $TEMPORAL_ADDRESS ($address)"
until [ "$(t operator cluster health 2>/dev/null || true)" = "SERVING" ]; do
    out_of_time && fail "server at $TEMPORAL_ADDRESS not serving after ${SETUP_TIMEOUT_SECONDS}s"
    sleep 2
done

if t operator namespace describe --namespace "$namespace" >/dev/null 2>&1; then
    log "namespace $namespace exists"
elif t operator namespace create --namespace "$namespace" --retention "$TEMPORAL_NAMESPACE_RETENTION"; then
    log "namespace $namespace created (retention $TEMPORAL_NAMESPACE_RETENTION)"
elif t operator namespace describe --namespace "$namespace" >/dev/null 2>&1; then
    log "namespace $namespace exists (created concurrently)"
else
    fail "could not create namespace $namespace"
fi

# Type of a registered search attribute, empty when it is not registered (or the namespace is
# not visible yet: a new namespace takes a few seconds to reach every cache).
registered_type() {
    t operator search-attribute list --namespace "$namespace" 2>/dev/null \
        | awk -v name="$1" '$1 == name { print $2; exit }'
}

register() {  # name, type
    while :; do
        current=$(registered_type "$1")
        if [ "$current" = "$2" ]; then
            log "search attribute $1 ($2) registered"
            return 0
        fi
        if [ -n "$current" ]; then
            fail "search attribute $1 is registered as $current, expected $2: it cannot be changed in place"
        fi
        error=$(t operator search-attribute create --namespace "$namespace" --name "$1" --type "$2" 2>&1) || true
        out_of_time && fail "could not register search attribute $1 ($2) in $namespace within ${SETUP_TIMEOUT_SECONDS}s: $error"
        sleep 1
    done
}

while read -r name type; do
    [ -n "$name" ] || continue
    register "$name" "$type"
done <<EOF
$SEARCH_ATTRIBUTES
EOF

log "done: namespace $namespace is ready for the worker"
