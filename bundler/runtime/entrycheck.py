"""Check an entry point ``module:function`` against the staged runtime, without running it.

A launcher for a module or function that is not there builds fine and fails
on the end user's machine; the build refuses it instead. The check is static
(it works for every target): the module must exist in site-packages or the
standard library (a ``.py`` file, a package, or an extension module), and a
``.py`` module must bind the name at its top level (a ``def``, a class, an
assignment or an import, also under ``if``/``try``). A module with
``from x import *`` or a module-level ``__getattr__`` may bind anything, and
an extension module's names cannot be read: both pass.
"""

from __future__ import annotations

import ast
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

EXTENSION_SUFFIXES = (".so", ".pyd")


def find_module(roots: Sequence[Path], module: str) -> Path | None:
    """The file that ``import module`` would load from *roots* (a package's ``__init__.py``), or None."""
    parts = module.split(".")
    for root in roots:
        base = root.joinpath(*parts)
        for candidate in (base.with_name(parts[-1] + ".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        if base.parent.is_dir():
            for path in sorted(base.parent.glob(parts[-1] + ".*")):
                if path.suffix in EXTENSION_SUFFIXES and path.name.split(".", 1)[0] == parts[-1]:
                    return path
        if base.is_dir() and all(root.joinpath(*parts[:i]).is_dir() for i in range(1, len(parts))):
            return base  # a namespace package
    return None


def _statements(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, also inside if/try/with/for blocks, never inside def or class bodies."""
    for node in body:
        yield node
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(node, field, None)
            if isinstance(inner, list) and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield from _statements(inner)
        for handler in getattr(node, "handlers", ()) or ():
            yield from _statements(handler.body)


def _targets(node: ast.expr) -> Iterator[str]:
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            yield from _targets(elt)


def binds(source: bytes, name: str) -> bool | None:
    """Whether module *source* binds *name* at top level; None when it cannot be told (see above)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    for node in _statements(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == name:
                return True
            if node.name == "__getattr__":
                return None
        elif isinstance(node, ast.Assign):
            if any(name in _targets(t) for t in node.targets):
                return True
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and name in _targets(node.target):
            return True
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                bound = alias.asname or (alias.name.split(".")[0] if isinstance(node, ast.Import) else alias.name)
                if bound == name:
                    return True
    return False


def _in_zip(roots: Sequence[Path], module: str) -> bool:
    """Whether a zipped standard library (``python3XY.zip``: Windows' embeddable base, bundler's own
    ``lib/python3XY.zip``) among *roots* holds *module*."""
    base = module.replace(".", "/")
    wanted = {f"{base}.py", f"{base}.pyc", f"{base}/__init__.py", f"{base}/__init__.pyc"}
    for root in roots:
        if root.is_file() and zipfile.is_zipfile(root):
            with zipfile.ZipFile(root) as zf:
                if wanted & set(zf.namelist()):
                    return True
    return False


def check_entry(roots: Sequence[Path], module: str, attr: str) -> str | None:
    """What is wrong with entry point ``module:attr`` in a runtime whose import roots are *roots*, or None."""
    path = find_module([r for r in roots if r.is_dir()], module)
    if path is None:
        if _in_zip(roots, module):
            return None
        return f"there is no module {module} in the runtime"
    if path.suffix != ".py":
        return None  # an extension module or a namespace package: names cannot be read
    first = attr.split(".")[0]
    if binds(path.read_bytes(), first) is False:
        return f"{module} ({path.name}) has no top-level {first}"
    return None
