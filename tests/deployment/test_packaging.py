"""What `pip install .` (and the image) installs is the whole engine: every package of the source
tree is listed in pyproject.toml, and every template and static file in its package data. The
tests run from the source tree, where an unlisted package still imports; the installed
`postinterview` command does not find it (a new package, privacy/, once broke `make run` so)."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_SHIPPED = {"tests", "bench", "build", "data", "deploy", "docs"}


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _source_packages() -> set[str]:
    found = set()
    for init in ROOT.rglob("__init__.py"):
        parts = init.parent.relative_to(ROOT).parts
        if not parts or parts[0] in NOT_SHIPPED or parts[0].startswith(".") or any(p.endswith(".egg-info") for p in parts):
            continue
        found.add(".".join(parts))
    return found


def test_every_package_of_the_source_tree_is_installed():
    listed = set(_setuptools()["packages"])
    assert _source_packages() <= listed, sorted(_source_packages() - listed)


def test_every_template_and_static_file_is_in_the_package_data():
    data = _setuptools()["package-data"]
    for package, patterns in data.items():
        folder = ROOT / package.replace(".", "/")
        for sub in ("templates", "static"):
            for path in (folder / sub).rglob("*") if (folder / sub).is_dir() else []:
                if path.is_file() and "__pycache__" not in path.parts:
                    relative = path.relative_to(folder).as_posix()
                    assert any(fnmatch(relative, pattern) for pattern in patterns), f"{package}/{relative} is not shipped: add it to package-data"
