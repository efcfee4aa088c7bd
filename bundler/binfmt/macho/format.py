"""Mach-O: rewrite load commands with LIEF, then re-sign (the :class:`BinaryFormat` implementation and its resolver).
"""

from __future__ import annotations

import os
import posixpath
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from bundler import cachefs
from bundler.binfmt.interface import (
    BinaryEdit,
    BinaryInfo,
    Floor,
    FloorOf,
    PathCheck,
    inside,
)
from bundler.binfmt.macho.parse import (
    _read_bytes,
    _select,
    _slice_info,
    is_macho,
    machines,
    macos_floor,
    slices,
)
from bundler.errors import RelocationError

if TYPE_CHECKING:
    import lief


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


def search_path_check(is_system: Callable[[str], bool]) -> PathCheck:
    """The :data:`bundler.binfmt.interface.PathCheck` of Mach-O: no build-machine install name
    (an absolute id that *is_system* does not accept), every LC_RPATH ``@loader_path``-relative
    inside the runtime or ``@executable_path``-relative."""

    def check(root: Path, rel: str, info: BinaryInfo) -> None:
        if info.soname and info.soname.startswith("/") and not is_system(info.soname):
            raise RelocationError(f"{rel} still has the build-machine install name {info.soname}")
        here = root / posixpath.dirname(rel)
        for entry in info.rpath:
            token = next((t for t in ("@loader_path", "@executable_path") if entry.startswith(t)), None)
            if token is None or (token == "@loader_path" and not inside(
                    root, os.path.normpath(str(here) + entry[len(token):]))):
                raise RelocationError(f"{rel} has the search path {entry}, which points outside the runtime")

    return check


def macos_floor_of(arch: str) -> FloorOf:
    """The :data:`bundler.binfmt.interface.FloorOf` of Mach-O: the newest minimum macOS of the *arch* slices."""

    def floor(root: Path, binaries: Mapping[str, BinaryInfo]) -> Floor:
        return Floor(macos=macos_floor([root / rel for rel in binaries], arch))

    return floor


@dataclass(frozen=True)
class MachOFormat:
    """The Mach-O implementation of :class:`bundler.binfmt.interface.BinaryFormat`.

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
        if self.arch is not None and self.arch in archs:
            return self.arch
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

        from bundler.binfmt.macho import codesign

        slices(_read_bytes(path), path)  # refuses 32-bit and odd universal files with a clear message
        fat = lief.MachO.parse(str(path))
        if fat is None or fat.size == 0:
            raise RelocationError(f"{path}: LIEF cannot parse it; the file may be damaged")
        for i in range(fat.size):
            _edit_image(fat.at(i), edit, path)
        with cachefs.replacing(path) as tmp:
            if fat.size == 1:
                fat.at(0).write(str(tmp))
            else:
                fat.write(str(tmp))
            codesign.sign_adhoc(tmp, identifier=path.name)


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
    program that will load the binaries). dyld also searches the LC_RPATH
    entries of the images that loaded a binary for its ``@rpath/`` names; this
    resolver does not: relocation gives every binary a search path of its own,
    so nothing in a runtime depends on what it would inherit. Absolute install
    names are looked for under each of *sysroots*
    first (the Mac's files copied to this machine: ``/opt/homebrew/lib/libfoo.dylib``
    is ``<sysroot>/opt/homebrew/lib/libfoo.dylib``), then as they are. Only a
    Mach-O file with a slice for the needing binary's machine (``info.machine``,
    or *arch* when given) counts as found.
    """

    executable_dir: Path | None = None
    sysroots: tuple[Path, ...] = ()
    arch: str | None = None

    def search(self, needed: str, info: BinaryInfo, origin: Path) -> Path | None:
        """Find *needed*, an install name of a binary whose directory (``@loader_path``) is *origin*."""
        if needed.startswith("@rpath/"):
            leaf = needed[len("@rpath/") :]
            for entry in info.rpath:
                for cand in self._candidates(posixpath.join(entry, leaf), origin):
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
