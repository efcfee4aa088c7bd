"""The standard library's pure-Python modules as one zip: ``lib/pythonXY.zip``.

CPython puts ``<prefix>/lib/pythonXY.zip`` first on ``sys.path`` of every POSIX
build (``getpath``), and ``zipimport`` (frozen into the interpreter) imports
byte code from it; python.org's embeddable Windows CPython ships its standard
library the same way. One file instead of ~1,300 makes the first run of a
single file faster (the stub creates far fewer files) and leaving the sources
out makes every artifact smaller.

What goes in: every module of the standard library directory with its byte
code (``X.pyc`` beside where ``X.py`` was: zipimport does not read
``__pycache__``), and its source only with ``stdlib-sources`` (tracebacks then
show source lines; without, they name the file and line). A module without
byte code (a base this machine cannot compile for) goes in as source.

What stays on disk: ``lib-dynload`` (native modules), ``site-packages``, the
build configuration, ``os.py`` (the landmark ``getpath`` finds the prefix by),
and every top-level package that carries data files besides its code
(``venv``'s scripts, ``lib2to3``'s grammars): such a package may open them by
a path next to ``__file__``, which a zip has not (``lib2to3`` reads a zipped
grammar pickle, but a base that ships none for its exact version, as Debian's,
must write one from ``Grammar.txt``). Documentation files (``README``,
``*.rst``) do not count as data, and :data:`ZIP_SAFE` names the packages known
not to read theirs.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bundler.runtime.stage import StagedRuntime

#: directories of the standard library that are not modules of it (a Debian base names its
#: packages' directory dist-packages)
NOT_MODULES = ("site-packages", "dist-packages", "lib-dynload", "__pycache__")
#: the module ``getpath`` looks for to find the prefix (``STDLIB_LANDMARKS``)
LANDMARK = "os.py"
#: packages whose files besides code are safe in the zip, and why: they read none by a path next to
#: ``__file__`` (everything else with data files stays on disk)
ZIP_SAFE = {
    "distutils": "command_template and README are documentation",
    "ctypes": "macholib's fetch scripts are maintenance tools, not read",
    "pydoc_data": "_pydoc.css is read by pydoc's web server only, by a path from pydoc.py, which is zipped anyway",
}
#: the build report's and the manifest's name for the sources the zip leaves out
WHY_STDLIB_SOURCES = "the standard library's sources (its byte code is in lib/pythonXY.zip; stdlib-sources keeps them)"
#: the time stamp of every zip entry: the zip format's epoch (the archive is the same for the same tree)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class ZippedStdlib:
    """What :func:`zip_stdlib` did."""

    path: str  # runtime-relative, e.g. lib/python311.zip
    modules: int  # modules in the zip
    files_removed: int  # files the zip replaces on disk (sources and byte code)
    kept_on_disk: tuple[str, ...]  # top-level packages left on disk for their data files
    sources_left_out: tuple[int, int]  # (files, bytes) of source not shipped


def zip_name(staged: StagedRuntime) -> str | None:
    """``lib/pythonXY.zip`` for a POSIX runtime (stdlib ``lib/pythonX.Y``); None for Windows' layout."""
    parent, _, leaf = staged.stdlib.rpartition("/")
    if parent != "lib" or not leaf.startswith("python"):
        return None
    return f"lib/{leaf.replace('.', '')}.zip"


def _is_doc(name: str) -> bool:
    return name.startswith("README") or name.endswith((".rst", ".md"))


def has_data_files(package: Path) -> bool:
    """Whether *package* holds files that are not code (``.py``/``.pyc``) or documentation."""
    for dirpath, dirnames, files in os.walk(package):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        if any(not f.endswith((".py", ".pyc")) and not _is_doc(f) for f in files):
            return True
    return False


def _bytecode_of(source: Path, tag: str) -> Path | None:
    pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
    return pyc if pyc.is_file() else None


def _entries(stdlib: Path, tag: str, keep_sources: bool, kept: set[str]) -> tuple[dict[str, Path], set[str]]:
    """The zip's files (name -> file on disk) and directories (``pkg/``) for every module."""
    files: dict[str, Path] = {}
    dirs: set[str] = set()
    for dirpath, dirnames, names in os.walk(stdlib):
        rel_dir = os.path.relpath(dirpath, stdlib).replace(os.sep, "/")
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in NOT_MODULES and d not in kept]
            prefix = ""
        else:
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            prefix = f"{rel_dir}/"
        for name in names:
            if prefix and not name.endswith((".py", ".pyc")):
                files[f"{prefix}{name}"] = Path(dirpath) / name  # a package's documentation goes with it
                continue
            if not name.endswith(".py") or (not prefix and name == LANDMARK):
                continue
            src = Path(dirpath) / name
            pyc = _bytecode_of(src, tag)
            if pyc is not None:
                files[f"{prefix}{name[:-3]}.pyc"] = pyc
            if pyc is None or keep_sources:
                files[f"{prefix}{name}"] = src
        if prefix:  # every directory of a zipped package, for importlib.resources and namespace lookups
            parts = prefix.rstrip("/").split("/")
            dirs.update("/".join(parts[: i + 1]) + "/" for i in range(len(parts)))
    return files, dirs


def zip_stdlib(staged: StagedRuntime, cache_tag: str, keep_sources: bool = False) -> ZippedStdlib | None:
    """Move the standard library's modules of *staged* into ``lib/pythonXY.zip`` (*cache_tag*: the
    interpreter's ``sys.implementation.cache_tag``, e.g. ``cpython-311``). None for a runtime
    without a POSIX standard library directory (Windows' embeddable base is zipped already)."""
    name = zip_name(staged)
    if name is None:
        return None
    root = staged.root
    stdlib = root / staged.stdlib
    kept = {d.name for d in stdlib.iterdir() if d.is_dir() and d.name not in NOT_MODULES and d.name not in ZIP_SAFE
            and not d.name.startswith("config-") and has_data_files(d)}
    kept |= {d.name for d in stdlib.iterdir() if d.is_dir() and d.name.startswith("config-")}
    site = root / staged.sitepackages
    # the runtime's packages, whatever the base calls their directory, are never the standard library's
    untouched = kept | ({site.relative_to(stdlib).parts[0]} if site.is_relative_to(stdlib) else set())
    files, dirs = _entries(stdlib, cache_tag, keep_sources, untouched)
    # stored, not deflated: zipimport reads it without inflating, and the payload's zstd compresses it
    with zipfile.ZipFile(root / name, "w", compression=zipfile.ZIP_STORED) as zf:
        for entry in sorted(files.keys() | dirs):
            info = zipfile.ZipInfo(entry, date_time=_ZIP_TIME)
            info.create_system = 3
            info.external_attr = ((0o40755 << 16) | 0x10) if entry.endswith("/") else (0o100644 << 16)
            zf.writestr(info, b"" if entry.endswith("/") else files[entry].read_bytes())
    # now take off the disk what the zip holds: the packages whole, the top-level modules with their byte code
    modules = sum(1 for n in files if n.endswith(".py") or (n.endswith(".pyc") and n[:-1] not in files))
    sources = [stdlib / (n[:-1]) for n in files if n.endswith(".pyc")]
    left = [p for p in sources if p.is_file()] if not keep_sources else []
    left_bytes = sum(p.stat().st_size for p in left)
    removed = 0
    for entry in sorted(stdlib.iterdir()):
        if entry.is_dir() and entry.name not in NOT_MODULES and entry.name not in untouched:
            removed += sum(len(f) for _d, _s, f in os.walk(entry))
            shutil.rmtree(entry)
        elif entry.is_file() and entry.name.endswith(".py") and entry.name != LANDMARK:
            entry.unlink()
            removed += 1
    cache = stdlib / "__pycache__"
    if cache.is_dir():
        for pyc in cache.iterdir():
            if pyc.name.split(".", 1)[0] != LANDMARK[:-3]:
                pyc.unlink()
                removed += 1
    return ZippedStdlib(name, modules, removed, tuple(sorted(kept)), (len(left), left_bytes))
