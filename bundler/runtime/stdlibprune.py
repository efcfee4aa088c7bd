"""``stdlib = "imported"``: ship only the standard library the bundled code can import.

By default a runtime carries the whole standard library (any module importable
later, ``sys.executable`` a complete Python). With ``stdlib = "imported"`` the
runtime keeps only the standard library's *top-level* modules and packages
that the shipped code names in an import, followed through the standard
library itself, and the native pieces those need:

- **seeds**: every ``import`` / ``from ... import`` in every Python file of
  the runtime's site-packages (the app, its dependencies, entry scripts;
  imports inside functions and ``try`` blocks count too), the string given to
  ``importlib.import_module("...")`` / ``__import__("...")``, what the
  interpreter imports by itself (:data:`CORE`), and ``include-module``;
- **closure**: the imports of each kept module's sources (the base's own
  ``.py`` files: the runtime's zip holds byte code only) and of each kept
  extension module (:data:`NATIVE_IMPORTS`), until nothing new is named;
- a whole top-level package is kept when any part of it is named (its
  modules import each other, often dynamically);
- ``lib-dynload`` keeps the extension modules kept, and ``lib/bundled`` the
  vendored libraries that some remaining binary still needs.

A module the code reaches only through a computed name (``import_module(name)``)
is missed: ``include-module`` names it. The build prints what was left out, and
the runtime lists it (:data:`LEFT_OUT_LIST`) for its start-up hook, which gives
an import of one of those an error that says why and what to do.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import re
import shutil
import zipfile
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from bundler import cachefs
from bundler.errors import ConfigError
from bundler.runtime.stage import du
from bundler.runtime.stdlibzip import _ZIP_TIME, LANDMARK, NOT_MODULES

#: what CPython imports on its own, whatever the code says: start-up (``site``, the codec
#: machinery), the pieces C code imports by name (``_strptime`` for ``time.strptime``,
#: ``linecache`` and ``traceback`` for tracebacks, ``warnings``), ``-m`` (``runpy``),
#: build configuration (``sysconfig``, whose ``_sysconfigdata_*`` module is named at run time),
#: and ``encodings``, whose codecs ``bytes.decode`` looks up by name
CORE = (
    "encodings", "site", "sitecustomize", "usercustomize", "os", "_sitebuiltins", "codecs", "io", "abc", "stat",
    "posixpath", "ntpath", "genericpath", "_collections_abc", "sysconfig", "_sysconfigdata_*", "_strptime",
    "linecache", "traceback", "tokenize", "warnings", "runpy", "importlib", "zipimport", "__future__",
    "_bundler_runtime",
)
#: what extension modules import from C (``PyImport_ImportModule``) that their Python
#: wrapper may not import itself
NATIVE_IMPORTS: Mapping[str, tuple[str, ...]] = {
    "_decimal": ("numbers", "collections", "contextvars"),
    "_datetime": ("time", "_strptime"),
    "_pickle": ("copyreg", "_compat_pickle", "functools"),
    "_elementtree": ("xml", "copy"),
    "_ctypes": ("ctypes", "struct"),
    "_curses": ("curses",),
    "_sqlite3": ("sqlite3",),
    "_ssl": ("ssl", "socket"),
    "_socket": ("socket",),
    "_asyncio": ("asyncio", "traceback", "weakref"),
    "_json": ("json",),
    "_csv": ("csv",),
    "pyexpat": ("xml",),
    "_hashlib": ("hashlib",),
    "array": ("copyreg",),
}
#: files the runtime carries for some modules only (finalize): left out with the last of them
MODULE_DATA: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("etc/ssl", ("_ssl",)),  # the fallback CA bundle
    ("share/terminfo", ("_curses", "readline")),  # terminal descriptions for ncurses
)
#: the list of what was left out, in site-packages beside the start-up hook that reads it on a failed import
LEFT_OUT_LIST = "_bundler_left_out.txt"
#: the build report's and the summary's names for what this leaves out
WHY_NOT_IMPORTED = "standard library modules the bundled code does not import (stdlib = \"imported\")"
WHY_LIBS_NOT_NEEDED = "vendored libraries only those modules needed"
_PY_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_IMPORT_LINE = re.compile(r"^\s*(?:from\s+([A-Za-z_][\w.]*)\s+import|import\s+([\w., \t]+))", re.M)


@dataclass(frozen=True)
class Inventory:
    """The runtime's standard library by top-level name: where each one's files are."""

    zipped: Mapping[str, tuple[str, ...]]  # name -> its entries in the stdlib zip
    on_disk: Mapping[str, tuple[str, ...]]  # name -> runtime-relative files and directories
    dynload: Mapping[str, tuple[str, ...]]  # extension module name -> runtime-relative files

    def names(self) -> set[str]:
        return set(self.zipped) | set(self.on_disk) | set(self.dynload)


@dataclass(frozen=True)
class PrunePlan:
    keep: frozenset[str]
    drop: tuple[str, ...]  # top-level names left out, sorted
    #: why each kept name is kept: the name (a module, a site-packages file or "core") that named it first
    reason: Mapping[str, str]


@dataclass(frozen=True)
class Pruned:
    """What :func:`prune_runtime` left out."""

    modules: tuple[str, ...]  # top-level standard library names
    kept: int  # top-level standard library names kept
    files: int
    size: int
    libraries: tuple[str, ...]  # vendored libraries (runtime-relative) no longer needed
    library_size: int
    binaries: tuple[str, ...] = ()  # extension modules (runtime-relative) left out


def imports_in(source: str) -> set[str]:
    """Absolute module names *source* imports (dotted, as written), and literal dynamic imports.

    Source that does not parse (newer syntax than this Python's) is read line by line for
    ``import``/``from`` statements, which finds the same names less precisely.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # MemoryError: nesting too deep for the parser
        return _imports_by_line(source)
    found: set[str] = set()
    for node in _walk_what_runs(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if a.name != "*")
        elif isinstance(node, ast.Call) and node.args and _is_dynamic_import(node.func):
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and _PY_IDENT.fullmatch(first.value):
                found.add(first.value)
    return found


def _is_main_guard(node: ast.AST) -> bool:
    """``if __name__ == "__main__":``, whose body runs only when the module is run as a script."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare) or len(node.test.ops) != 1:
        return False
    sides = [node.test.left, *node.test.comparators]
    return (isinstance(node.test.ops[0], ast.Eq) and any(isinstance(x, ast.Name) and x.id == "__name__" for x in sides)
            and any(isinstance(x, ast.Constant) and x.value == "__main__" for x in sides))


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` / ``if typing.TYPE_CHECKING:``, whose body only type checkers read."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk_what_runs(tree: ast.AST):
    """Every node of *tree* except those under a ``__main__`` or ``TYPE_CHECKING`` guard (their ``else``
    branches are walked)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if _is_main_guard(node) or _is_type_checking(node):
            todo.extend(node.orelse)  # type: ignore[attr-defined]
            continue
        todo.extend(ast.iter_child_nodes(node))


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr in ("import_module", "__import__")


def _imports_by_line(source: str) -> set[str]:
    found: set[str] = set()
    for m in _IMPORT_LINE.finditer(source):
        if m.group(1):
            found.add(m.group(1))
        else:
            for part in m.group(2).split(","):
                name = part.strip().split()[0] if part.strip() else ""
                if _PY_IDENT.fullmatch(name):
                    found.add(name)
    return found


def top_levels(names: Iterable[str]) -> set[str]:
    return {n.split(".", 1)[0] for n in names if n}


def _top_of_entry(entry: str) -> str:
    head = entry.split("/", 1)[0]
    return head if "/" in entry else head.split(".", 1)[0]


def inventory(root: Path, stdlib: str, dynload: str, zip_path: str) -> Inventory:
    """What the runtime under *root* holds of its standard library, by top-level name."""
    zipped: dict[str, list[str]] = {}
    with zipfile.ZipFile(root / zip_path) as zf:
        for name in zf.namelist():
            zipped.setdefault(_top_of_entry(name), []).append(name)
    on_disk: dict[str, list[str]] = {}
    base = root / stdlib
    for entry in sorted(os.listdir(base)):
        if entry in NOT_MODULES or entry.startswith("config-") or entry == LANDMARK:
            continue
        full = base / entry
        if full.is_dir() or entry.endswith(".py"):
            on_disk.setdefault(entry.split(".", 1)[0] if not full.is_dir() else entry, []).append(f"{stdlib}/{entry}")
    cache = base / "__pycache__"
    if cache.is_dir():
        for pyc in sorted(os.listdir(cache)):
            top = pyc.split(".", 1)[0]
            if top != LANDMARK[:-3]:
                on_disk.setdefault(top, []).append(f"{stdlib}/__pycache__/{pyc}")
    native: dict[str, list[str]] = {}
    if (root / dynload).is_dir():
        for entry in sorted(os.listdir(root / dynload)):
            if not entry.startswith(".") and (root / dynload / entry).is_file():
                native.setdefault(entry.split(".", 1)[0], []).append(f"{dynload}/{entry}")
    return Inventory(
        {k: tuple(v) for k, v in sorted(zipped.items())},
        {k: tuple(v) for k, v in sorted(on_disk.items())},
        {k: tuple(v) for k, v in sorted(native.items())},
    )


def zipped_sources(inv: Inventory, name: str) -> list[str]:
    """The stdlib-relative ``.py`` paths of the zipped modules of top-level *name* (from their byte code)."""
    return sorted({e[:-1] if e.endswith(".pyc") else e for e in inv.zipped.get(name, ()) if e.endswith((".py", ".pyc"))})


def disk_sources(root: Path, inv: Inventory, name: str) -> list[Path]:
    """The ``.py`` files of top-level *name* that the runtime keeps on disk."""
    found: list[Path] = []
    for rel in inv.on_disk.get(name, ()):
        path = root / rel
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts))
        elif rel.endswith(".py"):
            found.append(path)
    return found


def _matches(name: str, pattern: str) -> bool:
    """*name* is *pattern*, or starts with it when it ends in ``*``."""
    return name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1]))


def plan_prune(
    universe: set[str],
    seeds: Mapping[str, str],
    imports_of: Callable[[str], set[str]],
) -> PrunePlan:
    """Which top-level names of *universe* to keep: *seeds* (name -> who named it) and what they import.

    *imports_of(name)* gives the top-level names a kept module imports (its sources' and its
    native imports).
    """
    reason: dict[str, str] = {}
    todo: list[str] = []
    for name, why in sorted(seeds.items()):
        for n in sorted(universe):
            if n not in reason and _matches(n, name):
                reason[n] = why
                todo.append(n)
    while todo:
        name = todo.pop()
        for dep in sorted(imports_of(name)):
            if dep in universe and dep not in reason:
                reason[dep] = name
                todo.append(dep)
    keep = frozenset(reason)
    return PrunePlan(keep, tuple(sorted(universe - keep)), dict(sorted(reason.items())))


def file_imports(path: Path, memo: MutableMapping[str, list[str]]) -> set[str]:
    """The top-level names the Python file *path* imports; *memo* keeps them by the file's SHA-256."""
    data = path.read_bytes()
    key = hashlib.sha256(data).hexdigest()[:32]
    hit = memo.pop(key, None)  # taken out and put back: the memo keeps what was used last (save_memo)
    if hit is None:
        hit = sorted(top_levels(imports_in(data.decode("utf-8", errors="surrogateescape"))))
    memo[key] = hit
    return set(hit)


def site_imports(root: Path, sitepackages: str, extra_files: Iterable[Path] = (),
                 memo: MutableMapping[str, list[str]] | None = None) -> dict[str, str]:
    """Top-level names imported anywhere in site-packages (and *extra_files*) -> the first file naming it."""
    memo = {} if memo is None else memo
    found: dict[str, str] = {}
    site = root / sitepackages
    files = sorted(site.rglob("*.py")) if site.is_dir() else []
    for path in [*files, *extra_files]:
        if not path.is_file():
            continue
        for name in sorted(file_imports(path, memo)):
            found.setdefault(name, path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path))
    return found


def needed_libraries(binaries: Mapping[str, tuple[str, ...]], vendored: Iterable[str], present: Callable[[str], bool]) -> set[str]:
    """The vendored libraries (runtime-relative) that the *present* binaries need, directly or through each other."""
    by_name = {os.path.basename(v): v for v in vendored}
    need: set[str] = set()
    todo = [b for b in binaries if b not in by_name.values() and present(b)]
    seen = set(todo)
    while todo:
        current = todo.pop()
        for lib in binaries.get(current, ()):
            dest = by_name.get(os.path.basename(lib))
            if dest is not None and dest not in seen:
                seen.add(dest)
                need.add(dest)
                todo.append(dest)
    return need


def rewrite_zip(path: Path, keep: Callable[[str], bool]) -> tuple[int, int]:
    """Write the stored zip at *path* again with only the entries *keep* accepts; (files, bytes) dropped."""
    tmp = path.with_name(path.name + ".tmp")
    files = size = 0
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            if not keep(info.filename):
                if not info.is_dir():
                    files += 1
                    size += info.file_size
                continue
            out = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            out.create_system = info.create_system
            out.external_attr = info.external_attr
            dst.writestr(out, src.read(info))
    os.replace(tmp, path)
    return files, size


def has_module(root: Path, inv: Inventory, stdlib: str, dotted: str) -> bool:
    """Whether the runtime's standard library holds module or package *dotted* (``json``, ``xml.dom``)."""
    top, _, rest = dotted.partition(".")
    if not rest:
        return top in inv.names()
    rel = dotted.replace(".", "/")
    zipped = set(inv.zipped.get(top, ()))
    if any(f"{rel}{end}" in zipped for end in (".pyc", ".py", "/__init__.pyc", "/__init__.py")):
        return True
    on_disk = root / stdlib / rel
    return on_disk.with_name(on_disk.name + ".py").is_file() or (on_disk / "__init__.py").is_file()


def check_includes(includes: Iterable[str], known: Callable[[str], bool]) -> None:
    """Every ``include-module`` name must be a module of this standard library (*known* says which are)."""
    unknown = sorted(n for n in includes if not known(n))
    if unknown:
        raise ConfigError(f"include-module: {', '.join(unknown)} is not a module of this base's standard library "
                          "that could be left out (built-in modules are always there); name standard library modules "
                          "only (the dependencies' own modules are always kept)")


def prune_runtime(
    root: Path,
    *,
    stdlib: str,
    dynload: str,
    zip_path: str,
    sitepackages: str,
    base_stdlib: Path,
    includes: Iterable[str],
    binaries: Mapping[str, tuple[str, ...]],
    vendored: Iterable[str],
    extra_sources: Iterable[Path] = (),
    memo: MutableMapping[str, list[str]] | None = None,
) -> tuple[PrunePlan, Pruned]:
    """Leave out of the runtime under *root* the standard library its code does not import (see the module)."""
    inv = inventory(root, stdlib, dynload, zip_path)
    universe = inv.names()
    includes = tuple(includes)
    check_includes(includes, lambda name: has_module(root, inv, stdlib, name))
    seeds: dict[str, str] = {n: "what the interpreter imports itself" for n in CORE}
    seeds.update({n.split(".", 1)[0]: "include-module" for n in includes})
    memo = {} if memo is None else memo
    for name, where in site_imports(root, sitepackages, extra_sources, memo).items():
        seeds.setdefault(name, where)
    missing: list[str] = []

    def imports_of(name: str) -> set[str]:
        names = set(NATIVE_IMPORTS.get(name, ()))
        files = disk_sources(root, inv, name)
        for rel in zipped_sources(inv, name):
            source = base_stdlib / rel
            if not source.is_file():
                missing.append(rel)
            else:
                files.append(source)
        for f in files:
            names |= file_imports(f, memo)
        return names

    plan = plan_prune(universe, seeds, imports_of)
    if missing:
        first = sorted(set(missing))
        named = ", ".join(first[:3]) + (f" and {len(first) - 3} more" if len(first) > 3 else "")
        raise ConfigError(f"stdlib = \"imported\": the base's standard library at {base_stdlib} has no sources for "
                          f"{named}, so their imports cannot be read; build with stdlib = \"all\"")
    drop = set(plan.drop)
    files, size = rewrite_zip(root / zip_path, lambda entry: _top_of_entry(entry) not in drop)
    paths = [rel for name in plan.drop for rel in (*inv.on_disk.get(name, ()), *inv.dynload.get(name, ()))]
    # data goes only when every module that reads it could go and did (one built into libpython stays)
    paths += [data for data, users in MODULE_DATA
              if (root / data).exists() and set(users) <= universe and not plan.keep & set(users)]
    for rel in paths:
        f, s = du(root / rel)
        files, size = files + f, size + s
        _remove(root / rel)
    vendored = tuple(vendored)
    need = needed_libraries(binaries, vendored, lambda rel: (root / rel).exists())
    unneeded = tuple(sorted(v for v in vendored if v not in need and (root / v).exists()))
    lib_size = 0
    for rel in unneeded:
        lib_size += (root / rel).stat().st_size
        (root / rel).unlink()
    (root / sitepackages / LEFT_OUT_LIST).write_text("".join(f"{n}\n" for n in plan.drop))
    binaries = tuple(sorted(rel for name in plan.drop for rel in inv.dynload.get(name, ())))
    return plan, Pruned(plan.drop, len(plan.keep), files, size, unneeded, lib_size, binaries)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


#: the most entries an import memo keeps (by file content: old versions of a dependency pile up)
MEMO_LIMIT = 50_000


def load_memo(path: Path) -> dict[str, list[str]]:
    """The import memo at *path* (file SHA-256 -> top-level names it imports); empty when missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items()
            if isinstance(k, str) and isinstance(v, list) and all(isinstance(n, str) for n in v)}


def save_memo(path: Path, memo: Mapping[str, list[str]]) -> None:
    """Write the memo atomically (the :data:`MEMO_LIMIT` entries used last); a build never depends on it."""
    items = list(memo.items())[-MEMO_LIMIT:]
    with contextlib.suppress(OSError):
        cachefs.write_file(path, json.dumps(dict(items), separators=(",", ":")).encode())
