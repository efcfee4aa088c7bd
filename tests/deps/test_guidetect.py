"""guidetect: a GUI app recognised from its wheels (gui_scripts, tkinter imports)."""

from __future__ import annotations

import pytest
from support.wheelfactory import make_wheel

from bundler.deps.gui import gui_reason, imports_tkinter


@pytest.mark.parametrize("source, expected", [
    (b"import tkinter\n", True),
    (b"from tkinter import ttk\n", True),
    (b"    import tkinter as tk\n", True),
    (b"import _tkinter\n", True),
    (b"import customtkinter\n", False),
    (b"# import tkinter\n", False),
    (b"x = 'import tkinter'\n", False),
])
def test_imports_tkinter(source, expected):
    assert imports_tkinter(source) is expected


def test_gui_script_entry(tmp_path):
    wheel = make_wheel(tmp_path, "app", "1.0", entry_points={"gui_scripts": {"app-gui": "app:main"},
                                                             "console_scripts": {"app": "app:cli"}})
    assert gui_reason([(wheel, False)], ["app-gui"]) == f"entry point app-gui is a GUI script of {wheel.name}"
    assert gui_reason([(wheel, False)], ["app"]) is None


def test_app_code_anywhere_dependencies_top_level_only(tmp_path):
    deep = {"lib/__init__.py": "", "lib/backends/tk.py": "import tkinter\n"}  # matplotlib's pattern
    top = {"ctk/__init__.py": "from tkinter import Tk\n"}  # customtkinter's
    lib = make_wheel(tmp_path / "a", "lib", "1.0", files=deep)
    ctk = make_wheel(tmp_path / "b", "ctk", "1.0", files=top)
    assert gui_reason([(lib, False)], []) is None
    assert gui_reason([(lib, True)], []) == f"lib/backends/tk.py ({lib.name}) imports tkinter"
    assert gui_reason([(lib, False), (ctk, False)], []) == f"ctk/__init__.py ({ctk.name}) imports tkinter"
