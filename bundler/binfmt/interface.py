"""The interface every binary format (ELF, PE, Mach-O) implements.

The relocation planner only sees :class:`BinaryInfo` values and produces
:class:`BinaryEdit` values; reading and rewriting files is the format's job
(:class:`BinaryFormat`), and so is finding what a binary needs the way its
loader would (:class:`Resolver`). What a format checks after the rewrite, and
which OS floor its files set, are functions of the format module that
:mod:`bundler.relocate.kits` hands to relocation (:data:`PathCheck`,
:data:`FloorOf`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
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
    """One binary format: recognise, name the CPU, read, rewrite."""

    def is_binary(self, path: Path) -> bool:
        """Whether *path* is a file of this format (read from its first bytes)."""
        ...

    def machine(self, path: Path) -> str:
        """The CPU *path* is for, spelled as :mod:`bundler.platforms` spells a target's arch."""
        ...

    def read(self, path: Path) -> BinaryInfo:
        """What the loader reads from *path*; a :class:`bundler.errors.BundlerError` naming it if it cannot."""
        ...

    def apply(self, path: Path, edit: BinaryEdit) -> None:
        """Rewrite *path* in place (a Mach-O file is signed again after)."""
        ...


class Resolver(Protocol):
    """Where a loader finds a library a binary needs: on the build machine, or inside a runtime only."""

    def search(self, needed: str, info: BinaryInfo, origin: Path) -> Path | None:
        """The file *needed* (as the binary names it) resolves to for a binary in *origin*; None: not found."""
        ...


@dataclass(frozen=True)
class Floor:
    """The oldest system a set of binaries runs on (None: they set no floor of that kind)."""

    glibc: str | None = None
    macos: str | None = None


#: ``check(root, rel, info)``: a format's rules for the search paths and names of a relocated binary
#: at runtime-relative *rel*; raises :class:`bundler.errors.RelocationError` for one that reaches outside *root*
PathCheck = Callable[[Path, str, BinaryInfo], None]
#: ``floor(root, binaries)``: the system floor the relocated binaries (runtime-relative path → info) set
FloorOf = Callable[[Path, Mapping[str, BinaryInfo]], Floor]


def no_path_check(root: Path, rel: str, info: BinaryInfo) -> None:
    """A format whose binaries carry no search paths (PE: Windows searches fixed directories)."""


def no_floor(root: Path, binaries: Mapping[str, BinaryInfo]) -> Floor:
    return Floor()


def inside(root: Path, path: str) -> bool:
    """True if *path* (normalized) is *root* or below it."""
    real = os.path.normpath(path)
    return real == str(root) or real.startswith(str(root) + os.sep)


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
