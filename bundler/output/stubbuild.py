"""Compile the native programs from ``stubs/`` with the pinned Zig.

Two programs: the **stub** (``main.zig`` with libzstd's decoder) at the front
of every single file, for every target; and the **entry launcher**
(``launcher.zig``, no zstd) that a Windows runtime directory carries as
``bin/<entry>.exe`` and a macOS ``.app`` as its main executable. One module builds them for every caller: the wheel build
(``setup.py`` puts all of them into the wheel), ``make stubs`` (the same into a
checkout's ``bundler/_stubs/``) and ``bundler build --rebuild-stub``.

Standard library, :mod:`bundler.platforms` and :mod:`bundler.cachefs` only: ``setup.py`` imports this
module from the source tree inside the build environment, where bundler's own
dependencies are not installed. The targets and their Zig triples are
:data:`bundler.platforms.PLATFORMS`.

Run as ``python -m bundler.output.stubbuild OUT_DIR`` to build every program into
OUT_DIR with its record, ``stubs.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bundler import cachefs
from bundler.platforms import PLATFORMS, TARGET_NAMES, Platform, platform_named

ZIG_VERSION = "0.17.1"
RECORD = "stubs.json"
#: the stub sources next to the package in a checkout or an unpacked sdist (absent from a wheel)
CHECKOUT_SOURCES = Path(__file__).resolve().parents[2] / "stubs"

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


class StubBuildError(Exception):
    """Zig is missing, the wrong version, or failed; the message is one line."""


STUB, LAUNCHER = "stub", "launcher"
#: program → (root source file, whether it links libzstd's decoder)
PROGRAMS = {STUB: ("main.zig", True), LAUNCHER: ("launcher.zig", False)}


@dataclass(frozen=True)
class StubKind:
    """One prebuilt program: which one, its target and, on Windows, the console or GUI subsystem."""

    target: str
    variant: str = ""  # "console" | "gui" on Windows, "" elsewhere
    program: str = STUB  # STUB | LAUNCHER

    @property
    def platform(self) -> Platform:
        found = platform_named(self.target)
        if found is None:
            raise StubBuildError(f"no stub for target {self.target}; stubs exist for {', '.join(TARGET_NAMES)}")
        return found

    @property
    def windows(self) -> bool:
        return self.platform.is_windows

    @property
    def key(self) -> str:
        """The name in ``stubs.json``: ``linux-x86_64``, ``windows-x86_64-gui`` for a stub,
        ``launcher-windows-x86_64-console`` for a launcher."""
        name = f"{self.target}-{self.variant}" if self.variant else self.target
        return name if self.program == STUB else f"{self.program}-{name}"

    @property
    def filename(self) -> str:
        """``bundler-stub-<target>``; Windows: ``bundler-stub-<target>-<variant>.exe``,
        ``bundler-launcher-<target>-<variant>.exe``."""
        name = f"{self.target}-{self.variant}" if self.variant else self.target
        return self.platform.os.executable(f"bundler-{self.program}-{name}")

    @property
    def root_source(self) -> str:
        return PROGRAMS[self.program][0]

    @property
    def uses_zstd(self) -> bool:
        return PROGRAMS[self.program][1]

    @property
    def zig_target(self) -> str:
        return self.platform.zig_triple

    def flags(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(C flags for zstd.c, Zig flags)."""
        if self.windows:
            return WINDOWS_CFLAGS, (*WINDOWS_ZIG_FLAGS, "--subsystem", "windows" if self.variant == "gui" else "console")
        return CFLAGS, ZIG_FLAGS


def kind_for(target: str, gui: bool = False, program: str = STUB) -> StubKind:
    """The stub (or entry launcher) a build for *target* uses (*gui* matters on Windows only)."""
    found = platform_named(target)
    if found is None:
        raise StubBuildError(f"no stub for target {target}; stubs exist for {', '.join(TARGET_NAMES)}")
    if program == LAUNCHER and not found.os.has_launcher:
        raise StubBuildError(f"no entry launcher for target {target}: its runtime directory starts entry points "
                             "with the scripts in bin/")
    if found.is_windows:
        return StubKind(target, "gui" if gui else "console", program)
    return StubKind(target, program=program)


def _kinds_of(platform: Platform) -> tuple[StubKind, ...]:
    variants = (False, True) if platform.is_windows else (False,)
    programs = (STUB, LAUNCHER) if platform.os.has_launcher else (STUB,)
    return tuple(kind_for(platform.name, gui, program) for program in programs for gui in variants)


#: every program the wheel carries: a stub per target and variant, then the entry launchers
ALL_KINDS: tuple[StubKind, ...] = tuple(
    sorted((k for p in PLATFORMS for k in _kinds_of(p)), key=lambda k: k.program != STUB)
)


def _source_files(sources: Path) -> list[Path]:
    skip = {"__pycache__", ".zig-cache", "zig-out"}
    return sorted(p for p in sources.rglob("*") if p.is_file() and not skip & set(p.relative_to(sources).parts))


def source_digest(sources: Path) -> str:
    """SHA-256 over every file under *sources*, by relative path and content (sorted)."""
    files = _source_files(sources)
    if not files:
        raise StubBuildError(f"{sources}: no stub sources")
    digest = hashlib.sha256()
    for path in files:
        rel = path.relative_to(sources).as_posix().encode()
        data = path.read_bytes()
        digest.update(b"%d:%s%d:" % (len(rel), rel, len(data)) + data)
    return digest.hexdigest()


def has_sources(sources: Path) -> bool:
    return all((sources / root).is_file() for root, _zstd in PROGRAMS.values()) and (sources / "zstd" / "zstd.c").is_file()


# --- the Zig toolchain ---------------------------------------------------------------


def zig_command() -> list[str]:
    """The ziglang wheel's Zig, run through this interpreter."""
    import importlib.util

    if importlib.util.find_spec("ziglang") is None:
        raise StubBuildError(f"building a stub needs the Zig toolchain: pip install 'ziglang=={ZIG_VERSION}' "
                             "(or install bundler with its [stubs] extra)")
    return [sys.executable, "-m", "ziglang"]


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise StubBuildError(f"cannot run {what} ({exc}); pip install 'ziglang=={ZIG_VERSION}'") from exc
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-12:]) or f"exit status {result.returncode}"
        raise StubBuildError(f"{what} failed ({tail}); reinstall ziglang=={ZIG_VERSION}, or report this as a bundler bug")
    return result.stdout


def zig_version(zig: list[str]) -> str:
    """The toolchain's version, checked against the pinned one (the stub uses std APIs that change)."""
    version = _run([*zig, "version"], "zig version").strip()
    if version != ZIG_VERSION:
        raise StubBuildError(f"the stub needs Zig {ZIG_VERSION} (its std API changes between versions), found {version}; "
                             f"pip install 'ziglang=={ZIG_VERSION}'")
    return version


def compile_stub(zig: list[str], sources: Path, kind: StubKind, out: Path) -> None:
    """Compile *kind* from *sources* into *out* (atomically: nothing is left at *out* on failure).

    Zig writes into a private directory under the file's final name (the macOS
    linker's ad-hoc signature names the file), which is then renamed into
    place. Outside a Zig project its cache is the global one (``~/.cache/zig``,
    or ``ZIG_GLOBAL_CACHE_DIR``): a second build is a cache hit.
    """
    cflags, zig_flags = kind.flags()
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{kind.key}.") as scratch, \
            cachefs.replacing(out, 0o755) as tmp:
        emitted = Path(scratch) / kind.filename  # Zig writes more than the program beside it (.pdb, .o)
        zstd = sources / "zstd"
        c_part = ("-cflags", *cflags, "--", str((zstd / "zstd.c").resolve())) if kind.uses_zstd else ()
        include = ("-I", str(zstd.resolve())) if kind.uses_zstd else ()
        cmd = [
            *zig, "build-exe", str((sources / kind.root_source).resolve()), *c_part,
            "-target", kind.zig_target, *zig_flags, *include,
            "--name", f"bundler-{kind.program}", f"-femit-bin={emitted}",
        ]
        _run(cmd, f"building the {kind.program} for {kind.key} with zig", cwd=Path(scratch))
        os.replace(emitted, tmp)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def record_entry(path: Path) -> dict:
    return {"file": path.name, "sha256": sha256_of(path), "size": path.stat().st_size}


def build_all(sources: Path, out_dir: Path, *, jobs: int = 2,
              log: Callable[[str], None] = lambda line: None) -> dict:
    """Every program of :data:`ALL_KINDS` into *out_dir*, then ``stubs.json`` describing them.

    The record holds no time or path, so two builds of the same sources with
    the same Zig give the same bytes. *out_dir* is replaced as a whole only
    once everything is built.
    """
    if not has_sources(sources):
        raise StubBuildError(f"{sources}: no stub sources (main.zig, launcher.zig and zstd/zstd.c); build from a checkout or the sdist")
    zig = zig_command()
    version = zig_version(zig)
    digest = source_digest(sources)
    with cachefs.replacing_tree(out_dir.absolute()) as staging:
        staging.mkdir()

        def one(kind: StubKind) -> tuple[StubKind, float]:
            t0 = time.monotonic()
            compile_stub(zig, sources, kind, staging / kind.filename)
            return kind, time.monotonic() - t0

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for kind, seconds in pool.map(one, ALL_KINDS):
                log(f"built {kind.program} {kind.key} in {seconds:.1f} s")
        record = {
            "zig_version": version,
            "source_sha256": digest,
            "stubs": {k.key: {"program": k.program, "target": k.target, "variant": k.variant,
                              **record_entry(staging / k.filename)}
                      for k in ALL_KINDS},
        }
        (staging / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m bundler.output.stubbuild OUT_DIR", file=sys.stderr)
        return 2
    try:
        build_all(CHECKOUT_SOURCES, Path(args[0]), log=lambda line: print(line, file=sys.stderr, flush=True))
    except StubBuildError as exc:
        print(f"bundler: error: {exc}", file=sys.stderr)
        return 11
    return 0


if __name__ == "__main__":
    sys.exit(main())
