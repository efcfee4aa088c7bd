"""Cache of the finished base runtime: interpreter + locked dependencies, relocated and compiled.

A rebuild after a change to the app's own code copies this tree instead of
staging, relocating and byte-compiling everything again. The key covers every
input of those steps: bundler's own code, the base interpreter, the target and
the dependency wheels (by content). Entries are written atomically and never
modified; delete ``<cache>/runtimes`` to reclaim the space.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from bundler import cachefs
from bundler.base.model import BaseInterpreter
from bundler.digest import sha256_file
from bundler.relocate.model import RelocationReport
from bundler.runtime.stage import StagedRuntime


@dataclass(frozen=True)
class BaseRuntime:
    staged: StagedRuntime
    relocation: RelocationReport


@lru_cache(maxsize=1)
def _bundler_code_digest() -> str:
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent  # all of bundler/
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".json"):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _tree_stamp(*dirs: Path) -> str:
    """Names, sizes and mtimes under *dirs*: changes when a package adds or updates a file there."""
    digest = hashlib.sha256()
    for top in dirs:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                try:
                    st = os.stat(os.path.join(dirpath, name))
                except OSError:
                    continue
                digest.update(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def base_key(interp: BaseInterpreter, target: str, dependency_wheels: list[Path], *, gui: bool = False,
             lib_path: tuple[Path, ...] = (), keep_tests: bool = False, exclude_libs: tuple[str, ...] = (),
             stdlib_sources: bool = False) -> str:
    """Everything the base runtime is made of, as one SHA-256.

    The interpreter counts with its standard library, its extension modules and
    its Tcl/Tk (by name, size and mtime: installing e.g. Debian's python3-tk
    changes the key); the dependencies by content.
    """
    st = interp.executable.stat()
    tk_dirs = [interp.tcltk.tcl_library] if gui and interp.tcltk else []
    parts = [
        "bundler-base-1",
        _bundler_code_digest(),
        target,
        f"gui={gui}",
        f"keep-tests={keep_tests}",
        f"stdlib-sources={stdlib_sources}",
        repr(interp),
        f"{st.st_size}:{st.st_mtime_ns}",
        _tree_stamp(interp.stdlib, interp.dynload, *tk_dirs),
        *sorted(sha256_file(w) for w in dependency_wheels),
        *(f"lib-path={d}:{_tree_stamp(d)}" for d in lib_path),
        *(f"exclude-lib={g}" for g in exclude_libs),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _meta(base: BaseRuntime) -> dict:
    staged = asdict(base.staged)
    staged.pop("root")
    staged["origins"] = [[rel, str(src)] for rel, src in base.staged.origins]
    return {"staged": staged, "relocation": asdict(base.relocation)}


def _from_meta(meta: dict, root: Path) -> BaseRuntime:
    s = dict(meta["staged"])
    s["origins"] = tuple((rel, Path(src)) for rel, src in s["origins"])
    s["build_prefixes"] = tuple(s["build_prefixes"])
    s["left_out"] = tuple((why, files, size) for why, files, size in s.get("left_out", ()))
    r = dict(meta["relocation"])
    r["vendored"] = tuple(r["vendored"])
    r["system"] = tuple(r["system"])
    r["excluded"] = tuple(r.get("excluded", ()))
    r["origins"] = tuple((dest, src) for dest, src in r.get("origins", ()))
    r["needed"] = tuple((rel, tuple(names)) for rel, names in r.get("needed", ()))
    return BaseRuntime(StagedRuntime(root=root, **s), RelocationReport(**r))


def _link_or_copy(src: str, dst: str) -> None:
    """Hard links make the copy cheap; the build only ever replaces files, never edits them in place."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def entry_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / "runtimes" / key[:32]


def load(cache_dir: Path, key: str, root: Path) -> BaseRuntime | None:
    """Put the cached base runtime at *root* (which must not exist); None on a miss.

    Files are hard-linked where possible: every later step adds files or replaces
    them (rename), so the cache entry is never written through a link.
    """
    entry = entry_path(cache_dir, key)
    if not cachefs.is_complete(entry):
        return None
    try:
        meta = json.loads((entry / "meta.json").read_text())
        shutil.copytree(entry / "tree", root, symlinks=True, copy_function=_link_or_copy)
        cachefs.mark_used(entry)
        return _from_meta(meta, root)
    except (OSError, ValueError, KeyError, TypeError):
        shutil.rmtree(root, ignore_errors=True)
        return None  # a damaged entry is a miss; the build makes a fresh one


@contextlib.contextmanager
def claim(cache_dir: Path, key: str, root: Path,
          on_wait: Callable[[], None] | None = None) -> Iterator[BaseRuntime | None]:
    """The cached runtime put at *root*; or None, and the entry's lock held for the block, so that
    the caller makes and saves it while a concurrent build needing the same entry waits for it."""
    cached = load(cache_dir, key, root)
    if cached is not None:
        yield cached
        return
    entry = entry_path(cache_dir, key)
    with cachefs.locked(cache_dir, entry, "base runtime", on_wait=on_wait):
        cached = load(cache_dir, key, root)  # made by another build while we waited
        if cached is None:
            cachefs.remove_leftovers(entry)
        yield cached


def save(cache_dir: Path, key: str, base: BaseRuntime) -> None:
    """Store *base* (its tree as it is now) under *key*, published whole (cachefs); a concurrent writer's copy is as good."""
    entry = entry_path(cache_dir, key)
    if cachefs.is_complete(entry):
        return
    try:
        with cachefs.new_dir(entry, key) as tmp:
            shutil.copytree(base.staged.root, tmp / "tree", symlinks=True)
            (tmp / "meta.json").write_text(json.dumps(_meta(base), indent=1))
    except OSError:
        pass  # the cache is an optimisation: a full disk must not fail the build
