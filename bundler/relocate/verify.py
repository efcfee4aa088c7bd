"""Verify a relocated runtime: re-read every binary and refuse anything that still reaches outside it.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from bundler.binfmt.elf import glibc_floor
from bundler.binfmt.interface import BinaryInfo
from bundler.binfmt.ldpath import Resolver, expand_origin
from bundler.errors import RelocationError
from bundler.relocate.model import (
    ELF_RULES,
    LoaderRules,
    RelocationReport,
    inside,
    is_excluded,
)
from bundler.relocate.policy import Policy


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
                if token is None or (token == rules.origin and not inside(
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
            if found is None or not inside(root, os.path.realpath(found)):
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
        if not entry.startswith("$ORIGIN") or not inside(root, expand_origin(entry, here)):
            raise RelocationError(
                f"{rel} has the search path {entry}, which points outside the runtime"
            )
