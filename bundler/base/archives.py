"""Unpack a base that comes as an archive (python-build-standalone, the Windows embeddable zip) into the build cache.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

from bundler import cachefs
from bundler.digest import sha256_file
from bundler.errors import InterpreterError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.zst", ".tar.xz", ".tar.bz2", ".tar", ".zip")


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


# --- archives ---------------------------------------------------------------------------


def _safe_member(name: str, archive: Path) -> str:
    norm = name.replace("\\", "/")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if norm.startswith("/") or ".." in parts or "\0" in norm:
        raise InterpreterError(f"--python {archive}: member {name!r} would land outside the directory; not a CPython archive")
    return "/".join(parts)


def _tar_stream(archive: Path):
    if archive.name.lower().endswith(".tar.zst"):
        import zstandard

        with open(archive, "rb") as raw:
            data = zstandard.ZstdDecompressor().stream_reader(raw).read()
        return tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    return tarfile.open(archive, mode="r:*")


def _extract(archive: Path, dest: Path) -> None:
    if archive.name.lower().endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                rel = _safe_member(info.filename, archive)
                if not rel:
                    continue
                out = dest / rel
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                mode = (info.external_attr >> 16) & 0o777
                os.chmod(out, mode or 0o644)
        return
    with _tar_stream(archive) as tf:
        for member in tf.getmembers():
            _safe_member(member.name, archive)
        tf.extractall(dest, filter="data")


def unpack(archive: Path, cache_dir: Path) -> Path:
    """Unpack *archive* once into ``<cache>/bases/<sha256[:16]>/tree`` (atomically) and return it."""
    entry = cache_dir / "bases" / sha256_file(archive)[:16]
    if cachefs.is_complete(entry):
        cachefs.mark_used(entry)
        return entry / "tree"
    with cachefs.locked(cache_dir, entry, f"unpacked {archive.name}"):
        if cachefs.is_complete(entry):  # another build unpacked it while we waited
            return entry / "tree"
        cachefs.remove_leftovers(entry)
        with cachefs.new_dir(entry, str(archive)) as tmp:
            try:
                _extract(archive, tmp / "tree")
            except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
                raise InterpreterError(f"--python {archive}: cannot unpack it ({exc}); download the archive again") from exc
    return entry / "tree"
