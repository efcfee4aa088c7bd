"""Whether an app needs tkinter (a GUI app), read from its wheels before the interpreter is staged.

Without ``gui``, the runtime leaves out tkinter and Tcl/Tk; an app that needs
them would build and then crash with ``No module named 'tkinter'``. So an app
turns ``gui`` on by itself when an entry point is a ``gui_scripts`` script of
a locked wheel, when any module of the app's own wheels imports tkinter, or
when a dependency imports it from its top-level module (``customtkinter``;
a package that only has an optional Tk backend deeper down, like
matplotlib's, does not count). ``gui = false`` set by the user wins.
"""

from __future__ import annotations

import configparser
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

from bundler.deps.wheelpaths import installed_path

_TK_IMPORT = re.compile(rb"^[ \t]*(?:import[ \t]+_?tkinter\b|from[ \t]+_?tkinter\b)", re.MULTILINE)


def imports_tkinter(source: bytes) -> bool:
    return _TK_IMPORT.search(source) is not None


def _gui_scripts(zf: zipfile.ZipFile) -> set[str]:
    for name in zf.namelist():
        if name.count("/") == 1 and name.endswith(".dist-info/entry_points.txt"):
            parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
            parser.optionxform = str  # type: ignore[assignment,method-assign]
            try:
                parser.read_string(zf.read(name).decode("utf-8", "replace"))
            except configparser.Error:
                return set()
            return set(parser["gui_scripts"]) if parser.has_section("gui_scripts") else set()
    return set()


def _top_level(path: str) -> bool:
    """``pkg/__init__.py`` or ``mod.py``: what ``import pkg`` runs first."""
    parts = path.split("/")
    return len(parts) == 1 or (len(parts) == 2 and parts[1] == "__init__.py")


def gui_reason(wheels: Iterable[tuple[Path, bool]], entries: Iterable[str]) -> str | None:
    """Why the app needs tkinter, or None. *wheels*: (path, is the app's own wheel)."""
    names = set(entries)
    for wheel, is_app in wheels:
        with zipfile.ZipFile(wheel) as zf:
            gui = sorted(names & _gui_scripts(zf))
            if gui:
                return f"entry point {gui[0]} is a GUI script of {wheel.name}"
            for info in zf.infolist():
                path = installed_path(info.filename)
                if path is None or not path.endswith(".py") or not (is_app or _top_level(path)):
                    continue
                if imports_tkinter(zf.read(info)):
                    return f"{path} ({wheel.name}) imports tkinter"
    return None
