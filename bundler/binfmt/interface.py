"""The interface every binary format (ELF today; PE and Mach-O later) implements.

The relocation planner only sees :class:`BinaryInfo` values and produces
:class:`BinaryEdit` values; reading and rewriting files is the format's job.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class BinaryInfo:
    """What the loader reads from one binary."""

    soname: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    interpreter: str | None
    #: (file named in a version requirement, versions required from it)
    version_needs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    machine: str = ""


@dataclass(frozen=True)
class BinaryEdit:
    """A rewrite of one binary's loader-visible names and search paths."""

    soname: str | None = None
    replace_needed: tuple[tuple[str, str], ...] = ()
    #: The new search path list; it replaces RPATH and RUNPATH both. ``()`` removes them.
    runpath: tuple[str, ...] = field(default=())


class BinaryFormat(Protocol):
    """One binary format: recognise, read, rewrite."""

    def is_binary(self, path: Path) -> bool: ...

    def read(self, path: Path) -> BinaryInfo: ...

    def apply(self, path: Path, edit: BinaryEdit) -> None: ...


@contextlib.contextmanager
def lief_log() -> Iterator[list[str]]:
    """Collect what LIEF logs while the block rewrites files (the list fills when the block ends).

    LIEF writes its warnings straight to stderr from C++, which would tear the
    progress bar; the formats write with LIEF, so the rewrite step sends its log
    to a private file instead and the caller reports the lines (LIEF's output is
    verified after the rewrite in any case).
    """
    import lief

    fd, name = tempfile.mkstemp(prefix="bundler-lief-", suffix=".log")
    os.close(fd)
    lines: list[str] = []
    lief.logging.set_path(name)
    try:
        yield lines
    finally:
        lief.logging.reset()
        try:
            with open(name, errors="replace") as f:
                lines.extend(dict.fromkeys(line.strip() for line in f if line.strip()))
        finally:
            os.unlink(name)
