"""The local-project builder's runner: pip settings reach every subprocess, bundler's own environment is
never changed (two builds in one process, e.g. threads, must not see each other's settings)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bundler.deps import localbuild
from bundler.deps.options import FetchOptions


def test_runner_gives_the_settings_to_the_subprocess_only(monkeypatch):
    monkeypatch.delenv("PIP_NO_INDEX", raising=False)
    log: list[str] = []
    run = localbuild._capturing_runner(log, {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/wheels"})
    before = dict(os.environ)
    run([sys.executable, "-c", "import os; print(os.environ['PIP_NO_INDEX'], os.environ['PIP_FIND_LINKS'], "
         "os.environ['EXTRA'])"], None, {"EXTRA": "x"})
    assert log == ["1 /wheels x\n"]
    assert dict(os.environ) == before and "PIP_NO_INDEX" not in os.environ


def test_runner_failure_keeps_the_output():
    log: list[str] = []
    run = localbuild._capturing_runner(log, {})
    with pytest.raises(subprocess.CalledProcessError):
        run([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], None, None)
    assert log == ["boom\n"]


def test_pip_settings_follow_the_fetch_options(tmp_path):
    offline = FetchOptions(find_links=(), offline=True, cache_dir=tmp_path)
    assert localbuild._pip_settings(offline) == {"PIP_NO_INDEX": "1"}
    mirror = FetchOptions(find_links=(tmp_path,), offline=False, cache_dir=tmp_path,
                          index_url="https://mirror.example/simple")
    assert localbuild._pip_settings(mirror) == {"PIP_INDEX_URL": "https://mirror.example/simple",
                                                "PIP_FIND_LINKS": str(tmp_path)}
