"""Compile real ELF files for tests with the Zig toolchain from the ``ziglang`` wheel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def zig_cc(out: Path, sources: dict[str, str], *args: str, target: str = "x86_64-linux-gnu.2.17") -> Path:
    """Compile C *sources* (name → text) into *out* with ``zig cc -target TARGET``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    files = []
    for name, text in sources.items():
        src = out.parent / f".src-{out.name}-{name}"
        src.write_text(text)
        files.append(str(src))
    cmd = [sys.executable, "-m", "ziglang", "cc", "-target", target, "-o", str(out), *files, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"zig cc failed: {' '.join(cmd)}\n{proc.stderr}")
    return out


def shared_lib(out: Path, soname: str, source: str, *args: str, target: str = "x86_64-linux-gnu.2.17") -> Path:
    return zig_cc(out, {"lib.c": source}, "-shared", "-fPIC", f"-Wl,-soname,{soname}", *args, target=target)
