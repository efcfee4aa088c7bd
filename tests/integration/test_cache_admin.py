"""`bundler cache info` and `bundler cache prune` on a build cache a real build filled."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from support.e2e import run_bundler


def _info(cache: Path) -> dict:
    proc = run_bundler("cache", "info", "--cache-dir", str(cache), "--json")
    assert proc.returncode == 0, proc.stderr
    return {k["kind"]: k for k in json.loads(proc.stdout)["kinds"]}


def _build(app_lock: Path, cache: Path, out: Path):
    return run_bundler("build", "--lock", str(app_lock), "--entry", "hello", "--name", "hello", "--python",
                       sys.executable, "--format", "onefile", "--output-dir", str(out), "--cache-dir", str(cache),
                       "--compression-level", "1")


def test_info_then_prune_by_age_size_and_all(app_lock, tmp_path):
    cache = tmp_path / "build cache"
    proc = _build(app_lock, cache, tmp_path / "out1")
    assert proc.returncode == 0, proc.stderr
    kinds = _info(cache)
    assert kinds["runtimes"]["entries"] == 2  # the interpreter alone, and with the dependencies
    assert kinds["downloads"]["entries"] >= 1 and kinds["frames"]["entries"] >= 3
    assert kinds["runtimes"]["size"] > 20_000_000
    text = run_bundler("cache", "info", "--cache-dir", str(cache)).stdout
    assert text.startswith(f"build cache {cache}: ") and "runtimes" in text

    # everything was used just now: the default (30 days) removes nothing
    proc = run_bundler("cache", "prune", "--cache-dir", str(cache))
    assert proc.returncode == 0 and proc.stdout.startswith(f"removed 0 entries (0 B) from {cache}")
    # an entry unused for 40 days goes, with --dry-run first
    old = next((cache / "runtimes").iterdir())
    os.utime(old, (time.time() - 40 * 86400,) * 2)
    proc = run_bundler("cache", "prune", "--cache-dir", str(cache), "--dry-run")
    assert proc.stdout.startswith("would remove 1 entry (") and old.is_dir()
    proc = run_bundler("cache", "prune", "--cache-dir", str(cache))
    assert proc.stdout.startswith("removed 1 entry (") and not old.exists()
    # a size cap keeps the most recently used
    proc = run_bundler("cache", "prune", "--cache-dir", str(cache), "--max-size", "1M")
    assert proc.returncode == 0 and sum(k["size"] for k in _info(cache).values()) <= 1 << 20
    proc = run_bundler("cache", "prune", "--cache-dir", str(cache), "--all")
    assert proc.returncode == 0 and all(k["entries"] == 0 for k in _info(cache).values())
    # the next build makes what it needs again
    proc = _build(app_lock, cache, tmp_path / "out2")
    assert proc.returncode == 0, proc.stderr
    assert _info(cache)["runtimes"]["entries"] == 2


def test_a_bad_size_is_a_configuration_error(tmp_path):
    proc = run_bundler("cache", "prune", "--cache-dir", str(tmp_path), "--max-size", "lots")
    assert proc.returncode == 3 and proc.stderr.strip() == (
        "bundler: error: --max-size lots: give a size such as 500M, 2G or 800000 (bytes)")
