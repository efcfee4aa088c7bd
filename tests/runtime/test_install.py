"""runtime/install: real wheels (built in tmp_path) installed with ``installer`` into a runtime tree."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from support.wheelfactory import make_wheel

from bundler.errors import ConfigError, FetchError
from bundler.runtime.install import (
    console_scripts,
    import_roots,
    install_wheels,
    installed_versions,
    write_entries,
)
from bundler.runtime.stage import StagedRuntime


def _runtime(root: Path) -> StagedRuntime:
    """The directories install writes to, laid out as stage() lays out every POSIX runtime."""
    for d in ("bin", "lib/python3.11/lib-dynload", "lib/python3.11/site-packages"):
        (root / d).mkdir(parents=True)
    (root / "lib/python3.11/os.py").write_text("")
    return StagedRuntime(root=root, python="bin/python3.11", stdlib="lib/python3.11",
                         dynload="lib/python3.11/lib-dynload", sitepackages="lib/python3.11/site-packages",
                         origins=(), build_prefixes=())


def test_wheels_land_in_site_packages_with_relocatable_launchers(tmp_path):
    rt = _runtime(tmp_path / "rt")
    tool = make_wheel(tmp_path / "w", "Tool-Kit", "1.2", files={"toolkit/__init__.py": "def main(): return 0\n"},
                      entry_points={"console_scripts": {"toolkit": "toolkit:main"}, "gui_scripts": {"toolkit-gui": "toolkit:main"}})
    other = make_wheel(tmp_path / "w", "other", "0.1")
    seen: list[tuple[int, int]] = []
    left_out = install_wheels(rt, [tool, other], progress=lambda d, t: seen.append((d, t)))
    site = rt.root / rt.sitepackages
    assert (site / "toolkit/__init__.py").is_file() and (site / "other/__init__.py").is_file()
    assert (site / "tool_kit-1.2.dist-info/INSTALLER").read_text() == "bundler\n"
    assert seen == [(1, 2), (2, 2)] and left_out.dirs == 0
    launcher = (rt.root / "bin/toolkit").read_text()
    assert launcher.startswith("#!/bin/sh\n") and 'exec "$d/python3.11" -I' in launcher
    assert "from toolkit import main" in launcher and str(tmp_path) not in launcher  # no absolute path baked in
    assert os.access(rt.root / "bin/toolkit", os.X_OK)
    assert installed_versions(rt) == {"tool-kit": "1.2", "other": "0.1"}
    scripts = console_scripts(rt)
    assert {n: (s.value, s.distribution, s.version) for n, s in scripts.items()} == {
        "toolkit": ("toolkit:main", "tool_kit", "1.2"), "toolkit-gui": ("toolkit:main", "tool_kit", "1.2")}
    assert import_roots(rt) == [rt.root / rt.sitepackages, rt.root / rt.stdlib, rt.root / rt.dynload]


def test_tests_are_left_out_only_when_asked(tmp_path):
    files = {"pkg/__init__.py": "", "pkg/core.py": "x = 1\n", "pkg/tests/__init__.py": "", "pkg/tests/test_core.py": "import pkg\n"}
    wheel = make_wheel(tmp_path / "w", "pkg", "1.0", files=files)
    kept = _runtime(tmp_path / "kept")
    install_wheels(kept, [wheel], keep_tests=True)
    assert (kept.root / kept.sitepackages / "pkg/tests/test_core.py").is_file()
    lean = _runtime(tmp_path / "lean")
    left_out = install_wheels(lean, [wheel], keep_tests=False)
    site = lean.root / lean.sitepackages
    assert not (site / "pkg/tests").exists() and (site / "pkg/core.py").is_file()
    assert (left_out.dirs, left_out.files) == (1, 2)
    record = (site / "pkg-1.0.dist-info/RECORD").read_text()
    assert "pkg/tests/" not in record and "pkg/core.py" in record  # RECORD lists only what was written


def test_two_wheels_that_ship_the_same_file(tmp_path):
    rt = _runtime(tmp_path / "rt")
    a = make_wheel(tmp_path / "w", "a", "1.0", files={"shared/thing.py": "a\n"})
    b = make_wheel(tmp_path / "w", "b", "1.0", files={"shared/thing.py": "b\n"})
    with pytest.raises(FetchError, match=r"^b-1\.0-py3-none-any\.whl: installing it would overwrite .*shared/thing\.py; "
                                         "two locked packages ship the same file$"):
        install_wheels(rt, [a, b])


def test_a_malformed_wheel(tmp_path):
    rt = _runtime(tmp_path / "rt")
    bad = tmp_path / "bad-1.0-py3-none-any.whl"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("bad/__init__.py", "")  # no .dist-info
    with pytest.raises(FetchError, match=r"^bad-1\.0-py3-none-any\.whl: not a valid wheel \(.*\); re-download it or rebuild it$"):
        install_wheels(rt, [bad])


def test_write_entries(tmp_path):
    rt = _runtime(tmp_path / "rt")
    app = make_wheel(tmp_path / "w", "app", "1.0", files={"app/__init__.py": "", "app/cli.py": "def run(): pass\n"},
                     entry_points={"console_scripts": {"app": "app.cli:run"}})
    install_wheels(rt, [app])
    cached = tmp_path / "build-cache-file"
    cached.write_text("never written through\n")
    os.symlink(cached, rt.root / "bin/extra")
    write_entries(rt, [("app", None), ("extra", "app.cli:run")])
    assert not (rt.root / "bin/extra").is_symlink() and "from app.cli import run" in (rt.root / "bin/extra").read_text()
    assert cached.read_text() == "never written through\n"
    assert (rt.root / "bin/extra").stat().st_mode & 0o777 == 0o755
    with pytest.raises(ConfigError, match=r"entry point 'nope' is not a console script of any locked package \(declared: app\)"):
        write_entries(rt, [("nope", None)])
    with pytest.raises(ConfigError, match="entry point x=app.cli: expected NAME=module:function"):
        write_entries(rt, [("x", "app.cli")])
    with pytest.raises(ConfigError, match=r"entry point x=app\.cli:walk: .*walk.*; fix --entry"):
        write_entries(rt, [("x", "app.cli:walk")])
    with pytest.raises(ConfigError, match=r"entry point x=missing:run: .*missing"):
        write_entries(rt, [("x", "missing:run")])
