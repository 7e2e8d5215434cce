"""deploy/postgres/setup-app-database.sh against a real PostgreSQL: a private instance started with
pg_ctl in a temporary directory (the machine's own server is untouched), laid out as the compose
stack's is when the job runs: the image's superuser (Temporal's) and Temporal's two databases.

Issue 12, finding 7: the engine connected as Temporal's superuser. The job gives it a role that
owns the task store and cannot open Temporal's databases.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from store.task_store import TaskStore
from tests.deployment import deployfiles as d
from tests.harness import free_port

SUPERUSER = "temporal"
PG_BIN = Path(shutil.which("pg_ctl") or "/nonexistent").resolve().parent


def _as_postgres() -> list[str]:
    """Run PostgreSQL's tools as the `postgres` system user when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no `postgres` user to run initdb as")
    if shutil.which("runuser") is None:
        pytest.skip("running as root without runuser")
    return ["runuser", "-u", "postgres", "--"]


@pytest.fixture
def private_postgres() -> Iterator[dict[str, str]]:
    if not (PG_BIN / "initdb").exists() or shutil.which("psql") is None:
        pytest.skip("PostgreSQL's initdb, pg_ctl and psql are not installed")
    prefix = _as_postgres()
    # Not under pytest's tmp_path: the `postgres` user could not reach into root's directory.
    with tempfile.TemporaryDirectory(prefix="postinterview-pg-") as directory:
        root = Path(directory)
        if prefix:
            shutil.chown(root, "postgres")
        yield from _serve(root, prefix)


def _serve(root: Path, prefix: list[str]) -> Iterator[dict[str, str]]:
    data, port = root / "data", free_port()
    run = lambda *args: subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, timeout=120)  # noqa: E731
    run(str(PG_BIN / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust")
    run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "-l", str(root / "log"), "-w", "start")
    env = {"PGHOST": "127.0.0.1", "PGPORT": str(port), "PGUSER": SUPERUSER, "PGPASSWORD": "unused-with-trust"}
    try:
        for database in ("temporal", "temporal_visibility"):
            psql(env, "postgres", f"CREATE DATABASE {database}")
        yield env
    finally:
        run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")


def psql(env: dict[str, str], database: str, sql: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", database, "-c", sql],
        env={**os.environ, **env, **({"PGUSER": user} if user else {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def setup_job(env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    """The job as compose runs it: its environment from docker-compose.yml, the host from the fixture."""
    job = d.environment(d.services()["app-database-setup"])
    job.update(env)
    job.update(extra)
    return subprocess.run(["sh", str(d.APP_DB_SCRIPT)], env={**os.environ, **job}, capture_output=True, text=True, timeout=120)


def test_the_engine_role_owns_the_store_and_cannot_open_temporals_databases(private_postgres):
    env = private_postgres
    # An older deployment: the store made by Temporal's user, with a table in it.
    assert psql(env, "postgres", "CREATE DATABASE postinterview").returncode == 0
    assert psql(env, "postinterview", "CREATE TABLE legacy (id serial PRIMARY KEY)").returncode == 0
    for _ in range(2):  # every `docker compose up` runs it again
        done = setup_job(env)
        assert done.returncode == 0, done.stderr
    engine_url = make_engine_url(env)
    user = engine_url.username
    assert user != SUPERUSER
    # The engine's store, as the engine's role: the tables are created and written.
    tasks = TaskStore(engine_url.render_as_string(hide_password=False))
    try:
        assert tasks.tasks() == []
    finally:
        tasks.close()
    assert psql(env, "postinterview", "INSERT INTO legacy DEFAULT VALUES", user=user).returncode == 0, "the older store was not handed over"
    # Temporal's databases are closed to it; it is no superuser.
    for database in ("temporal", "temporal_visibility"):
        refused = psql(env, database, "SELECT 1", user=user)
        assert refused.returncode != 0 and "permission denied" in refused.stderr, refused.stderr
    assert psql(env, "postgres", f"SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = '{user}'").stdout.strip() == "f|f|f"


def test_the_job_refuses_to_make_temporals_user_the_engines(private_postgres):
    refused = setup_job(private_postgres, APP_DB_USER=SUPERUSER)
    assert refused.returncode != 0 and "role of its own" in refused.stderr


def make_engine_url(env: dict[str, str]) -> sqlalchemy.engine.URL:
    """The worker's DATABASE_URL from docker-compose.yml, pointed at the private server."""
    url = sqlalchemy.engine.make_url(d.environment(d.services()["worker"])["DATABASE_URL"])
    return url.set(host=env["PGHOST"], port=int(env["PGPORT"]))
