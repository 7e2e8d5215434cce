"""The layering, read from every module's imports (the syntax tree, so nothing is executed).

The rules, inside the project (third-party libraries aside):
- domain/ imports only domain/ (what the process is depends on nothing else), and of Temporal
  only `temporalio.common` (the search attribute keys of the contract): never the workflow API.
- workflows/ imports only domain/ and workflows/: deterministic code, which calls activities by
  their names (domain.names), never by importing activities/.
- activities/ imports only domain/, store/ and activities/: the edges (intake, inbox, CLI) and
  the workflows are not theirs to reach.
- store/ imports only domain/ and store/.
- codec/ (payload encryption) imports nothing of the project; process_client/ only codec/ and domain/.
- metrics/ imports domain/ and store/ (the intake's backlog); intake/ and inbox/, the two sides of the
  HTTP service, import domain/, store/, process_client/ (and intake/ metrics/), never each other.
- service/ (the plumbing of the runnable processes) is imported only by the entry points.
- service/ (settings, the HTTP service, the codec server, logging) is imported only by the entry
  points that run processes: worker.py, cli/ and deploy/ (and tests, and the benchmark).
- intake/ and inbox/ never import each other: service/http.py mounts them side by side.
- privacy/ (erasure) imports codec/, domain/, store/ and process_client/; intake/ may import it
  (its forwarder carries out the ATS's erasure requests).
Imports under `if TYPE_CHECKING:` and inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Top-level names of the project's own packages and modules.
PROJECT = {p.stem for p in ROOT.glob("*.py")} | {
    p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.py"))
}

ALLOWED = {
    "domain": {"domain"},
    "workflows": {"domain", "workflows"},
    "activities": {"activities", "domain", "store"},
    "store": {"domain", "store"},
    "codec": {"codec", "domain"},
    "process_client": {"process_client", "codec", "domain"},
    "metrics": {"metrics", "domain", "store"},
    "intake": {"intake", "domain", "store", "metrics", "process_client", "privacy"},
    "inbox": {"inbox", "domain", "store", "process_client"},
    "privacy": {"privacy", "codec", "domain", "store", "process_client"},
}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file; relative ones resolved."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def modules(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


def test_the_project_and_its_layers_are_found():
    assert {"domain", "workflows", "activities", "store", "worker", "tests"} <= PROJECT
    for layer in ALLOWED:
        assert modules(layer), layer


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_it_may(layer: str):
    slips = []
    for path in modules(layer):
        for line, module in imports(path):
            top = module.split(".")[0]
            if top in PROJECT and top not in ALLOWED[layer]:
                slips.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not slips, f"{layer}/ may import only {sorted(ALLOWED[layer])} of the project:\n" + "\n".join(slips)


def test_the_domain_uses_nothing_of_temporal_but_its_common_types():
    slips = []
    for path in modules("domain"):
        for line, module in imports(path):
            if module.split(".")[0] == "temporalio" and module != "temporalio.common":
                slips.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not slips, "domain/ must not depend on the workflow API:\n" + "\n".join(slips)


# What may import service/: the entry points (and service/ itself).
SERVICE_IMPORTERS = {"service", "worker", "cli", "deploy", "tests", "bench"}


def test_only_the_entry_points_import_service():
    slips = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0].startswith(".") or relative.with_suffix("").parts[0] in SERVICE_IMPORTERS:
            continue
        for line, module in imports(path):
            if module.split(".")[0] == "service":
                slips.append(f"{relative}:{line} imports {module}")
    assert not slips, "only the entry points (worker.py, cli/, deploy/) may import service/:\n" + "\n".join(slips)


def test_intake_and_inbox_do_not_import_each_other():
    slips = []
    for layer, other in (("intake", "inbox"), ("inbox", "intake")):
        for path in modules(layer):
            for line, module in imports(path):
                if module.split(".")[0] == other:
                    slips.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not slips, "intake/ and inbox/ are mounted side by side by service/http.py, never import each other:\n" + "\n".join(slips)
