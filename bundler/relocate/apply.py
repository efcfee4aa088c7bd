"""Apply a relocation plan: copy the vendored libraries and rewrite every binary through its format.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from bundler.binfmt.interface import BinaryFormat
from bundler.errors import RelocationError
from bundler.relocate.model import RelocationPlan, RelocationReport, newest


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
        glibc_floor=newest(floors),
        macos_minimum=newest([f for f in (a.macos_minimum, b.macos_minimum) if f]),
        excluded=tuple(sorted(set(a.excluded) | set(b.excluded))),
        origins=tuple(sorted((dict(a.origins) | dict(b.origins)).items())),
        needed=tuple(sorted((dict(a.needed) | dict(b.needed)).items())),
    )
