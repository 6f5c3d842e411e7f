"""The wheel holds every package and data file the code imports or reads.

A plain ``pip install .`` (not editable) installs only the packages listed in ``pyproject.toml``; a
sub-package missing from the list works in the editable checkout and fails for every user
(``No module named 'hwq.commands'``). These tests compare the list with the folders on disk.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _package_folders() -> dict[str, Path]:
    """Import name -> folder of every package under the mapped roots (folders holding ``__init__.py``)."""
    found: dict[str, Path] = {}
    for name, folder in SETUPTOOLS["package-dir"].items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(base)
            dotted = ".".join((name, *rel.parts)) if rel.parts else name
            found[dotted] = init.parent
    return found


def test_every_package_folder_is_listed() -> None:
    listed = set(SETUPTOOLS["packages"])
    missing = sorted(set(_package_folders()) - listed)
    assert not missing, f"pyproject.toml [tool.setuptools] packages lacks {missing}"


def test_every_listed_package_exists() -> None:
    stale = sorted(set(SETUPTOOLS["packages"]) - set(_package_folders()))
    assert not stale, f"pyproject.toml lists packages with no folder: {stale}"


def test_package_data_covers_every_data_file_and_each_glob_matches() -> None:
    data = SETUPTOOLS["package-data"]
    folders = _package_folders()
    uncovered = []
    for name, folder in folders.items():
        globs = data.get(name, [])
        for path in folder.rglob("*"):
            if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            # files inside a sub-package belong to that sub-package's entry
            owner = max((n for n, f in folders.items() if path.is_relative_to(f)), key=len)
            if owner != name:
                continue
            rel = path.relative_to(folder).as_posix()
            if not any(fnmatch.fnmatch(rel, g) and rel.count("/") == g.count("/") for g in globs):
                uncovered.append(f"{name}: {rel}")
    assert not uncovered, f"data files not in package-data (missing from the wheel): {uncovered}"
    for name, globs in data.items():
        for g in globs:
            assert list(folders[name].glob(g)), f"package-data {name} {g!r} matches no file"
