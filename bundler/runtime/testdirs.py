"""Dependencies' own test suites: left out of the runtime unless the package imports them.

A wheel's ``tests``/``test`` directories are for its developers; nothing an
app does at run time imports them, and they are large: in scikit-learn +
SciPy + NumPy they are 60 MB of the 267 MB installed and 14 MB of the 63 MB
compressed. PyInstaller leaves them out too (they are not in the import
graph). A few packages do import their tests from ordinary code (astropy's
``__init__`` imports ``.tests.runner``; a SciPy helper script imports
``scipy.special.tests``): a test directory that a non-test module of the same
wheel imports is kept (a text search, then ``ast`` on the few files it finds;
a file that does not parse keeps them all). The app's own wheels and
``keep-tests`` keep everything.
"""

from __future__ import annotations

import ast
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

from bundler.deps.wheelpaths import installed_path

#: directory names that hold a package's test suite
TEST_DIRS = frozenset({"tests", "test"})

# "from .tests import x", "from pkg.test.runner import y", "import pkg.tests", "from . import tests"
_IMPORTS_TESTS = re.compile(
    rb"^[ \t]*(?:from[ \t]+[.\w]*\btests?\b|import[ \t]+[\w.]*\btests?\b|from[ \t]+[.\w]+[ \t]+import\b[^\n]*\btests?\b)",
    re.MULTILINE,
)


def suite_dir(member: str) -> str | None:
    """The test directory (relative to site-packages) that holds wheel member *member*, or None."""
    path = installed_path(member)
    if path is None:
        return None
    parts = path.split("/")
    for i, part in enumerate(parts[:-1]):
        if part in TEST_DIRS:
            return "/".join(parts[: i + 1])
    return None


def mentions_tests(source: bytes) -> bool:
    """Whether Python *source* may import a ``tests``/``test`` module (a cheap text test)."""
    return _IMPORTS_TESTS.search(source) is not None


def imported_modules(path: str, source: bytes) -> set[str] | None:
    """Dotted names that module *path* (relative to site-packages) imports, relative imports
    resolved; None when the source does not parse (the caller then keeps every test)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    parts = path[: -len(".py")].split("/")
    package = parts[:-1]  # for pkg/__init__.py and pkg/mod.py alike, the package is pkg
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 > len(package):
                    continue
                base = package[: len(package) - (node.level - 1)]
            else:
                base = []
            module = base + (node.module.split(".") if node.module else [])
            found.add(".".join(module))
            found.update(".".join(module + [alias.name]) for alias in node.names if alias.name != "*")
    return found


@dataclass(frozen=True)
class SuitePlan:
    """What leaving out one wheel's tests removes."""

    dirs: frozenset[str]  # test directories left out, relative to site-packages
    files: int
    size: int  # uncompressed bytes
    kept: frozenset[str] = frozenset()  # test directories the wheel's own code imports

    @property
    def drops(self) -> bool:
        return bool(self.dirs)

    def leaves_out(self, member: str) -> bool:
        where = suite_dir(member)
        return where is not None and where in self.dirs


def plan_wheel(wheel: zipfile.ZipFile) -> SuitePlan:
    """The test directories of *wheel* that none of its non-test modules imports."""
    all_dirs: set[str] = set()
    sources: list[tuple[str, zipfile.ZipInfo]] = []
    for info in wheel.infolist():
        path = installed_path(info.filename)
        if info.is_dir() or path is None:
            continue
        where = suite_dir(info.filename)
        if where is not None:
            all_dirs.add(where)
        elif path.endswith(".py"):
            sources.append((path, info))
    if not all_dirs:
        return SuitePlan(frozenset(), 0, 0)
    kept: set[str] = set()
    for path, info in sources:
        source = wheel.read(info)
        if not mentions_tests(source):
            continue
        modules = imported_modules(path, source)
        if modules is None:
            return SuitePlan(frozenset(), 0, 0, frozenset(all_dirs))
        for module in modules:
            name = module.replace(".", "/")
            kept.update(d for d in all_dirs if name == d or name.startswith(d + "/"))
    dropped = all_dirs - kept
    members = [i for i in wheel.infolist() if not i.is_dir() and suite_dir(i.filename) in dropped]
    return SuitePlan(frozenset(dropped), len(members), sum(i.file_size for i in members), frozenset(kept))


@dataclass(frozen=True)
class SuitesLeftOut:
    """What the dependencies' install left out, for the summary."""

    dirs: int = 0
    files: int = 0
    size: int = 0
    kept: tuple[str, ...] = ()  # test directories kept because the package's own code imports them

    @staticmethod
    def total(plans: Iterable[SuitePlan]) -> SuitesLeftOut:
        plans = list(plans)
        return SuitesLeftOut(
            dirs=sum(len(p.dirs) for p in plans),
            files=sum(p.files for p in plans),
            size=sum(p.size for p in plans),
            kept=tuple(sorted(d for p in plans for d in p.kept)),
        )
