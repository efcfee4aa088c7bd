"""What relocation works with: loader rules, the plan, the report, vendored-name schemes.

Relocation makes every native binary in a staged runtime find its libraries
inside it. ``plan`` is pure given its reader/resolver/digest functions: it walks the
dependencies (DT_NEEDED, Mach-O load commands, PE imports) like the loader
would, decides which libraries to vendor (everything outside the system policy)
under unique names, and computes search paths relative to each binary
(``$ORIGIN``, ``@loader_path``; PE has none: vendored DLLs go next to the
interpreter, the directory Windows searches for every DLL of the process).
What differs between formats is data in :class:`LoaderRules`. ``apply`` copies
and rewrites; ``verify`` re-reads the result and refuses anything that would
still reach outside the runtime.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bundler.binfmt.interface import BinaryEdit

VENDOR_DIR = "lib/bundled"


@dataclass(frozen=True)
class LoaderRules:
    """How one binary format names and finds libraries: the planner's only format knowledge."""

    #: (name as needed, content digest) → file name of the vendored copy
    unique_name: Callable[[str, str], str]
    #: the token for "the directory of this binary" in search paths; None: the format has none (PE)
    origin: str | None = "$ORIGIN"
    #: vendored libraries are named ``<prefix><file>`` by those that need them (Mach-O: ``@rpath/``)
    install_name_prefix: str = ""
    #: the search paths live in ``BinaryInfo.rpath`` (Mach-O LC_RPATH) rather than DT_RUNPATH
    search_in_rpath: bool = False
    #: a vendored copy gets its new name as its own id (DT_SONAME, LC_ID_DYLIB)
    rename_vendored_id: bool = True
    #: name vendored copies after the file found rather than the name asked for (PE: names are
    #: case-insensitive, so importers may spell one DLL several ways; ELF asks for the soname,
    #: which the file on disk, ``libfoo.so.1.2.3``, need not be called)
    name_from_file: bool = False


@dataclass(frozen=True)
class VendoredLibrary:
    """A library copied into the runtime from the build machine."""

    source: Path
    dest: str  # relative to the runtime root
    needed_as: str  # the DT_NEEDED name binaries used for it


@dataclass(frozen=True)
class RelocationPlan:
    vendored: tuple[VendoredLibrary, ...]
    edits: tuple[tuple[str, BinaryEdit], ...]
    system: tuple[str, ...]


@dataclass(frozen=True)
class RelocationReport:
    binaries: int
    vendored: tuple[str, ...]
    rewritten: int
    system: tuple[str, ...]
    glibc_floor: str | None
    #: the oldest macOS every binary supports (macOS targets)
    macos_minimum: str | None = None
    #: libraries left unresolved on purpose (--exclude-lib): the binaries that need them may fail to load
    excluded: tuple[str, ...] = ()
    #: (vendored path, the build machine's file it was copied from), for every entry of *vendored*
    origins: tuple[tuple[str, str], ...] = ()
    #: (binary, the libraries it names), for every binary verified: what the SBOM says needs what,
    #: without reading them all again (they come from the build cache on a rebuild)
    needed: tuple[tuple[str, tuple[str, ...]], ...] = ()


def is_excluded(needed: str, exclude: Iterable[str]) -> bool:
    """Whether *needed* matches one of the --exclude-lib globs (case-insensitive: DLL names are)."""
    name = posixpath.basename(needed).lower()
    return any(fnmatch.fnmatchcase(name, glob.lower()) for glob in exclude)


def unique_name(soname: str, digest: str) -> str:
    """``libssl.so.3`` + digest → ``libssl-1a2b3c4d.so.3`` (auditwheel's scheme)."""
    stem, sep, rest = soname.partition(".so")
    return f"{stem}-{digest[:8]}{sep}{rest}" if sep else f"{soname}-{digest[:8]}"


def _origin_entry(from_rel_dir: str, to_rel_dir: str, token: str = "$ORIGIN") -> str:
    rel = posixpath.relpath(to_rel_dir or ".", from_rel_dir or ".")
    return token if rel == "." else f"{token}/{rel}"


ELF_RULES = LoaderRules(unique_name=unique_name)



def newest(versions: list[str]) -> str | None:
    """The highest of dotted version strings (a glibc or macOS floor), None for none."""
    return max(versions, key=lambda f: tuple(int(x) for x in f.split("."))) if versions else None
