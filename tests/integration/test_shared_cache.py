"""Builds that share one --cache-dir: at the same time, and after one was killed with SIGKILL mid-stage.

Real builds through the CLI (subprocesses in their own process groups), real
PEP 517 builds of a copy of examples/hello, a real HTTP server for downloads.
A kill is aimed at a stage by watching for that stage's half-made cache entry
(a private temporary directory or file beside it, see bundler/cachefs.py) and
killing the whole process group as soon as it appears.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.e2e import HELLO
from support.wheelfactory import make_wheel, sha256_of

pytestmark = pytest.mark.slow

ART = "hello-1.0.0-linux-x86_64"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BUNDLER_")}


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bundler", "build", "-q", *args], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _out, err = proc.communicate(timeout=1800)
    return proc.returncode, err


def _project(tmp_path: Path, name: str, greeting: str | None = None) -> Path:
    project = tmp_path / name
    shutil.copytree(HELLO, project, ignore=shutil.ignore_patterns("dist", "build", "*.egg-info"))
    if greeting:
        cli = project / "src" / "hello" / "cli.py"
        cli.write_text(cli.read_text().replace("Hello, {name}!", greeting))
    return project


def _pure_lock(tmp_path: Path, url: str | None = None) -> Path:
    wheel = make_wheel(tmp_path / "wheels", "plainpkg", "1.0", files={
        "plainpkg/__init__.py": "def main():\n    print('plain ran')\n",
        "plainpkg/data.bin": os.urandom(1 << 20),  # something to download slowly
    })
    where = f'url = "{url}"' if url else f'path = "{wheel}"'
    lock = tmp_path / "pylock.toml"
    lock.write_text('lock-version = "1.0"\ncreated-by = "tests"\n\n[[packages]]\nname = "plainpkg"\nversion = "1.0"\n\n'
                    f'[[packages.wheels]]\nname = "{wheel.name}"\n{where}\n\n'
                    f'[packages.wheels.hashes]\nsha256 = "{sha256_of(wheel)}"\n')
    return lock


def _run(artifact: Path, *args: str) -> str:
    proc = subprocess.run([str(artifact), *args], capture_output=True, text=True, timeout=600,
                          env={"BUNDLER_CACHE_DIR": str(artifact.parent / "run-cache"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_four_builds_at_once_into_one_empty_cache(tmp_path):
    cache = tmp_path / "cache"
    same = _project(tmp_path, "same")
    other = _project(tmp_path, "other", greeting="Howdy, {name}!")
    lock = _pure_lock(tmp_path)
    common = ["--format", "onefile", "--compression-level", "3", "--cache-dir", str(cache)]
    procs = [
        _start([str(same), "--output-dir", str(tmp_path / "out1"), *common], tmp_path),
        _start([str(same), "--output-dir", str(tmp_path / "out2"), *common], tmp_path),
        _start([str(other), "--output-dir", str(tmp_path / "out3"), *common], tmp_path),
        _start(["--lock", str(lock), "--entry", "plain=plainpkg:main", "--name", "plain", "--version", "1.0",
                "--output-dir", str(tmp_path / "out4"), *common], tmp_path),
    ]
    results = [_finish(p) for p in procs]
    for n, (code, err) in enumerate(results, 1):
        assert code == 0, f"build {n} failed: {err}"
    first, second = (tmp_path / "out1" / ART).read_bytes(), (tmp_path / "out2" / ART).read_bytes()
    assert first == second  # the same project gives the same bytes, whoever made the shared entries
    assert "Hello, x!" in _run(tmp_path / "out1" / ART, "--name", "x")
    assert "Howdy, x!" in _run(tmp_path / "out3" / ART, "--name", "x")
    assert "plain ran" in _run(tmp_path / "out4" / "plain-1.0-linux-x86_64")


# --- SIGKILL in each stage -----------------------------------------------------------------


def _half_made(directory: Path, pattern: str = ".*.tmp") -> Callable[[], bool]:
    """True once *directory* holds an entry matching *pattern* (default: a private temporary entry, cachefs)."""
    def ready() -> bool:
        try:
            return any(True for _ in directory.glob(pattern))
        except OSError:  # a temporary entry renamed away while we looked
            return False
    return ready


def _kill_when(proc: subprocess.Popen[str], ready: Callable[[], bool], what: str) -> None:
    """SIGKILL *proc*'s process group as soon as *ready()*; fails if the build ends first."""
    deadline = time.monotonic() + 1800
    while not ready():
        if proc.poll() is not None:
            _out, err = proc.communicate()
            pytest.fail(f"the build ended (exit {proc.returncode}) before {what}: {err}")
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=600)
    assert proc.returncode == -signal.SIGKILL


def _build_after_kill(args: list[str], cwd: Path) -> str:
    code, err = _finish(_start(args, cwd))
    assert code == 0, f"the build after the kill failed: {err}"
    return err


@pytest.fixture
def slow_server() -> Iterator[dict]:
    """Serves one file; until ``state["release"]`` is set it sends half, then stalls (a download in flight)."""
    state: dict = {"body": b"", "half_sent": threading.Event(), "release": threading.Event()}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = state["body"]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state["release"].is_set():
                self.wfile.write(body)
                return
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            state["half_sent"].set()
            state["release"].wait(1800)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}/plainpkg-1.0-py3-none-any.whl"
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield state
    finally:
        state["release"].set()
        httpd.shutdown()
        httpd.server_close()


def test_killed_during_download(tmp_path, slow_server):
    lock = _pure_lock(tmp_path, url=slow_server["url"])
    slow_server["body"] = (tmp_path / "wheels" / "plainpkg-1.0-py3-none-any.whl").read_bytes()
    cache = tmp_path / "cache"
    args = ["--lock", str(lock), "--entry", "plain=plainpkg:main", "--name", "plain", "--version", "1.0",
            "--format", "onefile", "--compression-level", "3", "--output-dir", str(tmp_path / "out"),
            "--cache-dir", str(cache)]
    proc = _start(args, tmp_path)
    _kill_when(proc, lambda: slow_server["half_sent"].is_set() and _half_made(cache / "sha256", "*/*/.*.tmp")(), "the download")
    slow_server["release"].set()
    _build_after_kill(args, tmp_path)
    assert "plain ran" in _run(tmp_path / "out" / "plain-1.0-linux-x86_64")


@pytest.mark.parametrize("stage, where", [
    ("build env", "build-envs"),  # the PEP 517 environment for the project's wheel
    ("base", "runtimes"),  # the relocated, byte-compiled interpreter being saved to the cache
    ("compress", "frames"),  # some frames published, others in flight
])
def test_killed_in_a_stage(tmp_path, stage, where):
    cache = tmp_path / "cache"
    project = _project(tmp_path, "hello")
    args = [str(project), "--format", "onefile", "--output-dir", str(tmp_path / "out"), "--cache-dir", str(cache),
            "--compression-level", "19" if stage == "compress" else "3"]
    proc = _start(args, tmp_path)
    ready = _half_made(cache / where, "*/*.frame") if stage == "compress" else _half_made(cache / where)
    _kill_when(proc, ready, f"the {stage} stage's cache entry")
    _build_after_kill(args, tmp_path)
    assert "Hello, x!" in _run(tmp_path / "out" / ART, "--name", "x")
