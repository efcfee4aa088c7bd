"""bundler cache info / prune: the entries of each kind, choosing by age and size, removing them
whole while no build runs (cachefs.exclusive), and the leftovers of killed builds."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from bundler import cacheadmin, cachefs
from bundler.errors import ConfigError

DAY = 86400.0


def _entry(root: Path, rel: str, size: int, age_days: float, now: float) -> Path:
    path = root / rel
    if rel.endswith("/"):
        path.mkdir(parents=True)
        (path / "data").write_bytes(b"x" * size)
        (path / cachefs.COMPLETE).write_text("")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    os.utime(path, (now - age_days * DAY, now - age_days * DAY))
    return path


@pytest.fixture
def cache(tmp_path) -> tuple[Path, float]:
    now = time.time()
    root = tmp_path / "cache"
    _entry(root, "sha256/ab/ab12/", 100, 40, now)
    _entry(root, "sha256/cd/cd34/", 200, 1, now)
    _entry(root, "runtimes/r1/", 1000, 10, now)
    _entry(root, "runtimes/r2/", 2000, 2, now)
    _entry(root, "frames/ef/ef56-l9.frame", 300, 50, now)
    _entry(root, "build-envs/e1/", 50, 5, now)
    return root, now


def test_entries_and_summary(cache):
    root, now = cache
    found = cacheadmin.entries(root)
    assert sorted((e.kind, e.path.name) for e in found) == [
        ("build environments", "e1"), ("downloads", "ab12"), ("downloads", "cd34"), ("frames", "ef56-l9.frame"),
        ("runtimes", "r1"), ("runtimes", "r2")]
    sums = {x.kind.name: x for x in cacheadmin.summarize(found)}
    assert sums["runtimes"].count == 2 and sums["runtimes"].size == 3000
    assert sums["downloads"].oldest == pytest.approx(now - 40 * DAY, abs=1)
    assert sums["stubs"].count == 0 and sums["stubs"].oldest is None


def test_choose_by_age_then_by_size(cache):
    root, now = cache
    found = cacheadmin.entries(root)
    old = cacheadmin.choose(found, older_than=30 * DAY, max_size=None, now=now)
    assert sorted(e.path.name for e in old) == ["ab12", "ef56-l9.frame"]
    # then the least recently used go until the rest fits: 3,250 bytes are left, r1 (used 10 days ago) goes
    capped = cacheadmin.choose(found, older_than=30 * DAY, max_size=2300, now=now)
    assert [e.path.name for e in capped] == ["ab12", "ef56-l9.frame", "r1"]
    # by size alone, oldest use first
    assert [e.path.name for e in cacheadmin.choose(found, older_than=None, max_size=250, now=now)] == [
        "ef56-l9.frame", "ab12", "r1", "e1", "r2"]
    assert sum(e.size for e in found) - sum(e.size for e in capped) <= 2300


@pytest.mark.parametrize(("text", "size"), [("500M", 500 << 20), ("2G", 2 << 30), ("1.5g", int(1.5 * (1 << 30))),
                                            ("800000", 800000), ("64 KiB", 64 << 10)])
def test_sizes(text, size):
    assert cacheadmin.parse_size(text) == size


def test_a_bad_size_names_itself():
    with pytest.raises(ConfigError, match="--max-size lots: give a size such as 500M"):
        cacheadmin.parse_size("lots")


def test_prune_removes_whole_entries_and_leftovers(cache):
    root, now = cache
    (root / "runtimes" / ".r3.1234.tmp").mkdir()  # a killed build's half-made entry
    (root / "locks").mkdir()
    (root / "locks" / "runtimes~r1.lock").write_text("")
    doomed, freed = cacheadmin.run_prune(root, older_than=30 * DAY, max_size=None, dry_run=True)
    assert freed == 400 and (root / "sha256/ab/ab12").is_dir()  # a dry run removes nothing
    doomed, freed = cacheadmin.run_prune(root, older_than=30 * DAY, max_size=None, dry_run=False)
    assert freed == 400 and sorted(e.path.name for e in doomed) == ["ab12", "ef56-l9.frame"]
    assert not (root / "sha256/ab").exists() and not (root / "frames/ef").exists()  # empty directories go too
    assert (root / "sha256/cd/cd34/data").is_file() and (root / "runtimes/r2/data").is_file()
    assert not (root / "runtimes/.r3.1234.tmp").exists()
    assert sorted(p.name for p in (root / "locks").iterdir()) == [cachefs.BUILDS_LOCK]
    assert cacheadmin.run_prune(root / "nowhere", older_than=0, max_size=None, dry_run=False) == ([], 0)


def test_prune_waits_for_running_builds(cache):
    root, _now = cache
    waited = threading.Event()
    released = threading.Event()

    def build() -> None:
        with cachefs.in_use(root):
            time.sleep(0.5)
            released.set()

    t = threading.Thread(target=build)
    t.start()
    time.sleep(0.1)
    _doomed, freed = cacheadmin.run_prune(root, older_than=0.0, max_size=None, dry_run=False, on_wait=waited.set)
    t.join()
    assert waited.is_set() and released.is_set() and freed == 3650
    # and a build that starts while prune holds the cache waits for it
    started = []
    with cachefs.exclusive(root):
        t = threading.Thread(target=lambda: cachefs.in_use(root, on_wait=lambda: started.append("waited")).__enter__())
        t.start()
        time.sleep(0.2)
        assert started == ["waited"]
    t.join()
