"""A build's outputs arrive together or not at all: a later target failing, SIGTERM or Ctrl-C in the
middle of a build leave the output directory as it was (issue 11, item 10)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.bases import macos_pbs_archive
from support.e2e import REPO
from support.wheelfactory import make_wheel, write_pylock


def _lock(d: Path, wheel: Path) -> Path:
    return write_pylock(d / "pylock.toml", [wheel])


def _default_sigint() -> None:
    # A test run started in the background of a non-interactive shell (`make test &`, nohup) has
    # SIGINT ignored, and so would bundler (Python keeps an inherited SIG_IGN): give it the
    # disposition it has when a user presses Ctrl-C in a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _bundler(*args: str, extra_env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(extra_env or {})}
    return subprocess.Popen([sys.executable, "-m", "bundler", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint, **kw)


def test_a_later_target_failing_leaves_the_first_targets_outputs_unwritten(tmp_path, cache_dir):
    # the wheel is for linux-x86_64 only: that target builds, then macos-arm64 finds no wheel (exit 4)
    wheel = make_wheel(tmp_path / "w", "hi", "1.0", tag="py3-none-manylinux_2_17_x86_64",
                       files={"hi/__init__.py": "def main(): print('hi')\n"})
    lock = _lock(tmp_path, wheel)
    out = tmp_path / "dist"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file\n")
    mac = macos_pbs_archive(tmp_path / "mac")
    proc = _bundler("build", "--lock", str(lock), "--entry", "hi=hi:main", "--name", "hi", "--version", "1.0",
                    "--target", "linux-x86_64", "--target", "macos-arm64", "--python", sys.executable,
                    "--python", f"macos-arm64={mac}", "--format", "onefile", "--format", "dir",
                    "--output-dir", str(out), "--cache-dir", str(cache_dir), "--compression-level", "1")
    stdout, stderr = proc.communicate(timeout=1800)
    assert proc.returncode == 4, stderr
    assert "linux-x86_64" in stderr  # the first target was built ...
    assert stderr.strip().splitlines()[-1].startswith("bundler: error: ") and "macos-arm64" in stderr.splitlines()[-1]
    assert sorted(os.listdir(out)) == ["notes.txt"]  # ... and nothing of it arrived


SLOW_BACKEND = '''
import os, pathlib, time

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    pathlib.Path(os.environ["SLOW_BACKEND_MARKER"]).write_text("building")
    time.sleep(3600)
    raise RuntimeError("never reached")
'''


@pytest.mark.parametrize(("signum", "code", "line"), [(signal.SIGTERM, 143, "bundler: terminated (SIGTERM)"),
                                                      (signal.SIGINT, 130, "bundler: interrupted")])
def test_a_signal_in_the_middle_of_a_build_leaves_nothing(tmp_path, cache_dir, signum, code, line):
    project = tmp_path / "slow"
    project.mkdir()
    (project / "pyproject.toml").write_text('[build-system]\nrequires = []\nbuild-backend = "slowbackend"\n'
                                            'backend-path = ["."]\n\n[project]\nname = "slow"\nversion = "1.0"\n')
    (project / "slowbackend.py").write_text(SLOW_BACKEND)
    lock = tmp_path / "pylock.toml"
    lock.write_text(f'lock-version = "1.0"\ncreated-by = "bundler-tests"\n\n[[packages]]\nname = "slow"\n'
                    f'directory = {{ path = "{project}" }}\n')
    out = tmp_path / "new" / "dist"  # neither exists: the build creates both, and removes both again
    marker = tmp_path / "backend-started"
    proc = _bundler("build", "--lock", str(lock), "--name", "slow", "--format", "dir", "--output-dir", str(out),
                    "--cache-dir", str(cache_dir), cwd=tmp_path, extra_env={"SLOW_BACKEND_MARKER": str(marker)})
    deadline = time.monotonic() + 1800  # generous: only a stuck build ever gets near it
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the backend never started"
        time.sleep(0.2)
    assert [n for n in os.listdir(out) if n.startswith(".bundler-") and n.endswith(".partial")]  # staging is there
    proc.send_signal(signum)
    _stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == code, stderr
    assert stderr.strip().splitlines()[-1] == line
    assert not (tmp_path / "new").exists()  # no staging directory, no empty dist/
