"""Helpers for the stub's tests: artifacts made of the real stub and small payloads.

The "python" of these runtimes is a shell script that reports what it was given
(NUL-separated ``arg:``/``env:``/``stdin:`` records on stdout), so a test sees
exactly what the stub exec'd.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bundler.output import payload as pl
from support import golden

REPORTED_VARS = ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "BUNDLER_ARTIFACT", "BUNDLER_ARGV0", "BUNDLER_STUB")

FAKE_PYTHON = """#!/bin/sh
for a in "$@"; do printf 'arg:%s\\0' "$a"; done
for v in {vars}; do
  eval "set_=\\${{$v+x}}"
  if [ -n "$set_" ]; then eval "printf 'env:%s=%s\\0' $v \\"\\$$v\\""; fi
done
if [ "$FAKE_STDIN" = 1 ]; then printf 'stdin:%s\\0' "$(cat)"; fi
exit "${{FAKE_EXIT:-0}}"
""".format(vars=" ".join(REPORTED_VARS))

APP = "stubtest"
ENTRY_POINTS = {"hello": "bin/hello", "other": "bin/other"}


def make_tree(root: Path, extra: dict[str, bytes] | None = None) -> Path:
    """The golden tree, with the reporting python, a second entry point and *extra* files."""
    golden.make_tree(root)
    (root / "bin/python3.11").write_text(FAKE_PYTHON)
    (root / "bin/other").write_text("print('other')\n")
    for rel, data in (extra or {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def build_block(tree: Path, *, app: str = APP, level: int = 3, frame_size: int = golden.FRAME_SIZE) -> bytes:
    """payload + manifest + trailer for *tree*, layered like the golden file."""
    manifest = {**golden.MANIFEST, "app": {"name": app, "version": "2.0"}, "entry_points": ENTRY_POINTS,
                "default_entry": "hello"}
    return golden.build_block(tree, manifest, level=level, frame_size=frame_size)


def raw_block(frames: list[list[tuple]], *, size_lie: int = 0, payload_sha256: str | None = None,
              overrides: dict | None = None, dir_mode: int = 0o755, file_mode: int = 0o644) -> bytes:
    """A block whose frames hold exactly the given entries, unchecked (to test the reader's checks).

    Each entry is ``(kind, path, data_or_target)``; *size_lie* is added to the
    first frame's announced uncompressed size; *payload_sha256* replaces the
    payload's real digest (every frame's stays right); *overrides* are manifest keys set last.
    """
    payload, infos = b"", []
    for entries in frames:
        raw = b"".join(
            pl.encode(pl.Entry(path, kind, dir_mode if kind == pl.DIR else file_mode, target=data if kind == pl.SYMLINK else None),
                      data if kind == pl.FILE else b"")
            for kind, path, data in entries
        )
        c = pl.compress(raw, 3)
        infos.append({"offset": len(payload), "length": len(c), "uncompressed_size": len(raw) + (size_lie if not infos else 0),
                      "sha256": hashlib.sha256(c).hexdigest()})
        payload += c
    manifest = dict(golden.MANIFEST)
    manifest.update(
        app={"name": APP, "version": "2.0"},
        payload={"length": len(payload), "sha256": hashlib.sha256(payload).hexdigest()},
        uncompressed_size=sum(f["uncompressed_size"] for f in infos),
        file_count=0,
        layers=[{"name": "runtime", "files": 0, "uncompressed_size": 0, "frames": infos}],
    )
    if payload_sha256 is not None:
        manifest["payload"]["sha256"] = payload_sha256
    manifest.update(overrides or {})
    raw_manifest = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()  # unchecked on purpose
    return payload + raw_manifest + pl.trailer_bytes(len(payload), raw_manifest)


def write_artifact(stub: Path, block: bytes, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(stub.read_bytes() + block)
    dest.chmod(0o755)
    return dest


@dataclass
class Layout:
    """Where each part of an artifact lies (offsets from the start of the file)."""

    stub: int
    payload: int
    manifest: int
    trailer: int
    size: int
    frames: list[tuple[str, int, int]]  # (layer, absolute offset, length)


def layout(path: Path) -> Layout:
    trailer = pl.read_trailer(path)
    manifest = pl.read_manifest(path, trailer)
    frames = [
        (layer.name, trailer.payload_offset + f.offset, f.length)
        for layer in manifest.payload.layers
        for f in layer.frames
    ]
    size = path.stat().st_size
    return Layout(trailer.payload_offset, trailer.payload_offset, trailer.manifest_offset,
                  trailer.manifest_offset + trailer.manifest_length, size, frames)


def elf_loaded_end(stub: bytes) -> int:
    """End of the last byte the kernel maps from the stub (PT_LOAD); section headers may follow."""
    (phoff,) = struct.unpack_from("<Q", stub, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", stub, 0x36)
    end = 0
    for i in range(phnum):
        p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from("<IIQQQQ", stub, phoff + i * phentsize)
        if p_type == 1:  # PT_LOAD
            end = max(end, p_offset + p_filesz)
    return end


@dataclass
class Report:
    """What the fake python received."""

    returncode: int
    args: list[str]
    env: dict[str, str]
    stdin: str | None
    stderr: str


def parse(proc: subprocess.CompletedProcess) -> Report:
    args, env, stdin = [], {}, None
    for record in proc.stdout.split(b"\0")[:-1]:
        kind, _, value = record.decode("utf-8", "surrogateescape").partition(":")
        if kind == "arg":
            args.append(value)
        elif kind == "env":
            name, _, val = value.partition("=")
            env[name] = val
        elif kind == "stdin":
            stdin = value
    return Report(proc.returncode, args, env, stdin, proc.stderr.decode("utf-8", "replace"))


def base_env(cache: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "BUNDLER_CACHE_DIR": str(cache), "HOME": str(cache.parent)}
    env.update(extra)
    return env


def run(artifact: Path | str, *args: str, env: dict[str, str], argv0: str | None = None, **kw) -> subprocess.CompletedProcess:
    cmd = [argv0 if argv0 is not None else str(artifact), *args]
    return subprocess.run(cmd, executable=str(artifact), env=env, capture_output=True, timeout=60, **kw)


def cache_entries(cache: Path, app: str = APP) -> list[str]:
    """Names in <cache>/<app>/ (the trees and temp trees), or [] if there is no app dir."""
    d = cache / app
    return sorted(os.listdir(d)) if d.is_dir() else []


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under *root*: (kind, mode, content or link target)."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            st = full.lstat()
            if full.is_symlink():
                out[rel] = ("link", os.readlink(full))
            elif full.is_dir():
                out[rel] = ("dir", st.st_mode & 0o777)
            else:
                out[rel] = ("file", st.st_mode & 0o777, full.read_bytes())
    return out


#: unprivileged uids with no account and no files of their own: the user, and a second one (an attacker)
UID, OTHER_UID = 54321, 54322


def as_user(uid: int = UID):
    """A ``preexec_fn`` that drops every privilege to *uid* (groups too)."""
    def demote():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    return demote


def host_reader(out_dir: Path) -> Path:
    """stubs/bench.zig built for this host like the stub (its flags, its libzstd): the stub's own
    reader (stubs/artifact.zig), which finds the trailer, parses the manifest strictly and
    decompresses every frame of the artifact it is given. It runs on a macOS single file here,
    where the macOS stub itself cannot (no macOS kernel)."""
    from bundler.output import stubbuild as sb

    src = sb.CHECKOUT_SOURCES
    out = out_dir / "reader"
    proc = subprocess.run(
        [*sb.zig_command(), "build-exe", str(src / "bench.zig"), "-cflags", *sb.CFLAGS, "--",
         str(src / "zstd" / "zstd.c"), "-target", "x86_64-linux-musl", *sb.ZIG_FLAGS, "-I", str(src / "zstd"),
         "--name", "reader", f"-femit-bin={out}"],
        cwd=out_dir, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return out
