"""Two real apps built on the same base keep one runtime on the end user's disk: the second
app's first run links the runtime layer from the first app's tree (stubs/layers.zig), and runs
as itself (its own sys.prefix, its own app layer)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from support.e2e import BASES, run_bundler

from bundler.output import payload as pl

ART = "hello-1.0.0-linux-x86_64"
SHARED = ("bin/python3.11", "lib/python311.zip", "lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so")


def _run(artifact: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(artifact), *args], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_two_real_apps_share_the_runtime_layer(runtimes, app_lock, cache_dir, tmp_path):
    hello = runtimes["pyenv"] / ART
    out = tmp_path / "out"
    proc = run_bundler(
        "build", "--lock", str(app_lock), "--entry", "greet=hello.cli:main", "--name", "greeter",
        "--version", "2.0", "--python", BASES["pyenv"], "--format", "onefile",
        "--output-dir", str(out), "--cache-dir", str(cache_dir), "--compression-level", "3",
    )
    assert proc.returncode == 0, proc.stderr
    greeter = out / "greeter-2.0-linux-x86_64"
    keys = [{l.name: l.key for l in pl.read_manifest(a).payload.layers} for a in (hello, greeter)]
    assert keys[0]["runtime"] == keys[1]["runtime"] and keys[0]["app"] != keys[1]["app"]

    cache = tmp_path / "user-cache"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "BUNDLER_CACHE_DIR": str(cache)}
    _run(hello, "--name", "one", env=env)
    said = _run(greeter, "--name", "two", env=env).stdout
    [a] = (cache / "hello").iterdir()
    [b] = (cache / "greeter").iterdir()
    assert said == f"Hello, two!\n(Python 3.11.7 at {b})\n"  # its own tree, though its runtime is hello's files
    for rel in SHARED:
        assert (a / rel).stat().st_ino == (b / rel).stat().st_ino, rel
    code = "import ssl, sqlite3, sys; print(sys.executable); print(ssl.OPENSSL_VERSION.split()[0])"
    py = _run(greeter, "-c", code, env={**env, "BUNDLER_STUB": "python"}).stdout.split()
    assert py == [str(b / "bin/python3.11"), "OpenSSL"]
    info = json.loads(_run(greeter, env={**env, "BUNDLER_STUB": "info"}).stdout)["cache"]
    assert {l["name"]: l["trees"] for l in info["layers"]}["runtime"] == 2

    # hello goes; greeter keeps running from the same files
    said = _run(hello, env={**env, "BUNDLER_STUB": "uninstall"}).stdout
    assert said.startswith("removed 1 unpacked copy of hello (") and "the rest is shared with other apps' copies" in said
    assert not (cache / "hello").exists() and os.stat(b / "bin/python3.11").st_nlink == 1
    assert _run(greeter, "--name", "three", env=env).stdout.startswith("Hello, three!\n")
