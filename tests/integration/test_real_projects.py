"""The integrator's path on real projects made in tmp_path, through the CLI (issue: real projects, first try).

Each test writes a project or a lock with wheels built here, runs `bundler
build` as a user would, and checks what the user sees (one line, the exit
code) and what the build made.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.e2e import run_bundler
from support.wheelfactory import make_wheel, sha256_of

from bundler.errors import ConfigError

pytestmark = pytest.mark.slow


def _lock(path: Path, *wheels: Path) -> Path:
    body = 'lock-version = "1.0"\ncreated-by = "tests"\n\n'
    for w in wheels:
        name, version = w.name.split("-")[:2]
        body += (f'[[packages]]\nname = "{name}"\nversion = "{version}"\n\n[[packages.wheels]]\nname = "{w.name}"\n'
                 f'path = "{w}"\n\n[packages.wheels.hashes]\nsha256 = "{sha256_of(w)}"\n\n')
    path.write_text(body)
    return path


def _build(cwd: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_bundler("build", *args, "--cache-dir", str(cache), cwd=cwd)


def _one_error(proc: subprocess.CompletedProcess[str], exc: type) -> str:
    assert proc.returncode == exc.exit_code, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bundler: error: "), proc.stderr
    return lines[0]


# --- the current directory is the project -------------------------------------------------


def test_build_in_the_project_directory(tmp_path, cache_dir):
    """`cd my-project && bundler init && bundler build`: no PROJECT_DIR needed."""
    project = tmp_path / "my-project"
    (project / "src" / "mytool").mkdir(parents=True)
    (project / "src" / "mytool" / "__init__.py").write_text("def main():\n    print('mytool ran')\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "mytool"\nversion = "0.3"\n\n[project.scripts]\nmytool = "mytool:main"\n\n'
        '[tool.setuptools.packages.find]\nwhere = ["src"]\n')
    (project / "pylock.toml").write_text('lock-version = "1.0"\ncreated-by = "tests"\n\n'
                                         '[[packages]]\nname = "mytool"\n\n[packages.directory]\npath = "."\n')
    init = run_bundler("init", cwd=project)
    assert init.returncode == 0, init.stderr
    assert "next: bundler build\n" in init.stderr  # the command that works from here
    proc = _build(project, cache_dir, "--format", "dir")
    assert proc.returncode == 0, proc.stderr
    out = subprocess.run([str(project / "dist" / "mytool" / "bin" / "mytool")], capture_output=True, text=True)
    assert out.stdout == "mytool ran\n", out.stderr


# --- gui turns itself on -------------------------------------------------------------------


def _tk_project(tmp_path: Path, name: str, *, gui_script: bool, tool: str = "") -> Path:
    project = tmp_path / name
    pkg = project / "src" / "tkapp"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("def main():\n    import tkinter\n    print('tk', tkinter.TkVersion)\n")
    table = "gui-scripts" if gui_script else "scripts"
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "tkapp"\nversion = "1.0"\n\n[project.{table}]\ntkapp = "tkapp:main"\n\n'
        '[tool.setuptools.packages.find]\nwhere = ["src"]\n\n'
        f'[tool.bundler]\nentry = ["tkapp"]\nformat = ["dir"]\n{tool}')
    (project / "pylock.toml").write_text('lock-version = "1.0"\ncreated-by = "tests"\n\n'
                                         '[[packages]]\nname = "tkapp"\n\n[packages.directory]\npath = "."\n')
    return project


def _runs_tkinter(project: Path) -> subprocess.CompletedProcess[str]:
    root = project / "dist" / "tkapp"
    return subprocess.run([str(root / "bin" / "python3"), "-c", "import tkinter; print(tkinter.TkVersion)"],
                          capture_output=True, text=True)


@pytest.mark.parametrize("gui_script", [True, False], ids=["gui-scripts", "imports-tkinter"])
def test_a_tkinter_app_turns_gui_on(tmp_path, cache_dir, gui_script):
    project = _tk_project(tmp_path, "app", gui_script=gui_script)
    proc = _build(tmp_path, cache_dir, str(project))
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stderr.splitlines() if l.lstrip().startswith("gui "))
    assert ("is a GUI script of tkapp-1.0" if gui_script else "tkapp/__init__.py (tkapp-1.0") in line
    assert "gui = false" in line
    assert _runs_tkinter(project).returncode == 0


def test_gui_false_is_respected(tmp_path, cache_dir):
    project = _tk_project(tmp_path, "app", gui_script=True, tool="gui = false\n")
    proc = _build(tmp_path, cache_dir, str(project))
    assert proc.returncode == 0, proc.stderr
    assert not any(l.lstrip().startswith("gui ") for l in proc.stderr.splitlines())
    assert "No module named 'tkinter'" in _runs_tkinter(project).stderr


# --- entry points are checked at build time -----------------------------------------------


@pytest.fixture(scope="module")
def plain_lock(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("plain")
    wheel = make_wheel(tmp / "wheels", "plainpkg", "1.0", files={
        "plainpkg/__init__.py": "from .cli import main\n",
        "plainpkg/cli.py": "import sys\n\ndef main():\n    print('ok')\n\nif sys.platform:\n    def other():\n        pass\n",
    })
    return _lock(tmp / "pylock.toml", wheel)


@pytest.mark.parametrize("entry", ["x=plainpkg:main", "x=plainpkg.cli:other", "x=http.server:test"])
def test_good_entry_points_build(tmp_path, cache_dir, plain_lock, entry):
    proc = _build(tmp_path, cache_dir, "--lock", str(plain_lock), "--entry", entry, "--format", "dir", "-q",
                  "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("entry, problem", [
    ("x=nosuchmod:main", "there is no module nosuchmod in the runtime"),
    ("x=plainpkg.cli:mian", "plainpkg.cli (cli.py) has no top-level mian"),
    ("x=plainpkg:nothere", "plainpkg (__init__.py) has no top-level nothere"),
])
def test_bad_entry_points_are_refused(tmp_path, cache_dir, plain_lock, entry, problem):
    out = tmp_path / "out"
    proc = _build(tmp_path, cache_dir, "--lock", str(plain_lock), "--entry", entry, "--format", "dir", "-q",
                  "--output-dir", str(out))
    line = _one_error(proc, ConfigError)
    assert f"entry point {entry}: {problem}" in line
    assert not out.exists() or not any(out.iterdir())


# --- names and versions ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tool_lock(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("tool")
    wheel = make_wheel(tmp / "wheels", "toolpkg", "2.5", files={"toolpkg/__init__.py": "def main():\n    print(1)\n"},
                       entry_points={"console_scripts": {"tool": "toolpkg:main"}})
    return _lock(tmp / "pylock.toml", wheel)


def _layers(artifact: Path) -> dict[str, int]:
    proc = run_bundler("inspect", "--json", str(artifact))
    assert proc.returncode == 0, proc.stderr
    return {l["name"]: l["files"] for l in json.loads(proc.stdout)["layers"]}


def test_a_dependencys_script_keeps_it_a_dependency(tmp_path, cache_dir, tool_lock):
    """--name myapp --entry tool (a script of toolpkg): toolpkg's version is not the app's, nor its layer."""
    out = tmp_path / "out"
    proc = _build(tmp_path, cache_dir, "--lock", str(tool_lock), "--entry", "tool", "--name", "myapp",
                  "--compression-level", "1", "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "version   0: no --version" in proc.stderr
    artifact = out / "myapp-0-linux-x86_64"
    assert _layers(artifact)["app"] == 1  # its SBOM (bundler.cdx.json) alone: toolpkg stays a dependency


def test_a_published_app_takes_its_own_version(tmp_path, cache_dir, tool_lock):
    out = tmp_path / "out"
    proc = _build(tmp_path, cache_dir, "--lock", str(tool_lock), "--entry", "tool", "--compression-level", "1",
                  "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    assert _layers(out / "tool-2.5-linux-x86_64")["app"] > 0


# --- requirements files with the project as `.` ----------------------------------------------


def test_requirements_with_a_dot_line(tmp_path, cache_dir):
    """What `uv pip compile --generate-hashes` writes for the project itself: a bare `.`."""
    project = tmp_path / "proj"
    (project / "dotapp").mkdir(parents=True)
    (project / "dotapp" / "__init__.py").write_text("def main():\n    print('dot ran')\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "dotapp"\nversion = "4.0"\n\n[project.scripts]\ndotapp = "dotapp:main"\n\n'
        '[tool.setuptools]\npackages = ["dotapp"]\n')
    (project / "requirements.txt").write_text(".\n")
    proc = _build(project, cache_dir, "--entry", "dotapp", "--format", "dir", "-q")
    assert proc.returncode == 0, proc.stderr
    out = subprocess.run([str(project / "dist" / "dotapp" / "bin" / "dotapp")], capture_output=True, text=True)
    assert out.stdout == "dot ran\n", out.stderr


def test_plural_grammar(tmp_path, cache_dir, tool_lock):
    proc = _build(tmp_path, cache_dir, "--lock", str(tool_lock), "--entry", "tool", "--format", "dir",
                  "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "1 package from" in proc.stderr and "1 wheel verified" in proc.stderr
    assert "1 dependency:" in proc.stderr or "from the build cache" in proc.stderr
    assert " 1 packages" not in proc.stderr and " 1 wheels" not in proc.stderr and " 1 dependencies" not in proc.stderr


# --- an optional native dependency no wheel ships -------------------------------------------


@pytest.fixture(scope="module")
def optional_lib_lock(tmp_path_factory) -> Path:
    """A wheel whose optional extension links libgone.so.7, which no wheel ships (numba's tbbpool pattern)."""
    from support.native import shared_lib

    tmp = tmp_path_factory.mktemp("optional")
    libdir = tmp / "libdir"
    shared_lib(libdir / "libgone.so.7", "libgone.so.7", "int gone(void){return 7;}")
    ext = tmp / "build" / "_tbbpool.so"
    shared_lib(ext, "_tbbpool.so", "int gone(void); int pool(void){return gone();}", f"-L{libdir}", "-l:libgone.so.7")
    wheel = make_wheel(tmp / "wheels", "optpkg", "1.0", tag="py3-none-linux_x86_64", files={
        "optpkg/__init__.py": "try:\n    from . import _tbbpool\nexcept ImportError:\n    _tbbpool = None\n"
                              "def main():\n    print('pool' if _tbbpool else 'fallback')\n",
        "optpkg/_tbbpool.so": ext.read_bytes(),
    })
    return _lock(tmp / "pylock.toml", wheel)


def test_missing_optional_library_suggests_exclude_lib(tmp_path, cache_dir, optional_lib_lock):
    proc = _build(tmp_path, cache_dir, "--lock", str(optional_lib_lock), "--entry", "x=optpkg:main", "-q",
                  "--output-dir", str(tmp_path / "out"))
    from bundler.errors import RelocationError

    line = _one_error(proc, RelocationError)
    assert "optpkg/_tbbpool.so needs libgone.so.7" in line and "--exclude-lib libgone.so.7" in line


def test_exclude_lib_leaves_it_unresolved_and_says_so(tmp_path, cache_dir, optional_lib_lock):
    out = tmp_path / "out"
    proc = _build(tmp_path, cache_dir, "--lock", str(optional_lib_lock), "--entry", "x=optpkg:main",
                  "--exclude-lib", "libgone.so.*", "--compression-level", "1", "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "excluded  libgone.so.7" in proc.stderr
    artifact = out / "x-0-linux-x86_64"
    manifest = json.loads(run_bundler("inspect", "--json", str(artifact)).stdout)
    assert manifest["excluded_libraries"] == ["libgone.so.7"]
    ran = subprocess.run([str(artifact)], capture_output=True, text=True, timeout=600,
                         env={"PATH": "/usr/bin:/bin", "BUNDLER_CACHE_DIR": str(tmp_path / "unpack")})
    assert ran.stdout == "fallback\n", ran.stderr  # the package copes without it, as numba does


# --- what a sub-build prints ------------------------------------------------------------------


def test_build_backend_warnings_are_shown_after_the_step(tmp_path, cache_dir):
    project = tmp_path / "warny"
    (project / "warny").mkdir(parents=True)
    (project / "warny" / "__init__.py").write_text("def main():\n    print('w')\n")
    (project / "setup.py").write_text("import sys\nprint('WARNING: bundler-test-warning', file=sys.stderr)\n"
                                      "from setuptools import setup\nsetup()\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "warny"\nversion = "1.0"\n\n[tool.setuptools]\npackages = ["warny"]\n\n'
        '[tool.bundler]\nentry = ["w=warny:main"]\nformat = ["dir"]\n')
    (project / "pylock.toml").write_text('lock-version = "1.0"\ncreated-by = "tests"\n\n'
                                         '[[packages]]\nname = "warny"\n\n[packages.directory]\npath = "."\n')
    proc = _build(tmp_path, cache_dir, str(project), "-v")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    notice = next(i for i, l in enumerate(lines) if "the build backend printed" in l)
    assert any("WARNING: bundler-test-warning" in l for l in lines[notice:])
    assert "WARNING: bundler-test-warning" not in "\n".join(lines[:notice])  # nothing before the step ended


# --- inspect reads every output kind -----------------------------------------------------------


def test_inspect_reads_directory_and_archive(tmp_path, cache_dir, tool_lock):
    out = tmp_path / "out"
    proc = _build(tmp_path, cache_dir, "--lock", str(tool_lock), "--entry", "tool", "--format", "dir",
                  "--format", "archive", "--compression-level", "1", "--output-dir", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    for path, kind in ((out / "tool", "directory"), (out / "tool-2.5-linux-x86_64.tar.zst", "archive")):
        shown = run_bundler("inspect", "--verify", str(path))
        assert shown.returncode == 0, shown.stderr
        assert f"tool 2.5 for linux-x86_64 (runtime {kind}, format 1)" in shown.stdout
        assert "entries   tool (default)" in shown.stdout and "verified: " in shown.stdout
        manifest = json.loads(run_bundler("inspect", "--json", str(path)).stdout)
        assert manifest["app"] == {"name": "tool", "version": "2.5"} and "payload" not in manifest
    damaged = tmp_path / "damaged.tar.zst"
    data = (out / "tool-2.5-linux-x86_64.tar.zst").read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    for bad in (damaged, tmp_path):  # half an archive; a directory bundler did not build
        proc = run_bundler("inspect", "--verify", str(bad))
        assert proc.returncode == 10 and proc.stderr.count("\n") == 1, proc.stderr
        assert str(bad) in proc.stderr and "Traceback" not in proc.stderr


# --- a uv project, locked by uv ----------------------------------------------------------------


UV = [sys.executable, "-m", "uv"]
UV_ENV = {"PATH": "/usr/bin:/bin", "UV_NO_CONFIG": "1", "UV_NATIVE_TLS": "1",
          "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"}


@pytest.mark.parametrize("lock", ["pylock.toml", "requirements.txt"])
def test_uv_project(tmp_path, cache_dir, lock):
    """`uv lock` + `uv export` (pylock.toml, or hashed requirements with the project as a bare `.`),
    then `bundler init` and `bundler build` in the project directory, as the README says."""
    project = tmp_path / "uvapp"
    (project / "src" / "uvapp").mkdir(parents=True)
    (project / "src" / "uvapp" / "__init__.py").write_text(
        "import click\n\n@click.command()\ndef main():\n    click.echo('uvapp ran')\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "uvapp"\nversion = "5.0"\nrequires-python = ">=3.11"\ndependencies = ["click==8.1.8"]\n\n'
        '[project.scripts]\nuvapp = "uvapp:main"\n')
    env = {**UV_ENV, "HOME": str(tmp_path)}
    fmt = ["--format", "pylock.toml"] if lock == "pylock.toml" else ["--format", "requirements-txt", "--no-editable"]
    for cmd in ([*UV, "lock", "-q"], [*UV, "export", *fmt, "-q", "-o", lock]):
        done = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    init = run_bundler("init", cwd=project)
    assert init.returncode == 0, init.stderr
    proc = _build(project, cache_dir, "--format", "onefile", "--compression-level", "1")
    assert proc.returncode == 0, proc.stderr
    ran = subprocess.run([str(project / "dist" / "uvapp-5.0-linux-x86_64")], capture_output=True, text=True,
                         timeout=600, env={"PATH": "/usr/bin:/bin", "BUNDLER_CACHE_DIR": str(tmp_path / "unpack")})
    assert ran.stdout == "uvapp ran\n", ran.stderr


# --- a setup.py project without pyproject.toml ------------------------------------------------


def test_setup_py_project_the_command_init_suggests_works(tmp_path, cache_dir):
    project = tmp_path / "legacy"
    (project / "legacy_tool").mkdir(parents=True)
    (project / "legacy_tool" / "__init__.py").write_text("def main():\n    print('legacy ran')\n")
    (project / "setup.py").write_text(
        "from setuptools import setup\nsetup(name='legacy-tool', version='3.1', packages=['legacy_tool'],\n"
        "      entry_points={'console_scripts': ['legacy = legacy_tool:main']})\n")
    (project / "pylock.toml").write_text('lock-version = "1.0"\ncreated-by = "tests"\n\n'
                                         '[[packages]]\nname = "legacy-tool"\n\n[packages.directory]\npath = "."\n')
    init = run_bundler("init", str(project))
    line = _one_error(init, ConfigError)
    suggested = line.split("build it with `", 1)[1].split("`", 1)[0]
    assert suggested.startswith("bundler build ") and "--entry legacy" in suggested
    args = suggested.split()[2:]
    proc = _build(tmp_path, cache_dir, *args, "--compression-level", "1")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^  fetch     1 wheel verified  \[\d+\.\d s\]$", proc.stderr, re.M), proc.stderr  # a CI log's times
    ran = subprocess.run([str(project / "dist" / "legacy-tool-3.1-linux-x86_64")], capture_output=True, text=True,
                         timeout=600, env={"PATH": "/usr/bin:/bin", "BUNDLER_CACHE_DIR": str(tmp_path / "unpack")})
    assert ran.stdout == "legacy ran\n", ran.stderr
