"""Write the runtime as a directory or a deterministic ``.tar.zst``, atomically."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import zstandard

from bundler import cachefs
from bundler.errors import OutputError, PayloadError
from bundler.output.manifest import Manifest, load_json, parse, to_text
from bundler.platforms import Os, platform_named


def source_date_epoch() -> int:
    """Timestamp stored in archives: ``SOURCE_DATE_EPOCH`` if set, else 0."""
    try:
        return int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    except ValueError:
        return 0


def ensure_writable_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"output directory {path}: cannot create it ({exc.strerror}); choose another with --output-dir") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {path}: not writable; choose another with --output-dir or fix its permissions")
    return path


#: the build report beside the outputs (bundler.buildreport): known by its suffix and this mark in its head
REPORT_SUFFIX = ".report.html"
REPORT_MARK = '<meta name="generator" content="bundler build report">'


#: the SBOM beside an output (bundler.output.sbom): CycloneDX JSON whose tools name bundler
SBOM_SUFFIX = ".cdx.json"


def _is_our_sbom(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        tools = data["metadata"]["tools"]["components"]
        return data.get("bomFormat") == "CycloneDX" and any(t.get("name") == "bundler" for t in tools)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


#: a macOS app bundle keeps its runtime here (bundler.output.appbundle; stubs/launcher.zig)
APP_RUNTIME = "Contents/Resources/runtime"


def _is_our_app_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith(f".app/{APP_RUNTIME}/{RUNTIME_MANIFEST}") and n.count("/") == 4 for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def is_bundler_output(path: Path) -> bool:
    """Whether *path* is something bundler wrote: a single file (its trailer), a runtime directory or
    ``.tar.zst`` (its ``bundler.json``), an app bundle or its zip (the runtime's ``bundler.json``
    inside), a build report (its mark), an SBOM beside an output (CycloneDX whose tools name
    bundler). A look-alike (a virtualenv has ``bin/python3`` too) is not."""
    from bundler.output.payload import read_trailer

    if path.is_symlink():
        return False
    if path.name.endswith(REPORT_SUFFIX) and path.is_file():
        with open(path, "rb") as f:
            return REPORT_MARK.encode() in f.read(1024)
    if path.name.endswith(SBOM_SUFFIX) and path.is_file():
        return _is_our_sbom(path)
    if path.is_dir() and path.name.endswith(".app"):
        return (path / APP_RUNTIME / RUNTIME_MANIFEST).is_file()
    if path.is_dir():
        return (path / RUNTIME_MANIFEST).is_file()
    if path.name.endswith(".app.zip") and path.is_file():
        return _is_our_app_zip(path)
    try:
        if path.name.endswith(".tar.zst"):
            read_runtime_manifest(path)
        else:
            read_trailer(path)
        return True
    except PayloadError:
        return False


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling of *final*; on success it replaces *final*, on error it vanishes.

    Something at *final* that bundler did not make (a source directory, any other file) is never
    replaced: the build stops with an OutputError before writing anything.
    """
    if (final.exists() or final.is_symlink()) and not is_bundler_output(final):
        raise OutputError(f"{final}: exists and is not a bundler output, so it is not replaced; move it away "
                          "or choose another --output-dir or --name")
    ensure_writable_dir(final.parent)
    with cachefs.replacing_tree(final) as work:
        yield work


@contextmanager
def staged_outputs(output_dir: Path) -> Iterator[Path]:
    """A private directory inside *output_dir* for every output of one build (all formats, all
    targets); when the block succeeds they move into *output_dir* together (:func:`publish`),
    when it fails (an error, SIGTERM, Ctrl-C) none does, and an *output_dir* the build created
    is removed again."""
    created = _missing_ancestors(output_dir)
    ensure_writable_dir(output_dir)
    staging = Path(tempfile.mkdtemp(prefix=".bundler-", suffix=".partial", dir=output_dir))
    done = False
    try:
        yield staging
        publish(staging, output_dir)
        done = True
    finally:
        cachefs.remove_tree(staging)
        if not done:
            for d in created:  # deepest first; only while empty
                try:
                    d.rmdir()
                except OSError:
                    break


def _missing_ancestors(path: Path) -> list[Path]:
    """*path* and its parents that do not exist yet, deepest first."""
    missing = []
    for d in (path, *path.parents):
        if os.path.lexists(d):
            break
        missing.append(d)
    return missing


def publish(staging: Path, output_dir: Path) -> list[Path]:
    """Move everything in *staging* into *output_dir*: all checked first (nothing replaces what
    bundler did not make), then each moved whole."""
    names = sorted(os.listdir(staging))
    finals = [output_dir / n for n in names]
    for final in finals:
        if os.path.lexists(final) and not is_bundler_output(final):
            raise OutputError(f"{final}: exists and is not a bundler output, so it is not replaced; move it away "
                              "or choose another --output-dir or --name")
    for name, final in zip(names, finals):
        cachefs.move_into_place(staging / name, final)
    return finals


#: the manifest a runtime directory or archive carries at its root (FORMAT.md; the single file's is in its trailer)
RUNTIME_MANIFEST = "bundler.json"


def write_runtime_manifest(runtime: Path, manifest: Manifest) -> None:
    """Put the manifest file into the runtime tree (before it is copied or archived)."""
    path = runtime / RUNTIME_MANIFEST
    path.unlink(missing_ok=True)  # never write through a link into the build cache
    path.write_text(to_text(manifest))


def read_runtime_manifest_json(path: Path) -> dict:
    """The manifest of a runtime directory or ``.tar.zst`` archive; PayloadError when it has none."""
    try:
        if path.is_dir():
            text = (path / RUNTIME_MANIFEST).read_text()
        else:
            text = _archive_member(path, RUNTIME_MANIFEST)
    except (OSError, ValueError, tarfile.TarError, zstandard.ZstdError, KeyError) as exc:
        kind = "runtime directory" if path.is_dir() else "runtime archive"
        raise PayloadError(f"{path}: not a bundler {kind} (no readable {RUNTIME_MANIFEST}: {exc}); "
                           "inspect a single file, or a directory or .tar.zst that bundler built") from exc
    return load_json(text, f"{path}: {RUNTIME_MANIFEST}")


def read_runtime_manifest(path: Path) -> Manifest:
    """The typed manifest of a runtime directory or ``.tar.zst`` archive; PayloadError when it has none."""
    return parse(read_runtime_manifest_json(path), f"{path}: {RUNTIME_MANIFEST}")


def verify_runtime(path: Path, manifest: Manifest) -> str:
    """Check a runtime directory (the interpreter and entry points are there) or archive (every
    entry reads back: zstd checks its checksum); what was checked, or PayloadError."""
    wanted = [manifest.python.executable, *manifest.entries.values(), *entry_launcher_paths(manifest)]
    if path.is_dir():
        missing = [w for w in wanted if not (path / w).exists()]
        if missing:
            raise PayloadError(f"{path}: {missing[0]} is missing (the manifest names it); rebuild or copy the runtime again")
        launchers = len(entry_launcher_paths(manifest))
        return f"the interpreter and {len(manifest.entries)} entry point(s) are in place" + (
            f" with {launchers} launcher(s)" if launchers else "")
    names: set[str] = set()
    try:
        _check_zstd(path)
        dctx = zstandard.ZstdDecompressor()
        with open(path, "rb") as f, dctx.stream_reader(f) as r, tarfile.open(fileobj=r, mode="r|") as tar:
            for member in tar:
                names.add(member.name.split("/", 1)[-1])
                if member.isfile():
                    data = tar.extractfile(member)
                    while data is not None and data.read(1 << 20):
                        pass
    except (OSError, tarfile.TarError, zstandard.ZstdError) as exc:
        raise PayloadError(f"{path}: damaged or truncated ({exc}); download or build it again") from exc
    missing = [w for w in wanted if w not in names]
    if missing:
        raise PayloadError(f"{path}: {missing[0]} is missing (the manifest names it); rebuild the archive")
    return f"every entry of the archive reads back ({len(names)} entries)"


def _check_zstd(path: Path) -> None:
    """Decompress *path* to nowhere: every frame must end (a cut file does not) and pass its checksum."""
    dobj = zstandard.ZstdDecompressor().decompressobj()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            dobj.decompress(chunk)
            if dobj.eof and dobj.unused_data:
                raise zstandard.ZstdError("data after the end of the zstd frame")
    if not dobj.eof:
        raise zstandard.ZstdError("the zstd frame ends early (truncated)")


def read_runtime_file(path: Path, name: str) -> str | None:
    """The text of *name* (a top-level file) in a runtime directory or ``.tar.zst``; None if absent."""
    if path.is_dir():
        f = path / name
        return f.read_text(encoding="utf-8") if f.is_file() and not f.is_symlink() else None
    try:
        return _archive_member(path, name)
    except KeyError:
        return None
    except (OSError, tarfile.TarError, zstandard.ZstdError) as exc:
        raise PayloadError(f"{path}: damaged or truncated ({exc}); download or build it again") from exc


def _archive_member(path: Path, name: str) -> str:
    """The text of ``<prefix>/<name>`` in a ``.tar.zst``, read as a stream (the archive is not unpacked)."""
    dctx = zstandard.ZstdDecompressor()
    with open(path, "rb") as f, dctx.stream_reader(f) as r, tarfile.open(fileobj=r, mode="r|") as tar:
        for member in tar:
            if member.isfile() and member.name.count("/") == 1 and member.name.endswith("/" + name):
                data = tar.extractfile(member)
                assert data is not None
                return data.read().decode()
    raise KeyError(f"no {name} in it")


def entry_launcher_paths(manifest: Manifest) -> list[str]:
    """``bin/<entry>.exe`` for each entry point, where the target's OS has native launchers."""
    platform = platform_named(manifest.target)
    if platform is None or not platform.os.native_launchers:
        return []
    return [f"bin/{platform.os.executable(name)}" for name in manifest.entries]


#: the interpreter stubs/launcher.zig runs, relative to the runtime root (Windows' own layout)
LAUNCHER_INTERPRETER = "python.exe"


def add_entry_launchers(runtime: Path, launcher: Path, names: Iterable[str], target_os: Os, python: str) -> list[str]:
    """A copy of *launcher* as ``bin/<name>.exe`` next to each entry script ``bin/<name>`` (for an OS
    with ``native_launchers``: Windows cannot start the scripts themselves); the paths written.
    *python* is the runtime's interpreter (manifest path), which must be the one the launcher runs."""
    if python != LAUNCHER_INTERPRETER:
        raise OutputError(f"{runtime / python}: the entry launchers of a {target_os.system} runtime run "
                          f"{LAUNCHER_INTERPRETER} at its root, and this base's interpreter is elsewhere; "
                          "use a python.org CPython (the installer's or the embeddable one) as the base")
    written = []
    for name in names:
        rel = f"bin/{target_os.executable(name)}"
        path = runtime / rel
        path.unlink(missing_ok=True)  # never write through a link into the build cache
        shutil.copyfile(launcher, path)
        path.chmod(0o755)
        written.append(rel)
    return written


def write_dir(runtime: Path, final: Path) -> Path:
    with atomic_path(final) as work:
        shutil.copytree(runtime, work, symlinks=True)
    return final


def iter_tree(root: Path) -> Iterator[tuple[str, Path]]:
    """Runtime-relative POSIX paths under *root*, sorted, directories before their contents."""
    entries: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in dirnames + filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            entries.append(rel.replace(os.sep, "/"))
    for rel in sorted(entries):
        yield rel, root / rel


def tar_bytes_to(root: Path, fileobj, prefix: str, mtime: int) -> int:
    """Write a deterministic tar of *root* under *prefix*/; returns the number of entries."""
    count = 0
    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        top = tarfile.TarInfo(prefix)
        top.type, top.mode, top.mtime = tarfile.DIRTYPE, 0o755, mtime
        tar.addfile(top)
        for rel, path in iter_tree(root):
            st = os.lstat(path)
            info = tarfile.TarInfo(f"{prefix}/{rel}")
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path.is_symlink():
                target = os.readlink(path)
                if os.path.isabs(target):
                    raise OutputError(f"{rel}: absolute symlink to {target} cannot go into a relocatable archive")
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
                tar.addfile(info)
            elif path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.mode = 0o755 if st.st_mode & 0o111 else 0o644
                info.size = st.st_size
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            count += 1
    return count


def write_archive(runtime: Path, final: Path, prefix: str, level: int) -> Path:
    """``.tar.zst`` of *runtime* with every entry under *prefix*/ (same bytes for the same tree)."""
    mtime = source_date_epoch()
    with atomic_path(final) as work:
        cctx = zstandard.ZstdCompressor(level=level, threads=-1, write_checksum=True)
        with open(work, "wb") as raw, cctx.stream_writer(raw, closefd=False) as zw:
            tar_bytes_to(runtime, zw, prefix, mtime)
    return final


def read_archive_names(path: Path) -> list[str]:
    """Names in a ``.tar.zst`` (used by tests and ``inspect``)."""
    dctx = zstandard.ZstdDecompressor()
    with open(path, "rb") as f, dctx.stream_reader(f) as r:
        data = io.BytesIO(r.read())
    with tarfile.open(fileobj=data) as tar:
        return tar.getnames()
