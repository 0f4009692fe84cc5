"""pyproject.toml lists every package and data file of the four layer folders.

setuptools cannot discover packages through the ``package-dir`` mapping, so the list is kept
by hand; these checks fail as soon as a new folder or data file is missing from it (the wheel
test in .ci/wheel-test then proves the installed wheel works).
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
FOLDERS = {name: ROOT / folder for name, folder in CONFIG["package-dir"].items()}


def _package_of(path: Path) -> str:
    for name, folder in FOLDERS.items():
        if name != "ventbench" and path.is_relative_to(folder):
            return ".".join([name, *path.relative_to(folder).parts])
    return ".".join(["ventbench", *path.relative_to(FOLDERS["ventbench"]).parts])


def _folder_of(package: str) -> Path:
    parts = package.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in FOLDERS:
            return FOLDERS[".".join(parts[:n])].joinpath(*parts[n:])
    raise AssertionError(f"{package} is not under package-dir")


def test_every_package_folder_is_listed():
    found = {_package_of(init.parent) for folder in FOLDERS.values()
             for init in folder.rglob("__init__.py")}
    assert found == set(CONFIG["packages"])


def test_every_data_file_is_package_data():
    missing = []
    for folder in FOLDERS.values():
        for path in folder.rglob("*"):
            if path.is_dir() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
                continue
            package = _package_of(path.parent)
            while package not in CONFIG["packages"]:
                package = package.rsplit(".", 1)[0]
            patterns = CONFIG["package-data"].get(package, [])
            rel = path.relative_to(_folder_of(package))
            if not any(fnmatch.fnmatch(str(rel), pattern) for pattern in patterns):
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"
