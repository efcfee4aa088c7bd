"""The reader of each binary format by name, for code that reads a finished runtime (the build report).

Relocation gets its format through :mod:`bundler.relocate.kits` with
everything else it needs; reading a relocated tree needs only this: the
format that reads a target's binaries and the system floor its files set.
"""

from __future__ import annotations

from dataclasses import dataclass

from bundler.binfmt.interface import BinaryFormat, FloorOf, no_floor


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
