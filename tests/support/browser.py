"""Debian's Chromium, headless, for the build report's tests: the DOM after the page ran, and a screenshot.

Its command line is the one this machine needs (no sandbox as root, no GPU, and none of
Chromium's background connections, which the closed network refuses), with a fresh
profile per call. ``make test`` installs the ``chromium`` package.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars")
#: generous: the machine may be loaded many times over; a quiet one renders the page in about a second
TIMEOUT = 600


def chromium() -> str:
    found = shutil.which("chromium")
    assert found, "Debian's chromium is needed (make test installs it: apt-get install chromium)"
    return found


def _run(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        proc = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def dump_dom(page: Path) -> str:
    """The page's DOM, serialized after its scripts ran."""
    return _run("--dump-dom", page.resolve().as_uri()).stdout


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2000) -> Path:
    _run(f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri())
    assert png.is_file(), f"chromium wrote no {png}"
    return png
