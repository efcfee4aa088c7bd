"""The single-file artifact on a bare machine (the clean room), as an unprivileged user."""

from __future__ import annotations

import json
import shutil

import pytest
from support.e2e import BASES

ART = "hello-1.0.0-linux-x86_64"
PLACE = f"/opt/my app ü/{ART}"


@pytest.fixture(params=sorted(BASES))
def artifact(request, room, runtimes):
    room.add_file(runtimes[request.param] / ART, PLACE, mode=0o755)
    yield request.param
    shutil.rmtree(room.host_path("/opt"))
    for d in ("/home/user/.cache", "/home/ro"):
        if room.host_path(d).exists():
            shutil.rmtree(room.host_path(d))


def test_runs_and_caches_in_home(room, artifact):
    args = ["--name", "Zoë \"q\" 'x' ü"]
    proc = room.run([PLACE, *args], cwd="/tmp")
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode()
    assert "Hello, Zoë \"q\" 'x' ü!" in out
    assert "at /home/user/.cache/bundler/hello/" in out
    cache = room.host_path("/home/user/.cache/bundler/hello")
    (tree,) = [p for p in cache.iterdir()]
    assert len(tree.name) == 16 and (tree / ".bundler-complete").is_file()
    assert cache.stat().st_mode & 0o777 == 0o700
    # warm run: same tree, untouched
    before = (tree / "bin" / "hello").stat().st_mtime_ns
    proc = room.run([PLACE, "--count", "2"])
    assert proc.returncode == 0 and proc.stdout.decode().count("Hello, world!") == 2, proc.stderr.decode()
    assert (tree / "bin" / "hello").stat().st_mtime_ns == before
    # the program name the user typed reaches the app (click's usage line)
    proc = room.run([PLACE, "--help"])
    assert f"Usage: {ART}" in proc.stdout.decode(), proc.stdout.decode()


def test_read_only_home_falls_back_to_private_temp(room, artifact):
    ro = room.host_path("/home/ro")
    ro.mkdir()
    ro.chmod(0o555)
    proc = room.run([PLACE], env={"HOME": "/home/ro"})
    assert proc.returncode == 0, proc.stderr.decode()
    assert "at /tmp/bundler-1000/hello/" in proc.stdout.decode()


def test_stray_python_variables_do_not_break_it(room, artifact):
    env = {"PYTHONHOME": "/nonexistent", "PYTHONPATH": "/nonexistent:/also/not", "PYTHONSTARTUP": "/x"}
    proc = room.run([PLACE, "--name", "iso"], env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "Hello, iso!" in proc.stdout.decode()


def test_python_mode_exit_codes_stdin_and_artifact_path(room, artifact):
    code = "import os, sys; data = sys.stdin.read(); print(data.upper()); print(os.environ['BUNDLER_ARTIFACT']); sys.exit(7)"
    proc = room.run([PLACE, "-c", code], env={"BUNDLER_STUB": "python"}, input="ünï stdin".encode())
    assert proc.returncode == 7, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert lines == ["ÜNÏ STDIN", PLACE]
    proc = room.run([PLACE], env={"BUNDLER_STUB": "info"})
    assert proc.returncode == 0
    manifest = json.loads(proc.stdout)
    assert manifest["app"] == {"name": "hello", "version": "1.0.0"} and manifest["target"] == "linux-x86_64"
    assert set(manifest["entry_points"]) == {"hello", "yamlcheck"}


def test_extract_for_installers(room, artifact):
    proc = room.run([PLACE], env={"BUNDLER_STUB": "extract:/home/user/rt"})
    assert proc.returncode == 0, proc.stderr.decode()
    proc = room.run(["/home/user/rt/bin/hello", "--name", "installed"])
    assert proc.returncode == 0 and "Hello, installed!" in proc.stdout.decode(), proc.stderr.decode()
    shutil.rmtree(room.host_path("/home/user/rt"))
