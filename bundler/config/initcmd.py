"""``bundler init``: write a ``[tool.bundler]`` table for an existing project."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bundler.config.project import ProjectMeta, read_project
from bundler.errors import ConfigError

LOCK_CANDIDATES = ("pylock.toml", "requirements.txt", "requirements.lock")


@dataclass(frozen=True)
class InitPlan:
    pyproject: Path
    entries: tuple[str, ...]
    lock: str | None
    gui: bool
    text: str  # the table to append


def find_lock(project: Path) -> str | None:
    """pylock.toml, pylock.<name>.toml, or a requirements file with hashes."""
    for name in LOCK_CANDIDATES:
        p = project / name
        if p.is_file() and (name.endswith(".toml") or "--hash=" in p.read_text(errors="replace")):
            return name
    named = sorted(project.glob("pylock.*.toml"))
    return named[0].name if named else None


def _toml_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def plan_init(project: Path, create: bool = False) -> InitPlan:
    """The table to append to *project*'s pyproject.toml (*create*: a new pyproject.toml for a setup.py project)."""
    path = project / "pyproject.toml"
    meta = read_project(project)
    if not path.is_file():
        if not meta.source:
            raise ConfigError(f"{project}: no pyproject.toml, setup.py or setup.cfg; bundler init configures an existing project")
        if not create:
            raise ConfigError(f"{project}: a {meta.source.name} project has no pyproject.toml to hold [tool.bundler]; "
                              f"build it with `{_build_command(project, meta)}`, or run `bundler init --create "
                              f"{project}` to write a pyproject.toml with only that table")
        data: dict = {}
    else:
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file first") from exc
    if "bundler" in data.get("tool", {}):
        raise ConfigError(f"{path}: already has a [tool.bundler] table; edit it instead")
    scripts = tuple(e.split("=", 1)[0] for e in meta.scripts)
    gui_scripts = tuple(e.split("=", 1)[0] for e in meta.gui_scripts)
    entries = scripts + gui_scripts
    lock = find_lock(project)
    lines = ["", "[tool.bundler]", "# Written by `bundler init`; every key has a CLI flag of the same name (see the README)."]
    if entries:
        lines.append(f"entry = {_toml_list(entries)}")
    else:
        lines.append('# entry = ["NAME=module:function"]  # the project declares no [project.scripts]')
    if lock:
        lines.append(f"lock = {json.dumps(lock)}")
    else:
        lines.append('# lock = "pylock.toml"  # make one with: pip lock . -o pylock.toml')
    lines.append('format = ["onefile"]')
    if gui_scripts and not scripts:
        lines.append("gui = true")
    text = "\n".join(lines) + "\n"
    return InitPlan(path, entries, lock, bool(gui_scripts and not scripts), text)


def _build_command(project: Path, meta: ProjectMeta) -> str:
    """The `bundler build` line that works for *project* without a [tool.bundler] table."""
    lock = find_lock(project) or "pylock.toml"
    names = [e.split("=", 1)[0] for e in meta.scripts + meta.gui_scripts] or ["NAME=module:function"]
    gui = " --gui" if meta.gui_scripts and not meta.scripts else ""
    return f"bundler build {project} --lock {project / lock} " + " ".join(f"--entry {n}" for n in names) + gui


def apply_init(plan: InitPlan) -> None:
    if not plan.pyproject.exists():
        tomllib.loads(plan.text)
        plan.pyproject.write_text(plan.text.lstrip("\n"))
        return
    current = plan.pyproject.read_text()
    sep = "" if current.endswith("\n") else "\n"
    new = current + sep + plan.text
    tomllib.loads(new)  # never write a file that no longer parses
    plan.pyproject.write_text(new)


