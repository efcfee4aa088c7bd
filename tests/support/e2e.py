"""Helpers shared by the end-to-end tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "examples" / "hello"
#: The base interpreters the suite relocates: the pyenv CPython running the tests
#: (shared libpython with an absolute RUNPATH) and Debian's distro-layout python3.11.
BASES = {"pyenv": sys.executable, "debian": "/usr/bin/python3.11"}
#: the single file of the ``reported`` session fixture (tests/integration/conftest.py)
REPORTED = "hello-1.0.0-linux-x86_64"


def run_bundler(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600):
    return subprocess.run(
        [sys.executable, "-m", "bundler", *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout,
    )
