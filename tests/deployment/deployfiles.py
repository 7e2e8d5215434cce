"""Reading the deployment files the way Docker Compose and Docker would, for the checks in
tests/deployment. No Docker engine is needed: `docker compose config` is not available here, so
interpolation, port syntax and Dockerfile instructions are parsed by these small helpers.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
NAMESPACE_SCRIPT = REPO / "deploy" / "temporal" / "setup-namespace.sh"
SCHEMA_SCRIPT = REPO / "deploy" / "temporal" / "setup-schema.sh"
APP_DB_SCRIPT = REPO / "deploy" / "postgres" / "setup-app-database.sh"


@cache
def compose() -> dict[str, Any]:
    with COMPOSE_FILE.open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    assert isinstance(document, dict), f"{COMPOSE_FILE.name} is not a YAML mapping"
    return document


def services() -> dict[str, dict[str, Any]]:
    found = compose().get("services")
    assert isinstance(found, dict) and found, f"{COMPOSE_FILE.name} declares no services"
    return found


# --- interpolation -------------------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$\$"  # an escaped dollar
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"  # ${NAME}, ${NAME:-default}, ...
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"  # $NAME
)


# What a deployer must set (`${NAME:?...}` in the compose file): a key in the format
# PAYLOAD_ENCRYPTION_KEYS takes (id:base64 of 32 bytes), the codec server's token.
REQUIRED_ENVIRONMENT = {"PAYLOAD_ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=", "CODEC_SERVER_TOKEN": "codec-token-for-the-checks"}


def variables_used() -> dict[str, set[str]]:
    """{variable: the operators it is used with ('' for a plain ${NAME})} over the whole compose
    file as written (`$$` escapes, for the container's shell, are not compose variables)."""
    used: dict[str, set[str]] = {}
    for match in _VARIABLE.finditer(COMPOSE_FILE.read_text(encoding="utf-8")):
        name = match.group("name") or match.group("bare")
        if name:
            used.setdefault(name, set()).add(match.group("op") or "")
    return used


def interpolate(value: Any, environ: dict[str, str] | None = None) -> Any:
    """Compose's variable substitution, by default for an environment with only the required
    variables set: what the stack runs with when the deployer sets nothing else."""
    if not isinstance(value, str):
        return value
    environ = REQUIRED_ENVIRONMENT if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        current = environ.get(name)
        if op in (":-", ":?"):
            missing = not current
        else:
            missing = current is None
        if op in (":-", "-") and missing:
            return arg
        if op in (":?", "?") and missing:
            raise AssertionError(f"${{{name}}} is required ({arg})")
        return current or ""

    return _VARIABLE.sub(substitute, value)


def raw_environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as written (mapping or list form), before interpolation."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def environment(service: dict[str, Any], environ: dict[str, str] | None = None) -> dict[str, str]:
    """A service's environment, interpolated with the defaults (and `environ`, if given)."""
    return {key: interpolate(value, environ) for key, value in raw_environment(service).items()}


# --- services ------------------------------------------------------------------------------


def image_of(service: dict[str, Any]) -> tuple[str, str | None]:
    """(repository, tag) of a service's image; tag None when there is none."""
    image = interpolate(service["image"])
    name, _, _digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = name.rsplit(":", 1)
        return repository, tag
    return name, None


@dataclass(frozen=True)
class Binding:
    """One published port: the host address it listens on (None: every interface), the host
    port (None: one Docker picks) and the container port."""

    address: str | None
    host_port: str | None
    container: int


def port_bindings(service: dict[str, Any], environ: dict[str, str] | None = None) -> list[Binding]:
    """A service's `ports`, short ([ADDRESS:][HOST_PORT:]CONTAINER[/proto], ADDRESS possibly
    [v6]) or long syntax, interpolated like `interpolate`."""
    result: list[Binding] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            published = interpolate(str(entry["published"]), environ) if entry.get("published") else None
            address = interpolate(str(entry["host_ip"]), environ) if entry.get("host_ip") else None
            result.append(Binding(address or None, published or None, int(entry["target"])))
            continue
        spec = interpolate(str(entry), environ).split("/", 1)[0]
        address = None
        if spec.startswith("["):
            address, _, spec = spec[1:].partition("]")
            spec = spec.removeprefix(":")
        parts = spec.split(":")
        if len(parts) == 3:
            address, parts = parts[0], parts[1:]
        host_port = parts[0] if len(parts) == 2 else None
        result.append(Binding(address or None, host_port or None, int(parts[-1])))
    return result


def published_ports(service: dict[str, Any]) -> list[tuple[str | None, int]]:
    """(host port, container port) pairs of a service's `ports`, short or long syntax."""
    return [(binding.host_port, binding.container) for binding in port_bindings(service)]


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """{dependency: condition}; the list form means service_started."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return {name: "service_started" for name in raw}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of the bind mounts given as relative or absolute paths."""
    mounts = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            if entry.get("type") == "bind":
                mounts.append((entry["source"], entry["target"]))
            continue
        source, _, rest = interpolate(entry).partition(":")
        if source.startswith((".", "/", "~")):
            mounts.append((source, rest.split(":", 1)[0]))
    return mounts


def named_volumes(service: dict[str, Any]) -> list[str]:
    names = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            if entry.get("type") == "volume" and entry.get("source"):
                names.append(entry["source"])
            continue
        source, separator, _ = interpolate(entry).partition(":")
        if separator and not source.startswith((".", "/", "~")):
            names.append(source)
    return names


def host_path_for(service: dict[str, Any], container_path: str) -> Path | None:
    """The repository file a bind mount puts at `container_path`, if any."""
    for source, target in bind_mounts(service):
        target = target.rstrip("/")
        if container_path == target or container_path.startswith(target + "/"):
            return (REPO / source).resolve() / container_path[len(target) :].lstrip("/")
    return None


def command_words(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(word) for word in value]
    return shlex.split(str(value))


# --- service/settings.py ---------------------------------------------------------------------


def settings_environment_keys() -> set[str]:
    """Every environment variable the worker's own settings read (service/settings.py): the core
    ones (Temporal, task queue, store, policy, logs, payload keys) and the WORKER_* section, not
    the sections a deployment may leave unset (delivery channels, links, the other processes')."""
    from service.settings import Settings, WorkerSection, environment_variables

    return set(environment_variables(Settings, sections=False)) | set(environment_variables(WorkerSection))


# --- setup scripts -------------------------------------------------------------------------


def script_search_attributes() -> dict[str, str]:
    """{name: CLI type} from the SEARCH_ATTRIBUTES block of setup-namespace.sh."""
    text = NAMESPACE_SCRIPT.read_text(encoding="utf-8")
    match = re.search(r"^SEARCH_ATTRIBUTES='(?P<body>[^']*)'", text, re.MULTILINE)
    assert match, f"{NAMESPACE_SCRIPT.relative_to(REPO)} has no SEARCH_ATTRIBUTES='...' block"
    attributes: dict[str, str] = {}
    for line in match.group("body").splitlines():
        words = line.split()
        if not words:
            continue
        assert len(words) == 2, f"SEARCH_ATTRIBUTES line {line!r} is not 'Name Type'"
        name, type_ = words
        assert name not in attributes, f"search attribute {name} listed twice"
        attributes[name] = type_
    return attributes


# --- Dockerfile ----------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, keyword: str) -> str | None:
        values = [args for instruction, args in self.instructions if instruction == keyword]
        return values[-1] if values else None

    def all(self, keyword: str) -> list[str]:
        return [args for instruction, args in self.instructions if instruction == keyword]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped by Docker too
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    if current:
        logical.append(current)
    instructions = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def dockerfile_stages() -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages in order)."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, value in dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword == "FROM":
            words = [word for word in value.split() if not word.startswith("--")]
            base = interpolate(words[0], args)
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name))
        elif not stages:
            if keyword == "ARG":
                key, _, default = value.partition("=")
                args[key.strip()] = default.strip().strip('"')
        else:
            stages[-1].instructions.append((keyword, value))
    assert stages, "the Dockerfile has no FROM"
    return args, stages


def runtime_copies() -> dict[str, tuple[str, str | None]]:
    """{absolute path in the image: (source, --from stage or None)} for the files the final
    stage copies, destinations resolved against the WORKDIR in force at each COPY."""
    _, stages = dockerfile_stages()
    workdir = "/"
    copies: dict[str, tuple[str, str | None]] = {}
    for keyword, value in stages[-1].instructions:
        if keyword == "WORKDIR":
            workdir = posixpath.join(workdir, value)
        elif keyword in ("COPY", "ADD"):
            words = value.split()
            origin = next((word.split("=", 1)[1] for word in words if word.startswith("--from=")), None)
            paths = [word for word in words if not word.startswith("--")]
            *sources, destination = paths
            destination = posixpath.join(workdir, destination)
            for source in sources:
                if destination.endswith("/") or destination.endswith("/.") or len(sources) > 1:
                    target = posixpath.join(destination, posixpath.basename(source.rstrip("/")))
                else:
                    target = destination
                copies[posixpath.normpath(target)] = (source, origin)
    return copies


def exec_form(value: str | None) -> list[str] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, list) else None
