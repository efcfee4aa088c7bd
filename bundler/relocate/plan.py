"""Plan a relocation: which libraries to vendor under which names and the search path of every binary (pure).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Mapping
from pathlib import Path

from bundler.binfmt.interface import BinaryEdit, BinaryInfo, Resolver, inside
from bundler.errors import RelocationError
from bundler.relocate.model import (
    ELF_RULES,
    VENDOR_DIR,
    LoaderRules,
    RelocationPlan,
    VendoredLibrary,
    _origin_entry,
    is_excluded,
)
from bundler.relocate.policy import Policy


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
                if target is None and inside(Path(os.path.realpath(root)), real):
                    # already in the runtime (a wheel's own DLL folder): used where it is, never copied
                    target = os.path.relpath(real, os.path.realpath(root)).replace(os.sep, "/")
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
                    if entry.startswith(token) and inside(
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
