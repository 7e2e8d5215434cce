"""Static checks of the container deployment: docker-compose.yml, Dockerfile, .dockerignore and
the setup scripts in deploy/, against each other and against the code they deploy (settings.py,
domain/contract.py). No Docker engine is involved; see deployfiles.py for the parsing.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import shutil
import subprocess

import pytest
from sqlalchemy.engine import make_url

from domain import contract
from service.settings import Settings
from tests.deployment import deployfiles as d

EXPECTED_SERVICES = {
    "postgresql", "temporal-admin-tools", "app-database-setup", "temporal", "temporal-namespace-setup", "temporal-ui", "worker", "intake", "codec-server",
}
POSTGRES = "postgresql"
SERVER = "temporal"
SCHEMA_JOB = "temporal-admin-tools"
APP_DB_JOB = "app-database-setup"
NAMESPACE_JOB = "temporal-namespace-setup"
UI = "temporal-ui"
WORKER = "worker"
INTAKE = "intake"
CODEC = "codec-server"
ENGINE_SERVICES = (WORKER, INTAKE, CODEC)

CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# An exact release: at least major.minor (postgres 16.11) and for the Temporal images
# major.minor.patch, optionally followed by a variant suffix (-bookworm).
VERSION_TAG = re.compile(r"^v?\d+\.\d+(\.\d+)?(-[a-z0-9.]+)*$")
CLI_TYPES = {
    "INDEXED_VALUE_TYPE_KEYWORD": "Keyword",
    "INDEXED_VALUE_TYPE_BOOL": "Bool",
    "INDEXED_VALUE_TYPE_TEXT": "Text",
    "INDEXED_VALUE_TYPE_INT": "Int",
    "INDEXED_VALUE_TYPE_DOUBLE": "Double",
    "INDEXED_VALUE_TYPE_DATETIME": "Datetime",
    "INDEXED_VALUE_TYPE_KEYWORD_LIST": "KeywordList",
}


def service(name: str) -> dict:
    services = d.services()
    assert name in services, f"docker-compose.yml has no service {name!r} (services: {sorted(services)})"
    return services[name]


def healthchecked(name: str) -> bool:
    """A compose health check, or for a built image, the Dockerfile's HEALTHCHECK."""
    spec = service(name)
    check = spec.get("healthcheck")
    if check is not None:
        return not check.get("disable", False) and check.get("test") not in (None, ["NONE"], "NONE")
    if "build" in spec:
        _, stages = d.dockerfile_stages()
        instruction = stages[-1].last("HEALTHCHECK")
        return instruction is not None and instruction.strip().upper() != "NONE"
    return False


# --- services and images -------------------------------------------------------------------


def test_expected_services_exist():
    missing = EXPECTED_SERVICES - set(d.services())
    assert not missing, f"docker-compose.yml lacks services {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(d.services()))
def test_every_service_has_a_pinned_image_or_a_build(name):
    spec = service(name)
    if "build" in spec:
        context = d.REPO / (spec["build"] if isinstance(spec["build"], str) else spec["build"].get("context", "."))
        dockerfile = spec["build"].get("dockerfile", "Dockerfile") if isinstance(spec["build"], dict) else "Dockerfile"
        assert (context / dockerfile).is_file(), f"service {name} builds from {context / dockerfile}, which does not exist"
        return
    assert "image" in spec, f"service {name} has neither an image nor a build"
    repository, tag = d.image_of(spec)
    assert tag is not None, f"service {name}: image {repository!r} has no tag (that means `latest`); pin an exact version"
    assert tag != "latest", f"service {name}: image {repository}:latest is not pinned; use an exact version"
    assert VERSION_TAG.match(tag), f"service {name}: tag {tag!r} of {repository} is not an exact version"


def test_temporal_server_and_admin_tools_are_one_release():
    _, server_tag = d.image_of(service(SERVER))
    for job in (SCHEMA_JOB, NAMESPACE_JOB):
        repository, tag = d.image_of(service(job))
        assert repository == "temporalio/admin-tools", f"{job} should run temporalio/admin-tools, not {repository}"
        assert tag == server_tag, (
            f"{job} uses admin-tools {tag} but the server is {server_tag}: the schema it installs must be the "
            "server's own, so they move together"
        )
    assert d.image_of(service(SERVER))[0] == "temporalio/server"
    assert d.image_of(service(UI))[0] == "temporalio/ui"
    assert d.image_of(service(POSTGRES))[0] == "postgres"


def test_no_deprecated_auto_setup_image():
    for name, spec in d.services().items():
        image = str(spec.get("image", ""))
        assert "auto-setup" not in image, f"service {name} uses {image}: the auto-setup image is deprecated"


# --- ports -----------------------------------------------------------------------------------


def test_temporal_frontend_published_on_7233():
    assert ("7233", 7233) in d.published_ports(service(SERVER)), (
        f"the Temporal frontend should be published as 7233:7233, got {d.published_ports(service(SERVER))}"
    )


def test_ui_published_on_8233():
    assert ("8233", 8080) in d.published_ports(service(UI)), (
        f"the UI listens on 8080 in its container and should be published on 8233 (as in local dev), "
        f"got {d.published_ports(service(UI))}"
    )


LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.mark.parametrize("name", sorted(d.services()))
def test_every_published_port_listens_on_loopback_by_default(name):
    """Issue 12, finding 7: Temporal's frontend, the UI and the codec server were published on
    every interface, none of them asking who calls."""
    for binding in d.port_bindings(service(name)):
        assert binding.address in LOOPBACK, (
            f"{name} publishes {binding.container} on {binding.address or 'every interface'}: bind it to 127.0.0.1 by default"
        )


def test_the_publish_addresses_can_be_set():
    environ = {**d.REQUIRED_ENVIRONMENT, "PUBLISH_ADDRESS": "10.0.0.7", "INTAKE_PUBLISH_ADDRESS": "10.0.0.8"}
    addresses = {name: {b.address for b in d.port_bindings(spec, environ)} for name, spec in d.services().items() if spec.get("ports")}
    assert addresses == {SERVER: {"10.0.0.7"}, UI: {"10.0.0.7"}, CODEC: {"10.0.0.7"}, INTAKE: {"10.0.0.8"}}, addresses


def test_port_bindings_read_every_short_and_long_form():
    ports = ["8000", "8000:80", "127.0.0.1:8000:80", "[::1]:8000:80/tcp", {"target": 80, "published": "8000", "host_ip": "127.0.0.1"}]
    assert d.port_bindings({"ports": ports}, {}) == [
        d.Binding(None, None, 8000), d.Binding(None, "8000", 80), d.Binding("127.0.0.1", "8000", 80), d.Binding("::1", "8000", 80),
        d.Binding("127.0.0.1", "8000", 80),
    ]


def test_postgres_port_if_published_is_5432():
    for _host, container in d.published_ports(service(POSTGRES)):
        assert container == 5432, f"postgresql publishes container port {container}, expected 5432"


def test_no_host_port_published_twice():
    seen: dict[str, str] = {}
    for name, spec in d.services().items():
        for host, _ in d.published_ports(spec):
            if host is None:
                continue
            assert host not in seen, f"host port {host} is published by both {seen[host]} and {name}"
            seen[host] = name


# --- start order -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(d.services()))
def test_depends_on_points_at_existing_services_with_what_the_condition_needs(name):
    services = d.services()
    for dependency, condition in d.depends_on(service(name)).items():
        assert dependency in services, f"{name} depends on {dependency!r}, which is not a service"
        assert condition in CONDITIONS, f"{name} depends on {dependency} with unknown condition {condition!r}"
        if condition == "service_healthy":
            assert healthchecked(dependency), f"{name} waits for {dependency} to be healthy, but {dependency} has no health check"
        if condition == "service_completed_successfully":
            restart = str(services[dependency].get("restart", "no"))
            assert restart in ("no", "False") or restart.startswith("on-failure"), (
                f"{name} waits for {dependency} to complete, but {dependency} has restart: {restart} and would never stay done"
            )


def test_start_order_has_no_cycle():
    graph = {name: set(d.depends_on(spec)) for name, spec in d.services().items()}
    done: set[str] = set()
    while graph:
        ready = [name for name, deps in graph.items() if deps <= done]
        assert ready, f"depends_on has a cycle among {sorted(graph)}"
        for name in ready:
            done.add(name)
            del graph[name]


def test_start_order_is_schema_server_namespace_worker():
    assert d.depends_on(service(SCHEMA_JOB)).get(POSTGRES) == "service_healthy"
    assert d.depends_on(service(SERVER)).get(SCHEMA_JOB) == "service_completed_successfully", (
        "the server must start only after the schema job has created/upgraded its schema"
    )
    assert d.depends_on(service(NAMESPACE_JOB)).get(SERVER) == "service_healthy"
    worker = d.depends_on(service(WORKER))
    assert worker.get(SERVER) == "service_healthy", f"worker should wait for a healthy server, got {worker}"
    assert worker.get(NAMESPACE_JOB) == "service_completed_successfully", (
        f"worker should wait for the namespace and search attributes to exist, got {worker}"
    )
    assert worker.get(APP_DB_JOB) == "service_completed_successfully", (
        f"worker should wait for its role and the task-store database to be created, got {worker}"
    )
    assert d.depends_on(service(APP_DB_JOB)).get(SCHEMA_JOB) == "service_completed_successfully", (
        "the app database job closes Temporal's databases to the engine's role: they must exist first"
    )
    assert d.depends_on(service(UI)).get(SERVER) == "service_healthy"


def test_long_running_services_restart_and_jobs_do_not():
    for name in (POSTGRES, SERVER, UI, *ENGINE_SERVICES):
        assert service(name).get("restart") in ("unless-stopped", "always"), f"{name} should restart: unless-stopped"
    for name in (SCHEMA_JOB, APP_DB_JOB, NAMESPACE_JOB):
        assert str(service(name).get("restart", "no")) == "no", f'{name} is a one-shot job: restart: "no"'


def test_worker_is_given_time_to_drain():
    options = Settings.from_env(d.environment(service(WORKER))).worker.options()
    grace = str(service(WORKER).get("stop_grace_period", "10s"))
    match = re.fullmatch(r"(\d+)s", grace)
    drain = options.shutdown_grace.total_seconds()
    assert match and int(match.group(1)) > drain, (
        f"the worker lets activities finish for {drain:.0f} s after SIGTERM; stop_grace_period {grace} would SIGKILL it first"
    )


# --- the worker's environment ----------------------------------------------------------------


def test_settings_reads_are_found():
    keys = d.settings_environment_keys()
    assert {"TEMPORAL_ADDRESS", "DATABASE_URL", "WORKER_TUNER", "WORKER_MAX_CONCURRENT_ACTIVITIES"} <= keys, (
        f"parsing settings.py found only {sorted(keys)}"
    )


def test_worker_sets_every_variable_settings_reads():
    keys = d.settings_environment_keys()
    env = d.environment(service(WORKER))
    missing = sorted(keys - set(env))
    assert not missing, f"Settings.from_env reads {missing}, which the worker service does not set"
    empty = sorted(key for key in keys if not env[key])
    assert not empty, f"the worker service sets {empty} to an empty value"


def test_worker_talks_to_the_compose_server_and_namespace():
    env = d.environment(service(WORKER))
    host, _, port = env["TEMPORAL_ADDRESS"].rpartition(":")
    assert host == SERVER and port == "7233", f"TEMPORAL_ADDRESS={env['TEMPORAL_ADDRESS']}, expected {SERVER}:7233"
    assert env["TASK_QUEUE"] == contract.TASK_QUEUE, f"TASK_QUEUE={env['TASK_QUEUE']}, the workflows use {contract.TASK_QUEUE}"
    setup = d.environment(service(NAMESPACE_JOB))
    assert setup["TEMPORAL_NAMESPACE"] == env["TEMPORAL_NAMESPACE"], (
        f"the namespace job prepares {setup['TEMPORAL_NAMESPACE']!r} but the worker uses {env['TEMPORAL_NAMESPACE']!r}"
    )
    assert d.environment(service(UI)).get("TEMPORAL_ADDRESS") == f"{SERVER}:7233"


def test_worker_database_url_is_the_compose_postgres():
    env = d.environment(service(WORKER))
    url = make_url(env["DATABASE_URL"])
    assert url.drivername == "postgresql+psycopg", f"DATABASE_URL uses driver {url.drivername}, expected postgresql+psycopg"
    assert url.host == POSTGRES, f"DATABASE_URL points at host {url.host!r}, expected the {POSTGRES} service"
    assert url.port in (None, 5432), f"DATABASE_URL port {url.port}, expected 5432"
    raw = d.raw_environment(service(WORKER))["DATABASE_URL"]
    assert "${APP_DB_PASSWORD" in raw and "${APP_DB_USER" in raw, "DATABASE_URL should take its role from APP_DB_USER/APP_DB_PASSWORD, not hard-code it"


@pytest.mark.parametrize(
    "environ",
    [None, {**d.REQUIRED_ENVIRONMENT, "POSTGRES_USER": "pg", "POSTGRES_PASSWORD": "p1", "APP_DB_USER": "engine", "APP_DB_PASSWORD": "p2"}],
    ids=["defaults", "set"],
)
def test_the_engine_uses_its_own_database_role_not_temporals(environ):
    """Issue 12, finding 7: the engine connected as Temporal's superuser."""
    temporal = d.environment(service(SERVER), environ)
    job = d.environment(service(APP_DB_JOB), environ)
    for name in (WORKER, INTAKE):
        url = make_url(d.environment(service(name), environ)["DATABASE_URL"])
        assert url.username != temporal["POSTGRES_USER"], f"{name} connects as {url.username}, Temporal's own user"
        assert url.password != temporal["POSTGRES_PWD"], f"{name} connects with Temporal's password"
        # The role and database it connects with are the ones the job creates.
        assert (url.username, url.password, url.database) == (job["APP_DB_USER"], job["APP_DB_PASSWORD"], job["APP_DBNAME"]), (
            f"{name} connects as {url.username}@{url.database}, the job makes {job['APP_DB_USER']}@{job['APP_DBNAME']}"
        )
    # The job works as the superuser the postgres image creates, and closes Temporal's databases.
    postgres = d.environment(service(POSTGRES), environ)
    assert (job["PGUSER"], job["PGPASSWORD"], job["PGHOST"]) == (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], POSTGRES)
    assert set(job["TEMPORAL_DBNAMES"].split()) == {temporal["DBNAME"], temporal["VISIBILITY_DBNAME"]}
    assert d.image_of(service(APP_DB_JOB)) == d.image_of(service(POSTGRES)), "the job's psql should be the server's release"
    script = d.APP_DB_SCRIPT.read_text()
    for needed in ("CREATE ROLE", "CREATE DATABASE %I OWNER", "REVOKE CONNECT", '"$APP_DB_USER" = "$PGUSER"'):
        assert needed in script, f"setup-app-database.sh lacks {needed!r}"


def test_worker_policy_file_is_in_the_image():
    policy = d.environment(service(WORKER))["POLICY_FILE"]
    copies = d.runtime_copies()
    assert policy in copies, f"POLICY_FILE={policy}, but the image has nothing there (copies: {sorted(copies)})"
    source, origin = copies[policy]
    assert origin is None and (d.REPO / source).is_file(), f"{policy} is copied from {source}, which is not a repository file"


# --- Temporal server and jobs ----------------------------------------------------------------


def test_server_uses_the_compose_postgres():
    env = d.environment(service(SERVER))
    postgres = d.environment(service(POSTGRES))
    assert env.get("DB") == "postgres12", f"DB={env.get('DB')}: the server's PostgreSQL plugin is postgres12"
    assert env.get("POSTGRES_SEEDS") == POSTGRES, f"POSTGRES_SEEDS={env.get('POSTGRES_SEEDS')}, expected {POSTGRES}"
    assert env.get("DB_PORT") == "5432"
    assert env.get("POSTGRES_USER") == postgres["POSTGRES_USER"], "server and postgres disagree on the user"
    assert env.get("POSTGRES_PWD") == postgres["POSTGRES_PASSWORD"], "the server's POSTGRES_PWD is not the postgres password"
    assert env.get("BIND_ON_IP") == "0.0.0.0", "the frontend must listen on all interfaces to be reachable from other containers"


def test_schema_job_prepares_the_databases_the_server_uses():
    job = d.environment(service(SCHEMA_JOB))
    server = d.environment(service(SERVER))
    postgres = d.environment(service(POSTGRES))
    for key in ("DBNAME", "VISIBILITY_DBNAME", "POSTGRES_SEEDS", "POSTGRES_USER", "DB_PORT"):
        assert job.get(key) == server.get(key), f"schema job {key}={job.get(key)} but server {key}={server.get(key)}"
    assert job.get("SQL_PASSWORD") == postgres["POSTGRES_PASSWORD"], "temporal-sql-tool reads the password from SQL_PASSWORD"
    script = d.SCHEMA_SCRIPT.read_text()
    for needed in ("--plugin postgres12", "setup-schema -v 0.0", "update-schema", "/temporal/versioned", "/visibility/versioned"):
        assert needed in script, f"setup-schema.sh lacks {needed!r}"


@pytest.mark.parametrize("job,script", [(SCHEMA_JOB, d.SCHEMA_SCRIPT), (APP_DB_JOB, d.APP_DB_SCRIPT), (NAMESPACE_JOB, d.NAMESPACE_SCRIPT)])
def test_jobs_run_their_script_from_deploy(job, script):
    spec = service(job)
    words = d.command_words(spec.get("entrypoint")) + d.command_words(spec.get("command"))
    in_container = [word for word in words if word.endswith(".sh")]
    assert in_container, f"{job} runs no script ({words})"
    host = d.host_path_for(spec, in_container[0])
    assert host == script.resolve(), f"{job} runs {in_container[0]}, which is {host} on the host, expected {script}"


def test_dynamic_config_file_is_mounted():
    spec = service(SERVER)
    path = d.environment(spec).get("DYNAMIC_CONFIG_FILE_PATH")
    assert path, "the server image ships no dynamic config: set DYNAMIC_CONFIG_FILE_PATH to a mounted file"
    absolute = path if path.startswith("/") else f"/etc/temporal/{path}"
    host = d.host_path_for(spec, absolute)
    assert host is not None and host.is_file(), f"DYNAMIC_CONFIG_FILE_PATH={path} is not a file mounted from the repository"


@pytest.mark.parametrize("name", sorted(d.services()))
def test_bind_mounts_exist_in_the_repository(name):
    for source, target in d.bind_mounts(service(name)):
        assert (d.REPO / source).exists(), f"{name} mounts {source} at {target}, but {source} does not exist"


def test_search_attributes_registered_by_the_setup_job_match_the_contract():
    expected = {key.name: CLI_TYPES[contract_type_name(key)] for key in contract.SEARCH_ATTRIBUTES}
    registered = d.script_search_attributes()
    assert registered == expected, (
        f"setup-namespace.sh registers {registered}, domain/contract.py SEARCH_ATTRIBUTES declares {expected}"
    )


def contract_type_name(key) -> str:
    from temporalio.api.enums.v1 import IndexedValueType

    return IndexedValueType.Name(key.indexed_value_type)


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX sh on this machine")
@pytest.mark.parametrize("script", [d.SCHEMA_SCRIPT, d.APP_DB_SCRIPT, d.NAMESPACE_SCRIPT], ids=lambda p: p.name)
def test_setup_scripts_are_valid_posix_sh(script):
    result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, f"sh -n {script.name}: {result.stderr}"
    assert "bash" not in script.read_text().splitlines()[0], f"{script.name} runs in Alpine's sh: no bash shebang"


# --- volumes ---------------------------------------------------------------------------------


def test_named_volumes_are_declared_and_hold_the_database():
    declared = set(d.compose().get("volumes") or {})
    for name, spec in d.services().items():
        for volume in d.named_volumes(spec):
            assert volume in declared, f"{name} uses volume {volume!r}, which is not declared under top-level volumes"
    data_volumes = [
        entry.split(":", 1)[0]
        for entry in service(POSTGRES).get("volumes") or []
        if isinstance(entry, str) and entry.endswith(":/var/lib/postgresql/data")
    ]
    assert data_volumes and data_volumes[0] in d.named_volumes(service(POSTGRES)), (
        "PostgreSQL's data directory (/var/lib/postgresql/data) should live on a named volume"
    )


# --- Dockerfile and .dockerignore ------------------------------------------------------------


def test_dockerfile_base_images_are_pinned_python_311_slim():
    _, stages = d.dockerfile_stages()
    names = {stage.name for stage in stages if stage.name}
    for stage in stages:
        if stage.base in names:
            continue  # FROM an earlier stage
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?", stage.base), (
            f"base image {stage.base!r} is not a pinned python:3.11.<patch>-slim tag"
        )


def test_dockerfile_runs_as_non_root():
    _, stages = d.dockerfile_stages()
    user = stages[-1].last("USER")
    assert user is not None, "the runtime stage sets no USER: the worker would run as root"
    name = user.split(":", 1)[0]
    assert name not in ("root", "0"), f"USER {user} is root"


def test_dockerfile_cmd_runs_the_worker():
    _, stages = d.dockerfile_stages()
    cmd = d.exec_form(stages[-1].last("CMD"))
    assert cmd == ["python", "worker.py"], f'CMD is {stages[-1].last("CMD")}, expected ["python", "worker.py"]'
    workdir = stages[-1].last("WORKDIR")
    assert workdir == "/app", f"WORKDIR is {workdir}; POLICY_FILE and `python worker.py` assume /app"
    assert "/app/worker.py" in d.runtime_copies(), "the runtime stage does not put worker.py in /app"


def test_dockerfile_healthcheck_script_is_shipped():
    _, stages = d.dockerfile_stages()
    check = stages[-1].last("HEALTHCHECK")
    assert check and check.upper() != "NONE", "the runtime stage has no HEALTHCHECK"
    command = d.exec_form(check.split("CMD", 1)[1].strip())
    assert command and command[0] == "python", f"HEALTHCHECK runs {check}"
    copies = d.runtime_copies()
    assert command[-1] in copies, f"HEALTHCHECK runs {command[-1]}, which no COPY puts there"
    source, origin = copies[command[-1]]
    assert origin is None and (d.REPO / source).is_file(), f"the health check script {source} is not in the repository"


def test_dockerignore_keeps_local_state_and_tests_out():
    patterns = {
        line.strip().rstrip("/") for line in d.DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    }
    for required in (".venv", "data", "tests", ".git"):
        assert required in patterns, f".dockerignore does not exclude {required}"
    for needed in ("config", "deploy", "worker.py", "pyproject.toml"):
        assert needed not in patterns, f".dockerignore excludes {needed}, which the image build needs"


# --- Compose specification -------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification():
    """Validates against compose-spec.json as vendored by check-jsonschema (a PyPI package);
    `docker compose config` would be the real check, but needs the compose plugin."""
    try:
        schema_file = importlib.resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
        schema = json.loads(schema_file.read_text(encoding="utf-8"))
    except (ModuleNotFoundError, FileNotFoundError):
        pytest.skip("check-jsonschema (which vendors the Compose specification schema) is not installed")
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(d.compose()), key=lambda error: list(error.absolute_path))
    assert not errors, "docker-compose.yml does not match the Compose specification:\n" + "\n".join(
        f"  at {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}" for error in errors
    )


# --- worker tuning and metrics ---------------------------------------------------------------


def test_worker_tuning_in_the_compose_file_is_valid_with_defaults_and_when_overridden():
    assert Settings.from_env(d.environment(service(WORKER))).worker.options().tuner == "fixed"
    overridden = {**d.REQUIRED_ENVIRONMENT, "WORKER_TUNER": "resource-based", "WORKER_MAX_CONCURRENT_ACTIVITIES": "32"}
    options = Settings.from_env(d.environment(service(WORKER), overridden)).worker.options()
    assert options.tuner == "resource-based" and options.max_concurrent_activities == 32


def test_every_worker_replica_serves_metrics_inside_the_network_and_publishes_no_host_port():
    env = d.environment(service(WORKER))
    address = Settings.from_env(env).worker.options().metrics_address
    assert address is not None, "the worker serves no metrics: set WORKER_METRICS_ADDRESS"
    host, _, port = address.rpartition(":")
    assert host == "0.0.0.0", f"WORKER_METRICS_ADDRESS={address}: other containers (Prometheus) could not reach it"
    assert port in [str(p) for p in service(WORKER).get("expose") or []], f"the worker does not expose its metrics port {port}"
    assert not d.published_ports(service(WORKER)), "a published host port would stop `--scale worker=3`: replicas would clash"


# --- intake and codec server -----------------------------------------------------------------


def _listening_port(name: str) -> int:
    words = d.command_words(service(name).get("command"))
    assert words[:2] == ["postinterview", name], f"{name} should run `postinterview {name}`, runs {words}"  # the service is named as its command
    assert words[words.index("--host") + 1] == "0.0.0.0", f"{name} listens on loopback only: {words}"
    return int(words[words.index("--port") + 1])


@pytest.mark.parametrize("name", [INTAKE, CODEC])
def test_intake_and_codec_server_run_the_cli_of_the_engine_image(name):
    spec = service(name)
    assert spec.get("build") == service(WORKER).get("build"), f"{name} should be built like the worker, from the repository's Dockerfile"
    port = _listening_port(name)
    assert any(container == port for _, container in d.published_ports(spec)), f"{name} listens on {port} but does not publish it"


@pytest.mark.parametrize("name", [INTAKE, CODEC])
def test_intake_and_codec_server_have_their_own_health_check(name):
    """The image's HEALTHCHECK asks whether a *worker* polls; the other services built from it
    must replace it with one that asks them."""
    check = service(name).get("healthcheck")
    assert check and check.get("test"), f"{name} inherits the worker's health check from the Dockerfile"
    command = " ".join(d.command_words(check["test"]))
    assert f"http://127.0.0.1:{_listening_port(name)}/healthz" in command, f"{name} health check: {command}"
    assert command.split()[1] == "python", "the slim image has no curl or wget: the check must run python"


def test_intake_shares_the_workers_temporal_queue_and_database():
    worker, intake = d.environment(service(WORKER)), d.environment(service(INTAKE))
    for key in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TASK_QUEUE", "DATABASE_URL"):
        assert intake.get(key) == worker[key], f"the intake's {key}={intake.get(key)!r}, the worker's {worker[key]!r}"
    assert d.depends_on(service(INTAKE)).get(POSTGRES) == "service_healthy"
    assert d.depends_on(service(INTAKE)).get(APP_DB_JOB) == "service_completed_successfully", "the intake table's database and role must exist"


def test_intake_gets_its_secrets_and_the_mapping_file_in_the_image():
    env = d.environment(service(INTAKE))
    from intake.config import SECRET_SETTINGS

    missing = sorted(set(SECRET_SETTINGS) - set(env))
    assert not missing, f"the intake service does not pass {missing} through"
    for key in SECRET_SETTINGS:
        assert d.raw_environment(service(INTAKE))[key] == f"${{{key}:-}}", f"{key} should come from the deployer's environment"
    copies = d.runtime_copies()
    assert env["INTAKE_CONFIG"] in copies, f"INTAKE_CONFIG={env['INTAKE_CONFIG']}, but the image has nothing there"


def test_payload_keys_reach_worker_intake_and_codec_and_are_required():
    for name in ENGINE_SERVICES:
        raw = d.raw_environment(service(name)).get("PAYLOAD_ENCRYPTION_KEYS", "")
        assert raw.startswith("${PAYLOAD_ENCRYPTION_KEYS:?"), f"{name} does not require PAYLOAD_ENCRYPTION_KEYS: {raw!r}"
        assert d.environment(service(name))["PAYLOAD_ENCRYPTION_KEYS"] == d.REQUIRED_ENVIRONMENT["PAYLOAD_ENCRYPTION_KEYS"]
        with pytest.raises(AssertionError, match="PAYLOAD_ENCRYPTION_KEYS"):
            d.environment(service(name), {})  # nobody set it: compose refuses to start


def test_the_codec_server_requires_its_token():
    """Issue 12, finding 7: it decrypted any history for anyone who reached it."""
    raw = d.raw_environment(service(CODEC)).get("CODEC_SERVER_TOKEN", "")
    assert raw.startswith("${CODEC_SERVER_TOKEN:?"), f"compose should refuse to start without CODEC_SERVER_TOKEN: {raw!r}"
    with pytest.raises(AssertionError, match="CODEC_SERVER_TOKEN"):
        d.environment(service(CODEC), {"PAYLOAD_ENCRYPTION_KEYS": d.REQUIRED_ENVIRONMENT["PAYLOAD_ENCRYPTION_KEYS"]})
    # As the container starts: the token reaches the settings, and the server's own check (it
    # listens on every interface of its container) lets it start.
    from service.codec_server import CodecServerExposed, check_exposure

    words = d.command_words(service(CODEC).get("command"))
    host = words[words.index("--host") + 1]
    token = Settings.from_env(d.environment(service(CODEC))).codec_server.bearer_token()
    assert token == d.REQUIRED_ENVIRONMENT["CODEC_SERVER_TOKEN"]
    check_exposure(host, token)
    with pytest.raises(CodecServerExposed):
        check_exposure(host, None)


@pytest.mark.parametrize("name", [WORKER, INTAKE, CODEC])
def test_engine_services_set_only_variables_the_engine_reads(name):
    """A misspelt variable in the compose file would be ignored without a word."""
    from service.settings import environment_variables

    known = set(environment_variables())
    unknown = sorted(set(d.raw_environment(service(name))) - known)
    assert not unknown, f"{name} sets {unknown}, which service/settings.py does not read"


def test_every_variable_the_compose_file_uses_is_documented_or_required():
    documented = (d.REPO / "README.md").read_text() + (d.REPO / "deploy" / "README.md").read_text() + d.COMPOSE_FILE.read_text().split("\nname:", 1)[0]
    for name, operators in d.variables_used().items():
        assert operators & {":-", "-", ":?", "?"}, f"${{{name}}} has neither a default nor a required-error"
        mentioned = re.search(rf"(?<![A-Z0-9_]){name}(?![A-Z0-9_])", documented) is not None
        assert mentioned, (
            f"${{{name}}} is used by docker-compose.yml but documented neither in its header nor in README.md or deploy/README.md"
        )
        if operators & {":?", "?"}:
            assert name in d.REQUIRED_ENVIRONMENT, f"{name} is required by the compose file: add it to deployfiles.REQUIRED_ENVIRONMENT"


def test_ui_decrypts_through_the_codec_server_published_for_the_browser():
    endpoint = d.environment(service(UI)).get("TEMPORAL_CODEC_ENDPOINT")
    assert endpoint, "the UI is not pointed at the codec server (TEMPORAL_CODEC_ENDPOINT)"
    published = {container: host for host, container in d.published_ports(service(CODEC))}
    port = _listening_port(CODEC)
    assert endpoint == f"http://localhost:{published[port]}", f"the browser reaches the codec server at localhost:{published[port]}, not {endpoint}"
    ui_host_port = next(host for host, container in d.published_ports(service(UI)) if container == 8080)
    origins = Settings.from_env(d.environment(service(CODEC))).codec_server.allowed_origins()
    assert f"http://localhost:{ui_host_port}" in origins, f"the codec server refuses the UI's origin: CORS allows {origins}"
    # The codec server requires its token; the UI reaches it with the cookie of its /login page.
    assert d.environment(service(UI)).get("TEMPORAL_CODEC_INCLUDE_CREDENTIALS") == "true", "the UI would not send the codec session cookie"
