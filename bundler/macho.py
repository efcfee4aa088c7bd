"""Mach-O: read load commands with a small parser, rewrite them with LIEF, then re-sign.

A file is either *thin* (one 64-bit image, magic ``MH_MAGIC_64``) or
*universal* (a fat header followed by one thin image per architecture).
Universal files are handled slice by slice: :meth:`MachOFormat.read` reads the
slice of the format's ``arch`` (or requires every slice to name the same
libraries), :meth:`MachOFormat.apply` rewrites and re-signs every slice. 32-bit
images cannot load on any macOS bundler targets and are refused.

Every rewrite ends with an ad-hoc code signature (:mod:`bundler.codesign`):
arm64 macOS kills unsigned code, and editing load commands invalidates the
signature a file came with.
"""

from __future__ import annotations

import os
import posixpath
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from .binfmt import BinaryEdit, BinaryInfo
from .errors import RelocationError

if TYPE_CHECKING:
    import lief

MH_MAGIC_64 = 0xFEEDFACF
MH_MAGIC = 0xFEEDFACE
FAT_MAGIC = 0xCAFEBABE
FAT_MAGIC_64 = 0xCAFEBABF
#: Java class files share ``0xCAFEBABE``; their second word (a version) is ≥ 45.
_MAX_FAT_ARCHS = 44

MH_EXECUTE = 0x2
MH_DYLIB = 0x6
MH_BUNDLE = 0x8

CPU_TYPE_X86_64 = 0x01000007
CPU_TYPE_ARM64 = 0x0100000C
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
    if cputype == CPU_TYPE_ARM64:
        return "arm64e" if cpusubtype & _CPU_SUBTYPE_MASK == CPU_SUBTYPE_ARM64E else "arm64"
    if cputype == CPU_TYPE_X86_64:
        return "x86_64"
    return f"cputype-{cputype:#x}"


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


def unique_name(name: str, digest: str) -> str:
    """``libfoo.1.dylib`` + digest → ``libfoo-1a2b3c4d.1.dylib`` (only the base name is kept).

    The digest goes before the library's version suffix (``.1``, ``.1.2.13``), but a
    version that is part of the name stays with it: ``libpython3.11.dylib`` →
    ``libpython3.11-1a2b3c4d.dylib``.
    """
    base = posixpath.basename(name)
    ext = ".dylib" if base.endswith(".dylib") else ".so" if base.endswith(".so") else ""
    stem = base[: len(base) - len(ext)] if ext else base
    m = re.match(r"^(.*?[^0-9.])((?:\.[0-9]+)+)$", stem)
    if m and stem.startswith("."):
        m = None
    head, version = (m.group(1), m.group(2)) if m else (stem, "")
    return f"{head}-{digest[:8]}{version}{ext}"


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


@dataclass(frozen=True)
class MachOFormat:
    """The Mach-O implementation of :class:`bundler.binfmt.BinaryFormat`.

    *arch* (``"arm64"``, ``"x86_64"``) picks the slice of universal files that
    :meth:`read` reports; without it, every slice must name the same libraries.
    """

    arch: str | None = None
    name: ClassVar[str] = "macho"

    def is_binary(self, path: Path) -> bool:
        return is_macho(path)

    def machine(self, path: Path) -> str:
        """``arm64`` / ``x86_64``; a universal file: ``arch`` if it has that slice, else ``arm64+x86_64``."""
        archs = machines(path)
        if len(archs) == 1:
            return archs[0]
        if self.arch in archs:
            return self.arch  # type: ignore[return-value]
        return "+".join(archs)

    def read(self, path: Path) -> BinaryInfo:
        data = _read_bytes(path)
        chosen = _select(slices(data, path), self.arch, path)
        try:
            infos = [_slice_info(data, sl) for sl in chosen]
        except (ValueError, struct.error) as exc:
            raise RelocationError(f"{path}: cannot read its load commands ({exc}); is the file damaged?") from exc
        if any(i != infos[0] for i in infos[1:]):
            raise RelocationError(
                f"{path}: the slices of this universal file link different libraries; "
                "thin it with `lipo -thin ARCH` for the target and build again"
            )
        first = infos[0]
        archs = [sl.arch for sl in chosen]
        return BinaryInfo(
            soname=first.soname,
            needed=first.needed,
            rpath=first.rpath,
            runpath=(),
            interpreter=None,
            machine=archs[0] if len(archs) == 1 else "+".join(archs),
        )

    def apply(self, path: Path, edit: BinaryEdit) -> None:
        """Rename the id and dependencies, replace every LC_RPATH, then sign ad hoc."""
        import lief

        from . import codesign

        slices(_read_bytes(path), path)  # refuses 32-bit and odd universal files with a clear message
        fat = lief.MachO.parse(str(path))
        if fat is None or fat.size == 0:
            raise RelocationError(f"{path}: LIEF cannot parse it; the file may be damaged")
        for i in range(fat.size):
            _edit_image(fat.at(i), edit, path)
        mode = path.stat().st_mode
        tmp = path.with_name(path.name + ".bundler-tmp")
        try:
            if fat.size == 1:
                fat.at(0).write(str(tmp))
            else:
                fat.write(str(tmp))
            codesign.sign_adhoc(tmp, identifier=path.name)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def _edit_image(binary: "lief.MachO.Binary", edit: BinaryEdit, path: Path) -> None:
    import lief

    T = lief.MachO.LoadCommand.TYPE
    if edit.soname is not None:
        ident = next((c for c in binary.commands if c.command == T.ID_DYLIB), None)
        if ident is None:
            raise RelocationError(
                f"{path}: is not a dylib (it has no LC_ID_DYLIB), so it cannot be given the "
                f"install name {edit.soname}; only dylibs can be linked against"
            )
        ident.name = edit.soname
    dependencies = [c for c in binary.commands if isinstance(c, lief.MachO.DylibCommand) and c.command != T.ID_DYLIB]
    for old, new in edit.replace_needed:
        hits = [c for c in dependencies if c.name == old]
        if not hits:
            raise RelocationError(f"{path}: has no load command for {old} to rename")
        for c in hits:
            c.name = new
    binary.remove(T.RPATH)
    for entry in edit.runpath:
        binary.add(lief.MachO.RPathCommand.create(entry))
    if binary.has_code_signature:
        binary.remove_signature()


def expand_loader_tokens(entry: str, loader_dir: Path, executable_dir: Path | None) -> str | None:
    """Substitute ``@loader_path`` / ``@executable_path`` in *entry*; None if it needs an unknown executable dir."""
    if entry == "@loader_path" or entry.startswith("@loader_path/"):
        return os.path.normpath(str(loader_dir) + entry[len("@loader_path") :])
    if entry == "@executable_path" or entry.startswith("@executable_path/"):
        if executable_dir is None:
            return None
        return os.path.normpath(str(executable_dir) + entry[len("@executable_path") :])
    return entry


@dataclass(frozen=True)
class MachOResolver:
    """dyld's search for install names, over the build machine's copy of the files.

    *executable_dir* is what ``@executable_path`` means (the directory of the
    program that will load the binaries); *executable_rpaths* are the LC_RPATH
    entries of that program, which dyld also searches for ``@rpath/`` names
    of every image it loads (``@loader_path`` in them is the executable's
    directory). Absolute install names are looked for under each of *sysroots*
    first (the Mac's files copied to this machine: ``/opt/homebrew/lib/libfoo.dylib``
    is ``<sysroot>/opt/homebrew/lib/libfoo.dylib``), then as they are. Only a
    Mach-O file with a slice for the needing binary's machine (``info.machine``,
    or *arch* when given) counts as found.
    """

    executable_dir: Path | None = None
    executable_rpaths: tuple[str, ...] = ()
    sysroots: tuple[Path, ...] = ()
    arch: str | None = None

    def search(self, needed: str, info: BinaryInfo, origin: Path) -> Path | None:
        """Find *needed*, an install name of a binary whose directory (``@loader_path``) is *origin*."""
        if needed.startswith("@rpath/"):
            leaf = needed[len("@rpath/") :]
            entries = [(e, origin) for e in info.rpath]
            if self.executable_dir is not None:
                entries += [(e, self.executable_dir) for e in self.executable_rpaths]
            for entry, loader_dir in entries:
                for cand in self._candidates(posixpath.join(entry, leaf), loader_dir):
                    if self._fits(cand, info):
                        return cand
            return None
        for cand in self._candidates(needed, origin):
            if self._fits(cand, info):
                return cand
        return None

    def _candidates(self, name: str, loader_dir: Path) -> list[Path]:
        """Where *name* (an install name or rpath-joined path) may be on this machine."""
        if name.startswith("@"):
            expanded = expand_loader_tokens(name, loader_dir, self.executable_dir)
            # a token expands to a directory on this machine; an unknown one (or @rpath inside an rpath) finds nothing
            return [] if expanded is None or expanded.startswith("@") else [Path(expanded)]
        if not name.startswith("/"):
            return []  # a bare name is relative to dyld's working directory: unknowable here
        return [root / name.lstrip("/") for root in self.sysroots] + [Path(name)]

    def _fits(self, path: Path, info: BinaryInfo) -> bool:
        wanted = {self.arch} if self.arch else set(filter(None, info.machine.split("+")))
        try:
            real = path.resolve()
            return is_macho(real) and wanted <= set(machines(real))
        except (OSError, RelocationError):
            return False
