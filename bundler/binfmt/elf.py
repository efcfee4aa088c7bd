"""ELF: read dependencies with pyelftools, rewrite with LIEF."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

from bundler import cachefs
from bundler.binfmt.interface import BinaryEdit, BinaryInfo, Floor, PathCheck, inside
from bundler.binfmt.ldpath import expand_origin
from bundler.errors import RelocationError
from bundler.platforms import ELF_MACHINES

ELF_MAGIC = b"\x7fELF"
_GLIBC = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$")


#: strip tools that understand each ELF architecture (binutils for the host; the cross package else)
_STRIP_TOOLS = {"x86_64": ("strip", "x86_64-linux-gnu-strip"), "aarch64": ("aarch64-linux-gnu-strip",)}


def stripper(arch: str) -> Callable[[Path], None]:
    """``strip --strip-unneeded`` with a tool that knows *arch* (a no-op when there is none).

    Run it before LIEF touches a file, never after: strip corrupts what LIEF adds.
    """
    tool = next((t for t in (shutil.which(n) for n in _STRIP_TOOLS.get(arch, ())) if t), None)

    def run(path: Path) -> None:
        if tool is not None:
            subprocess.run([tool, "--strip-unneeded", "-p", str(path)], capture_output=True, check=False)

    return run


def glibc_floor(infos: "list[BinaryInfo] | tuple[BinaryInfo, ...]") -> str | None:
    """Highest ``GLIBC_x.y`` symbol version any of *infos* requires, as ``"x.y"``."""
    best: tuple[int, ...] | None = None
    for info in infos:
        for _file, versions in info.version_needs:
            for v in versions:
                m = _GLIBC.match(v)
                if m:
                    key = tuple(int(g) for g in m.groups() if g is not None)
                    if best is None or key > best:
                        best = key
    return ".".join(map(str, best)) if best else None


def glibc_floor_of(root: Path, binaries: Mapping[str, BinaryInfo]) -> Floor:
    """The :data:`bundler.binfmt.interface.FloorOf` of ELF: the newest glibc symbol version needed."""
    return Floor(glibc=glibc_floor(list(binaries.values())))


def search_path_check(loader: str) -> PathCheck:
    """The :data:`bundler.binfmt.interface.PathCheck` of ELF for a system whose program loader is *loader*:
    that loader, no DT_RPATH, every DT_RUNPATH entry ``$ORIGIN``-relative and inside the runtime."""

    def check(root: Path, rel: str, info: BinaryInfo) -> None:
        if info.interpreter and info.interpreter != loader:
            raise RelocationError(
                f"{rel} asks for the program loader {info.interpreter}, which is not the system's "
                f"{loader}; rebuild it for a standard glibc system"
            )
        if info.rpath:
            raise RelocationError(f"{rel} still has DT_RPATH {':'.join(info.rpath)} after relocation")
        here = root / os.path.dirname(rel)
        for entry in info.runpath:
            if not entry.startswith("$ORIGIN") or not inside(root, expand_origin(entry, here)):
                raise RelocationError(
                    f"{rel} has the search path {entry}, which points outside the runtime"
                )

    return check


class ElfFormat:
    """The ELF implementation of :class:`bundler.binfmt.interface.BinaryFormat`."""

    def is_binary(self, path: Path) -> bool:
        try:
            if path.is_symlink() or not path.is_file():
                return False
            with open(path, "rb") as f:
                return f.read(4) == ELF_MAGIC
        except OSError:
            return False

    def machine(self, path: Path) -> str:
        with open(path, "rb") as f:
            return ELF_MACHINES.get(ELFFile(f).header["e_machine"], "unknown")

    def read(self, path: Path) -> BinaryInfo:
        try:
            with open(path, "rb") as f:
                elf = ELFFile(f)
                machine = ELF_MACHINES.get(elf.header["e_machine"], "unknown")
                needed: list[str] = []
                rpath: tuple[str, ...] = ()
                runpath: tuple[str, ...] = ()
                soname = None
                interp = None
                needs: list[tuple[str, tuple[str, ...]]] = []
                for seg in elf.iter_segments():
                    if seg["p_type"] == "PT_INTERP":
                        interp = seg.get_interp_name()
                for sec in elf.iter_sections():
                    if isinstance(sec, DynamicSection):
                        for tag in sec.iter_tags():
                            if tag.entry.d_tag == "DT_NEEDED":
                                needed.append(tag.needed)
                            elif tag.entry.d_tag == "DT_RPATH":
                                rpath = tuple(p for p in tag.rpath.split(":") if p)
                            elif tag.entry.d_tag == "DT_RUNPATH":
                                runpath = tuple(p for p in tag.runpath.split(":") if p)
                            elif tag.entry.d_tag == "DT_SONAME":
                                soname = tag.soname
                    elif isinstance(sec, GNUVerNeedSection):
                        for verneed, auxs in sec.iter_versions():
                            needs.append((verneed.name, tuple(a.name for a in auxs)))
        except (ELFError, OSError, ValueError) as exc:
            raise RelocationError(f"{path}: cannot read it as ELF ({exc}); is the file damaged?") from exc
        return BinaryInfo(
            soname=soname,
            needed=tuple(needed),
            rpath=rpath,
            runpath=runpath,
            interpreter=interp,
            version_needs=tuple(needs),
            machine=machine,
        )

    def apply(self, path: Path, edit: BinaryEdit) -> None:
        import lief

        binary = lief.ELF.parse(str(path))
        if binary is None:
            raise RelocationError(f"{path}: LIEF cannot parse it; the file may be damaged")
        tag = lief.ELF.DynamicEntry.TAG
        renames = dict(edit.replace_needed)
        for old, new in edit.replace_needed:
            lib = binary.get_library(old)
            if lib is None:
                raise RelocationError(f"{path}: has no DT_NEEDED {old} to rename")
            lib.name = new
        if renames:
            for req in binary.symbols_version_requirement:
                if req.name in renames:
                    req.name = renames[req.name]
        if edit.soname is not None:
            entry = binary.get(tag.SONAME)
            if entry is None:
                binary.add(lief.ELF.DynamicSharedObject(edit.soname))
            else:
                entry.name = edit.soname
        binary.remove(tag.RPATH)
        binary.remove(tag.RUNPATH)
        if edit.runpath:
            binary.add(lief.ELF.DynamicEntryRunPath(":".join(edit.runpath)))
        with cachefs.replacing(path) as tmp:
            binary.write(str(tmp))
