"""The golden payload of docs/FORMAT.md version 1, shared by the writer's and the stub's tests.

``python -m support.golden`` (run in ``tests/``) rewrites ``tests/output/golden/v1.bin``
(do it only when the format version changes, when the writer cuts frames differently, or when the
pinned zstd changes its output).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from bundler.output import manifest as mf
from bundler.output import payload as pl

GOLDEN = Path(__file__).resolve().parents[1] / "output" / "golden" / "v1.bin"
LEVEL = 3
FRAME_SIZE = 256  # tiny, so the golden payload has several frames per layer

FILES = {
    "bin/python3.11": (b"#!/bin/sh\necho golden-python \"$@\"\n", 0o755),
    "bin/hello": (b"print('hello')\n", 0o755),
    "lib/python3.11/os.py": (b"# os\n" * 40, 0o644),
    "lib/python3.11/site-packages/dep/__init__.py": (b"VALUE = 1\n", 0o644),
    "lib/python3.11/site-packages/dep/data.bin": (bytes(range(256)) * 4, 0o644),
    "lib/python3.11/site-packages/app/__init__.py": ("NAME = 'Zoë'\n".encode(), 0o644),
    "share/naïve file.txt": ("non-ASCII name ü\n".encode(), 0o644),
    "empty": (b"", 0o644),
}
DIRS = ("lib/python3.11/lib-dynload",)  # an empty directory
LINKS = {"bin/python3": "python3.11", "lib/python3.11/site-packages/dep/link.py": "__init__.py"}
LAYER_OF = {
    "lib/python3.11/site-packages/dep": "dependencies",
    "lib/python3.11/site-packages/app": "app",
    "bin/hello": "app",
}
MANIFEST = {
    "format": 1,
    "app": {"name": "golden", "version": "1.0"},
    "target": "linux-x86_64",
    "glibc_floor": "2.17",
    "python": {"version": "3.11.0", "executable": "bin/python3.11"},
    "entry_points": {"hello": "bin/hello"},
    "default_entry": "hello",
    "build": {"bundler": "golden", "source_date_epoch": 0},
}


def make_tree(root: Path) -> Path:
    for rel, (data, mode) in FILES.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        p.chmod(mode)
    for rel in DIRS:
        (root / rel).mkdir(parents=True, exist_ok=True)
    for rel, target in LINKS.items():
        os.symlink(target, root / rel)
    return root


def layer_of(path: str) -> str:
    for prefix, layer in LAYER_OF.items():
        if path == prefix or path.startswith(prefix + "/"):
            return layer
    return "runtime"


def build_block(tree: Path, manifest: dict | None = None, *, level: int = LEVEL, frame_size: int = FRAME_SIZE,
                cache=None) -> bytes:
    """payload + manifest + trailer for *tree* (no stub), layered by LAYER_OF; *manifest* defaults to MANIFEST."""
    entries = pl.scan_tree(tree)
    layered = {name: [e for e in entries if layer_of(e.path) == name] for name in pl.LAYERS}
    buf = io.BytesIO()
    pl.write_block(layered, buf, mf.parse(manifest or MANIFEST, "golden manifest"), level=level,
                   cache=cache or pl.FrameCache(None), frame_size=frame_size)
    return buf.getvalue()


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        GOLDEN.write_bytes(build_block(make_tree(Path(d) / "tree")))
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")
