"""Resolve DT_NEEDED names the way glibc's ld.so does on the build machine."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bundler.binfmt.interface import BinaryInfo
from bundler.platforms import ELF_CLASS_MACHINE


def expand_origin(entry: str, origin: Path) -> str:
    """Substitute ``$ORIGIN`` / ``${ORIGIN}`` and ``$LIB`` in one search path entry."""
    return (
        entry.replace("${ORIGIN}", str(origin))
        .replace("$ORIGIN", str(origin))
        .replace("${LIB}", "lib64")
        .replace("$LIB", "lib64")
    )


def _parse_conf(path: Path, seen: set[Path]) -> list[str]:
    dirs: list[str] = []
    if path in seen or not path.is_file():
        return dirs
    seen.add(path)
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("include"):
            pattern = line.split(None, 1)[1] if " " in line or "\t" in line else ""
            if not os.path.isabs(pattern):
                pattern = str(path.parent / pattern)
            for inc in sorted(glob.glob(pattern)):
                dirs += _parse_conf(Path(inc), seen)
        elif line.startswith("hwcap"):
            continue
        else:
            dirs.append(line)
    return dirs


@lru_cache(maxsize=None)
def conf_dirs(conf: str = "/etc/ld.so.conf") -> tuple[str, ...]:
    """Directories listed in ld.so.conf and its includes, in order."""
    return tuple(_parse_conf(Path(conf), set()))


def _matches_arch(path: Path, arch: str) -> bool:
    want = ELF_CLASS_MACHINE.get(arch)
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return False
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return False
    if want is None:
        return True
    return head[4] == want[0] and int.from_bytes(head[18:20], "little") == want[1]


@dataclass(frozen=True)
class LdSoResolver:
    """ld.so's search order for one architecture on the build machine."""

    arch: str
    default_dirs: tuple[str, ...]
    conf: tuple[str, ...] = ()

    def search(self, needed: str, info: BinaryInfo, origin: Path) -> Path | None:
        """Find *needed* (a soname) needed by a binary whose directory is *origin*.

        Order: DT_RPATH (only when the binary has no DT_RUNPATH), DT_RUNPATH,
        ld.so.conf, default directories. The build's LD_LIBRARY_PATH is
        deliberately ignored: it does not exist at run time. The DT_RPATH of
        the binary's loaders, which ld.so also searches, is not: relocation
        gives every binary a search path of its own, so nothing in a runtime
        depends on what it would inherit.
        """
        soname = needed
        if "/" in soname:
            p = Path(expand_origin(soname, origin))
            return p if p.exists() else None
        dirs: list[str] = []
        if not info.runpath:
            dirs += [expand_origin(d, origin) for d in info.rpath]
        dirs += [expand_origin(d, origin) for d in info.runpath]
        dirs += list(self.conf) + list(self.default_dirs)
        for d in dirs:
            cand = Path(d) / soname
            if cand.is_file() and _matches_arch(cand, self.arch):
                return cand
        return None


def host_resolver(arch: str, default_dirs: tuple[str, ...]) -> LdSoResolver:
    return LdSoResolver(arch=arch, default_dirs=default_dirs, conf=conf_dirs())
