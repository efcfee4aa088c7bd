"""Copy the base interpreter into a staging directory, pruned and stripped.

Every runtime gets the same layout, whatever the base interpreter's::

    bin/pythonX.Y (+ python3, python)      the interpreter
    lib/pythonX.Y/                         the standard library
    lib/pythonX.Y/lib-dynload/             its extension modules
    lib/bundled/                           libraries vendored by relocation
    <site-packages>                        where the interpreter's site.py looks

CPython finds its prefix from the executable's location (the ``os.py``
landmark), so this tree runs from anywhere once its binaries are relocated.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import InterpreterError
from .interpreter import BaseInterpreter

#: Standard-library paths no application needs (relative to the stdlib dir).
PRUNE_DIRS = (
    "test",
    "idlelib",
    "ensurepip",
    "turtledemo",
    "lib2to3/tests",
    "tkinter/test",
    "unittest/test",
    "ctypes/test",
    "distutils/tests",
    "sqlite3/test",
    "site-packages",
    "dist-packages",
)
PRUNE_GLOBS = ("__pycache__", "*.a", "*.pyc", "*.pyo", "config-[0-9]*")
PRUNE_DYNLOAD = ("_test*", "_xxtestfuzz*", "xxlimited*", "_ctypes_test*", "xxsubtype*")


@dataclass(frozen=True)
class StagedRuntime:
    """The staging tree after the base interpreter is copied in."""

    root: Path
    python: str  # runtime-relative path of the interpreter executable
    stdlib: str
    dynload: str
    sitepackages: str
    #: runtime-relative path -> build-machine file it was copied from (ELF files only)
    origins: tuple[tuple[str, Path], ...]
    #: build-machine paths that the copied text files may mention
    build_prefixes: tuple[str, ...]


def choose_sitepackages(interp: BaseInterpreter) -> str:
    """The site-packages dir (relative to the prefix) that the interpreter's site.py adds.

    A distro Python lists several (Debian: ``local/lib/...``, ``lib/python3/dist-packages``);
    prefer one under ``lib/``, and ``site-packages`` over ``dist-packages``.
    """
    prefix = str(interp.prefix).rstrip("/") + "/"
    rels = [p[len(prefix):] for p in interp.sitepackages if p.startswith(prefix)]
    if not rels:
        return f"lib/python{interp.short_version}/site-packages"
    rels.sort(key=lambda r: (not r.startswith("lib/"), not r.endswith("site-packages"), r))
    return rels[0]


def _ignored(src_dir: str, names: list[str], stdlib: str) -> set[str]:
    rel_dir = os.path.relpath(src_dir, stdlib)
    out: set[str] = set()
    for name in names:
        rel = os.path.normpath(os.path.join(rel_dir, name))
        if rel in PRUNE_DIRS or any(fnmatch.fnmatch(name, g) for g in PRUNE_GLOBS):
            out.add(name)
        elif rel_dir == "lib-dynload" and any(fnmatch.fnmatch(name, g) for g in PRUNE_DYNLOAD):
            out.add(name)
    return out


def copy_tree(src: Path, dest: Path, ignore) -> None:
    """Copy *src* to *dest*: symlinks inside *src* stay relative links, others are dereferenced."""
    src_real = os.path.realpath(src)
    for dirpath, dirnames, filenames in os.walk(src):
        skip = ignore(dirpath, dirnames + filenames)
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        rel_dir = os.path.relpath(dirpath, src)
        out_dir = dest / rel_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            if name in skip:
                continue
            s = os.path.join(dirpath, name)
            d = out_dir / name
            if os.path.islink(s):
                target = os.path.realpath(s)
                if target.startswith(src_real + os.sep) and os.path.exists(target):
                    if d.exists() or d.is_symlink():
                        continue
                    os.symlink(os.path.relpath(target, os.path.realpath(dirpath)), d)
                    continue
                if not os.path.isfile(target):
                    continue  # dangling or a directory outside: nothing an app needs
                s = target
            shutil.copy2(s, d, follow_symlinks=True)
        # symlinked dirs were handled as links; do not descend into them
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]


def strip(path: Path) -> None:
    """Drop debug info and unneeded symbols; run before LIEF touches the file, never after."""
    tool = shutil.which("strip")
    if tool is None:
        return
    subprocess.run([tool, "--strip-unneeded", "-p", str(path)], capture_output=True, check=False)


def stage(interp: BaseInterpreter, root: Path, *, is_binary, do_strip: bool = True) -> StagedRuntime:
    """Copy *interp* into *root* (which must not exist) using the standard layout."""
    ver = interp.short_version
    stdlib_rel = f"lib/python{ver}"
    dynload_rel = f"{stdlib_rel}/lib-dynload"
    if not (interp.stdlib / "os.py").is_file():
        raise InterpreterError(f"--python {interp.executable}: its standard library {interp.stdlib} has no os.py")
    root.mkdir(parents=True)
    (root / "bin").mkdir()
    exe_rel = f"bin/python{ver}"
    shutil.copy2(interp.executable, root / exe_rel)
    os.symlink(f"python{ver}", root / "bin/python3")
    os.symlink(f"python{ver}", root / "bin/python")
    stdlib = str(interp.stdlib)
    copy_tree(interp.stdlib, root / stdlib_rel, lambda d, n: _ignored(d, n, stdlib))
    dyn_src = interp.dynload
    if not str(dyn_src).startswith(stdlib + os.sep) and dyn_src.is_dir():
        copy_tree(dyn_src, root / dynload_rel, lambda d, n: _ignored(str(interp.stdlib / "lib-dynload"), n, stdlib))
    (root / dynload_rel).mkdir(parents=True, exist_ok=True)
    site_rel = choose_sitepackages(interp)
    (root / site_rel).mkdir(parents=True, exist_ok=True)

    origins: list[tuple[str, Path]] = []
    if is_binary(root / exe_rel):
        origins.append((exe_rel, interp.executable))
    for dirpath, _dirs, files in os.walk(root / stdlib_rel):
        for name in files:
            p = Path(dirpath) / name
            if is_binary(p):
                rel = p.relative_to(root).as_posix()
                if rel.startswith(dynload_rel + "/"):
                    src = dyn_src / p.relative_to(root / dynload_rel)
                else:
                    src = interp.stdlib / p.relative_to(root / stdlib_rel)
                origins.append((rel, Path(os.path.realpath(src))))
    if do_strip:
        for rel, _src in origins:
            strip(root / rel)
    prefixes = sorted({str(interp.prefix), os.path.realpath(interp.prefix)}, key=len, reverse=True)
    return StagedRuntime(
        root=root,
        python=exe_rel,
        stdlib=stdlib_rel,
        dynload=dynload_rel,
        sitepackages=site_rel,
        origins=tuple(origins),
        build_prefixes=tuple(prefixes),
    )
