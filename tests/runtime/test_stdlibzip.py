"""The standard library zip: what goes in, what stays on disk, and that Python imports from it.

A small standard-library tree is laid out in tmp_path and compiled with the Python running the
tests, as the runtime's would be; the zip is then put on sys.path of a real interpreter.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from bundler.runtime import stdlibzip
from bundler.runtime.stage import StagedRuntime

TAG = sys.implementation.cache_tag


def _staged(tmp_path: Path) -> StagedRuntime:
    root = tmp_path / "rt"
    std = root / "lib" / "python3.11"
    files = {
        "os.py": "# the landmark\n",
        "alpha.py": "def boom():\n    raise ValueError('alpha')\n",
        "pkg/__init__.py": "X = 1\n",
        "pkg/sub/mod.py": "Y = 2\n",
        "pkg/README.rst": "documentation\n",
        "datapkg/__init__.py": "import os\nDATA = open(os.path.join(os.path.dirname(__file__), 'data.txt')).read()\n",
        "datapkg/data.txt": "data\n",
        "ctypes/__init__.py": "",
        "ctypes/macholib/fetch_macholib": "#!/bin/sh\n",
        "site-packages/dep.py": "Z = 3\n",
        "lib-dynload/.keep": "",
        "config-3.11-x86_64-linux-gnu/Makefile": "x\n",
        "LICENSE.txt": "licence\n",
    }
    for rel, text in files.items():
        (std / rel).parent.mkdir(parents=True, exist_ok=True)
        (std / rel).write_text(text)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(std)],
                   check=True)
    return StagedRuntime(root=root, python="bin/python3.11", stdlib="lib/python3.11",
                         dynload="lib/python3.11/lib-dynload", sitepackages="lib/python3.11/site-packages",
                         origins=(), build_prefixes=())


def test_zip_name_is_what_getpath_puts_on_sys_path(tmp_path):
    staged = _staged(tmp_path)
    assert stdlibzip.zip_name(staged) == "lib/python311.zip"
    windows = StagedRuntime(root=tmp_path, python="python.exe", stdlib="Lib", dynload="DLLs",
                            sitepackages="Lib/site-packages", origins=(), build_prefixes=())
    assert stdlibzip.zip_name(windows) is None
    assert stdlibzip.zip_stdlib(windows, TAG) is None


def test_modules_move_into_the_zip_as_byte_code(tmp_path):
    staged = _staged(tmp_path)
    std = staged.root / staged.stdlib
    done = stdlibzip.zip_stdlib(staged, TAG)
    assert done is not None and done.path == "lib/python311.zip"
    assert done.kept_on_disk == ("config-3.11-x86_64-linux-gnu", "datapkg")  # data read by path; not modules
    with zipfile.ZipFile(staged.root / done.path) as zf:
        names = zf.namelist()
        assert names == sorted(names)
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    assert set(names) == {"alpha.pyc", "ctypes/", "ctypes/__init__.pyc", "ctypes/macholib/",
                          "ctypes/macholib/fetch_macholib", "pkg/", "pkg/README.rst", "pkg/__init__.pyc",
                          "pkg/sub/", "pkg/sub/mod.pyc"}
    # on disk: the landmark, what is not a module, the packages with data, nothing of what the zip holds
    left = sorted(p.relative_to(std).as_posix() for p in std.rglob("*") if p.is_file())
    assert [p for p in left if "__pycache__" not in p] == [
        "LICENSE.txt", "config-3.11-x86_64-linux-gnu/Makefile", "datapkg/__init__.py", "datapkg/data.txt",
        "lib-dynload/.keep", "os.py", "site-packages/dep.py"]
    assert done.sources_left_out[0] == 4 and done.modules == 4
    # Python imports from it, the package with data from the disk
    code = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
            "import alpha, pkg.sub.mod, datapkg, ctypes\n"
            "print(alpha.__file__, pkg.sub.mod.Y, datapkg.DATA.strip(), sep='|')\n"
            "alpha.boom()\n")
    proc = subprocess.run([sys.executable, "-I", "-c", code, str(staged.root / done.path), str(std)],
                          capture_output=True, text=True)
    assert proc.stdout.strip() == f"{staged.root / done.path}/alpha.pyc|2|data"
    assert "ValueError: alpha" in proc.stderr and "alpha.py" in proc.stderr  # the traceback names the file


def test_sources_stay_in_the_zip_when_asked(tmp_path):
    staged = _staged(tmp_path)
    done = stdlibzip.zip_stdlib(staged, TAG, keep_sources=True)
    with zipfile.ZipFile(staged.root / done.path) as zf:
        names = set(zf.namelist())
    assert {"alpha.py", "alpha.pyc", "pkg/sub/mod.py", "pkg/sub/mod.pyc"} <= names
    assert done.sources_left_out == (0, 0)


def test_a_module_without_byte_code_goes_in_as_source(tmp_path):
    staged = _staged(tmp_path)
    std = staged.root / staged.stdlib
    for pyc in std.rglob("__pycache__/*.pyc"):
        pyc.unlink()
    done = stdlibzip.zip_stdlib(staged, TAG)
    with zipfile.ZipFile(staged.root / done.path) as zf:
        assert {"alpha.py", "pkg/__init__.py", "pkg/sub/mod.py"} <= set(zf.namelist())
    assert done.sources_left_out == (0, 0)


def test_data_files_decide_and_docs_do_not(tmp_path):
    pkg = tmp_path / "p"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "__pycache__" / "x.pyc").write_bytes(b"")
    (pkg / "README").write_text("")
    (pkg / "notes.rst").write_text("")
    assert not stdlibzip.has_data_files(pkg)
    (pkg / "scripts").mkdir()
    (pkg / "scripts" / "activate").write_text("")
    assert stdlibzip.has_data_files(pkg)
