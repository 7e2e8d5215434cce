#!/bin/sh
# One-shot job, run in the postgres image after the Temporal schema job (docker-compose.yml:
# service `app-database-setup`; the worker and the intake wait for it to exit 0).
#
# The engine gets its own login role and its own database, apart from Temporal's: the role
# (APP_DB_USER) owns the task-store database (APP_DBNAME), where the worker and the intake create
# their tables at start-up (store/schema.py), and may not connect to Temporal's databases. A
# leaked DATABASE_URL then exposes the task store, not Temporal's histories, and Temporal's
# superuser password stays with Temporal.
#
# Safe to re-run, and re-run on every `docker compose up`: the role and the database are created
# when missing, the role's password is set to APP_DB_PASSWORD every time (so changing it in the
# environment changes it here), and a store created by an older deployment as Temporal's user
# (tables included) is handed over to the role.
#
# Environment: PGHOST, PGPORT, PGUSER, PGPASSWORD (the superuser the postgres image creates),
# APP_DB_USER, APP_DB_PASSWORD, APP_DBNAME, TEMPORAL_DBNAMES (space-separated), SETUP_TIMEOUT_SECONDS.
set -eu

: "${PGHOST:=postgresql}"
: "${PGPORT:=5432}"
: "${PGUSER:?PGUSER must be set: the PostgreSQL superuser}"
: "${PGPASSWORD:?PGPASSWORD must be set: the superuser password}"
: "${APP_DB_USER:?APP_DB_USER must be set: the engine role}"
: "${APP_DB_PASSWORD:?APP_DB_PASSWORD must be set: the engine role password}"
: "${APP_DBNAME:=postinterview}"
: "${TEMPORAL_DBNAMES:=temporal temporal_visibility}"
: "${SETUP_TIMEOUT_SECONDS:=120}"
export PGHOST PGPORT PGUSER PGPASSWORD

if [ "$APP_DB_USER" = "$PGUSER" ]; then
    echo "setup-app-database: APP_DB_USER is $PGUSER, Temporal's own user: give the engine a role of its own" >&2
    exit 1
fi

deadline=$(( $(date +%s) + SETUP_TIMEOUT_SECONDS ))
until pg_isready -q -d postgres; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "setup-app-database: PostgreSQL at $PGHOST:$PGPORT not ready after ${SETUP_TIMEOUT_SECONDS}s" >&2
        exit 1
    fi
    sleep 2
done

# psql variables (-v) are quoted by psql itself (:'name' a literal, format's %I an identifier),
# so no value is ever spliced into SQL text by the shell.
sql() {  # database; the SQL on stdin
    psql -X -q -v ON_ERROR_STOP=1 -d "$1" -v app_user="$APP_DB_USER" -v app_password="$APP_DB_PASSWORD" -v app_db="$APP_DBNAME"
}

echo "setup-app-database: role $APP_DB_USER, database $APP_DBNAME"
sql postgres <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'app_user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', :'app_user', :'app_password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'app_db', :'app_user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'app_db') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'app_db', :'app_user') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'app_db') \gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', :'app_db', :'app_user') \gexec
SQL

# A store an older deployment created as Temporal's user: its tables and sequences go to the role.
sql "$APP_DBNAME" <<'SQL'
SELECT format('ALTER TABLE %I.%I OWNER TO %I', schemaname, tablename, :'app_user')
  FROM pg_tables WHERE schemaname = 'public' AND tableowner <> :'app_user' \gexec
SELECT format('ALTER SEQUENCE %I.%I OWNER TO %I', schemaname, sequencename, :'app_user')
  FROM pg_sequences WHERE schemaname = 'public' AND sequenceowner <> :'app_user' \gexec
SQL

# Temporal's databases: only their owner (Temporal's user) connects; the engine role may not.
for database in $TEMPORAL_DBNAMES; do
    echo "setup-app-database: no connections to $database but its owner's"
    psql -X -q -v ON_ERROR_STOP=1 -d postgres -v db="$database" <<'SQL'
SELECT format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', :'db')
 WHERE EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
done

echo "setup-app-database: done"
