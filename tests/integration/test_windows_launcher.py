"""The entry launchers of a Windows runtime directory (stubs/launcher.zig), built for real, run under wine.

A ``windows-x86_64`` build (in process, like tests/test_pipeline.py) from the
fake embeddable CPython of tests/support/bases.py: its ``python.exe`` is a
real PE program compiled by zig that prints the arguments it got (parsed from
its UTF-16 command line), ``PYTHONHOME`` and ``BUNDLER_ARGV0``, and exits with
the code given as ``--exit N``. The directory output gets ``bin\\<entry>.exe``
for every entry point, the packaged launcher's bytes; the single file gets none.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pefile
import pytest
from support.bases import windows_embeddable_zip, windows_helper_dll
from support.wheelfactory import make_wheel, sha256_of
from support.winetools import run_wine

from bundler import pipeline
from bundler.config.spec import resolve
from bundler.output import payload as pl
from bundler.output import stub as stubmod
from bundler.output.tree import (
    read_archive_names,
    read_runtime_manifest,
    verify_runtime,
)

TARGET = "windows-x86_64"
ENTRIES = ("hi", "other=hi.cli:main")  # a locked wheel's console script, and one named here
# Arguments a cmd.exe script would mangle (%, ^, &), spaces, quotes, backslashes, non-ASCII, empty.
USER_ARGS = ["two words", 'say "hi"', "Zoë ü 漢字", "", "tail \\", "back\\\"slash", "%PATH%", "a&b^c|d", "*"]


def _build(lock: Path, out: Path, cache: Path, libs: Path, win_zip: Path, **cli) -> Path:
    spec = resolve(None, {"lock": str(lock), "python": str(win_zip), "target": [TARGET], "output-dir": str(out),
                          "cache-dir": str(cache), "lib-path": [str(libs)], "entry": list(ENTRIES),
                          "compression-level": 3, "offline": True, **cli}, cwd=lock.parent)
    pipeline.build(spec)
    return out


@pytest.fixture(scope="module")
def builds(tmp_path_factory, build_cache) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("winlauncher")
    libs = work / "libs"
    windows_helper_dll(libs)
    win_zip = windows_embeddable_zip(work, libs)
    wheel = make_wheel(work / "wheels", "hi", "1.5", files={"hi/__init__.py": "", "hi/cli.py": "def main():\n    pass\n"},
                       entry_points={"console_scripts": {"hi": "hi.cli:main"}})
    lock = work / "pylock.toml"
    lock.write_text(f'lock-version = "1.0"\ncreated-by = "tests"\n\n[[packages]]\nname = "hi"\nversion = "1.5"\n'
                    f'[[packages.wheels]]\nname = "{wheel.name}"\npath = "{wheel}"\n'
                    f'hashes = {{ sha256 = "{sha256_of(wheel)}" }}\n')
    console = _build(lock, work / "console", build_cache, libs, win_zip, format=("dir", "archive", "onefile"))
    gui = _build(lock, work / "gui", build_cache, libs, win_zip, format=("dir",), gui=True)
    return {"console": console / "hi", "archive": console / f"hi-1.5-{TARGET}.tar.zst",
            "onefile": console / f"hi-1.5-{TARGET}.exe", "gui": gui / "hi"}


def _run(exe: Path, *args: str, wine: dict, **kw):
    proc = run_wine(exe, *args, env=wine, **kw)
    out = proc.stdout.decode("utf-8", "replace").replace("\r", "")
    return proc.returncode, out, proc.stderr.decode("utf-8", "replace").replace("\r", "")


def _report(out: str) -> tuple[list[str], dict[str, str]]:
    args = [line[4:] for line in out.splitlines() if line.startswith("arg=")]
    values = dict(line.split("=", 1) for line in out.splitlines() if not line.startswith("arg=") and "=" in line)
    return args, values


def winpath(p: Path) -> str:
    return "Z:" + str(p).replace("/", "\\")


def test_every_entry_point_gets_the_packaged_launcher(builds):
    for variant, subsystem in (("console", 3), ("gui", 2)):  # IMAGE_SUBSYSTEM_WINDOWS_CUI, _GUI
        packaged = stubmod.launcher_for(TARGET, cache_dir=Path("unused"), gui=variant == "gui")
        assert packaged.prebuilt, "no packaged launchers: run `make stubs` first (make test does)"
        root = builds[variant]
        for name in ("hi", "other"):
            exe = root / "bin" / f"{name}.exe"
            assert (root / "bin" / name).is_file()  # the script it runs
            assert hashlib.sha256(exe.read_bytes()).hexdigest() == packaged.sha256
            assert pefile.PE(str(exe), fast_load=True).OPTIONAL_HEADER.Subsystem == subsystem
        assert packaged.path.stat().st_size < 200_000
        assert "2 launcher(s)" in verify_runtime(root, read_runtime_manifest(root))
    names = read_archive_names(builds["archive"])
    assert {f"hi-1.5-{TARGET}/bin/hi.exe", f"hi-1.5-{TARGET}/bin/other.exe"} <= set(names)
def test_the_single_file_carries_no_launcher(builds, tmp_path):
    """It is its own launcher: its payload has the scripts only (the payload does not grow)."""
    tree = tmp_path / "onefile"
    pl.extract(builds["onefile"], tree)
    assert sorted(p.name for p in (tree / "bin").iterdir()) == ["hi", "other"]


def test_arguments_environment_and_exit_code_pass_through(builds, wine):
    root = builds["console"]
    code, out, err = _run(root / "bin" / "hi.exe", *USER_ARGS, "--exit", "7", wine=wine,
                          extra_env={"PYTHONHOME": "C:\\elsewhere", "BUNDLER_ARGV0": "stale"})
    assert code == 7, (out, err)
    args, values = _report(out)
    assert args[0] == "-I" and args[1] == winpath(root / "bin" / "hi"), args
    assert args[2:] == [*USER_ARGS, "--exit", "7"]
    assert values["PYTHONHOME"] == "(unset)"
    assert values["BUNDLER_ARGV0"] == winpath(root / "bin" / "hi.exe")  # its argv[0], not the stale value
    assert values["helper"] == "42"  # python.exe found its vendored DLL


def test_gui_launcher_runs_the_same_command(builds, wine):
    root = builds["gui"]
    code, out, err = _run(root / "bin" / "other.exe", "Zoë", "--exit", "3", wine=wine)
    assert code == 3, (out, err)
    args, _values = _report(out)
    assert args == ["-I", winpath(root / "bin" / "other"), "Zoë", "--exit", "3"]


def test_relocatable_from_any_working_directory(builds, wine, tmp_path):
    moved = Path(shutil.copytree(builds["console"], tmp_path / "moved here" / "Zoë app", symlinks=True))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    code, out, err = _run(moved / "bin" / "other.exe", "x", wine=wine, cwd=elsewhere)
    assert code == 0, (out, err)
    args, _values = _report(out)
    assert args == ["-I", winpath(moved / "bin" / "other"), "x"]


def test_missing_interpreter_or_script_is_one_line_and_127(builds, wine, tmp_path):
    broken = Path(shutil.copytree(builds["console"], tmp_path / "broken", symlinks=True))
    (broken / "bin" / "other").unlink()
    code, out, err = _run(broken / "bin" / "other.exe", wine=wine)
    assert code == 127 and out == ""
    assert err == f"bundler: cannot start other: {winpath(broken / 'bin' / 'other')} is missing; " \
                  "copy the whole runtime directory again.\n"
    (broken / "python.exe").unlink()
    code, out, err = _run(broken / "bin" / "hi.exe", "a", wine=wine)
    assert code == 127 and out == ""
    assert err == f"bundler: cannot start hi: {winpath(broken / 'python.exe')} is missing; " \
                  "copy the whole runtime directory again.\n"


def test_the_python_is_not_the_host_one(builds):
    """No path of this machine is built into a launcher (it finds everything from its own file)."""
    data = (builds["console"] / "bin" / "hi.exe").read_bytes()
    for p in (str(builds["console"]), sys.prefix, str(Path.home())):
        assert p.encode() not in data and p.encode("utf-16-le") not in data


def test_started_from_cmd_by_its_entry_name(builds, wine):
    """`bin\\hi` typed in cmd.exe starts bin\\hi.exe (PATHEXT), and the app sees what was typed as argv[0]."""
    root = builds["console"]
    code, out, err = _run(Path("cmd"), "/c", "bin\\hi", "two words", "--exit", "4", wine=wine, cwd=root)
    assert code == 4, (out, err)
    args, values = _report(out)
    assert args == ["-I", winpath(root / "bin" / "hi"), "two words", "--exit", "4"]
    assert values["BUNDLER_ARGV0"] == "bin\\hi"
