"""Session fixtures for end-to-end tests: real wheels, real runtimes, one clean room.

Each runtime is built once per session (by the real CLI) and shared by the tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from support.cleanroom import CleanRoom, require_root_tools
from support.e2e import BASES, HELLO, REPORTED, run_bundler  # noqa: E402
from support.wheelfactory import sha256_of


@pytest.fixture(scope="session")
def cache_dir(build_cache) -> Path:
    return build_cache


@pytest.fixture(scope="session")
def yaml_wheel(tmp_path_factory) -> Path:
    """PyYAML built from its sdist against Debian's libyaml (a non-system library)."""
    out = tmp_path_factory.mktemp("yaml-wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-binary", "pyyaml",
         "pyyaml==6.0.2", "-w", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="session")
def app_lock(tmp_path_factory, yaml_wheel) -> Path:
    """A pylock.toml: the hello app (a directory package), click from PyPI, PyYAML built above."""
    hello = tomllib.loads((HELLO / "pylock.toml").read_text())
    click = next(p for p in hello["packages"] if p["name"] == "click")["wheels"][0]
    d = tmp_path_factory.mktemp("lock")
    text = f'''lock-version = "1.0"
created-by = "bundler-tests"

[[packages]]
name = "click"
version = "8.1.8"
[[packages.wheels]]
name = "{click['name']}"
url = "{click['url']}"
hashes = {{ sha256 = "{click['hashes']['sha256']}" }}

[[packages]]
name = "pyyaml"
version = "6.0.2"
[[packages.wheels]]
name = "{yaml_wheel.name}"
path = "{yaml_wheel}"
hashes = {{ sha256 = "{sha256_of(yaml_wheel)}" }}

[[packages]]
name = "hello"
directory = {{ path = "{HELLO}" }}
'''
    lock = d / "pylock.toml"
    lock.write_text(text)
    return lock


@pytest.fixture(scope="session")
def runtimes(tmp_path_factory, app_lock, cache_dir) -> dict[str, Path]:
    """name -> output dir holding ``hello/`` (dir), the ``.tar.zst`` (archive) and the single file."""
    built = {}
    for name, python in BASES.items():
        out = tmp_path_factory.mktemp(f"out-{name}")
        proc = run_bundler(
            "build", "--lock", str(app_lock), "--entry", "hello", "--entry", "yamlcheck=hello.cli:main",
            "--name", "hello", "--python", python, "--format", "dir", "--format", "archive", "--format", "onefile",
            "--output-dir", str(out), "--cache-dir", str(cache_dir), "--compression-level", "3",
        )
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
        built[name] = out
    return built


@pytest.fixture(scope="session")
def reported(tmp_path_factory, app_lock, cache_dir) -> Path:
    """hello + click + PyYAML (Debian's libyaml vendored) on the pyenv CPython as a single file, built
    with --report: its output directory (the single file, its SBOM and its report)."""
    out = tmp_path_factory.mktemp("report-out")
    proc = run_bundler(
        "build", "--lock", str(app_lock), "--entry", "hello", "--name", "hello", "--version", "1.0.0",
        "--python", sys.executable, "--format", "onefile", "--report", "--json",
        "--output-dir", str(out), "--cache-dir", str(cache_dir), "--compression-level", "3",
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["report"] == str(out / f"{REPORTED}.report.html")
    assert summary["sboms"] == [str(out / f"{REPORTED}.cdx.json")]
    assert sorted(p.name for p in out.iterdir()) == [REPORTED, f"{REPORTED}.cdx.json", f"{REPORTED}.report.html"]
    return out


@pytest.fixture(scope="session")
def arm64_sysroot(tmp_path_factory) -> Path:
    """Debian 12's arm64 python3.11 packages unpacked into a system image (tests/support/foreign.py)."""
    from support.foreign import arm64_sysroot as make

    work = tmp_path_factory.mktemp("arm64")
    return make(work / "sysroot", work / "debs")


@pytest.fixture(scope="session")
def room(tmp_path_factory) -> CleanRoom:
    require_root_tools()
    return CleanRoom.create(tmp_path_factory.mktemp("room") / "root")
