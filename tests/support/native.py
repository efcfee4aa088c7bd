"""Compile real ELF files for tests with the Zig toolchain from the ``ziglang`` wheel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _write_sources(out: Path, sources: dict[str, str]) -> list[str]:
    """Write C *sources* (name → text) next to *out*; their paths."""
    out.parent.mkdir(parents=True, exist_ok=True)
    files = []
    for name, text in sources.items():
        src = out.parent / f".src-{out.name}-{name}"
        src.write_text(text)
        files.append(str(src))
    return files


def zig_cc(out: Path, sources: dict[str, str], *args: str, target: str = "x86_64-linux-gnu.2.17") -> Path:
    """Compile C *sources* (name → text) into *out* with ``zig cc -target TARGET``."""
    files = _write_sources(out, sources)
    cmd = [sys.executable, "-m", "ziglang", "cc", "-target", target, "-o", str(out), *files, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"zig cc failed: {' '.join(cmd)}\n{proc.stderr}")
    return out


def shared_lib(out: Path, soname: str, source: str, *args: str, target: str = "x86_64-linux-gnu.2.17") -> Path:
    return zig_cc(out, {"lib.c": source}, "-shared", "-fPIC", f"-Wl,-soname,{soname}", *args, target=target)


def macho_dylib(out: Path, install_name: str, source: str, *args: str, target: str = "aarch64-macos.11.0") -> Path:
    """A Mach-O dylib whose LC_ID_DYLIB is *install_name* (zig cc links it with its bundled libSystem stubs)."""
    return zig_cc(out, {"lib.c": source}, "-shared", f"-Wl,-install_name,{install_name}", *args, target=target)


def universal(out: Path, *thin: Path) -> Path:
    """``lipo -create``: a universal (fat) file of the thin Mach-O files, each slice 16 KiB aligned."""
    import struct

    images = [p.read_bytes() for p in thin]
    align = 14
    offset = 1 << align
    table = struct.pack(">II", 0xCAFEBABE, len(images))
    body = b""
    for image in images:
        cputype, cpusubtype = struct.unpack_from("<II", image, 4)
        table += struct.pack(">IIIII", cputype, cpusubtype, offset, len(image), align)
        padded = image + b"\0" * (-len(image) % (1 << align))
        body += padded
        offset += len(padded)
    out.write_bytes(table + b"\0" * ((1 << align) - len(table)) + body)
    return out


def zig_cc_delayload(out: Path, sources: dict[str, str], *args: str, delayload: tuple[str, ...],
                     target: str = "x86_64-windows-gnu") -> Path:
    """Build a Windows program whose imports from the DLLs named in *delayload* are delay-loaded.

    ``zig cc`` passes no ``-delayload`` to its linker, so this builds once with
    ``ZIG_VERBOSE_LINK=1`` to learn the exact ``lld-link`` command (objects, CRT,
    import libraries) and runs that again through ``zig lld-link`` with
    ``-DELAYLOAD:`` added. MinGW's CRT provides ``__delayLoadHelper2``.
    """
    import os

    files = _write_sources(out, sources)
    zig = [sys.executable, "-m", "ziglang"]
    cmd = [*zig, "cc", "-target", target, "-o", str(out), *files, *args]
    env = dict(os.environ, ZIG_VERBOSE_LINK="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=out.parent)
    if proc.returncode != 0:
        raise RuntimeError(f"zig cc failed: {' '.join(cmd)}\n{proc.stderr}")
    lines = [line for line in proc.stderr.splitlines() if line.startswith("lld-link ")]
    if len(lines) != 1:
        raise RuntimeError(f"zig cc printed no single lld-link command:\n{proc.stderr}")
    link = [*zig, *lines[0].split(" "), *(f"-DELAYLOAD:{name}" for name in delayload)]
    proc = subprocess.run(link, capture_output=True, text=True, cwd=out.parent)
    if proc.returncode != 0:
        raise RuntimeError(f"lld-link failed: {' '.join(link)}\n{proc.stderr}")
    return out
