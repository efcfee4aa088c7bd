"""Copy the base interpreter into a staging directory, pruned and stripped.

Every runtime gets the same layout, whatever the base interpreter's::

    bin/pythonX.Y (+ python3, python)      the interpreter
    lib/pythonX.Y/                         the standard library
    lib/pythonX.Y/lib-dynload/             its extension modules
    lib/bundled/                           libraries vendored by relocation
    lib/tclX.Y/, lib/tkX.Y/                Tcl/Tk script libraries (when the base has tkinter)
    <site-packages>                        where the interpreter's site.py looks

CPython finds its prefix from the executable's location (the ``os.py``
landmark), so this tree runs from anywhere once its binaries are relocated.
Tcl does the same: when its compiled-in library directory does not hold a
matching ``init.tcl``, it tries ``<executable dir>/../lib/tclX.Y``, and Tk looks
for ``tkX.Y`` next to the Tcl library (see docs/gui.md).
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bundler.base.model import BaseInterpreter
from bundler.errors import InterpreterError
from bundler.platforms import WINDOWS

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
#: Tk, kept only for GUI apps (``gui = true``): it pulls in libtk/libtcl, the X11
#: client libraries and fontconfig, and 4 MB of Tcl scripts.
TK_STDLIB = ("tkinter", "turtle.py")
TK_DYNLOAD = ("_tkinter*",)
#: Parts of the Tcl/Tk script libraries no application needs (demo programs, test suites,
#: the example C sources some distributions install there).
PRUNE_TCLTK = ("demos", "tests", "*.c")


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
    #: what the copy left out, by rule: (what, files, bytes) (the build report shows it)
    left_out: tuple[tuple[str, int, int], ...] = ()


#: the rules of what staging leaves out, as the build report names them
WHY_STDLIB_TESTS = "standard library tests and tools (test, idlelib, ensurepip, turtledemo, ...)"
WHY_BASE_SITE = "the base interpreter's own site-packages"
WHY_BYTECODE = "the base's byte code (__pycache__: compiled again for the runtime)"
WHY_STATIC = "static libraries (*.a, *.lib) and build configuration (config-X.Y)"
WHY_TEST_MODULES = "CPython's test extension modules (_testcapi, xxlimited, ...)"
WHY_TK = "tkinter with Tcl/Tk (not a GUI app: --gui keeps them)"
WHY_TCL_EXTRAS = "Tcl/Tk demos and tests"
WHY_WINDOWS_EXTRAS = "headers, import libraries, debug symbols, docs and tools of the Windows base"
WHY_DEP_TESTS = "the dependencies' own test suites (--keep-tests ships them)"


def du(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(files, bytes) under *path* (a file: itself); symlinks count as nothing."""
    if os.path.islink(path):
        return 0, 0
    if not os.path.isdir(path):
        return 1, os.path.getsize(path)
    files = size = 0
    for dirpath, _dirs, names in os.walk(path):
        for n in names:
            full = os.path.join(dirpath, n)
            if not os.path.islink(full):
                files += 1
                size += os.path.getsize(full)
    return files, size


class Tally:
    """What a copy leaves out, added up per rule."""

    def __init__(self) -> None:
        self._by: dict[str, tuple[int, int]] = {}

    def add(self, why: str, path: str) -> None:
        files, size = du(path)
        old = self._by.get(why, (0, 0))
        self._by[why] = (old[0] + files, old[1] + size)

    def records(self) -> tuple[tuple[str, int, int], ...]:
        return tuple((why, f, n) for why, (f, n) in sorted(self._by.items()) if f)


def tallied(reasons: Callable[[str, list[str]], dict[str, str]], tally: Tally) -> Callable[[str, list[str]], set[str]]:
    """A :func:`copy_tree` ignore function from *reasons* (name → why it is left out) that tallies them."""

    def ignore(dirpath: str, names: list[str]) -> set[str]:
        why = reasons(dirpath, names)
        for name, reason in why.items():
            tally.add(reason, os.path.join(dirpath, name))
        return set(why)

    return ignore


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


def _pruned(src_dir: str, names: list[str], stdlib: str, tk: bool = True) -> dict[str, str]:
    """The standard library's *names* in *src_dir* that staging leaves out, each with the reason."""
    rel_dir = os.path.relpath(src_dir, stdlib)
    out: dict[str, str] = {}
    for name in names:
        rel = os.path.normpath(os.path.join(rel_dir, name))
        if rel in ("site-packages", "dist-packages"):
            out[name] = WHY_BASE_SITE
        elif rel in PRUNE_DIRS:
            out[name] = WHY_STDLIB_TESTS
        elif not tk and rel in TK_STDLIB:
            out[name] = WHY_TK
        elif any(fnmatch.fnmatch(name, g) for g in PRUNE_GLOBS):
            out[name] = WHY_STATIC if name.endswith(".a") or name.startswith("config-") else WHY_BYTECODE
        elif rel_dir == "lib-dynload" and any(fnmatch.fnmatch(name, g) for g in PRUNE_DYNLOAD):
            out[name] = WHY_TEST_MODULES
        elif rel_dir == "lib-dynload" and not tk and any(fnmatch.fnmatch(name, g) for g in TK_DYNLOAD):
            out[name] = WHY_TK
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


def copy_tcltk(interp: BaseInterpreter, root: Path, tally: Tally | None = None) -> tuple[str, ...]:
    """Copy the base's Tcl/Tk script libraries to ``lib/tclX.Y`` and ``lib/tkX.Y``.

    ``_tkinter`` (and the vendored libtcl/libtk) run ``init.tcl`` and ``tk.tcl``
    at start-up. Tcl finds ``<exe dir>/../lib/tclX.Y`` by itself, Tk finds
    ``tkX.Y`` next to it and Tcl modules (msgcat, http, ...) in
    ``lib/tclX/X.Y``: nobody needs to set ``TCL_LIBRARY``. Module directories
    the base keeps inside its Tcl library (Debian: ``tcl8.6/tcl8``, found through
    an absolute path in its ``tm.tcl``) move to ``lib/tclX/X.Y``; the upstream
    layout's ``<lib>/tclX/X.Y`` keeps its shape. Returns the directories written.
    """
    info = interp.tcltk
    if info is None:
        return ()
    major = info.tcl_version.split(".")[0]
    modules_root = info.tcl_library.parent / f"tcl{major}"
    moves: list[tuple[Path, str]] = []
    for mod in info.tcl_modules:
        if mod.is_relative_to(modules_root):
            moves.append((mod, f"lib/tcl{major}/{mod.relative_to(modules_root).as_posix()}"))
        else:
            moves.append((mod, f"lib/tcl{major}/{info.tcl_version}"))
    moved = {os.path.realpath(src) for src, _rel in moves}

    def ignore(dirpath: str, names: list[str]) -> set[str]:
        extras = {n for n in names if any(fnmatch.fnmatch(n, g) for g in PRUNE_TCLTK)}
        if tally is not None:
            for n in extras:
                tally.add(WHY_TCL_EXTRAS, os.path.join(dirpath, n))
        return extras | {n for n in names if os.path.realpath(os.path.join(dirpath, n)) in moved}

    wanted = [(info.tcl_library, f"lib/tcl{info.tcl_version}")]
    if info.tk_library is not None:
        wanted.append((info.tk_library, f"lib/tk{info.tk_version}"))
    done: list[str] = []
    for src, rel in wanted + moves:
        if src.is_dir():
            copy_tree(src, root / rel, ignore)
            done.append(rel)
    return tuple(done)


def stage(interp: BaseInterpreter, root: Path, *, is_binary, prepare, tk: bool = True) -> StagedRuntime:
    """Copy *interp* into *root* (which must not exist) using the standard layout.

    *tk* keeps tkinter with its Tcl/Tk libraries (for GUI apps); without it they are pruned.
    *prepare* runs on every copied binary before any rewrite (strip, for ELF).
    A Windows base keeps its own layout (:func:`stage_windows`).
    """
    if interp.os is WINDOWS:
        return stage_windows(interp, root, is_binary=is_binary, tk=tk)
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
    tally = Tally()
    copy_tree(interp.stdlib, root / stdlib_rel, tallied(lambda d, n: _pruned(d, n, stdlib, tk), tally))
    dyn_src = interp.dynload
    if not str(dyn_src).startswith(stdlib + os.sep) and dyn_src.is_dir():
        dynload_as = str(interp.stdlib / "lib-dynload")  # a Debian base keeps it elsewhere: judged as if there
        copy_tree(dyn_src, root / dynload_rel,
                  tallied(lambda d, n: _pruned(os.path.join(dynload_as, os.path.relpath(d, dyn_src)), n, stdlib, tk),
                          tally))
    (root / dynload_rel).mkdir(parents=True, exist_ok=True)
    site_rel = choose_sitepackages(interp)
    (root / site_rel).mkdir(parents=True, exist_ok=True)
    if tk:
        copy_tcltk(interp, root, tally)

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
    for rel, _src in origins:
        prepare(root / rel)
    prefixes = sorted({str(interp.prefix), os.path.realpath(interp.prefix)}, key=len, reverse=True)
    return StagedRuntime(
        root=root,
        python=exe_rel,
        stdlib=stdlib_rel,
        dynload=dynload_rel,
        sitepackages=site_rel,
        origins=tuple(origins),
        build_prefixes=tuple(prefixes),
        left_out=tally.records(),
    )


#: Parts of a Windows CPython no application needs (relative to its directory).
WINDOWS_PRUNE = (
    "Lib/test", "Lib/idlelib", "Lib/ensurepip", "Lib/turtledemo", "Lib/lib2to3/tests", "Lib/tkinter/test",
    "Lib/unittest/test", "Lib/ctypes/test", "Lib/distutils/tests", "Lib/sqlite3/test", "Lib/site-packages",
    "Scripts", "include", "libs", "Doc", "Tools", "share", "PYTHON.json", "NEWS.txt",
)
WINDOWS_GLOBS = ("__pycache__", "*.pyc", "*.pdb", "*.lib", "*.a")
WINDOWS_TK = ("Lib/tkinter", "Lib/turtle.py", "tcl", "DLLs/_tkinter*.pyd", "DLLs/tcl*.dll", "DLLs/tk*.dll",
              "_tkinter*.pyd", "tcl*.dll", "tk*.dll")


def _windows_pruned(prefix: Path, tk: bool) -> Callable[[str, list[str]], dict[str, str]]:
    """What staging leaves out of a Windows base, each name with the reason."""

    def reasons(dirpath: str, names: list[str]) -> dict[str, str]:
        rel_dir = os.path.relpath(dirpath, prefix).replace(os.sep, "/")
        out: dict[str, str] = {}
        for name in names:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if rel == "Lib/site-packages":
                out[name] = WHY_BASE_SITE
            elif rel.startswith("Lib/") and any(fnmatch.fnmatch(rel, pat) for pat in WINDOWS_PRUNE):
                out[name] = WHY_STDLIB_TESTS
            elif any(fnmatch.fnmatch(rel, pat) for pat in WINDOWS_PRUNE):
                out[name] = WHY_WINDOWS_EXTRAS
            elif not tk and any(fnmatch.fnmatch(rel, pat) for pat in WINDOWS_TK):
                out[name] = WHY_TK
            elif name == "__pycache__" or name.endswith(".pyc"):
                out[name] = WHY_BYTECODE
            elif any(fnmatch.fnmatch(name, g) for g in WINDOWS_GLOBS):
                out[name] = WHY_STATIC if name.endswith((".lib", ".a")) else WHY_WINDOWS_EXTRAS
        return out

    return reasons


def _enable_site(pth: Path, site_rel: str) -> None:
    """The embeddable distribution's ``._pth`` fixes sys.path: add site-packages and ``import site``."""
    lines = pth.read_text(encoding="utf-8", errors="replace").splitlines()
    want = site_rel.replace("/", "\\")
    out = [("import site" if line.strip() == "#import site" else line) for line in lines]
    if want not in out:
        out.insert(len([l for l in out if l and not l.startswith(("#", "import"))]), want)
    if "import site" not in out:
        out.append("import site")
    pth.write_text("\r\n".join(out) + "\r\n", encoding="utf-8")


def stage_windows(interp: BaseInterpreter, root: Path, *, is_binary, tk: bool = True) -> StagedRuntime:
    """Copy a Windows CPython into *root* in its own layout (``python.exe``, ``Lib``, ``DLLs``).

    Windows finds the standard library next to ``python.exe`` and every DLL of the
    process in that directory, so the tree keeps the shape of the original.
    """
    prefix = interp.prefix
    tally = Tally()
    copy_tree(prefix, root, tallied(_windows_pruned(prefix, tk), tally))
    site_rel = "Lib/site-packages"
    (root / site_rel).mkdir(parents=True, exist_ok=True)
    for pth in root.glob("python3*._pth"):
        _enable_site(pth, site_rel)
    origins: list[tuple[str, Path]] = []
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            p = Path(dirpath) / name
            if is_binary(p):
                rel = p.relative_to(root).as_posix()
                origins.append((rel, Path(os.path.realpath(prefix / rel))))
    rel_of = lambda p: Path(os.path.relpath(p, prefix)).as_posix()  # noqa: E731
    return StagedRuntime(
        root=root,
        python=rel_of(interp.executable),
        stdlib=rel_of(interp.stdlib),
        dynload=rel_of(interp.dynload),
        sitepackages=site_rel,
        origins=tuple(sorted(origins)),
        build_prefixes=(str(prefix),),
        left_out=tally.records(),
    )
