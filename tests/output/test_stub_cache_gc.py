"""The end user's cache looks after itself: old versions go after a new one's first run, a tree in
use is never removed, BUNDLER_STUB=uninstall and BUNDLER_STUB=info (stubs/cache.zig).

Real artifacts (the packaged stub + small payloads) run for real; "running" is a runtime whose
python is a shell script that sleeps, holding its tree's lock (inherited across execve).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import support.stubtools as st
from support.stubtools import APP

from bundler.output import stub as stubmod

SLEEPY_PYTHON = b'#!/bin/sh\n[ -n "$FAKE_READY" ] && : > "$FAKE_READY"\nexec sleep "${FAKE_SLEEP:-0}"\n'


@pytest.fixture(scope="module")
def versions(build_cache, tmp_path_factory) -> dict[int, Path]:
    """Three versions of the same app (different payloads, so different trees)."""
    stub = stubmod.stub_for("linux-x86_64", cache_dir=build_cache)
    assert stub.prebuilt, "no packaged stubs: run `make stubs` first (make test does)"
    d = tmp_path_factory.mktemp("versions")
    out = {}
    for v in (1, 2, 3):
        tree = st.make_tree(d / f"tree{v}", {"lib/version.txt": str(v).encode(), "bin/python3.11": SLEEPY_PYTHON})
        out[v] = st.write_artifact(stub.path, st.build_block(tree), d / f"v{v}" / APP)
    return out


def _trees(cache: Path) -> list[str]:
    return [n for n in st.cache_entries(cache) if not n.startswith(".")]


def _tree_of(artifact: Path, env: dict) -> str:
    info = json.loads(st.run(artifact, env={**env, "BUNDLER_STUB": "info"}).stdout)
    return Path(info["cache"]["tree"]).name


def _first_run(artifact: Path, env: dict) -> None:
    proc = st.run(artifact, env=env)
    assert proc.returncode == 0, proc.stderr


def _running(artifact: Path, env: dict, tmp_path: Path) -> subprocess.Popen:
    """*artifact* started and still running (its python sleeps) once this returns."""
    ready = tmp_path / f"ready-{artifact.parent.name}"
    proc = subprocess.Popen([str(artifact)], env={**env, "FAKE_SLEEP": "30", "FAKE_READY": str(ready)})
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    return proc


def test_the_first_run_of_a_new_version_removes_the_old_one(versions, tmp_path):
    cache = tmp_path / "cache"
    env = st.base_env(cache)
    _first_run(versions[1], env)
    v1 = _trees(cache)
    _first_run(versions[2], env)
    assert _trees(cache) == [_tree_of(versions[2], env)] and v1[0] not in _trees(cache)
    _first_run(versions[2], env)  # a warm run removes nothing and unpacks nothing
    assert _trees(cache) == [_tree_of(versions[2], env)]
    assert st.cache_entries(cache) == _trees(cache)  # no temp tree left behind


def test_a_tree_in_use_is_never_removed(versions, tmp_path):
    cache = tmp_path / "cache"
    env = st.base_env(cache)
    v1 = _running(versions[1], env, tmp_path)
    try:
        _first_run(versions[2], env)
        assert sorted(_trees(cache)) == sorted([_tree_of(versions[1], env), _tree_of(versions[2], env)])
        proc = st.run(versions[1], env={**env, "BUNDLER_STUB": "uninstall"})
        assert proc.returncode == 0
        assert proc.stdout.decode().startswith(f"removed 1 unpacked copy of {APP} (")
        assert "1 in use by a running program kept" in proc.stdout.decode()
        assert _trees(cache) == [_tree_of(versions[1], env)]
    finally:
        v1.kill()
        v1.wait()
    _first_run(versions[3], env)  # v1 has exited: it goes now
    assert _trees(cache) == [_tree_of(versions[3], env)]


def test_keep_the_newest_n(versions, tmp_path):
    cache = tmp_path / "cache"
    env = st.base_env(cache, BUNDLER_CACHE_KEEP="2")
    now = time.time()
    for v in (1, 2):  # unpacked a minute apart, as a person would (the file clock may be coarser than a run)
        _first_run(versions[v], env)
        marker = cache / APP / _tree_of(versions[v], env) / ".bundler-complete"
        os.utime(marker, (now - 120 + 60 * v, now - 120 + 60 * v))
    _first_run(versions[3], env)
    assert sorted(_trees(cache)) == sorted([_tree_of(versions[2], env), _tree_of(versions[3], env)])
    for bad in ("0", "two", "-1"):
        proc = st.run(versions[1], env={**env, "BUNDLER_CACHE_KEEP": bad})
        assert proc.returncode == 64
        assert proc.stderr.decode() == (f"bundler: BUNDLER_CACHE_KEEP={bad} is not valid; give how many unpacked "
                                        "copies of an app to keep, 1 or more.\n")


def test_uninstall_removes_every_copy_and_the_app_directory(versions, tmp_path):
    cache = tmp_path / "cache"
    env = st.base_env(cache, BUNDLER_CACHE_KEEP="5")
    for v in (1, 2):
        _first_run(versions[v], env)
    (cache / APP / f".tmp-{'0' * 16}-999999-00").mkdir()  # a stale temp tree of a killed first run
    proc = st.run(versions[3], env={**env, "BUNDLER_STUB": "uninstall"})
    out = proc.stdout.decode()
    assert proc.returncode == 0 and out.startswith(f"removed 2 unpacked copies of {APP} (") and str(cache) in out
    assert not (cache / APP).exists()
    proc = st.run(versions[3], env={**env, "BUNDLER_STUB": "uninstall"})
    assert (proc.returncode, proc.stdout.decode()) == (0, f"{APP} has no unpacked copy in the cache; nothing to remove\n")


def test_info_says_where_the_tree_is_and_its_size(versions, tmp_path):
    cache = tmp_path / "cache"
    env = st.base_env(cache, BUNDLER_CACHE_KEEP="5")
    before = json.loads(st.run(versions[2], env={**env, "BUNDLER_STUB": "info"}).stdout)
    assert before["app"]["name"] == APP  # still the manifest, with one more member
    c = before["cache"]
    assert c["unpacked"] is False and c["others"] == [] and "size" not in c
    assert Path(c["tree"]).parent == cache / APP and c["root"] == str(cache)
    assert not (cache / APP).exists()  # info creates nothing
    _first_run(versions[1], env)
    _first_run(versions[2], env)
    c = json.loads(st.run(versions[2], env={**env, "BUNDLER_STUB": "info"}).stdout)["cache"]
    tree = Path(c["tree"])
    files = [p for p in tree.rglob("*") if p.is_file() and not p.is_symlink()]
    assert c["unpacked"] is True and c["size"] == sum(p.stat().st_size for p in files)
    # v1 and v2 have the same dependencies and app layers: v2 linked them from v1's tree
    assert 0 < c["shared"] == sum(p.stat().st_size for p in files if p.stat().st_nlink > 1) < c["size"]
    (other,) = c["others"]
    assert other["tree"] == str(cache / APP / _tree_of(versions[1], env)) and other["size"] > 0
