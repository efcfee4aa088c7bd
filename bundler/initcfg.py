"""``bundler init``: write a ``[tool.bundler]`` table for an existing project."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

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


def plan_init(project: Path) -> InitPlan:
    path = project / "pyproject.toml"
    if not path.is_file():
        raise ConfigError(f"{path}: no pyproject.toml; bundler init configures an existing project")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file first") from exc
    if "bundler" in data.get("tool", {}):
        raise ConfigError(f"{path}: already has a [tool.bundler] table; edit it instead")
    meta = data.get("project", {})
    scripts = tuple(sorted(meta.get("scripts", {})))
    gui_scripts = tuple(sorted(meta.get("gui-scripts", {})))
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


def apply_init(plan: InitPlan) -> None:
    current = plan.pyproject.read_text()
    sep = "" if current.endswith("\n") else "\n"
    new = current + sep + plan.text
    tomllib.loads(new)  # never write a file that no longer parses
    plan.pyproject.write_text(new)


