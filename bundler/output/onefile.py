"""Assemble the single-file artifact: stub + layered payload + manifest + trailer."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bundler.output import payload as pl
from bundler.output.layers import LayerMap
from bundler.output.manifest import Manifest
from bundler.output.tree import atomic_path


@dataclass(frozen=True)
class OnefileResult:
    path: Path
    size: int
    stub_size: int
    packed: pl.PackResult
    manifest: Manifest  # as written: with the payload fields


def write_onefile(
    root: Path,
    final: Path,
    *,
    stub: Path,
    layers: LayerMap,
    manifest: Manifest,
    level: int,
    cache: pl.FrameCache,
    progress: Callable[[int, int], None] = lambda d, t: None,
    seal: Callable[[bytes, bytes, str], bytes] | None = None,
) -> OnefileResult:
    """Write *final* atomically: the stub, then the block (*manifest* gets the payload fields).

    *seal* (stub, block, name) → file, when the target's format wants the block inside a signed
    region (Mach-O: ``__LINKEDIT``, then a code signature over all of it); else the block follows
    the stub as it is.
    """
    entries = pl.scan_tree(root)
    layered = {name: [e for e in entries if layers.layer_of(e.path) == name] for name in pl.LAYERS}
    with atomic_path(final) as work:
        with open(work, "wb") as out:
            with open(stub, "rb") as s:
                shutil.copyfileobj(s, out)
            stub_size = out.tell()
            packed, full = pl.write_block(layered, out, manifest, level=level, cache=cache, progress=progress)
        if seal is not None:
            data = work.read_bytes()
            work.write_bytes(seal(data[:stub_size], data[stub_size:], final.name))
        os.chmod(work, 0o755)
    return OnefileResult(final, final.stat().st_size, stub_size, packed, full)
