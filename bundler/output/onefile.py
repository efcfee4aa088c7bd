"""Assemble the single-file artifact: stub + layered payload + manifest + trailer."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bundler.output import payload as pl
from bundler.output.layers import LayerMap
from bundler.output.tree import atomic_path


@dataclass(frozen=True)
class OnefileResult:
    path: Path
    size: int
    stub_size: int
    packed: pl.PackResult


def write_onefile(
    root: Path,
    final: Path,
    *,
    stub: Path,
    layers: LayerMap,
    manifest: Mapping,
    level: int,
    cache: pl.FrameCache,
    progress: Callable[[int, int], None] = lambda d, t: None,
) -> OnefileResult:
    """Write *final* atomically; *manifest* gets the payload fields added."""
    entries = pl.scan_tree(root)
    layered = {name: [e for e in entries if layers.layer_of(e.path) == name] for name in pl.LAYERS}
    with atomic_path(final) as work:
        with open(work, "wb") as out:
            with open(stub, "rb") as s:
                shutil.copyfileobj(s, out)
            stub_size = out.tell()
            packed = pl.pack(layered, out, level=level, cache=cache, progress=progress)
            full = dict(manifest)
            full.update(pl.manifest_fields(packed))
            raw = pl.manifest_bytes(full)
            out.write(raw)
            out.write(pl.trailer_bytes(packed.payload_length, raw))
        os.chmod(work, 0o755)
    return OnefileResult(final, final.stat().st_size, stub_size, packed)
