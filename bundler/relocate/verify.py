"""Verify a relocated runtime: re-read every binary and refuse anything that still reaches outside it.

What a format allows in its search paths and names (ELF's ``$ORIGIN``,
Mach-O's ``@loader_path``) and which system floor its files set come from the
format (:data:`bundler.binfmt.interface.PathCheck`, :data:`~bundler.binfmt.interface.FloorOf`),
handed over by the target's kit; this module asks no OS question.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from bundler.binfmt.interface import (
    BinaryInfo,
    FloorOf,
    PathCheck,
    Resolver,
    inside,
    no_floor,
    no_path_check,
)
from bundler.errors import RelocationError
from bundler.relocate.model import RelocationReport, is_excluded
from bundler.relocate.policy import Policy


def verify(
    root: Path,
    binaries: Mapping[str, BinaryInfo],
    *,
    policy: Policy,
    resolver: Resolver,
    check_paths: PathCheck = no_path_check,
    floor: FloorOf = no_floor,
    vendored: Iterable[tuple[str, str]] = (),
    rewritten: int = 0,
    check: Callable[[str], None] | None = None,
    exclude: tuple[str, ...] = (),
) -> RelocationReport:
    """Refuse a runtime in which any binary can still reach outside it.

    *resolver* searches like the target's loader but only inside the runtime;
    *check_paths* applies the format's rules to each binary's search paths and
    names; *check* runs a format's own test on each binary (Mach-O: the code
    signature); *floor* tells the oldest system the binaries run on.
    """
    system: set[str] = set()
    excluded: set[str] = set()
    for rel, info in sorted(binaries.items()):
        here = root / posixpath.dirname(rel)
        check_paths(root, rel, info)
        for needed in info.needed:
            if policy.is_system(needed):
                system.add(needed)
                continue
            if is_excluded(needed, exclude):
                excluded.add(needed)
                continue
            found = resolver.search(needed, info, here)
            if found is None or not inside(root, os.path.realpath(found)):
                raise RelocationError(
                    f"{rel} needs {needed}, which does not resolve inside the runtime after relocation"
                )
        if check is not None:
            check(rel)
    floors = floor(root, binaries)
    return RelocationReport(
        binaries=len(binaries),
        vendored=tuple(dest for dest, _src in vendored),
        origins=tuple(sorted(vendored)),
        rewritten=rewritten,
        system=tuple(sorted(system)),
        glibc_floor=floors.glibc,
        macos_minimum=floors.macos,
        excluded=tuple(sorted(excluded)),
        needed=tuple(sorted((rel, info.needed) for rel, info in binaries.items())),
    )
