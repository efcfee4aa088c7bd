"""Build the native stub: ``stubs/*.zig`` plus libzstd's decoder, compiled by Zig.

The stub is the program at the front of a single-file artifact (see
``stubs/README.md``). It is built once per (stub sources, Zig version, target,
zstd source, and on Windows the console/GUI variant) and kept in
``<cache>/stubs/<key16>/bundler-stub-<target>`` (Windows:
``bundler-stub-<target>-<console|gui>.exe``).

libzstd comes from the amalgamated ``zstd/zstd.c`` in the pinned zstandard
sdist, found in the cache, in a ``--find-links`` directory, or (unless
offline) downloaded from PyPI; both the sdist and ``zstd.c`` are checked
against pinned SHA-256s.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from .digest import sha256_file
from .errors import FetchError, StubError
from .fetch import FetchOptions, fetch_pinned

#: ``progress(event, detail)``; events: "cached", "download", "build".
Progress = Callable[[str, str], None]

STUB_SOURCES = Path(__file__).resolve().parent.parent / "stubs"
ZIG_VERSION = "0.17.1"

#: bundler target → Zig target triple (static musl: the stub runs on any Linux;
#: Windows links the UCRT through MinGW-w64; macOS links libSystem only, with
#: the oldest macOS named explicitly, since Zig 0.17 defaults to macOS 15:
#: 11.0 is the first arm64 macOS, 10.13 python.org's floor for x86_64).
ZIG_TARGETS = {
    "linux-x86_64": "x86_64-linux-musl",
    "linux-aarch64": "aarch64-linux-musl",
    "windows-x86_64": "x86_64-windows-gnu",
    "macos-arm64": "aarch64-macos.11.0",
    "macos-x86_64": "x86_64-macos.10.13",
}

ZSTD_PROJECT = "zstandard"
ZSTD_SDIST = "zstandard-0.25.0.tar.gz"
ZSTD_SDIST_SHA256 = "7713e1179d162cf5c7906da876ec2ccb9c3a9dcbdffef0cc7f70c3667a205f0b"
ZSTD_C_SHA256 = "68181bcc33ce17fdd4acc8b954abfb32e1d40bfc332235cdff8c6c95c341dab1"
ZSTD_MEMBERS = ("zstd/zstd.c", "zstd/zstd.h", "zstd/zstd_errors.h")
PYPI_SIMPLE = "https://pypi.org/simple"

#: Only the decompression API is referenced, so with per-function sections the
#: linker drops libzstd's compressor and dictionary builder. ReleaseSmall (-Os)
#: decodes as fast as -O3 here (stubs/README.md). No unwind tables: nothing
#: unwinds, and they are 15 KB.
CFLAGS = ("-ffunction-sections", "-fdata-sections", "-fno-unwind-tables", "-fno-asynchronous-unwind-tables")
ZIG_FLAGS = ("-lc", "-O", "ReleaseSmall", "-fstrip", "-fno-single-threaded", "-fno-unwind-tables",
             "-ffunction-sections", "-fdata-sections", "--gc-sections")
#: Windows x64 needs unwind tables (SEH; MinGW's startup code declares handlers).
WINDOWS_CFLAGS = ("-ffunction-sections", "-fdata-sections")
WINDOWS_ZIG_FLAGS = ("-lc", "-O", "ReleaseSmall", "-fstrip", "-fno-single-threaded",
                     "-ffunction-sections", "-fdata-sections", "--gc-sections")


def build_stub(
    target: str,
    *,
    cache_dir: Path,
    offline: bool = False,
    find_links: tuple[Path, ...] = (),
    progress: Progress | None = None,
    sources: Path = STUB_SOURCES,
    gui: bool = False,
) -> Path:
    """The stub executable for *target*, built (or reused) in *cache_dir*.

    *gui* selects the Windows GUI-subsystem variant (no console window; its
    failures are shown in a message box as well as written to stderr). It is
    ignored for every other target, which has a single variant.
    """
    report = progress or _silent
    zig_target = _zig_target(target)
    windows = is_windows(target)
    variant = ("gui" if gui else "console") if windows else ""
    zig = zig_command()
    version = zig_version()
    if version != ZIG_VERSION:
        raise StubError(f"the stub needs Zig {ZIG_VERSION} (its std API changes between versions), found {version}; "
                        f"pip install ziglang=={ZIG_VERSION}")
    key = cache_key(sources, version, zig_target, ZSTD_C_SHA256, variant)
    out = cache_dir / "stubs" / key[:16] / stub_name(target, variant)
    if out.is_file():
        report("cached", str(out))
        return out
    zstd_dir = zstd_sources(cache_dir, offline=offline, find_links=find_links, progress=report)
    report("build", f"stub for {target}" + (f" ({variant})" if variant else ""))
    _compile(zig, sources, zstd_dir, zig_target, out, _flags(windows, gui))
    return out


def is_windows(target: str) -> bool:
    return target.startswith("windows-")


def stub_name(target: str, variant: str = "") -> str:
    """``bundler-stub-<target>``; Windows: ``bundler-stub-<target>-<variant>.exe``."""
    if is_windows(target):
        return f"bundler-stub-{target}-{variant or 'console'}.exe"
    return f"bundler-stub-{target}"


def _flags(windows: bool, gui: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(C flags for zstd.c, Zig flags) for the target's OS and variant."""
    if windows:
        return WINDOWS_CFLAGS, (*WINDOWS_ZIG_FLAGS, "--subsystem", "windows" if gui else "console")
    return CFLAGS, ZIG_FLAGS


def _silent(event: str, detail: str) -> None:
    pass


def _zig_target(target: str) -> str:
    try:
        return ZIG_TARGETS[target]
    except KeyError:
        known = ", ".join(sorted(ZIG_TARGETS))
        raise StubError(f"no stub for target {target}; the stub can be built for {known}") from None


# --- the Zig toolchain -------------------------------------------------------------------


def zig_command() -> list[str]:
    """How to run Zig: the ziglang wheel's binary through this interpreter."""
    if importlib.util.find_spec("ziglang") is None:
        raise StubError(f"the Zig toolchain that builds the stub is missing; pip install ziglang=={ZIG_VERSION}")
    return [sys.executable, "-m", "ziglang"]


@lru_cache(maxsize=None)
def zig_version() -> str:
    result = _run_zig([*zig_command(), "version"], "zig version")
    return result.stdout.strip()


def _run_zig(cmd: list[str], what: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise StubError(f"cannot run {what} ({exc}); pip install ziglang=={ZIG_VERSION}") from exc
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-12:]) or f"exit status {result.returncode}"
        raise StubError(f"{what} failed ({tail}); reinstall ziglang=={ZIG_VERSION}, or report this as a bundler bug")
    return result


def cache_key(sources: Path, zig_version: str, zig_target: str, zstd_sha256: str, variant: str = "") -> str:
    """SHA-256 over every file in *sources* (sorted by path), the Zig version, the target, zstd.c
    and the variant (Windows: "console" or "gui"; "" elsewhere, which adds nothing)."""
    digest = hashlib.sha256()
    files = sorted(p for p in sources.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    if not files:
        raise StubError(f"{sources}: no stub sources; the bundler installation is incomplete, reinstall it")
    for path in files:
        rel = path.relative_to(sources).as_posix().encode()
        data = path.read_bytes()
        digest.update(b"%d:%s%d:" % (len(rel), rel, len(data)) + data)
    for part in (zig_version, zig_target, zstd_sha256):
        digest.update(part.encode() + b"\0")
    if variant:
        digest.update(b"variant:" + variant.encode() + b"\0")
    return digest.hexdigest()


def _compile(zig: list[str], sources: Path, zstd_dir: Path, zig_target: str, out: Path,
             flags: tuple[tuple[str, ...], tuple[str, ...]] = (CFLAGS, ZIG_FLAGS)) -> None:
    """Build into a temp file next to *out*, then rename it into place."""
    cflags, zig_flags = flags
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        cmd = [
            *zig, "build-exe", str(sources / "main.zig"),
            "-cflags", *cflags, "--", str(zstd_dir / "zstd.c"),
            "-target", zig_target, *zig_flags, "-I", str(zstd_dir),
            "--name", "bundler-stub", f"-femit-bin={tmp}",
        ]
        _run_zig(cmd, f"building the stub for {zig_target} with zig", cwd=out.parent)
        tmp.chmod(0o755)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


# --- libzstd's source ----------------------------------------------------------------------


def zstd_sources(
    cache_dir: Path, *, offline: bool, find_links: tuple[Path, ...] = (), progress: Progress = _silent
) -> Path:
    """A directory holding the verified zstd.c, zstd.h and zstd_errors.h."""
    dest = cache_dir / "sources" / f"zstd-{ZSTD_C_SHA256[:16]}"
    if (dest / "zstd.c").is_file() and sha256_file(dest / "zstd.c") == ZSTD_C_SHA256:
        return dest
    sdist = _sdist(cache_dir, offline=offline, find_links=find_links, progress=progress)
    _unpack_members(sdist, dest)
    return dest


def _sdist(cache_dir: Path, *, offline: bool, find_links: tuple[Path, ...], progress: Progress,
           index_url: str = PYPI_SIMPLE) -> Path:
    """The pinned zstandard sdist, through the same verified cache as every locked file."""
    options = FetchOptions(find_links=tuple(find_links), offline=offline, cache_dir=cache_dir, index_url=index_url)
    try:
        return fetch_pinned(ZSTD_PROJECT, ZSTD_SDIST, ZSTD_SDIST_SHA256, options, progress)
    except FetchError as exc:
        raise StubError(f"libzstd's source for the stub: {exc.message}") from exc


def _unpack_members(sdist: Path, dest: Path) -> None:
    """Extract the three zstd files into *dest* (atomically), checking zstd.c."""
    prefix = ZSTD_SDIST.removesuffix(".tar.gz")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        try:
            with tarfile.open(sdist, "r:gz") as tar:
                for member in ZSTD_MEMBERS:
                    f = tar.extractfile(f"{prefix}/{member}")
                    if f is None:
                        raise KeyError(member)
                    (tmp / Path(member).name).write_bytes(f.read())
        except (tarfile.TarError, KeyError, OSError, EOFError) as exc:
            raise StubError(
                f"{sdist}: cannot extract libzstd's source from it ({exc!r}); delete the file so that it is fetched again"
            ) from exc
        actual = sha256_file(tmp / "zstd.c")
        if actual != ZSTD_C_SHA256:
            raise StubError(
                f"{sdist}: zstd/zstd.c has sha256 {actual}, not the pinned {ZSTD_C_SHA256}; delete the file so that it is fetched again"
            )
        try:
            os.rename(tmp, dest)
        except OSError:
            if not (dest / "zstd.c").is_file():  # lost a race to a concurrent build: theirs is as good
                raise
    finally:
        if tmp.exists():
            for p in tmp.iterdir():
                p.unlink()
            tmp.rmdir()
