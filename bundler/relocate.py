"""Make every native binary in a staged runtime find its libraries inside it.

``plan`` is pure given its reader/resolver/digest functions: it walks the
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
import os
import posixpath
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .binfmt import BinaryEdit, BinaryFormat, BinaryInfo

from .elf import glibc_floor
from .errors import RelocationError
from .ldpath import Resolver, expand_origin
from .policy import Policy

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


def _inside(root: Path, path: str) -> bool:
    real = os.path.normpath(path)
    return real == str(root) or real.startswith(str(root) + os.sep)


def plan(
    root: Path,
    binaries: Mapping[str, BinaryInfo],
    origins: Mapping[str, Path],
    *,
    policy: Policy,
    resolver: Resolver,
    read: Callable[[Path], BinaryInfo],
    digest: Callable[[Path], str],
    vendor_dir: str = VENDOR_DIR,
    rules: LoaderRules = ELF_RULES,
    exclude: tuple[str, ...] = (),
) -> RelocationPlan:
    """Decide what to vendor and how to rewrite each binary (no file is written).

    *binaries* maps runtime-relative paths to what they need; *origins* maps
    some of them to the build-machine file they were copied from, which is where
    ``$ORIGIN`` pointed before staging. Unmapped binaries are their own origin.
    """
    infos: dict[str, BinaryInfo] = dict(binaries)
    origin_of: dict[str, Path] = {rel: origins.get(rel, root / rel) for rel in infos}
    by_real: dict[str, str] = {}
    for rel in infos:
        by_real.setdefault(os.path.realpath(root / rel), rel)
        if rel in origins:
            by_real.setdefault(os.path.realpath(origins[rel]), rel)
    # A build-machine file already staged (e.g. python311.dll next to python.exe) is used where it
    # is, also by binaries added later (dependencies on a cached interpreter): never a second copy.
    for rel, source in sorted(origins.items()):
        by_real.setdefault(os.path.realpath(source), rel)
    by_soname: dict[str, str] = {}
    for rel, info in sorted(infos.items()):
        by_soname.setdefault(info.soname or posixpath.basename(rel), rel)

    vendored: dict[str, VendoredLibrary] = {}  # real source path -> lib
    deps: dict[str, list[tuple[str, str]]] = {}  # rel -> [(needed, target rel)]
    system: set[str] = set()
    missing: list[tuple[str, str]] = []
    queue = sorted(infos)
    while queue:
        rel = queue.pop(0)
        info = infos[rel]
        deps[rel] = []
        for needed in info.needed:
            if policy.is_system(needed):
                system.add(needed)
                continue
            if is_excluded(needed, exclude):
                continue
            found = resolver.search(needed, info, origin_of[rel].parent)
            if found is None:
                target = by_soname.get(needed)
                if target is None:
                    missing.append((rel, needed))
                    continue
            else:
                real = os.path.realpath(found)
                target = by_real.get(real)
                if target is None:
                    lib = vendored.get(real)
                    if lib is None:
                        asked = posixpath.basename(str(found) if rules.name_from_file else needed)
                        name = rules.unique_name(asked, digest(Path(real)))
                        dest = f"{vendor_dir}/{name}" if vendor_dir else name
                        lib = VendoredLibrary(source=Path(real), dest=dest, needed_as=needed)
                        vendored[real] = lib
                        infos[dest] = read(Path(real))
                        origin_of[dest] = Path(real)
                        by_real[real] = dest
                        queue.append(dest)
                    target = lib.dest
            deps[rel].append((needed, target))
    if missing:
        rel, needed = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise RelocationError(
            f"{rel} needs {needed}, which is not on this build machine{more}; lock a wheel that ships it "
            f"or install the package that provides it, or, if the package runs without it, build with "
            f"--exclude-lib {needed}"
        )

    vendored_dest = {lib.dest: lib for lib in vendored.values()}
    edits: list[tuple[str, BinaryEdit]] = []
    for rel in sorted(infos):
        info = infos[rel]
        rel_dir = posixpath.dirname(rel)
        renames = tuple(
            (needed, rules.install_name_prefix + posixpath.basename(target))
            for needed, target in deps[rel]
            if rules.install_name_prefix + posixpath.basename(target) != needed and target in vendored_dest
        )
        runpath: list[str] = []
        token = rules.origin
        if token is not None:
            if rel not in origins and rel not in vendored_dest:
                # A wheel's own origin-relative entries stay (dlopen may rely on them) if they stay inside.
                for entry in info.runpath or info.rpath:
                    entry = entry.replace("${ORIGIN}", "$ORIGIN")
                    if entry.startswith(token) and _inside(
                        root, os.path.normpath(str(root / rel_dir) + entry[len(token):])
                    ):
                        runpath.append(entry)
            for needed, target in deps[rel]:
                if rules.install_name_prefix and not (target in vendored_dest or needed.startswith("@rpath/")):
                    continue  # Mach-O: only @rpath names use the search path
                entry = _origin_entry(rel_dir, posixpath.dirname(target), token)
                if entry not in runpath:
                    runpath.append(entry)
        own_id = rules.install_name_prefix + posixpath.basename(rel)
        # Mach-O: a library whose id is a build-machine path (zig/ld default the id to the
        # output path) gets an @rpath id like the vendored ones: no build path stays loader-visible.
        build_path_id = bool(rules.install_name_prefix and info.soname and info.soname.startswith("/")
                             and not policy.is_system(info.soname))
        soname = own_id if (rel in vendored_dest and rules.rename_vendored_id) or build_path_id else None
        edit = BinaryEdit(soname=soname, replace_needed=renames, runpath=tuple(runpath))
        if rules.search_in_rpath:
            same_paths = tuple(info.rpath) == tuple(runpath) and not info.runpath
        else:
            same_paths = not info.rpath and tuple(info.runpath) == tuple(runpath)
        unchanged = not renames and soname is None and (token is None or same_paths)
        if not unchanged:
            edits.append((rel, edit))
    return RelocationPlan(
        vendored=tuple(sorted(vendored.values(), key=lambda v: v.dest)),
        edits=tuple(edits),
        system=tuple(sorted(system)),
    )


def apply(
    root: Path,
    relocation: RelocationPlan,
    fmt: BinaryFormat,
    *,
    prepare: Callable[[Path], None] = lambda p: None,
    progress: Callable[[str], None] = lambda s: None,
) -> None:
    """Copy vendored libraries in (running *prepare*, e.g. strip, on each), then rewrite."""
    for lib in relocation.vendored:
        dest = root / lib.dest
        if dest.exists():
            continue  # the name carries the content's hash: an earlier step vendored this very file
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lib.source, dest)
        os.chmod(dest, 0o755)
        prepare(dest)
    for rel, edit in relocation.edits:
        progress(rel)
        try:
            fmt.apply(root / rel, edit)
        except RelocationError:
            raise
        except Exception as exc:  # LIEF raises a variety of errors
            raise RelocationError(f"{rel}: rewriting it failed ({exc}); please report this with the file attached") from exc


def merge_reports(a: RelocationReport, b: RelocationReport) -> RelocationReport:
    """One report for a runtime relocated in two steps (the cached base, then the app)."""
    floors = [f for f in (a.glibc_floor, b.glibc_floor) if f]
    return RelocationReport(
        binaries=a.binaries + b.binaries,
        vendored=tuple(sorted(set(a.vendored) | set(b.vendored))),
        rewritten=a.rewritten + b.rewritten,
        system=tuple(sorted(set(a.system) | set(b.system))),
        glibc_floor=_newest(floors),
        macos_minimum=_newest([f for f in (a.macos_minimum, b.macos_minimum) if f]),
        excluded=tuple(sorted(set(a.excluded) | set(b.excluded))),
    )


def _newest(versions: list[str]) -> str | None:
    return max(versions, key=lambda f: tuple(int(x) for x in f.split("."))) if versions else None


def verify(
    root: Path,
    binaries: Mapping[str, BinaryInfo],
    *,
    policy: Policy,
    arch: str,
    vendored: Iterable[str] = (),
    rewritten: int = 0,
    rules: LoaderRules = ELF_RULES,
    resolver: object | None = None,
    check: Callable[[str], None] | None = None,
    exclude: tuple[str, ...] = (),
) -> RelocationReport:
    """Refuse a runtime in which any binary can still reach outside it.

    *resolver* searches like the target's loader but only inside the runtime
    (default: ld.so without system directories); *check* runs a format's own
    test on each binary (Mach-O: the code signature).
    """
    inside_only = resolver if resolver is not None else Resolver(arch=arch, default_dirs=())
    system: set[str] = set()
    excluded: set[str] = set()
    for rel, info in sorted(binaries.items()):
        here = root / posixpath.dirname(rel)
        if rules.origin == "$ORIGIN":
            _verify_elf_paths(root, rel, info, here, policy.loader(arch))
        elif rules.origin is not None:
            if info.soname and info.soname.startswith("/") and not policy.is_system(info.soname):
                raise RelocationError(f"{rel} still has the build-machine install name {info.soname}")
            for entry in info.rpath:
                token = next((t for t in (rules.origin, "@executable_path") if entry.startswith(t)), None)
                if token is None or (token == rules.origin and not _inside(
                        root, os.path.normpath(str(here) + entry[len(token):]))):
                    raise RelocationError(f"{rel} has the search path {entry}, which points outside the runtime")
        for needed in info.needed:
            if policy.is_system(needed):
                system.add(needed)
                continue
            if is_excluded(needed, exclude):
                excluded.add(needed)
                continue
            found = inside_only.search(needed, info, here)  # type: ignore[attr-defined]
            if found is None or not _inside(root, os.path.realpath(found)):
                raise RelocationError(
                    f"{rel} needs {needed}, which does not resolve inside the runtime after relocation"
                )
        if check is not None:
            check(rel)
    return RelocationReport(
        binaries=len(binaries),
        vendored=tuple(vendored),
        rewritten=rewritten,
        system=tuple(sorted(system)),
        glibc_floor=glibc_floor(list(binaries.values())),
        excluded=tuple(sorted(excluded)),
    )


def _verify_elf_paths(root: Path, rel: str, info: BinaryInfo, here: Path, loader: str) -> None:
    if info.interpreter and info.interpreter != loader:
        raise RelocationError(
            f"{rel} asks for the program loader {info.interpreter}, which is not the system's "
            f"{loader}; rebuild it for a standard glibc system"
        )
    if info.rpath:
        raise RelocationError(f"{rel} still has DT_RPATH {':'.join(info.rpath)} after relocation")
    for entry in info.runpath:
        if not entry.startswith("$ORIGIN") or not _inside(root, expand_origin(entry, here)):
            raise RelocationError(
                f"{rel} has the search path {entry}, which points outside the runtime"
            )
