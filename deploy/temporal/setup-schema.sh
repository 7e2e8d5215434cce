#!/bin/sh
# One-shot job, run in temporalio/admin-tools BEFORE the Temporal server starts
# (docker-compose.yml: service `temporal-admin-tools`; the server waits for it to exit 0).
#
# Creates the Temporal databases (`temporal`, `temporal_visibility`) and creates or upgrades
# their schemas with temporal-sql-tool (postgres12 plugin, PostgreSQL v12+ schema directory).
# The engine's own role and task-store database are not Temporal's business: the next job,
# deploy/postgres/setup-app-database.sh, makes them.
#
# Safe to re-run, and re-run on every `docker compose up`: `create` ignores a database that
# exists, `setup-schema -v 0.0` leaves an already versioned schema alone, and `update-schema`
# applies only the versions the database lacks. Bumping the admin-tools/server image therefore
# upgrades the schema before the new server starts.
#
# The namespace and the search attributes need a running server: setup-namespace.sh does them.
set -eu

: "${POSTGRES_SEEDS:=postgresql}"
: "${DB_PORT:=5432}"
: "${POSTGRES_USER:?POSTGRES_USER must be set}"
: "${SQL_PASSWORD:?SQL_PASSWORD must be set (temporal-sql-tool reads the password from it)}"
: "${DBNAME:=temporal}"
: "${VISIBILITY_DBNAME:=temporal_visibility}"
: "${TEMPORAL_SCHEMA_DIR:=/etc/temporal/schema/postgresql/v12}"
: "${SETUP_TIMEOUT_SECONDS:=120}"

# `postgres12` is the plugin name for PostgreSQL 12 and later, not a version requirement.
sql_tool() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

# Compose already waits for the postgres health check; this covers running the job by hand.
if command -v nc >/dev/null 2>&1; then
    deadline=$(( $(date +%s) + SETUP_TIMEOUT_SECONDS ))
    until nc -z -w 5 "$POSTGRES_SEEDS" "$DB_PORT"; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "setup-schema: PostgreSQL at $POSTGRES_SEEDS:$DB_PORT not reachable after ${SETUP_TIMEOUT_SECONDS}s" >&2
            exit 1
        fi
        echo "setup-schema: waiting for PostgreSQL at $POSTGRES_SEEDS:$DB_PORT"
        sleep 2
    done
fi

setup_database() {  # database, versioned schema directory
    echo "setup-schema: database $1"
    sql_tool --db "$1" create
    sql_tool --db "$1" setup-schema -v 0.0
    sql_tool --db "$1" update-schema -d "$2"
}

setup_database "$DBNAME" "$TEMPORAL_SCHEMA_DIR/temporal/versioned"
setup_database "$VISIBILITY_DBNAME" "$TEMPORAL_SCHEMA_DIR/visibility/versioned"

echo "setup-schema: done"
