"""The native programs of a target: the prebuilt ones packaged with bundler, or compiled from ``stubs/``.

Two programs: the stub of a single file (:func:`stub_for`) and the entry launcher
(:func:`launcher_for`): a Windows runtime directory's ``bin/<entry>.exe``, a macOS app's main executable.
bundler's wheel carries each for every target and variant in
``bundler/_stubs/`` with a record (``stubs.json``: the Zig version, the
SHA-256 of the sources they were built from, each file's SHA-256). A build
uses the packaged program, checked against that record, and needs no compiler.

It compiles from source (``bundler.output.stubbuild``, the Zig toolchain from the
``ziglang`` package) only when asked (``--rebuild-stub``), or when bundler runs
from a checkout whose ``stubs/`` differ from what was packaged (or where no
stubs were packaged: ``make stubs`` packages them). Compiled stubs are kept in
``<cache>/stubs/<key16>/``, keyed by the sources, the Zig version and the kind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bundler import cachefs
from bundler.digest import sha256_file
from bundler.errors import StubError
from bundler.output import stubbuild
from bundler.output.manifest import StubRecord

#: ``progress(event, detail)``; events: "packaged", "cached", "build".
Progress = Callable[[str, str], None]

PACKAGED = Path(__file__).resolve().parent.parent / "_stubs"
STUB_SOURCES = stubbuild.CHECKOUT_SOURCES
ZIG_VERSION = stubbuild.ZIG_VERSION


@dataclass(frozen=True)
class Stub:
    """The stub an artifact starts with (or an entry launcher), and where it came from (recorded in the manifest)."""

    path: Path
    target: str
    variant: str
    sha256: str
    zig_version: str
    source_sha256: str
    prebuilt: bool
    program: str = stubbuild.STUB

    def record(self) -> StubRecord:
        """What the manifest says about this stub."""
        return StubRecord(self.target, self.variant, self.sha256, self.zig_version, self.source_sha256, self.prebuilt)


def stub_for(
    target: str,
    *,
    cache_dir: Path,
    gui: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
    packaged: Path = PACKAGED,
    sources: Path = STUB_SOURCES,
) -> Stub:
    """The stub for *target* (*gui*: the Windows GUI-subsystem variant; ignored elsewhere)."""
    return _program_for(_kind(target, gui, stubbuild.STUB), cache_dir=cache_dir, rebuild=rebuild, progress=progress,
                        packaged=packaged, sources=sources)


def launcher_for(
    target: str,
    *,
    cache_dir: Path,
    gui: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
    packaged: Path = PACKAGED,
    sources: Path = STUB_SOURCES,
) -> Stub:
    """The entry launcher for *target*: a Windows runtime directory's ``bin/<entry>.exe`` (*gui*: the
    GUI-subsystem variant) or a macOS app's main executable. Found or compiled like the stub."""
    return _program_for(_kind(target, gui, stubbuild.LAUNCHER), cache_dir=cache_dir, rebuild=rebuild,
                        progress=progress, packaged=packaged, sources=sources)


def _program_for(kind: stubbuild.StubKind, *, cache_dir: Path, rebuild: bool, progress: Progress | None,
                 packaged: Path, sources: Path) -> Stub:
    report = progress or _silent
    record = packaged_record(packaged)
    checkout = stubbuild.has_sources(sources)
    if not rebuild and record is not None and (not checkout or _digest(sources) == record["source_sha256"]):
        stub = _packaged(packaged, record, kind)
        report("packaged", str(stub.path))
        return stub
    if not checkout:
        why = "--rebuild-stub asks to compile it" if rebuild else "this installation has no prebuilt stubs"
        raise StubError(f"{sources}: no stub sources, and {why}; install bundler from its wheel, "
                        "or build from a checkout or the sdist")
    return _build(kind, cache_dir=cache_dir, progress=report, sources=sources)


def build_stub(target: str, *, cache_dir: Path, gui: bool = False, progress: Progress | None = None,
               sources: Path = STUB_SOURCES) -> Stub:
    """Compile the stub for *target* from *sources* (or reuse the copy compiled before in *cache_dir*)."""
    return _build(_kind(target, gui, stubbuild.STUB), cache_dir=cache_dir, progress=progress, sources=sources)


def _build(kind: stubbuild.StubKind, *, cache_dir: Path, progress: Progress | None, sources: Path) -> Stub:
    report = progress or _silent
    try:
        zig = stubbuild.zig_command()
        version = stubbuild.zig_version(zig)
        digest = stubbuild.source_digest(sources)
    except stubbuild.StubBuildError as exc:
        raise StubError(str(exc)) from exc
    key = hashlib.sha256(f"{digest}\0{version}\0{kind.zig_target}\0{kind.variant}\0{kind.program}".encode()).hexdigest()
    out = cache_dir / "stubs" / key[:16] / kind.filename
    what = f"{kind.program} for {kind.key}"
    if out.is_file():
        cachefs.mark_used(out.parent)
        report("cached", str(out))
    else:
        with cachefs.locked(cache_dir, out, what):  # compile_stub publishes the file by one rename
            if out.is_file():
                report("cached", str(out))
            else:
                report("build", f"{what} from {sources}")
                try:
                    stubbuild.compile_stub(zig, sources, kind, out)
                except stubbuild.StubBuildError as exc:
                    raise StubError(str(exc)) from exc
    return Stub(out, kind.target, kind.variant, sha256_file(out), version, digest, prebuilt=False, program=kind.program)


def _kind(target: str, gui: bool, program: str) -> stubbuild.StubKind:
    try:
        return stubbuild.kind_for(target, gui, program)
    except stubbuild.StubBuildError as exc:
        raise StubError(str(exc)) from exc


@lru_cache(maxsize=8)
def _digest(sources: Path) -> str:
    return stubbuild.source_digest(sources)


def packaged_record(packaged: Path = PACKAGED) -> dict | None:
    """``stubs.json`` of the packaged stubs, or None when none are packaged."""
    path = packaged / stubbuild.RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        if not (isinstance(record.get("stubs"), dict) and record.get("zig_version") and record.get("source_sha256")):
            raise ValueError("missing keys")
    except (OSError, ValueError) as exc:
        raise StubError(f"{path}: not a valid stub record ({exc}); reinstall bundler") from exc
    return record


def _packaged(packaged: Path, record: dict, kind: stubbuild.StubKind) -> Stub:
    entry = record["stubs"].get(kind.key)
    if entry is None:
        raise StubError(f"{packaged}: no packaged {kind.program} for {kind.key}; reinstall bundler")
    path = packaged / entry["file"]
    actual = sha256_file(path) if path.is_file() else "missing"
    if actual != entry["sha256"]:
        raise StubError(f"{path}: the packaged {kind.program} is {'missing' if actual == 'missing' else 'damaged'} "
                        f"(sha256 {actual[:16]}, recorded {entry['sha256'][:16]}); reinstall bundler")
    return Stub(path, kind.target, kind.variant, actual, record["zig_version"], record["source_sha256"], prebuilt=True,
                program=kind.program)


def _silent(event: str, detail: str) -> None:
    pass
