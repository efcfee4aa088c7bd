"""Every user error through the real CLI: one `bundler: error:` line, the right exit code, no output.

Each case runs ``python -m bundler build`` in a subprocess with ``-q`` (progress
lines go to stderr too; ``-q`` leaves only errors there), its own ``--output-dir``
and ``--cache-dir`` under tmp_path, and checks:

* the exit code is the documented ``exit_code`` of the right :class:`BundlerError` subclass,
* stderr is exactly one line, ``bundler: error: ...``, naming the file/package/library,
* there is no traceback,
* nothing was written to the output directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.native import shared_lib
from support.wheelfactory import make_wheel, sha256_of

from bundler.errors import (
    ConfigError,
    FetchError,
    InterpreterError,
    LockError,
    OutputError,
    RelocationError,
)

WRONG_SHA = "0" * 64
FLAGS = (
    "--lock", "--entry", "--python", "--name", "--format", "--output-dir", "--find-links",
    "--offline", "--index-url", "--cache-dir", "--compression-level", "-v", "-q",
)


def run(args: list[str], cwd: Path, *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUNDLER_")}
    return subprocess.run(
        [sys.executable, "-m", "bundler", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


def build(tmp_path: Path, *args: str, quiet: bool = True) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``bundler build ARGS`` with a private output dir and cache dir; returns (process, output dir)."""
    outdir = tmp_path / "out"
    extra = ["-q"] if quiet else []
    proc = run(["build", *args, "--output-dir", str(outdir), "--cache-dir", str(tmp_path / "cache"), *extra], tmp_path)
    return proc, outdir


def assert_error(proc: subprocess.CompletedProcess[str], exc: type, *names: str) -> str:
    """The process failed with *exc*'s exit code and one error line naming every one of *names*."""
    detail = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == exc.exit_code, detail
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, detail
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, detail
    line = lines[0]
    assert line.startswith("bundler: error: "), detail
    for name in names:
        assert name in line, f"{name!r} not named in: {line}"
    assert proc.stdout == "", detail
    return line


def assert_no_output(outdir: Path) -> None:
    if outdir.exists():
        assert outdir.is_dir()
        assert list(outdir.iterdir()) == []


def write_pylock(path: Path, body: str) -> Path:
    path.write_text('lock-version = "1.0"\ncreated-by = "tests"\n\n' + body)
    return path


def wheel_entry(name: str, version: str, wheel_name: str, *, sha256: str, path: str | None = None,
                url: str | None = None) -> str:
    location = f'path = "{path}"\n' if path else f'url = "{url}"\n'
    return (
        f'[[packages]]\nname = "{name}"\nversion = "{version}"\n\n'
        f'[[packages.wheels]]\nname = "{wheel_name}"\n{location}\n'
        f'[packages.wheels.hashes]\nsha256 = "{sha256}"\n\n'
    )


@pytest.fixture
def pure_lock(tmp_path: Path) -> Path:
    """A correct pylock.toml with one pure wheel (no console scripts) next to it."""
    wheel = make_wheel(tmp_path / "wheels", "plain", "1.0")
    return write_pylock(
        tmp_path / "pylock.toml",
        wheel_entry("plain", "1.0", wheel.name, sha256=sha256_of(wheel), path=f"wheels/{wheel.name}"),
    )


# --- fetch ----------------------------------------------------------------------------------


@pytest.mark.parametrize("local_name", [None, "x.whl"], ids=["wheel-filename", "x.whl"])
def test_wrong_hash(tmp_path, local_name):
    wheel = make_wheel(tmp_path / "wheels", "hashed", "1.0")
    if local_name:
        wheel = wheel.rename(tmp_path / "wheels" / local_name)
    filename = "hashed-1.0-py3-none-any.whl"
    lock = write_pylock(
        tmp_path / "pylock.toml",
        wheel_entry("hashed", "1.0", filename, sha256=WRONG_SHA, path=f"wheels/{wheel.name}"),
    )
    proc, outdir = build(tmp_path, "--lock", str(lock), "--entry", "x=hashed:main")
    line = assert_error(proc, FetchError, filename, str(wheel), WRONG_SHA)
    assert sha256_of(wheel) in line
    assert_no_output(outdir)


def test_missing_wheel_offline(tmp_path):
    name = "remote_pkg-2.0-py3-none-any.whl"
    lock = write_pylock(
        tmp_path / "pylock.toml",
        wheel_entry("remote-pkg", "2.0", name, sha256="ab" * 32, url=f"https://files.invalid/packages/{name}"),
    )
    proc, outdir = build(tmp_path, "--lock", str(lock), "--entry", "x=remote_pkg:main", "--offline")
    line = assert_error(proc, FetchError, name, "--offline")
    assert "remote-pkg" in line or "remote_pkg" in line
    assert_no_output(outdir)
    assert not (tmp_path / "cache" / "sha256").exists()


# --- lock -----------------------------------------------------------------------------------


def test_sdist_only_package(tmp_path):
    lock = write_pylock(
        tmp_path / "pylock.toml",
        '[[packages]]\nname = "srconly"\nversion = "3.1"\n\n'
        '[packages.sdist]\nname = "srconly-3.1.tar.gz"\nurl = "https://files.invalid/srconly-3.1.tar.gz"\n\n'
        f'[packages.sdist.hashes]\nsha256 = "{"cd" * 32}"\n',
    )
    proc, outdir = build(tmp_path, "--lock", str(lock), "--entry", "x=srconly:main")
    line = assert_error(proc, LockError, "srconly", str(lock))
    assert "sdist" in line
    assert "`pip wheel --no-deps srconly==3.1 -w wheelhouse`" in line and "--find-links wheelhouse" in line
    assert_no_output(outdir)


def test_lock_for_another_python_version(tmp_path):
    """A lock made with Python 3.12 used with a 3.11 base blames the Python version, not the target."""
    lock = write_pylock(
        tmp_path / "pylock.toml",
        '[[packages]]\nname = "fastpkg"\nversion = "1.0"\n\n'
        '[[packages.wheels]]\nname = "fastpkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"\n'
        'url = "https://files.invalid/fastpkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"\n\n'
        f'[packages.wheels.hashes]\nsha256 = "{"ab" * 32}"\n',
    )
    proc, outdir = build(tmp_path, "--lock", str(lock), "--entry", "x=fastpkg:main")
    line = assert_error(proc, LockError, "fastpkg", str(lock))
    assert "locked for Python 3.12 only" in line and "the base interpreter is Python 3.11" in line
    assert "--python python3.12" in line
    assert_no_output(outdir)


def test_lock_not_toml(tmp_path):
    lock = tmp_path / "pylock.toml"
    lock.write_text('lock-version = "1.0"\n[[packages]\nname = \n')
    proc, outdir = build(tmp_path, "--lock", str(lock), "--entry", "x=m:f")
    line = assert_error(proc, LockError, str(lock))
    assert "TOML" in line
    assert_no_output(outdir)


@pytest.mark.parametrize(
    "body",
    [
        'created-by = "tests"\npackages = []\n',  # no lock-version
        'lock-version = "1.0"\ncreated-by = "tests"\npackages = "plain"\n',  # packages is not an array
        'lock-version = "1.0"\ncreated-by = "tests"\n[[packages]]\nversion = "1.0"\n',  # package without a name
    ],
    ids=["no-lock-version", "packages-not-array", "package-without-name"],
)
def test_lock_valid_toml_but_not_pylock(tmp_path, body):
    lock = tmp_path / "pylock.toml"
    lock.write_text(body)
    proc, outdir = build(tmp_path, "--lock", str(lock), "--entry", "x=m:f")
    assert_error(proc, LockError, str(lock))
    assert_no_output(outdir)


def test_lock_file_does_not_exist(tmp_path):
    """Exit 3 (configuration) for a --lock path as for the default lookup: the README's one code for it."""
    missing = tmp_path / "nosuch" / "pylock.toml"
    proc, outdir = build(tmp_path, "--lock", str(missing), "--entry", "x=m:f")
    assert_error(proc, ConfigError, str(missing))
    assert_no_output(outdir)


def test_project_without_lock_file(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "proj"\nversion = "1"\n')
    proc, outdir = build(tmp_path, str(project), "--entry", "x=m:f")
    assert_error(proc, ConfigError, str(project), "--lock")
    assert_no_output(outdir)


def test_no_lock_and_no_project(tmp_path):
    proc, outdir = build(tmp_path, "--entry", "x=m:f")
    assert_error(proc, ConfigError, "no lock file", "--lock")
    assert_no_output(outdir)


# --- interpreter ----------------------------------------------------------------------------


def test_python_does_not_exist(tmp_path, pure_lock):
    proc, outdir = build(tmp_path, "--lock", str(pure_lock), "--entry", "x=plain:main", "--python", "/nonexistent/python3")
    assert_error(proc, InterpreterError, "/nonexistent/python3")
    assert_no_output(outdir)


def test_python_is_pypy(tmp_path, pure_lock):
    pypy = shutil.which("pypy3")
    assert pypy, "pypy3 is missing: `make test` installs it with apt (Debian package pypy3)"
    proc, outdir = build(tmp_path, "--lock", str(pure_lock), "--entry", "x=plain:main", "--python", pypy)
    line = assert_error(proc, InterpreterError, pypy, "pypy")
    assert "CPython" in line
    assert_no_output(outdir)


def _shell_script(tmp_path: Path) -> str:
    script = tmp_path / "fakepython"
    script.write_text("#!/bin/sh\necho 'I am not Python'\n")
    script.chmod(0o755)
    return str(script)


def _not_executable(tmp_path: Path) -> str:
    text = tmp_path / "python3.txt"
    text.write_text("print('hi')\n")
    text.chmod(0o644)
    return str(text)


@pytest.mark.parametrize(
    "make_python",
    [lambda tmp: "/bin/true", lambda tmp: "/bin/false", _shell_script, _not_executable],
    ids=["bin-true", "bin-false", "shell-script", "not-executable"],
)
def test_python_is_not_an_interpreter(tmp_path, pure_lock, make_python):
    python = make_python(tmp_path)
    proc, outdir = build(tmp_path, "--lock", str(pure_lock), "--entry", "x=plain:main", "--python", python)
    assert_error(proc, InterpreterError, python)
    assert_no_output(outdir)


# --- relocation -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gone_wheel(tmp_path_factory) -> Path:
    """A wheel whose extension module links libgone.so.7 from a directory that no longer exists."""
    tmp = tmp_path_factory.mktemp("gone")
    libdir = tmp / "libdir"
    shared_lib(libdir / "libgone.so.7", "libgone.so.7", "int gone(void){return 7;}")
    ext = tmp / "build" / "gonemod" / "_native.so"
    shared_lib(ext, "_native.so", "int gone(void); int native(void){return gone();}",
               f"-L{libdir}", "-l:libgone.so.7", f"-Wl,-rpath,{libdir}")
    shutil.rmtree(libdir)
    return make_wheel(
        tmp / "wheels", "gonemod", "1.0", tag="py3-none-linux_x86_64",
        files={"gonemod/__init__.py": "from . import _native\n", "gonemod/_native.so": ext.read_bytes()},
    )


def test_unresolvable_native_library(tmp_path, gone_wheel):
    lock = write_pylock(
        tmp_path / "pylock.toml",
        wheel_entry("gonemod", "1.0", gone_wheel.name, sha256=sha256_of(gone_wheel), path=str(gone_wheel)),
    )
    proc, outdir = build(tmp_path, "--lock", str(lock), "--entry", "x=gonemod:main")
    assert_error(proc, RelocationError, "gonemod/_native.so", "libgone.so.7")
    assert_no_output(outdir)


# --- output ---------------------------------------------------------------------------------


def test_output_dir_under_a_regular_file(tmp_path, pure_lock):
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory\n")
    outdir = blocker / "out"
    proc = run(["build", "--lock", str(pure_lock), "--entry", "x=plain:main", "--output-dir", str(outdir),
                "--cache-dir", str(tmp_path / "cache"), "-q"], tmp_path)
    assert_error(proc, OutputError, str(outdir))
    assert blocker.read_text() == "not a directory\n"
    assert not (tmp_path / "cache").exists()


def test_output_dir_under_dev_null(tmp_path, pure_lock):
    proc = run(["build", "--lock", str(pure_lock), "--entry", "x=plain:main", "--output-dir", "/dev/null/x",
                "--cache-dir", str(tmp_path / "cache"), "-q"], tmp_path)
    assert_error(proc, OutputError, "/dev/null/x")


# --- entry points ---------------------------------------------------------------------------


def test_unknown_console_script(tmp_path):
    wheel = make_wheel(tmp_path / "wheels", "scripted", "1.0", entry_points={"console_scripts": {"real": "scripted:main"}})
    lock = write_pylock(
        tmp_path / "pylock.toml",
        wheel_entry("scripted", "1.0", wheel.name, sha256=sha256_of(wheel), path=f"wheels/{wheel.name}"),
    )
    proc, outdir = build(tmp_path, "--lock", str(lock), "--entry", "nosuch")
    line = assert_error(proc, ConfigError, "nosuch")
    assert "real" in line  # lists what is declared
    assert_no_output(outdir)


@pytest.mark.parametrize("entry", ["bad name=mod:func", "x=mod", "=mod:f", "x=mod:f:g"])
def test_bad_entry_syntax(tmp_path, pure_lock, entry):
    proc, outdir = build(tmp_path, "--lock", str(pure_lock), "--entry", entry)
    assert_error(proc, ConfigError, entry)
    assert_no_output(outdir)


# --- verbosity and help ---------------------------------------------------------------------


def test_verbose_shows_traceback(tmp_path):
    missing = tmp_path / "pylock.toml"
    outdir = tmp_path / "out"
    proc = run(["build", "--lock", str(missing), "--entry", "x=m:f", "--output-dir", str(outdir),
                "--cache-dir", str(tmp_path / "cache"), "-v"], tmp_path)
    assert proc.returncode == ConfigError.exit_code, proc.stderr
    assert "Traceback" in proc.stderr
    assert "ConfigError" in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[-1].startswith("bundler: error: ") and str(missing) in lines[-1]
    assert sum(line.startswith("bundler: error:") for line in lines) == 1
    assert_no_output(outdir)


def test_without_quiet_the_error_is_still_one_line(tmp_path):
    """Progress lines may precede it, but the error is the last line and the only error line."""
    name = "remote_pkg-2.0-py3-none-any.whl"
    lock = write_pylock(
        tmp_path / "pylock.toml",
        wheel_entry("remote-pkg", "2.0", name, sha256="ab" * 32, url=f"https://files.invalid/{name}"),
    )
    proc, outdir = build(tmp_path, "--lock", str(lock), "--entry", "x=m:f", "--offline", quiet=False)
    assert proc.returncode == FetchError.exit_code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[-1].startswith("bundler: error: ") and name in lines[-1]
    assert sum("error" in line for line in lines) == 1
    assert_no_output(outdir)


def test_help(tmp_path):
    top = run(["--help"], tmp_path)
    assert top.returncode == 0, top.stderr
    assert "build" in top.stdout
    sub = run(["build", "--help"], tmp_path)
    assert sub.returncode == 0, sub.stderr
    for flag in FLAGS:
        assert f"{flag} " in sub.stdout or f"{flag}," in sub.stdout or f"{flag}\n" in sub.stdout, flag
    assert "PROJECT_DIR" in sub.stdout
    short = run(["build", "-h"], tmp_path)
    assert short.returncode == 0 and short.stdout == sub.stdout


# --- outputs stay where they belong ----------------------------------------------------------


@pytest.mark.parametrize("version", ["../../../x", "1.0/evil", ".hidden", "1 0"])
def test_version_that_is_not_a_file_name_part(tmp_path, pure_lock, version):
    proc, outdir = build(tmp_path, "--lock", str(pure_lock), "--entry", "x=plain:__version__", "--version", version)
    assert_error(proc, ConfigError, repr(version))
    assert_no_output(outdir)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["pylock.toml", "wheels"])


def test_an_output_never_replaces_what_bundler_did_not_make(tmp_path, pure_lock):
    """--name src in a project directory must not replace the project's own src/."""
    out = tmp_path / "proj"
    (out / "src").mkdir(parents=True)
    (out / "src" / "main.py").write_text("my sources\n")
    args = ["build", "--lock", str(pure_lock), "--entry", "x=plain:__version__", "--name", "src", "--format", "dir",
            "--output-dir", str(out), "--cache-dir", str(tmp_path / "cache"), "-q"]
    proc = run(args, tmp_path)
    assert_error(proc, OutputError, str(out / "src"))
    assert (out / "src" / "main.py").read_text() == "my sources\n"
    assert sorted(p.name for p in out.iterdir()) == ["src"]
    (out / "src" / "main.py").unlink()
    (out / "src").rmdir()
    assert run(args, tmp_path).returncode == 0  # now bundler's own output:
    again = run(args, tmp_path)  # and a rebuild replaces it
    assert again.returncode == 0, again.stderr
    assert (out / "src" / "bundler.json").is_file()


# --- lock files that used to end in an internal error ----------------------------------------


@pytest.mark.parametrize("name, body, words", [
    ("pylock.toml", 'lock-version = "1.0"\ncreated-by = "t"\n[[packages]]\nname = "a"\nversion = "1"\n'
                    '[[packages.wheels]]\nname = "a-1-py3-none-any.whl"\npath = "a\\u0000b.whl"\n'
                    f'[packages.wheels.hashes]\nsha256 = "{"0" * 64}"\n', "NUL byte"),
    ("pylock.toml", 'lock-version = "1.0"\nx = ' + "[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply"),
    ("requirements.txt", f'click==8.1.8 ; python_version >< "3" --hash=sha256:{"0" * 64}\n', "Expected a marker"),
], ids=["nul-in-path", "deep-toml", "bad-marker"])
def test_hostile_locks_end_in_one_line(tmp_path, name, body, words):
    lock = tmp_path / name
    lock.write_text(body)
    proc, outdir = build(tmp_path, "--lock", str(lock), "--entry", "x=m:f")
    line = assert_error(proc, LockError, str(lock))
    assert words in line
    assert_no_output(outdir)
