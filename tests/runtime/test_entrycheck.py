"""entrycheck: an entry point's module and name, checked in a runtime tree without running it."""

from __future__ import annotations

import zipfile

import pytest

from bundler.runtime.entrycheck import binds, check_entry, find_module


@pytest.fixture
def roots(tmp_path):
    site, stdlib = tmp_path / "site", tmp_path / "stdlib"
    (site / "pkg" / "sub").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("from .cli import main as run\n")
    (site / "pkg" / "cli.py").write_text("def main():\n    pass\n")
    (site / "pkg" / "sub" / "mod.py").write_text("x = 1\n")
    (site / "pkg" / "_speed.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    (site / "nspkg" / "inner").mkdir(parents=True)
    (site / "nspkg" / "inner" / "tool.py").write_text("class Tool:\n    def run(self): pass\n")
    (stdlib / "http").mkdir(parents=True)
    (stdlib / "http" / "server.py").write_text("def test():\n    pass\n")
    zipped = tmp_path / "python311.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("json/__init__.pyc", b"")
    return [site, stdlib, zipped]


def test_find_module(roots):
    site = roots[0]
    assert find_module(roots[:2], "pkg") == site / "pkg" / "__init__.py"
    assert find_module(roots[:2], "pkg.sub.mod") == site / "pkg" / "sub" / "mod.py"
    assert find_module(roots[:2], "pkg._speed").suffix == ".so"
    assert find_module(roots[:2], "nspkg.inner") == site / "nspkg" / "inner"  # namespace package
    assert find_module(roots[:2], "http.server") == roots[1] / "http" / "server.py"
    assert find_module(roots[:2], "nosuch") is None and find_module(roots[:2], "pkg.nosuch") is None


@pytest.mark.parametrize("module, attr", [
    ("pkg", "run"), ("pkg.cli", "main"), ("nspkg.inner.tool", "Tool.run"), ("http.server", "test"),
    ("pkg._speed", "anything"), ("json", "tool"),
])
def test_good_entries(roots, module, attr):
    assert check_entry(roots, module, attr) is None


@pytest.mark.parametrize("module, attr, problem", [
    ("nosuch", "main", "there is no module nosuch in the runtime"),
    ("pkg.cli", "mian", "pkg.cli (cli.py) has no top-level mian"),
    ("pkg", "main", "pkg (__init__.py) has no top-level main"),  # imported as run
])
def test_bad_entries(roots, module, attr, problem):
    assert check_entry(roots, module, attr) == problem


@pytest.mark.parametrize("source, expected", [
    (b"def main(): pass\n", True),
    (b"async def main(): pass\n", True),
    (b"main = lambda: 0\n", True),
    (b"a, (b, main) = 1, (2, 3)\n", True),
    (b"main: object = None\n", True),
    (b"try:\n    from fast import main\nexcept ImportError:\n    from slow import main\n", True),
    (b"if True:\n    def main(): pass\n", True),
    (b"import os.path as main\n", True),
    (b"import main.sub\n", True),
    (b"class A:\n    def main(self): pass\n", False),  # a method is not a module-level name
    (b"def f():\n    main = 1\n", False),
    (b"from x import *\n", None),
    (b"def __getattr__(name): ...\n", None),
    (b"print 'py2'\n", None),
])
def test_binds(source, expected):
    assert binds(source, "main") is expected
