"""Lock files exactly as the real lockers write them: pip lock, uv export, uv pip compile.

The lockers resolve against PyPI (reachable in CI), for examples/hello.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.e2e import HELLO

from bundler.deps.lock import DirectoryRef, HashedRequirement, WheelRef, read_lock

CLICK_SHA = "63c132bbbed01578a06712a2d1f497bb62d9c1c0d329b7903a866228027263b2"
UV = [sys.executable, "-m", "uv"]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("locker") / "hello"
    shutil.copytree(HELLO, dest, ignore=shutil.ignore_patterns("dist", "pylock.toml", "*.egg-info", "build"))
    return dest


def _run(cmd: list[str], cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "UV_NO_CONFIG": "1", "PIP_CONFIG_FILE": "/dev/null",
                               "UV_NATIVE_TLS": "1", "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
                               "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt"})
    assert proc.returncode == 0, proc.stderr


def _check_pylock(items, expect_directory: bool) -> None:
    by_name = {i.name: i for i in items}
    click = by_name["click"]
    assert isinstance(click, WheelRef) and click.sha256 == CLICK_SHA and click.url.endswith("click-8.1.8-py3-none-any.whl")
    assert "colorama" not in by_name  # marker: sys_platform == 'win32'
    if expect_directory:
        assert isinstance(by_name["hello"], DirectoryRef) and by_name["hello"].path.name == "hello"


def test_pip_lock(project, host_target):
    _run([sys.executable, "-m", "pip", "lock", ".", "-o", "pylock.toml", "--quiet"], project)
    _check_pylock(read_lock(project / "pylock.toml", host_target), expect_directory=True)


def test_uv_export(project, host_target):
    _run([*UV, "lock", "--quiet"], project)
    _run([*UV, "export", "--format", "pylock.toml", "-o", "pylock.uv.toml", "--quiet"], project)
    text = (project / "pylock.uv.toml").read_text()
    assert "editable = true" in text  # uv marks the project editable; bundler builds a real wheel
    _check_pylock(read_lock(project / "pylock.uv.toml", host_target), expect_directory=True)


def test_uv_pip_compile_pylock(project, host_target):
    _run([*UV, "pip", "compile", "--quiet", "--format", "pylock.toml", "pyproject.toml", "-o", "pylock.compile.toml",
          "--python-version", "3.11"], project)
    _check_pylock(read_lock(project / "pylock.compile.toml", host_target), expect_directory=False)


def test_uv_pip_compile_hashed_requirements(project, host_target):
    _run([*UV, "pip", "compile", "--quiet", "--generate-hashes", "pyproject.toml", "-o", "requirements.txt",
          "--python-version", "3.11"], project)
    (item,) = [i for i in read_lock(project / "requirements.txt", host_target) if i.name == "click"]
    assert isinstance(item, HashedRequirement) and item.version == "8.1.8" and CLICK_SHA in item.sha256s
