"""Run Windows programs under Debian's wine (a real Windows loader, not a mock)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

WINE = "wine"


def wine_env(prefix: Path) -> dict[str, str]:
    """An environment with its own WINEPREFIX under *prefix*, initialised once."""
    if shutil.which(WINE) is None:
        raise RuntimeError("wine is not installed; `make test` installs it (Debian packages wine, wine64)")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(prefix),
        "WINEPREFIX": str(prefix / "wineprefix"),
        "WINEDEBUG": "-all",
        # no Mono/Gecko installers, no display needed
        "WINEDLLOVERRIDES": "mscoree,mshtml=",
        "WINEARCH": "win64",
        "LC_ALL": "C.UTF-8",
    }
    if not (prefix / "wineprefix" / "system.reg").exists():
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(["wineboot", "-i"], env=env, check=True, capture_output=True, timeout=300)
        subprocess.run(["wineserver", "-w"], env=env, check=True, capture_output=True, timeout=300)
    return env


def run_wine(exe: Path, *args: str, env: dict[str, str], cwd: Path | None = None,
             timeout: float = 120, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run *exe* under wine; stdout/stderr as bytes (Windows programs may write any code page)."""
    full = dict(env)
    full.update(extra_env or {})
    return subprocess.run([WINE, str(exe), *args], env=full, cwd=cwd, capture_output=True, timeout=timeout)
