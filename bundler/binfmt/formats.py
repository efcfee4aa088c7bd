"""The reader of each binary format by name, for code that reads a finished runtime (the build report).

Relocation gets its format through :mod:`bundler.relocate.kits` with
everything else it needs; reading a relocated tree needs only this: the
format that reads a target's binaries and the system floor its files set.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bundler.binfmt.interface import BinaryFormat, BinaryInfo, FloorOf, no_floor
from bundler.platforms import platform_named


@dataclass(frozen=True)
class Reader:
    """What reading a target's binaries takes: its format and the floor its files set."""

    fmt: BinaryFormat
    floor: FloorOf
    #: library names compare without case (PE)
    case_insensitive: bool = False


def reader_for(binary_format: str, arch: str) -> Reader:
    """The :class:`Reader` of *binary_format* (``elf``, ``pe``, ``macho``) for *arch*'s files."""
    if binary_format == "elf":
        from bundler.binfmt.elf import ElfFormat, glibc_floor_of

        return Reader(ElfFormat(), glibc_floor_of)
    if binary_format == "pe":
        from bundler.binfmt.pe import PeFormat

        return Reader(PeFormat(), no_floor, case_insensitive=True)
    if binary_format == "macho":
        from bundler.binfmt.macho.format import MachOFormat, macos_floor_of

        return Reader(MachOFormat(arch=arch), macos_floor_of(arch))
    raise ValueError(f"no binary format {binary_format!r}")


def read_binaries(root: Path, target: str, known: Container[str] = ()) -> dict[str, BinaryInfo]:
    """Every binary of *target*'s format and CPU under *root* (runtime-relative path → what its loader
    reads), but those in *known* (read before: not opened again)."""
    plat = platform_named(target)
    if plat is None:
        return {}
    reader = reader_for(plat.binary_format, plat.arch)
    found: dict[str, BinaryInfo] = {}
    for dirpath, dirnames, names in os.walk(root):
        dirnames.sort()
        for name in sorted(names):
            p = Path(dirpath) / name
            if p.relative_to(root).as_posix() in known:
                continue
            if reader.fmt.is_binary(p) and reader.fmt.machine(p) == plat.arch:
                found[p.relative_to(root).as_posix()] = reader.fmt.read(p)
    return found


def needed_by(binaries: Mapping[str, BinaryInfo | Sequence[str]], library: str,
              case_insensitive: bool = False) -> tuple[str, ...]:
    """The binaries that name *library* (a runtime-relative path) among what they need, by its file name
    (*binaries*: each one's :class:`BinaryInfo`, or just the names it needs)."""
    fold = (lambda s: s.lower()) if case_insensitive else (lambda s: s)  # noqa: E731
    name = fold(posixpath.basename(library))

    def names(b: BinaryInfo | Sequence[str]) -> Sequence[str]:
        return b.needed if isinstance(b, BinaryInfo) else b

    return tuple(sorted(rel for rel, b in binaries.items()
                        if rel != library and any(fold(posixpath.basename(n)) == name for n in names(b))))
