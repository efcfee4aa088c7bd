"""The build cache as a whole: what it holds (``bundler cache info``) and cleaning it (``bundler cache prune``).

Each kind of entry lives in its own directory of the cache (``--cache-dir``),
one entry per directory (or file) at a fixed depth; an entry's modification
time is when a build last used it (:func:`bundler.cachefs.mark_used`). Pruning
removes whole entries (renamed aside first, so a build never sees half of
one) while holding the cache exclusively (:func:`bundler.cachefs.exclusive`):
no build runs meanwhile, none starts until it is done.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bundler import cachefs
from bundler.errors import ConfigError


@dataclass(frozen=True)
class Kind:
    """One kind of entry: its directory in the cache and the depth of its entries there."""

    name: str
    directory: str
    depth: int
    what: str


KINDS: tuple[Kind, ...] = (
    Kind("downloads", "sha256", 2, "wheels and base archives, by their SHA-256"),
    Kind("built wheels", "built", 2, "wheels built from the lock's local projects, by their sources"),
    Kind("build environments", "build-envs", 1, "PEP 517 build environments"),
    Kind("unpacked bases", "bases", 1, "base CPython archives, unpacked"),
    Kind("runtimes", "runtimes", 1, "relocated base runtimes: an interpreter, with dependencies or without"),
    Kind("frames", "frames", 2, "compressed payload frames, reused by the next build"),
    Kind("stubs", "stubs", 1, "stubs and launchers compiled from source (--rebuild-stub)"),
    Kind("import memos", "imports", 1, "the imports read from each Python file, for stdlib = \"imported\""),
)


@dataclass(frozen=True)
class Entry:
    kind: str
    path: Path
    size: int
    used: float  # seconds since the epoch


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        try:
            return path.lstat().st_size
        except OSError:
            return 0
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def _at_depth(top: Path, depth: int) -> Iterable[Path]:
    level = [top]
    for _ in range(depth):
        level = [c for d in level if d.is_dir() and not d.is_symlink() for c in sorted(d.iterdir())]
    return (p for p in level if not p.name.startswith("."))  # temporaries of a build in progress


def entries(cache_dir: Path) -> list[Entry]:
    """Every entry of the cache, by kind."""
    out: list[Entry] = []
    for kind in KINDS:
        for path in _at_depth(cache_dir / kind.directory, kind.depth):
            try:
                used = path.lstat().st_mtime
            except OSError:
                continue
            out.append(Entry(kind.name, path, _size(path), used))
    return out


@dataclass(frozen=True)
class Summary:
    kind: Kind
    count: int
    size: int
    oldest: float | None
    newest: float | None


def summarize(found: list[Entry]) -> list[Summary]:
    out = []
    for kind in KINDS:
        mine = [e for e in found if e.kind == kind.name]
        used = [e.used for e in mine]
        out.append(Summary(kind, len(mine), sum(e.size for e in mine), min(used, default=None), max(used, default=None)))
    return out


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.I)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """``500M``, ``2G``, ``1.5g``, ``800000`` (bytes); a ConfigError naming *text* otherwise."""
    m = _SIZE.match(text)
    if not m:
        raise ConfigError(f"--max-size {text}: give a size such as 500M, 2G or 800000 (bytes)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def choose(found: list[Entry], *, older_than: float | None, max_size: int | None, now: float) -> list[Entry]:
    """What prune removes: every entry unused for *older_than* seconds, then the least recently
    used until what is left fits in *max_size* bytes."""
    doomed = [e for e in found if older_than is not None and now - e.used > older_than]
    left = sorted((e for e in found if e not in doomed), key=lambda e: e.used)
    if max_size is not None:
        total = sum(e.size for e in left)
        for e in left:
            if total <= max_size:
                break
            doomed.append(e)
            total -= e.size
    return doomed


def prune(cache_dir: Path, doomed: list[Entry]) -> int:
    """Remove *doomed* (call holding :func:`bundler.cachefs.exclusive`); the bytes freed."""
    freed = 0
    for e in doomed:
        if not os.path.lexists(e.path):
            continue
        aside = e.path.with_name(f".{e.path.name}.pruned.tmp")
        try:
            os.rename(e.path, aside)
        except OSError:
            continue
        if aside.is_dir() and not aside.is_symlink():
            cachefs.remove_tree(aside)
        else:
            aside.unlink(missing_ok=True)
        freed += e.size
    _remove_leftovers(cache_dir)
    _remove_empty_dirs(cache_dir)
    return freed


def _remove_leftovers(cache_dir: Path) -> None:
    """With the cache held exclusively no build runs: every temporary is a killed build's leftover,
    and no lock file but the builds' own is held."""
    for kind in KINDS:
        top = cache_dir / kind.directory
        for dirpath, dirnames, files in os.walk(top):
            for name in [*dirnames, *files]:
                if name.startswith(".") and name.endswith(".tmp"):
                    path = Path(dirpath) / name
                    if path.is_dir() and not path.is_symlink():
                        cachefs.remove_tree(path)
                    else:
                        path.unlink(missing_ok=True)
    locks = cache_dir / "locks"
    if locks.is_dir():
        for lock in locks.iterdir():
            if lock.name != cachefs.BUILDS_LOCK and lock.suffix == ".lock":
                lock.unlink(missing_ok=True)


def _remove_empty_dirs(cache_dir: Path) -> None:
    for kind in KINDS:
        top = cache_dir / kind.directory
        if not top.is_dir():
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top, topdown=False), key=lambda w: -len(w[0])):
            if Path(dirpath) != top:
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass


def run_prune(cache_dir: Path, *, older_than: float | None, max_size: int | None, dry_run: bool,
              on_wait: Callable[[], None] | None = None) -> tuple[list[Entry], int]:
    """Prune *cache_dir* (see :func:`choose`): (what was or would be removed, bytes freed)."""
    if not cache_dir.is_dir():
        return [], 0
    if dry_run:
        doomed = choose(entries(cache_dir), older_than=older_than, max_size=max_size, now=time.time())
        return doomed, sum(e.size for e in doomed)
    with cachefs.exclusive(cache_dir, on_wait=on_wait):
        doomed = choose(entries(cache_dir), older_than=older_than, max_size=max_size, now=time.time())
        return doomed, prune(cache_dir, doomed)
