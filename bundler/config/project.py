"""What a local project says about itself, read statically: name, version, scripts, gui scripts.

From ``pyproject.toml``'s ``[project]`` table, else ``setup.cfg``'s
``[metadata]``/``[options.entry_points]``, else the literal keyword arguments
of the ``setup()`` call in ``setup.py`` (read with ``ast``, never run). Values
computed at build time (a ``dynamic`` version, a variable) are not known here:
they are None, and the caller says what to pass instead.
"""

from __future__ import annotations

import ast
import configparser
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name


@dataclass(frozen=True)
class ProjectMeta:
    source: Path | None  # the file the name came from; None when nothing was found
    name: str | None = None
    version: str | None = None
    scripts: tuple[str, ...] = ()  # console scripts: "name=module:function"
    gui_scripts: tuple[str, ...] = ()
    has_bundler_table: bool = False

    @property
    def canonical_name(self) -> str | None:
        return str(canonicalize_name(self.name)) if self.name else None


def read_project(directory: Path) -> ProjectMeta:
    """The static metadata of the project in *directory* (see the module docstring)."""
    found = [m for m in (_from_pyproject(directory), _from_setup_cfg(directory), _from_setup_py(directory)) if m]
    named = [m for m in found if m.name]
    return (named or found or [ProjectMeta(source=None)])[0]


def _from_pyproject(directory: Path) -> ProjectMeta | None:
    path = directory / "pyproject.toml"
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    project = data.get("project") or {}
    if not isinstance(project, dict):
        project = {}
    version = project.get("version") if isinstance(project.get("version"), str) else None
    return ProjectMeta(
        source=path,
        name=project.get("name") if isinstance(project.get("name"), str) else None,
        version=version,
        scripts=_entries(project.get("scripts")),
        gui_scripts=_entries(project.get("gui-scripts")),
        has_bundler_table=isinstance(data.get("tool"), dict) and "bundler" in data["tool"],
    )


def _entries(table: object) -> tuple[str, ...]:
    if not isinstance(table, dict):
        return ()
    return tuple(f"{k}={v}" for k, v in sorted(table.items()) if isinstance(v, str))


def _from_setup_cfg(directory: Path) -> ProjectMeta | None:
    path = directory / "setup.cfg"
    if not path.is_file():
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text())
    except (configparser.Error, UnicodeDecodeError):
        return None
    name = parser.get("metadata", "name", fallback=None)
    version = parser.get("metadata", "version", fallback=None)
    if version and version.startswith(("attr:", "file:")):
        version = None

    def section(key: str) -> tuple[str, ...]:
        text = parser.get("options.entry_points", key, fallback="")
        return tuple(sorted("=".join(p.strip() for p in line.split("=", 1)) for line in text.splitlines() if "=" in line))

    return ProjectMeta(source=path, name=name, version=version, scripts=section("console_scripts"),
                       gui_scripts=section("gui_scripts"))


def _from_setup_py(directory: Path) -> ProjectMeta | None:
    path = directory / "setup.py"
    if not path.is_file():
        return None
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "setup":
            kwargs = {k.arg: k.value for k in node.keywords if k.arg}
            points = _literal(kwargs.get("entry_points"))
            points = points if isinstance(points, dict) else {}
            return ProjectMeta(
                source=path,
                name=_str(_literal(kwargs.get("name"))),
                version=_str(_literal(kwargs.get("version"))),
                scripts=_setup_entries(points.get("console_scripts")),
                gui_scripts=_setup_entries(points.get("gui_scripts")),
            )
    return None


def _literal(node: ast.expr | None) -> object:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _setup_entries(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(sorted("=".join(p.strip() for p in str(v).split("=", 1)) for v in value if "=" in str(v)))
