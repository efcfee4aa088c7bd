"""stdlib = "imported" on a real base: the single file keeps what the app imports, runs in the clean
room, and an import of what it left out fails with an error that says why and what to do.

The app is the session's hello + click + PyYAML (Debian's libyaml vendored), on both bases (the pyenv
CPython and Debian's, whose site-packages is dist-packages and whose libpython is linked in);
``--include-module sqlite3`` keeps one module nothing imports, and an entry point keeps ``tabnanny``.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from support.e2e import BASES, run_bundler

from bundler.output import payload as pl

ART = "hello-1.0.0-linux-x86_64"
PLACE = f"/opt/lean/{ART}"
LEFT_OUT = "_bundler_left_out.txt"


@pytest.fixture(scope="module", params=sorted(BASES))
def base(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def lean(tmp_path_factory, app_lock, cache_dir, base) -> Path:
    out = tmp_path_factory.mktemp(f"lean-{base}")
    proc = run_bundler(
        "build", "--lock", str(app_lock), "--entry", "hello", "--entry", "tabcheck=tabnanny:main",
        "--name", "hello", "--version", "1.0.0",
        "--python", BASES[base], "--format", "onefile", "--format", "dir", "--stdlib", "imported",
        "--include-module", "sqlite3", "--output-dir", str(out), "--cache-dir", str(cache_dir),
        "--compression-level", "3",
    )
    assert proc.returncode == 0, proc.stderr
    assert "standard library modules and packages kept" in proc.stderr
    return out


def test_what_is_left_out_and_what_stays(lean, runtimes, base):
    tree = lean / "hello"
    [listed] = tree.glob(f"lib/python3.11/*-packages/{LEFT_OUT}")  # site-packages, or Debian's dist-packages
    left = set(listed.read_text().split())
    assert {"nis", "lib2to3", "distutils", "curses", "tomllib"} <= left
    assert left.isdisjoint({"sqlite3", "_sqlite3", "ssl", "json", "encodings", "yaml", "click", "platform"})
    assert "tabnanny" not in left  # only an entry launcher (--entry tabcheck=tabnanny:main) imports it
    names = zipfile.ZipFile(tree / "lib/python311.zip").namelist()
    assert "platform.pyc" in names and "sqlite3/__init__.pyc" in names and "json/__init__.pyc" in names
    assert not any(n.startswith(("distutils/", "lib2to3/", "tomllib/")) for n in names)
    dynload = {p.name.split(".")[0] for p in (tree / "lib/python3.11/lib-dynload").iterdir()}
    assert {"_sqlite3", "_ssl", "_hashlib"} <= dynload and not {"nis", "_curses", "_crypt"} & dynload
    bundled = {p.name.split("-")[0] for p in (tree / "lib/bundled").iterdir()}
    assert {"libsqlite3", "libssl", "libcrypto", "libyaml"} | ({"libpython3.11"} if base == "pyenv" else set()) <= bundled
    assert not {"libnsl", "libtirpc", "libkrb5", "libgssapi_krb5", "libcrypt", "libncursesw"} & bundled
    # the SBOM and the manifest name only what the runtime holds
    sbom = json.loads((lean / "hello.cdx.json").read_text())
    named = json.dumps(sbom)
    assert "libsqlite3" in named and "libnsl" not in named and "libkrb5" not in named
    # and the single file is smaller than the whole standard library's, same level, same app
    full = runtimes[base] / ART
    assert (lean / ART).stat().st_size < 0.85 * full.stat().st_size
    assert listed.relative_to(tree).as_posix() in {e.path for e in pl.scan_tree(tree)}
    # inspect says so, for the single file and the directory alike
    for output in (lean / ART, tree):
        proc = run_bundler("inspect", str(output))
        assert proc.returncode == 0, proc.stderr
        assert '\n  stdlib    only what the app imports (stdlib = "imported"): ' in proc.stdout, proc.stdout
    assert "  stdlib " not in run_bundler("inspect", str(full)).stdout


@pytest.fixture
def placed(room, lean):
    room.add_file(lean / ART, PLACE, mode=0o755)
    yield PLACE
    shutil.rmtree(room.host_path("/opt/lean"))
    if room.host_path("/home/user/.cache").exists():
        shutil.rmtree(room.host_path("/home/user/.cache"))


def test_runs_in_the_clean_room_with_what_it_imports(room, placed):
    proc = room.run([placed, "--name", "lean"])
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().startswith("Hello, lean!\n")
    code = ("import sqlite3, ssl, yaml, json, hashlib; c = sqlite3.connect(':memory:'); "
            "print(c.execute('select 6*7').fetchone()[0], yaml.safe_load('a: 1')['a'], "
            "hashlib.pbkdf2_hmac('sha256', b'p', b's', 1).hex()[:8], ssl.OPENSSL_VERSION.split()[0])")
    proc = room.run([placed, "-c", code], env={"BUNDLER_STUB": "python"})
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().split() == ["42", "1", "372cc981", "OpenSSL"]


HINT = ("No module named 'nis': this app's runtime was built without it (stdlib = \"imported\" keeps only the "
        "standard library the app imports by name); whoever builds the app can keep it with --include-module nis "
        "(include-module = [\"nis\"]) or --stdlib all")


def test_a_left_out_module_says_why_and_what_to_do(room, placed):
    proc = room.run([placed, "-c", "import json\nimport nis"], env={"BUNDLER_STUB": "python"})
    assert proc.returncode == 1
    assert proc.stderr.decode().endswith(f"ModuleNotFoundError: {HINT}\n"), proc.stderr.decode()
    # the same words where the app catches the error and shows it its own way (plugins, user code),
    # and from importlib.import_module
    code = ("import importlib\ntry:\n importlib.import_module('nis')\nexcept ImportError as e:\n"
            " print(f'cannot load plugin: {e}')\n")
    proc = room.run([placed, "-c", code], env={"BUNDLER_STUB": "python"})
    assert proc.stdout.decode() == f"cannot load plugin: {HINT}\n", proc.stderr.decode()
    # a question is not an import: find_spec answers None as in any Python without the module; a guarded
    # import takes its fallback; a module that never was gets the plain error
    code = ("import importlib.util\ntry:\n import lib2to3.pgen2\nexcept ImportError as e:\n print('fallback', e.name)\n"
            "print(importlib.util.find_spec('nis'))\nimport not_a_module_anywhere\n")
    proc = room.run([placed, "-c", code], env={"BUNDLER_STUB": "python"})
    assert proc.stdout.decode() == "fallback lib2to3\nNone\n", proc.stderr.decode()
    assert proc.stderr.decode().endswith("ModuleNotFoundError: No module named 'not_a_module_anywhere'\n")
