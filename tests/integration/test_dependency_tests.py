"""Dependencies' test suites are left out of the runtime, unless the package imports them or keep-tests.

Real builds through the CLI with wheels written in tmp_path; the runtime's own
interpreter checks that every file its installed distributions list in RECORD
exists (nothing left out is still claimed) and that the packages import.
"""

from __future__ import annotations

import json
import subprocess

from support.e2e import run_bundler
from support.wheelfactory import make_wheel, sha256_of

CHECK = """
import importlib.metadata as md, json, sys
import plainpkg, runnerpkg
missing = [str(f) for d in md.distributions() for f in (d.files or []) if not f.locate().exists()]
print(json.dumps({"missing": missing, "test": runnerpkg.test()}))
"""


def _lock(tmp_path):
    wheels = [
        make_wheel(tmp_path / "wheels", "plainpkg", "1.0", files={
            "plainpkg/__init__.py": "from .core import value\n",
            "plainpkg/core.py": "value = 1\n",
            "plainpkg/tests/__init__.py": "",
            "plainpkg/tests/test_core.py": "from plainpkg import value\n",
            "plainpkg/sub/test/data.bin": b"\0" * 4096,
        }),
        # astropy's pattern: the package's own __init__ imports its test runner
        make_wheel(tmp_path / "wheels", "runnerpkg", "1.0", files={
            "runnerpkg/__init__.py": "from .tests.runner import run as test\n",
            "runnerpkg/tests/__init__.py": "",
            "runnerpkg/tests/runner.py": "def run(): return 'ran'\n",
            "runnerpkg/extra/tests/test_x.py": "",
        }),
    ]
    body = 'lock-version = "1.0"\ncreated-by = "tests"\n\n' + "".join(
        f'[[packages]]\nname = "{name}"\nversion = "1.0"\n\n[[packages.wheels]]\nname = "{w.name}"\n'
        f'path = "wheels/{w.name}"\n\n[packages.wheels.hashes]\nsha256 = "{sha256_of(w)}"\n\n'
        for name, w in zip(("plainpkg", "runnerpkg"), wheels)
    )
    lock = tmp_path / "pylock.toml"
    lock.write_text(body)
    return lock


def _build(tmp_path, cache_dir, *extra):
    out = tmp_path / "out"
    proc = run_bundler("build", "--lock", str(_lock(tmp_path)), "--entry", "x=plainpkg:value", "--name", "suites",
                       "--format", "dir", "--output-dir", str(out), "--cache-dir", str(cache_dir), *extra,
                       cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    root = out / "suites"
    (site,) = root.glob("lib/python3*/site-packages")
    check = subprocess.run([str(root / "bin" / "python3"), "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    return proc, site, json.loads(check.stdout)


def test_tests_left_out_unless_imported(tmp_path, cache_dir):
    proc, site, seen = _build(tmp_path, cache_dir)
    assert not (site / "plainpkg" / "tests").exists()
    assert not (site / "plainpkg" / "sub" / "test").exists()
    assert (site / "plainpkg" / "core.py").is_file()
    assert (site / "runnerpkg" / "tests" / "runner.py").is_file()  # imported by the package: kept
    assert not (site / "runnerpkg" / "extra" / "tests").exists()
    assert seen == {"missing": [], "test": "ran"}
    assert "3 test directories left out (4 files" in proc.stderr
    assert "keep-tests" in proc.stderr


def test_keep_tests_ships_them(tmp_path, cache_dir):
    proc, site, seen = _build(tmp_path, cache_dir, "--keep-tests")
    assert (site / "plainpkg" / "tests" / "test_core.py").is_file()
    assert (site / "plainpkg" / "sub" / "test" / "data.bin").is_file()
    assert (site / "runnerpkg" / "extra" / "tests" / "test_x.py").is_file()
    assert seen == {"missing": [], "test": "ran"}
    assert "left out" not in proc.stderr
