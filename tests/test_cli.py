"""The CLI as a guide: help that matches the README, init, progress and colour rules."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bundler.cli import cli
from bundler.report import NORMAL, VERBOSE, TerminalReporter

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bundler", *args], capture_output=True, text=True, cwd=cwd)


def _flags(command) -> set[str]:
    return {opt for p in command.params for opt in getattr(p, "opts", []) if opt.startswith("--")} - {"--help"}


def test_top_level_help_lists_every_command():
    proc = run("--help")
    assert proc.returncode == 0
    for name in ("build", "inspect", "init", "cache"):
        assert re.search(rf"^\s+{name}\s+\S", proc.stdout, re.M), proc.stdout


@pytest.mark.parametrize("name", ["build", "inspect", "init", "cache info", "cache prune"])
def test_every_flag_is_in_help_and_readme(name):
    command = cli
    for word in name.split():
        command = command.commands[word]
    proc = run(*name.split(), "--help")
    assert proc.returncode == 0
    for flag in _flags(command):
        assert flag in proc.stdout, (name, flag)
        assert f"`{flag}" in README, f"README does not document {name} {flag}"
    assert f"bundler {name}" in README


def test_readme_flag_table_has_no_stale_flags():
    documented = set(re.findall(r"^\| `(--[a-z-]+)", README, re.M))
    assert documented <= _flags(cli.commands["build"]), documented - _flags(cli.commands["build"])


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_only_on_a_terminal_outside_ci():
    tty = _Tty()
    r = TerminalReporter.for_stream(NORMAL, tty, env={})
    r.progress("fetch", 1, 2)
    r.stage("fetch", "2 wheels verified")
    assert "[" in tty.getvalue() and "1/2" in tty.getvalue()
    assert "\033[" in tty.getvalue()  # colour on a terminal
    for stream, env in ((_Tty(), {"CI": "true"}), (io.StringIO(), {})):
        r = TerminalReporter.for_stream(NORMAL, stream, env=env)
        r.progress("fetch", 1, 2)
        r.stage("fetch", "done")
        assert "1/2" not in stream.getvalue() and "fetch" in stream.getvalue()


def test_off_a_terminal_lines_carry_time_and_long_steps_report(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("bundler.report.time.monotonic", lambda: clock[0])
    stream = io.StringIO()
    r = TerminalReporter.for_stream(NORMAL, stream, env={})
    clock[0] = 102.5
    r.stage("fetch", "2 wheels verified")
    assert stream.getvalue() == "  fetch     2 wheels verified  [2.5 s]\n"
    r.progress("compress", 10, 100, "bytes")  # starts the step: no line yet
    clock[0] = 110.0
    r.progress("compress", 40, 100, "bytes")
    assert stream.getvalue().count("\n") == 1  # under 15 s: quiet
    clock[0] = 118.0
    r.progress("compress", 60, 100, "bytes")
    assert stream.getvalue().endswith("  compress  0.0/0.0 MB (60%)  [18.0 s]\n")
    clock[0] = 120.0
    r.progress("compress", 100, 100, "bytes")
    assert stream.getvalue().count("\n") == 2


def test_no_color_is_honoured():
    tty = _Tty()
    r = TerminalReporter.for_stream(VERBOSE, tty, env={"NO_COLOR": "1"})
    r.stage("lock", "x")
    r.detail("lock", "y")
    assert "\033[1" not in tty.getvalue() and "\033[2m" not in tty.getvalue()
    assert "lock" in tty.getvalue() and "y" in tty.getvalue()


def test_details_only_with_verbose():
    s = io.StringIO()
    TerminalReporter.for_stream(NORMAL, s, env={}).detail("fetch", "download x")
    assert s.getvalue() == ""


def _project(tmp_path: Path, extra: str = "") -> Path:
    d = tmp_path / "proj"
    d.mkdir()
    (d / "pyproject.toml").write_text(
        '[project]\nname = "tool"\nversion = "2.0"\n[project.scripts]\ntool = "tool:main"\ntool-admin = "tool.admin:main"\n' + extra
    )
    return d


def test_init_writes_a_working_table(tmp_path):
    d = _project(tmp_path)
    (d / "pylock.toml").write_text('lock-version = "1.0"\ncreated-by = "x"\n')
    proc = run("init", str(d))
    assert proc.returncode == 0, proc.stderr
    tool = tomllib.loads((d / "pyproject.toml").read_text())["tool"]["bundler"]
    assert tool == {"entry": ["tool", "tool-admin"], "lock": "pylock.toml", "format": ["onefile"]}
    again = run("init", str(d))
    assert again.returncode == 3 and "already has a [tool.bundler]" in again.stderr
    assert again.stderr.count("\n") == 1


def test_init_dry_run_and_missing_lock(tmp_path):
    d = _project(tmp_path)
    before = (d / "pyproject.toml").read_text()
    proc = run("init", str(d), "--dry-run")
    assert proc.returncode == 0 and proc.stdout.startswith("[tool.bundler]")
    assert "pip lock . -o pylock.toml" in proc.stdout
    assert (d / "pyproject.toml").read_text() == before


def test_init_finds_hashed_requirements(tmp_path):
    d = _project(tmp_path)
    (d / "requirements.txt").write_text("click==8.1.8 --hash=sha256:" + "0" * 64 + "\n")
    assert run("init", str(d)).returncode == 0
    assert tomllib.loads((d / "pyproject.toml").read_text())["tool"]["bundler"]["lock"] == "requirements.txt"


def test_init_without_pyproject(tmp_path):
    proc = run("init", str(tmp_path))
    assert proc.returncode == 3 and "no pyproject.toml" in proc.stderr


SETUP_PY = """from setuptools import setup
setup(
    name="legacy-tool",
    version="3.1",
    packages=["legacy_tool"],
    entry_points={"console_scripts": ["legacy = legacy_tool.cli:main"], "gui_scripts": ["legacy-gui=legacy_tool.gui:main"]},
)
"""


def test_init_on_a_setup_py_project_says_what_works(tmp_path):
    d = tmp_path / "legacy"
    d.mkdir()
    (d / "setup.py").write_text(SETUP_PY)
    (d / "pylock.toml").write_text('lock-version = "1.0"\ncreated-by = "x"\n')
    proc = run("init", str(d))
    assert proc.returncode == 3 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"bundler build {d} --lock {d / 'pylock.toml'} --entry legacy --entry legacy-gui" in proc.stderr
    assert "bundler init --create" in proc.stderr
    assert not (d / "pyproject.toml").exists()


def test_init_create_writes_a_pyproject_with_only_the_table(tmp_path):
    d = tmp_path / "legacy"
    d.mkdir()
    (d / "setup.cfg").write_text("[metadata]\nname = legacy-tool\nversion = attr: legacy_tool.__version__\n\n"
                                 "[options.entry_points]\nconsole_scripts =\n    legacy = legacy_tool.cli:main\n")
    (d / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    proc = run("init", str(d), "--create")
    assert proc.returncode == 0, proc.stderr
    data = tomllib.loads((d / "pyproject.toml").read_text())
    assert data == {"tool": {"bundler": {"entry": ["legacy"], "format": ["onefile"]}}}
    assert f"pip lock {d} -o {d / 'pylock.toml'}" in proc.stderr


def test_verbosity_of_one_command_does_not_leak_into_the_next(tmp_path, capsys):
    from bundler import cli as climod

    junk = tmp_path / "junk"
    junk.write_bytes(b"not an artifact" * 20)
    assert climod.main(["inspect", "-v", str(junk)]) == 10
    assert "Traceback" in capsys.readouterr().err  # -v: the traceback
    assert climod.VERBOSITY.get() == 1  # the -v stayed inside that command's context
    assert climod.main(["inspect", str(junk)]) == 10
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
