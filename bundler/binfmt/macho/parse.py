"""Mach-O: read headers, slices and load commands with a small parser (the writer and the signer share it).

A file is either *thin* (one 64-bit image, magic ``MH_MAGIC_64``) or
*universal* (a fat header followed by one thin image per architecture).
Universal files are handled slice by slice: :meth:`MachOFormat.read` reads the
slice of the format's ``arch`` (or requires every slice to name the same
libraries), :meth:`MachOFormat.apply` rewrites and re-signs every slice. 32-bit
images cannot load on any macOS bundler targets and are refused.

Every rewrite ends with an ad-hoc code signature (:mod:`bundler.binfmt.macho.codesign`):
arm64 macOS kills unsigned code, and editing load commands invalidates the
signature a file came with.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bundler.errors import RelocationError
from bundler.platforms import MACHO_CPU_TYPES, MACHO_CPUS

MH_MAGIC_64 = 0xFEEDFACF
MH_MAGIC = 0xFEEDFACE
FAT_MAGIC = 0xCAFEBABE
FAT_MAGIC_64 = 0xCAFEBABF
#: Java class files share ``0xCAFEBABE``; their second word (a version) is ≥ 45.
_MAX_FAT_ARCHS = 44

MH_EXECUTE = 0x2
MH_DYLIB = 0x6
MH_BUNDLE = 0x8

CPU_TYPE_X86_64 = MACHO_CPU_TYPES["x86_64"]
CPU_TYPE_ARM64 = MACHO_CPU_TYPES["arm64"]
CPU_SUBTYPE_ARM64E = 2
_CPU_SUBTYPE_MASK = 0x00FFFFFF

LC_REQ_DYLD = 0x80000000
LC_SEGMENT_64 = 0x19
LC_ID_DYLIB = 0xD
LC_LOAD_DYLIB = 0xC
LC_LOAD_WEAK_DYLIB = 0x18 | LC_REQ_DYLD
LC_REEXPORT_DYLIB = 0x1F | LC_REQ_DYLD
LC_LAZY_LOAD_DYLIB = 0x20
LC_LOAD_UPWARD_DYLIB = 0x23 | LC_REQ_DYLD
LC_RPATH = 0x1C | LC_REQ_DYLD
LC_CODE_SIGNATURE = 0x1D
LC_VERSION_MIN_MACOSX = 0x24
LC_BUILD_VERSION = 0x32
#: load commands naming a library the image links against, in dyld's sense
DEPENDENCY_COMMANDS = frozenset(
    {LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB, LC_LOAD_UPWARD_DYLIB, LC_LAZY_LOAD_DYLIB}
)
PLATFORM_MACOS = 1

_HEADER = struct.Struct("<IiiIIIII")  # magic cputype cpusubtype filetype ncmds sizeofcmds flags reserved


@dataclass(frozen=True)
class Slice:
    """One thin image inside a file (the whole file when it is thin)."""

    offset: int
    size: int
    cputype: int
    cpusubtype: int
    #: log2 of the slice's alignment in a universal file (0 for a thin file)
    align: int = 0

    @property
    def arch(self) -> str:
        return arch_name(self.cputype, self.cpusubtype)


@dataclass(frozen=True)
class LoadCommand:
    """A load command of one slice: its type, offset in the slice, and raw bytes."""

    cmd: int
    offset: int
    data: bytes

    def lc_str(self, field_offset: int = 8) -> str:
        """The ``lc_str`` whose offset is stored at *field_offset* in the command."""
        (start,) = struct.unpack_from("<I", self.data, field_offset)
        raw = self.data[start:]
        return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Header:
    cputype: int
    cpusubtype: int
    filetype: int
    ncmds: int
    sizeofcmds: int
    flags: int


def arch_name(cputype: int, cpusubtype: int) -> str:
    if cputype == CPU_TYPE_ARM64 and cpusubtype & _CPU_SUBTYPE_MASK == CPU_SUBTYPE_ARM64E:
        return "arm64e"
    return MACHO_CPUS.get(cputype, f"cputype-{cputype:#x}")


def _magic(head: bytes) -> int | None:
    if len(head) < 8:
        return None
    le = struct.unpack_from("<I", head)[0]
    if le in (MH_MAGIC_64, MH_MAGIC):
        return le
    be, nfat = struct.unpack_from(">II", head)
    if be in (FAT_MAGIC, FAT_MAGIC_64) and 0 < nfat <= _MAX_FAT_ARCHS:
        return be
    return None


def slices(data: bytes, path: Path | str = "<bytes>") -> tuple[Slice, ...]:
    """The thin images of a Mach-O file; a :class:`RelocationError` for anything else."""
    magic = _magic(data[:8])
    if magic is None:
        raise RelocationError(f"{path}: is not a Mach-O file")
    if magic == MH_MAGIC:
        raise RelocationError(
            f"{path}: is a 32-bit Mach-O file, which no supported macOS can load; "
            "remove it or rebuild it for arm64 or x86_64"
        )
    if magic == MH_MAGIC_64:
        cputype, cpusubtype = struct.unpack_from("<ii", data, 4)
        return (Slice(0, len(data), cputype & 0xFFFFFFFF, cpusubtype & 0xFFFFFFFF),)
    wide = magic == FAT_MAGIC_64
    (count,) = struct.unpack_from(">I", data, 4)
    entry = struct.Struct(">IIQQII" if wide else ">IIIII")
    found: list[Slice] = []
    for i in range(count):
        pos = 8 + i * entry.size
        if pos + entry.size > len(data):
            raise RelocationError(f"{path}: its universal header is truncated; the file is damaged")
        cputype, cpusubtype, offset, size, align = entry.unpack_from(data, pos)[:5]
        if offset + size > len(data) or _magic(data[offset : offset + 8]) != MH_MAGIC_64:
            raise RelocationError(
                f"{path}: slice {i} of this universal file is not a 64-bit Mach-O image; "
                f"thin the file with `lipo -thin arm64` (or x86_64) and build again"
            )
        found.append(Slice(offset, size, cputype, cpusubtype, align))
    return tuple(found)


def header(data: bytes, base: int = 0) -> Header:
    magic, cputype, cpusubtype, filetype, ncmds, sizeofcmds, flags, _ = _HEADER.unpack_from(data, base)
    if magic != MH_MAGIC_64:
        raise ValueError("not a 64-bit Mach-O image")
    return Header(cputype & 0xFFFFFFFF, cpusubtype & 0xFFFFFFFF, filetype, ncmds, sizeofcmds, flags)


def load_commands(data: bytes, base: int = 0) -> Iterator[LoadCommand]:
    """The load commands of the image starting at *base* (offsets relative to *base*)."""
    hdr = header(data, base)
    pos = _HEADER.size
    end = pos + hdr.sizeofcmds
    if base + end > len(data):
        raise ValueError("load commands run past the end of the file")
    for _ in range(hdr.ncmds):
        cmd, size = struct.unpack_from("<II", data, base + pos)
        if size < 8 or pos + size > end:
            raise ValueError(f"load command at {pos:#x} has a bad size {size}")
        yield LoadCommand(cmd, pos, bytes(data[base + pos : base + pos + size]))
        pos += size


def _version(packed: int) -> str:
    major, minor, patch = packed >> 16, (packed >> 8) & 0xFF, packed & 0xFF
    return f"{major}.{minor}.{patch}" if patch else f"{major}.{minor}"


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RelocationError(f"{path}: cannot read it ({exc.strerror})") from exc


def _select(all_slices: tuple[Slice, ...], arch: str | None, path: Path) -> tuple[Slice, ...]:
    if arch is None or len(all_slices) == 1:
        return all_slices
    chosen = tuple(s for s in all_slices if s.arch == arch)
    if not chosen:
        have = ", ".join(s.arch for s in all_slices)
        raise RelocationError(f"{path}: this universal file has no {arch} slice (it has {have}); use a build for {arch}")
    return chosen


def _slice_minimum(data: bytes, sl: Slice, path: Path) -> str:
    try:
        commands = list(load_commands(data, sl.offset))
    except (ValueError, struct.error) as exc:
        raise RelocationError(f"{path}: cannot read its load commands ({exc}); is the file damaged?") from exc
    others: list[int] = []
    for lc in commands:
        if lc.cmd == LC_BUILD_VERSION:
            platform, minos = struct.unpack_from("<II", lc.data, 8)
            if platform == PLATFORM_MACOS:
                return _version(minos)
            others.append(platform)
        elif lc.cmd == LC_VERSION_MIN_MACOSX:
            (minos,) = struct.unpack_from("<I", lc.data, 8)
            return _version(minos)
    if others:
        raise RelocationError(
            f"{path}: is built for Apple platform {others[0]}, not macOS; use a macOS build of it"
        )
    raise RelocationError(
        f"{path}: has neither LC_BUILD_VERSION nor LC_VERSION_MIN_MACOSX, so its minimum macOS "
        "is unknown; rebuild it with a current Apple toolchain"
    )


def minimum_macos(path: Path, arch: str | None = None) -> str:
    """The oldest macOS *path* runs on (``"11.0"``), from LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX.

    For a universal file: the *arch* slice's, or the highest over all slices.
    """
    data = _read_bytes(path)
    found = [_slice_minimum(data, sl, path) for sl in _select(slices(data, path), arch, path)]
    return max(found, key=version_key)


def macos_floor(paths: Iterable[Path], arch: str | None = None) -> str | None:
    """The highest :func:`minimum_macos` over *paths*: the oldest macOS a runtime made of them runs on."""
    found = [minimum_macos(p, arch) for p in paths]
    return max(found, key=version_key) if found else None


@dataclass(frozen=True)
class _SliceInfo:
    soname: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]


def _slice_info(data: bytes, sl: Slice) -> _SliceInfo:
    soname = None
    needed: list[str] = []
    rpath: list[str] = []
    for lc in load_commands(data, sl.offset):
        if lc.cmd == LC_ID_DYLIB:
            soname = lc.lc_str()
        elif lc.cmd in DEPENDENCY_COMMANDS:
            needed.append(lc.lc_str())
        elif lc.cmd == LC_RPATH:
            rpath.append(lc.lc_str())
    return _SliceInfo(soname, tuple(needed), tuple(rpath))


def is_macho(path: Path) -> bool:
    """A regular file that starts like a thin or universal Mach-O (32-bit ones too: they are refused later)."""
    try:
        if path.is_symlink() or not path.is_file():
            return False
        with open(path, "rb") as f:
            return _magic(f.read(8)) is not None
    except OSError:
        return False


def machines(path: Path) -> tuple[str, ...]:
    """The architectures of every slice of *path*."""
    return tuple(s.arch for s in slices(_read_bytes(path), path))
