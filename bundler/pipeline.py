"""The build pipeline: lock → fetch → stage → install → relocate → finalize → output."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from bundler import buildreport, cachefs
from bundler.base.load import load_base
from bundler.base.model import BaseInterpreter
from bundler.base.target import Target, target_for
from bundler.binfmt.interface import BinaryFormat, BinaryInfo, lief_log
from bundler.binfmt.macho.parse import minimum_macos, version_key
from bundler.config.spec import BundleSpec
from bundler.deps.fetch import fetch_all
from bundler.deps.gui import gui_reason
from bundler.deps.lock import DirectoryRef, WheelRef, read_lock
from bundler.deps.options import FetchOptions
from bundler.digest import sha256_file
from bundler.errors import ConfigError, InterpreterError
from bundler.output import appbundle, appsign, payload, sbom
from bundler.output.layers import build_layer_map
from bundler.output.manifest import (
    App,
    Build,
    Contents,
    LeftOut,
    Manifest,
    Python,
    StubRecord,
    VendoredRecord,
    WheelRecord,
)
from bundler.output.onefile import OnefileResult, write_onefile
from bundler.output.sign import find_osslsigncode, sign_file
from bundler.output.stub import Stub, launcher_for, stub_for
from bundler.output.tree import (
    SBOM_SUFFIX,
    add_entry_launchers,
    source_date_epoch,
    staged_outputs,
    write_archive,
    write_dir,
    write_runtime_manifest,
)
from bundler.platforms import WINDOWS
from bundler.relocate.apply import apply as apply_plan
from bundler.relocate.apply import merge_reports
from bundler.relocate.kits import kit_for
from bundler.relocate.model import RelocationReport
from bundler.relocate.plan import plan as plan_relocation
from bundler.relocate.verify import verify as verify_relocation
from bundler.report import Reporter, counted, human_size
from bundler.runtime import cache as basecache
from bundler.runtime import finalize as fin
from bundler.runtime import stdlibprune, stdlibzip
from bundler.runtime.install import (
    console_scripts,
    install_wheels,
    installed_versions,
    write_entries,
)
from bundler.runtime.stage import WHY_DEP_TESTS, StagedRuntime, stage
from bundler.runtime.testdirs import SuitesLeftOut


@dataclass(frozen=True)
class BuildResult:
    name: str
    version: str
    target: str
    outputs: tuple[Path, ...]
    relocation: RelocationReport
    python: str
    wheels: tuple[str, ...]
    timings: tuple[tuple[str, float], ...] = field(default=())
    onefile: OnefileResult | None = None
    #: the build report (--report), beside the outputs
    report: Path | None = None
    #: the CycloneDX SBOM beside each output (``<output>.cdx.json``), in the order of *outputs*
    sboms: tuple[Path, ...] = ()
    #: the app bundle zipped for transport (``--format app``): ``<name>-<version>-<target>.app.zip``
    app_zip: Path | None = None


def collect_binaries(root: Path, fmt: BinaryFormat, arch: str, only: set[str] | None = None) -> dict[str, BinaryInfo]:
    """Binaries of *arch* under *root* (or only those among the runtime-relative paths *only*)."""
    found: dict[str, BinaryInfo] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if only is not None and rel not in only:
                continue
            if fmt.is_binary(p) and fmt.machine(p) == arch:
                found[rel] = fmt.read(p)
    return found


def relocate_runtime(
    staged: StagedRuntime, target: Target, interp: BaseInterpreter, report: Reporter = Reporter(),
    only: set[str] | None = None, lib_path: tuple[Path, ...] = (), exclude: tuple[str, ...] = (),
) -> RelocationReport:
    """Relocate every binary of the runtime, or only the new ones listed in *only*."""
    root = Path(os.path.realpath(staged.root))
    kit = kit_for(target, interp, root, staged.python, lib_path, sitepackages=staged.sitepackages)
    fmt, arch = kit.fmt, target.arch
    binaries = collect_binaries(root, fmt, arch, only)
    plan = plan_relocation(
        root,
        binaries,
        dict(staged.origins),
        policy=kit.policy,
        resolver=kit.build_resolver,
        read=fmt.read,
        digest=sha256_file,
        vendor_dir=kit.vendor_dir,
        rules=kit.rules,
        exclude=exclude,
    )
    report.detail("relocate", f"{counted(len(binaries), 'binary')}, vendoring {counted(len(plan.vendored), 'library')}, rewriting {len(plan.edits)}")
    for lib in plan.vendored:
        report.detail("relocate", f"vendor {lib.source} as {lib.dest}")
    done = iter(range(1, len(plan.edits) + 1))
    with lief_log() as lief_lines:
        apply_plan(root, plan, fmt, prepare=kit.prepare,
                       progress=lambda rel: report.progress("relocate", next(done), len(plan.edits)))
    if lief_lines:
        report.stage("relocate", f"LIEF logged {counted(len(lief_lines), 'warning')} while rewriting (-v shows them; "
                                 "every rewritten file is verified next)")
        for line in lief_lines:
            report.detail("relocate", f"LIEF: {line}")
    checked = None if only is None else set(binaries) | {lib.dest for lib in plan.vendored}
    after = collect_binaries(root, fmt, arch, checked)
    rewritten = {rel for rel, _edit in plan.edits}
    format_check = kit.check

    def check_rewritten(rel: str) -> None:
        if format_check is not None and rel in rewritten:
            format_check(root / rel)

    return verify_relocation(
        root,
        after,
        policy=kit.policy,
        resolver=kit.inside_resolver,
        check_paths=kit.check_paths,
        floor=kit.floor,
        vendored=tuple((lib.dest, str(lib.source)) for lib in plan.vendored),
        rewritten=len(plan.edits),
        check=check_rewritten,
        exclude=exclude,
    )


def _files(root: Path) -> set[str]:
    return {
        (Path(d) / n).relative_to(root).as_posix()
        for d, _dirs, names in os.walk(root)
        for n in names
    }


def interpreter_runtime(interp: BaseInterpreter, target: Target, root: Path, spec: BundleSpec,
                        report: Reporter) -> basecache.BaseRuntime:
    """The base interpreter alone, staged, relocated and compiled: cached per base, so every app on it reuses it."""
    key = basecache.base_key(interp, target.name, [], gui=spec.gui, lib_path=spec.lib_path,
                             exclude_libs=spec.exclude_libs, stdlib_sources=spec.stdlib_sources)
    with basecache.claim(spec.cache_dir, key, root, on_wait=_waiting(report, "the interpreter")) as cached:
        if cached is not None:
            report.stage("stage", f"CPython {interp.short_version} from the build cache")
            return cached
        kit = kit_for(target, interp, root, "")
        staged = stage(interp, root, is_binary=kit.fmt.is_binary, tk=spec.gui, prepare=kit.prepare)
        report.stage("stage", f"copied CPython {interp.short_version}")
        rel = relocate_runtime(staged, target, interp, report, lib_path=spec.lib_path, exclude=spec.exclude_libs)
        report.stage("relocate", f"{counted(rel.binaries, 'binary')} verified, {counted(len(rel.vendored), 'library')} vendored")
        compiled = fin.finalize(staged, interp, progress=lambda d, t: report.progress("compile", d, t))
        report.stage("finalize", ("" if interp.os is WINDOWS else "sysconfig, certificates, terminfo, ") + (
            "bytecode" if compiled else f"no bytecode (no CPython {interp.short_version} here to compile it)"))
        staged = _zip_stdlib(staged, interp, spec, report)
        base = basecache.BaseRuntime(staged, rel)
        basecache.save(spec.cache_dir, key, base)
        return base


def _zip_stdlib(staged: StagedRuntime, interp: BaseInterpreter, spec: BundleSpec, report: Reporter) -> StagedRuntime:
    """*staged* with its standard library's modules in ``lib/pythonXY.zip`` (POSIX runtimes)."""
    zipped = stdlibzip.zip_stdlib(staged, f"cpython-{interp.version[0]}{interp.version[1]}",
                                  keep_sources=spec.stdlib_sources)
    if zipped is None:
        return staged
    files, size = zipped.sources_left_out
    size_of_zip = (staged.root / zipped.path).stat().st_size
    report.stage("zip", f"{counted(zipped.modules, 'standard library module')} in {zipped.path} "
                        f"({human_size(size_of_zip)}, {counted(zipped.files_removed, 'file')} fewer on disk"
                        + (f"; sources left out, {human_size(size)}" if files else "; with sources") + ")")
    if zipped.kept_on_disk:
        report.detail("zip", f"kept on disk for their data files: {', '.join(zipped.kept_on_disk)}")
    if not files:
        return staged
    return dataclasses.replace(staged, left_out=staged.left_out + ((stdlibzip.WHY_STDLIB_SOURCES, files, size),))


def lean_stdlib(staged: StagedRuntime, interp: BaseInterpreter, spec: BundleSpec, rel: RelocationReport,
                report: Reporter) -> tuple[StagedRuntime, RelocationReport]:
    """``stdlib = "imported"``: *staged* without the standard library its code does not import (stdlibprune)."""
    zipped = stdlibzip.zip_name(staged)
    if zipped is None or not (staged.root / zipped).is_file():
        raise ConfigError(f"stdlib = \"imported\": the {interp.system} runtime keeps its standard library as the "
                          "base ships it; build it with stdlib = \"all\"")
    memo_path = spec.cache_dir / "imports" / f"{hashlib.sha256(str(interp.stdlib).encode()).hexdigest()[:16]}.json"
    memo = stdlibprune.load_memo(memo_path)
    before = len(memo)
    plan, pruned = stdlibprune.prune_runtime(
        staged.root, stdlib=staged.stdlib, dynload=staged.dynload, zip_path=zipped, sitepackages=staged.sitepackages,
        base_stdlib=interp.stdlib, includes=spec.include_modules, binaries=dict(rel.needed), vendored=rel.vendored,
        # the entry launchers (--entry NAME=module:function may name a stdlib module); not the interpreter
        extra_sources=[staged.root / "bin" / name for name, _value in spec.entries],
        memo=memo,
    )
    if len(memo) != before:
        stdlibprune.save_memo(memo_path, memo)
    report.stage("stdlib", f"{pruned.kept} of {pruned.kept + len(pruned.modules)} standard library modules and "
                           f"packages kept (what the code imports); left out {len(pruned.modules)} "
                           f"({human_size(pruned.size)} unpacked) and "
                           f"{counted(len(pruned.libraries), 'vendored library', 'vendored libraries')} "
                           f"({human_size(pruned.library_size)}); -v names them")
    report.detail("stdlib", f"left out: {', '.join(pruned.modules)}")
    for lib in pruned.libraries:
        report.detail("stdlib", f"no longer needed: {lib}")
    gone = set(pruned.libraries) | set(pruned.binaries)
    rel = dataclasses.replace(
        rel,
        vendored=tuple(v for v in rel.vendored if v not in gone),
        origins=tuple(o for o in rel.origins if o[0] not in gone),
        needed=tuple(n for n in rel.needed if n[0] not in gone),
    )
    left = ((stdlibprune.WHY_NOT_IMPORTED, pruned.files, pruned.size),
            (stdlibprune.WHY_LIBS_NOT_NEEDED, len(pruned.libraries), pruned.library_size))
    return dataclasses.replace(staged, left_out=staged.left_out + tuple(r for r in left if r[1])), rel


def _waiting(report: Reporter, what: str) -> Callable[[], None]:
    return lambda: report.stage("wait", f"another build is making {what} in the build cache; waiting for it")


def base_runtime(interp: BaseInterpreter, target: Target, deps: list[Path], root: Path, spec: BundleSpec,
                 report: Reporter) -> basecache.BaseRuntime:
    """Interpreter + dependencies, relocated and compiled: from the cache, or the interpreter's plus the dependencies.

    Two cache levels: the interpreter alone (per base; shared by every app on
    it) and interpreter + these dependency wheels (what an app-only rebuild reuses).
    """
    if not deps:
        return interpreter_runtime(interp, target, root, spec, report)
    key = basecache.base_key(interp, target.name, deps, gui=spec.gui, lib_path=spec.lib_path,
                             keep_tests=spec.keep_tests, exclude_libs=spec.exclude_libs,
                             stdlib_sources=spec.stdlib_sources)
    with basecache.claim(spec.cache_dir, key, root, on_wait=_waiting(report, "these dependencies")) as cached:
        if cached is not None:
            report.stage("stage", f"CPython {interp.short_version} with {counted(len(deps), 'dependency')} from the build cache")
            return cached
        base = interpreter_runtime(interp, target, root, spec, report)
        rel, left_out = _add_wheels(base.staged, target, interp, deps, spec, report, "dependencies",
                                    keep_tests=spec.keep_tests)
        report.stage("install", f"{counted(len(deps), 'dependency')}: {counted(rel.binaries, 'binary')} verified, "
                                f"{counted(len(rel.vendored), 'library')} vendored" + _tests_note(left_out))
        if left_out.kept:
            report.detail("install", f"tests kept (the package's own code imports them): {', '.join(left_out.kept)}")
        tests = ((WHY_DEP_TESTS, left_out.files, left_out.size),) if left_out.files else ()
        full = basecache.BaseRuntime(dataclasses.replace(base.staged, left_out=base.staged.left_out + tests),
                                     merge_reports(base.relocation, rel))
        basecache.save(spec.cache_dir, key, full)
        return full


def _add_wheels(staged: StagedRuntime, target: Target, interp: BaseInterpreter, wheels: list[Path],
                spec: BundleSpec, report: Reporter, what: str,
                entries: tuple[tuple[str, str | None], ...] = (), keep_tests: bool = True,
                ) -> tuple[RelocationReport, SuitesLeftOut]:
    """Install *wheels* (and *entries*' launchers) on a finished runtime; relocate and compile only what they add."""
    before = _files(staged.root)
    left_out = install_wheels(staged, wheels, keep_tests=keep_tests, progress=lambda d, t: report.progress(what, d, t))
    if entries:
        write_entries(staged, entries)
    new = _files(staged.root) - before
    rel = relocate_runtime(staged, target, interp, report, only=new, lib_path=spec.lib_path, exclude=spec.exclude_libs)
    python = fin.compiler_for(staged, interp)
    if python is not None:
        fin.byte_compile(staged, sorted(staged.root / p for p in new if p.endswith(".py")), python=python,
                         progress=lambda d, t: report.progress("compile", d, t))
    return rel, left_out


def _tests_note(left_out: SuitesLeftOut) -> str:
    if not left_out.dirs:
        return ""
    return (f", {counted(left_out.dirs, 'test directory')} left out ({counted(left_out.files, 'file')}, "
            f"{human_size(left_out.size)}; keep-tests ships them)")


def add_app(staged: StagedRuntime, target: Target, interp: BaseInterpreter, apps: list[Path], spec: BundleSpec,
            report: Reporter) -> RelocationReport:
    """The app's own wheels and entry launchers on top of the base runtime."""
    rel, _ = _add_wheels(staged, target, interp, apps, spec, report, "app", spec.entries)
    report.stage("install", f"{counted(len(apps), 'app wheel')}, {counted(len(spec.entries), 'entry point')}")
    return rel


def app_distributions(spec: BundleSpec, items, staged: StagedRuntime) -> set[str]:
    """The distributions that are the app itself (the ``app`` layer; where its version comes from).

    The project's own ``directory`` lock entries; with none (a published app
    bundled from its lock), the distribution of a console-script entry point
    that the output is named after (by the script or the distribution:
    ``--entry http`` of httpie, the output named ``http``). A console script of
    some other package (``--name myapp --entry f2py``, from numpy) leaves that
    package a dependency.
    """
    apps = {str(canonicalize_name(i.name)) for i in items if isinstance(i, DirectoryRef)}
    if apps:
        return apps
    scripts = console_scripts(staged)
    wanted = canonicalize_name(spec.name)
    return {str(canonicalize_name(scripts[n].distribution)) for n, v in spec.entries
            if v is None and n in scripts and wanted in (canonicalize_name(n), canonicalize_name(scripts[n].distribution))}


def _version_for(spec: BundleSpec, staged: StagedRuntime, apps: set[str], report: Reporter) -> str:
    """--version / [project].version, else the app distribution's version, else 0 (said)."""
    if spec.version:
        return spec.version
    versions = installed_versions(staged)
    found = sorted({versions[a] for a in apps if a in versions})
    if len(found) == 1:
        return found[0]
    report.stage("version", "0: no --version and no single app version to take it from; pass --version")
    return "0"


def _stub_for(spec: BundleSpec, target: Target, report: Reporter) -> Stub:
    def progress(event: str, detail: str) -> None:
        if event == "build":  # a compile takes tens of seconds: say so, not only with -v
            report.stage("stub", f"compiling the {detail} with Zig (alongside the next steps)")
        else:
            report.detail("stub", f"{event} {detail}")

    return stub_for(target.name, cache_dir=spec.cache_dir, gui=spec.gui, rebuild=spec.rebuild_stub,
                    progress=progress)


def _launcher_for(spec: BundleSpec, target: Target, report: Reporter) -> Stub:
    def progress(event: str, detail: str) -> None:
        if event == "build":
            report.stage("launcher", f"compiling the {detail} with Zig (alongside the next steps)")
        else:
            report.detail("launcher", f"{event} {detail}")

    return launcher_for(target.name, cache_dir=spec.cache_dir, gui=spec.gui, rebuild=spec.rebuild_stub,
                        progress=progress)


def wheel_records(items, wheels) -> tuple[WheelRecord, ...]:
    """What the manifest says of each installed wheel: the lock's sha256 (a hashed requirement: the
    file's, which the lock allows); a wheel built from a project directory has none to give."""
    out = []
    for item, wheel in zip(items, wheels, strict=True):
        if isinstance(item, DirectoryRef):
            sha = None
        elif isinstance(item, WheelRef) and item.sha256:
            sha = item.sha256
        else:
            sha = sha256_file(wheel.path)
        out.append(WheelRecord(str(canonicalize_name(wheel.name)), wheel.version, wheel.path.name, sha))
    return tuple(sorted(out, key=lambda w: w.name))


def origin_text(source: str, cache_dir: Path) -> str:
    """A vendored library's origin as the manifest and SBOM name it: a file of a base unpacked into the
    build cache is named from the cache's root (``$BUNDLER_BUILD_CACHE/bases/<sha>/...``: the same
    on every machine and for every cache location), any other file by its path."""
    for root in dict.fromkeys((str(cache_dir), os.path.realpath(cache_dir))):
        if source.startswith(root.rstrip("/") + "/"):
            return "$BUNDLER_BUILD_CACHE/" + source[len(root.rstrip("/")) + 1:]
    return source


def _manifest_core(spec: BundleSpec, staged: StagedRuntime, target: Target, interp: BaseInterpreter,
                   rel: RelocationReport, version: str, wheels: tuple[WheelRecord, ...] = ()) -> Manifest:
    """What every output says about itself (the single file adds its stub and payload; FORMAT.md)."""
    from bundler import __version__

    return Manifest(
        app=App(spec.name, version),
        target=target.name,
        glibc_floor=rel.glibc_floor,
        macos_minimum=rel.macos_minimum,
        python=Python(interp.full_version, staged.python),
        entry_points=tuple((n, f"bin/{n}") for n, _v in spec.entries),
        default_entry=spec.entries[0][0] if spec.entries else None,
        gui=spec.gui,
        build=Build(__version__, source_date_epoch()),
        excluded_libraries=tuple(rel.excluded),
        sbom=sbom.SBOM_NAME,
        contents=Contents(
            wheels=wheels,
            vendored_libraries=tuple(VendoredRecord(dest, origin_text(src, spec.cache_dir)) for dest, src in rel.origins),
            left_out=tuple(LeftOut(why, files, size) for why, files, size in staged.left_out),
        ),
    )


def _layer_map(spec: BundleSpec, staged: StagedRuntime, app_dists: set[str]):
    """Which payload layer each file of *staged* goes to (the app's own launchers are the app's)."""
    return build_layer_map(
        staged.root, staged.sitepackages, app_dists,
        [f"bin/{n}" for n, v in spec.entries if v is not None] + [sbom.SBOM_NAME],
    )


class _Sboms:
    """The SBOM of a build's runtime: written into the tree before each output kind is made
    (the single file's names its stub), and copied beside each output as ``<output>.cdx.json``."""

    def __init__(self, staged: StagedRuntime, target: Target, origin: sbom.Base, rel: RelocationReport) -> None:
        self.staged, self.target, self.origin = staged, target, origin
        self.needed = dict(rel.needed)  # what relocation read of every binary: not read again
        self.texts: dict[str, str] = {}  # output kind ("onefile", "runtime", "app") -> its SBOM
        self.current: str | None = None  # whose SBOM the tree holds now

    def write(self, kind: str, manifest: Manifest, stub: tuple[str, StubRecord] | None) -> None:
        """Put *kind*'s SBOM into the tree (made once per kind)."""
        if kind not in self.texts:
            self.texts[kind] = sbom.make(manifest, self.staged.root, sitepackages=self.staged.sitepackages,
                                         markers=self.target.environment, base=self.origin, stub=stub,
                                         needed=self.needed)
        if self.current != kind:
            path = self.staged.root / sbom.SBOM_NAME
            path.unlink(missing_ok=True)  # never write through a hard link into the build cache
            path.write_text(self.texts[kind], encoding="utf-8")
            self.current = kind

    def beside(self, output: Path, kind: str) -> Path:
        """``<output>.cdx.json`` next to *output* (a single file's ``.exe`` dropped)."""
        stem = output.name[: -len(".exe")] if kind == "onefile" and output.name.endswith(".exe") else output.name
        dest = output.parent / (stem + SBOM_SUFFIX)
        dest.write_text(self.texts[kind], encoding="utf-8")
        return dest


def _onefile(spec, staged, target, interp, rel, version, app_dists: set[str], report: Reporter,
             stub: Stub, wheels: tuple[WheelRecord, ...], sboms: _Sboms) -> OnefileResult:
    layer_map = _layer_map(spec, staged, app_dists)
    manifest = dataclasses.replace(_manifest_core(spec, staged, target, interp, rel, version, wheels),
                                   stub=stub.record())
    sboms.write("onefile", manifest, (stub.path.name, stub.record()))  # inside the payload: the app layer
    result = write_onefile(
        staged.root,
        spec.output_dir / target.os.executable(f"{spec.name}-{version}-{target.name}"),
        stub=stub.path,
        layers=layer_map,
        manifest=manifest,
        level=spec.compression_level,
        cache=payload.FrameCache(spec.cache_dir / "frames"),
        progress=lambda done, total: report.progress("compress", done, total, "bytes"),
        seal=kit_for(target, interp, staged.root, staged.python).seal_onefile,
    )
    p = result.packed
    report.stage("onefile", f"{counted(p.frames_compressed, 'frame')} compressed, {p.frames_cached} reused from the cache")
    if spec.sign is not None:  # still in the staging directory: a failure publishes nothing
        sign_file(result.path, spec.sign, spec.name)
        result = dataclasses.replace(result, size=result.path.stat().st_size)
        report.stage("sign", f"signed {result.path.name} with {spec.sign.name} (Authenticode, sha256, no timestamp)")
    return result


def _app_starter(core: Manifest, launcher: Stub) -> tuple[str, StubRecord]:
    """What starts an app bundle, for its SBOM: the entry launcher, as its main executable."""
    return f"Contents/MacOS/{core.default_entry}", launcher.record()


def _app(spec: BundleSpec, root: Path, target: Target, core: Manifest, launcher: Stub, sboms: _Sboms,
         several: bool, report: Reporter) -> tuple[Path, Path]:
    """The ``.app`` bundle around the runtime, sealed (ad hoc, or with --sign-identity), and its zip."""
    entry = core.default_entry
    assert entry is not None  # config refuses --format app without an entry point
    # the oldest macOS the app runs on: the newest minimum among the runtime's binaries and the launcher
    floors = [v for v in (core.macos_minimum, minimum_macos(launcher.path)) if v]
    info = appbundle.AppInfo(
        name=spec.name, identifier=spec.bundle_id or appbundle.default_identifier(spec.name), version=core.app.version,
        executable=entry, minimum_macos=max(floors, key=version_key) if floors else None,
    )
    sboms.write("app", core, _app_starter(core, launcher))
    stem = f"{spec.name}-{target.name}" if several else spec.name
    app = appbundle.write_app(root, spec.output_dir / f"{stem}{appbundle.APP_SUFFIX}", launcher.path, info)
    if spec.sign_identity is not None:  # still in the staging directory: a failure publishes nothing
        report.stage("sign", appsign.sign_app(app, appsign.Identity(spec.sign_identity), spec.entitlements))
    else:
        report.detail("app", f"{app.name}: sealed ad hoc ({info.identifier})")
    zipped = appbundle.zip_app(app, spec.output_dir / f"{spec.name}-{core.app.version}-{target.name}{appbundle.ZIP_SUFFIX}")
    report.stage("app", f"{app.name} and {zipped.name} (CFBundleIdentifier {info.identifier}, "
                        f"macOS >= {info.minimum_macos or 'any'})")
    return app, zipped


def bases_for(spec: BundleSpec) -> list[tuple[BaseInterpreter, Target]]:
    """The base interpreter and target of every build *spec* asks for, in the order asked.

    Without ``--target`` the base (``--python``, default: the running interpreter)
    decides the target. With targets, each takes its own base (``--python
    TARGET=PATH``, ``[tool.bundler.targets.<target>] python``), else the plain
    ``--python`` if it is for that target, else the running interpreter if it is.
    """
    return [(interp, target) for interp, target, _named in named_bases(spec)]


def named_bases(spec: BundleSpec) -> list[tuple[BaseInterpreter, Target, str | None]]:
    """:func:`bases_for`, each with what ``--python`` named for it (None: the interpreter running bundler)."""
    pythons = dict(spec.pythons)
    if not spec.targets:
        interp = load_base(spec.python, spec.cache_dir)
        return [(interp, target_for(interp), spec.python)]
    loaded: dict[str | None, tuple[BaseInterpreter, Target]] = {}

    def base(python: str | None) -> tuple[BaseInterpreter, Target]:
        if python not in loaded:
            interp = load_base(python, spec.cache_dir)
            loaded[python] = (interp, target_for(interp))
        return loaded[python]

    out = []
    for name in spec.targets:
        candidates = [pythons[name]] if name in pythons else [spec.python, None] if spec.python else [None]
        for python in candidates:
            interp, target = base(python)
            if target.name == name:
                out.append((interp, target, python))
                break
            if python is not None and python == pythons.get(name):
                raise InterpreterError(f"--python {python}: is a CPython for {target.name}, not for {name}")
        else:
            raise ConfigError(
                f"target {name} needs a CPython built for it: pass --python {name}=PATH (a python-build-standalone "
                f"archive, the Windows embeddable zip or an unpacked prefix) or set [tool.bundler.targets.{name}] python"
            )
    return out


def build_all(spec: BundleSpec, report: Reporter = Reporter()) -> tuple[BuildResult, ...]:
    """One build per target; the outputs of every target move into the output directory together,
    once the last one is written (a failure or a signal anywhere leaves the directory as it was)."""
    bases = named_bases(spec)
    names = [t.name for _i, t, _n in bases]
    if len(set(names)) != len(names):
        raise ConfigError(f"target {names[0]} asked for twice")
    if spec.sign is not None:
        other = [t.name for _i, t, _n in bases if t.os is not WINDOWS]
        if other:
            raise ConfigError(f"--sign {spec.sign}: signs Windows single files only, and {other[0]} is not a windows "
                              "target; build it without --sign")
        find_osslsigncode(spec.sign)  # before the build, not after it
    if "app" in spec.formats:
        other = [t.name for _i, t, _n in bases if not t.os.app_bundles]
        if other:
            raise ConfigError(f"--format app: builds macOS app bundles, and {other[0]} is not a macos target; "
                              "build it without --format app")
        if spec.sign_identity is not None:
            appsign.check_signer(appsign.Identity(spec.sign_identity))  # before the build, not after it
    def waiting() -> None:
        report.stage("wait", f"`bundler cache prune` is cleaning {spec.cache_dir}; waiting for it")

    # the output directory first: a build that cannot write its outputs touches no cache
    with staged_outputs(spec.output_dir) as staging, cachefs.in_use(spec.cache_dir, on_wait=waiting):
        staged = dataclasses.replace(spec, output_dir=staging)
        results = [_build_target(staged, interp, target, report, several=len(bases) > 1, named=named)
                   for interp, target, named in bases]
    return tuple(_published(r, staging, spec.output_dir) for r in results)


def _published(result: BuildResult, staging: Path, output_dir: Path) -> BuildResult:
    """*result* with its outputs where they are now: moved from *staging* into *output_dir*."""
    def moved(path: Path) -> Path:
        return output_dir / path.relative_to(staging)

    onefile = dataclasses.replace(result.onefile, path=moved(result.onefile.path)) if result.onefile else None
    return dataclasses.replace(result, outputs=tuple(moved(p) for p in result.outputs), onefile=onefile,
                               report=moved(result.report) if result.report else None,
                               sboms=tuple(moved(p) for p in result.sboms),
                               app_zip=moved(result.app_zip) if result.app_zip else None)


def build(spec: BundleSpec, report: Reporter = Reporter()) -> BuildResult:
    """Build the one target *spec* asks for (see :func:`build_all` for several)."""
    results = build_all(spec, report)
    if len(results) != 1:
        raise ConfigError(f"{len(results)} targets asked for; use build_all")
    return results[0]


def _build_target(spec: BundleSpec, interp: BaseInterpreter, target: Target, report: Reporter,
                  several: bool = False, named: str | None = None) -> BuildResult:
    timings: list[tuple[str, float]] = []
    t0 = time.monotonic()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.monotonic()
        timings.append((name, now - t0))
        t0 = now

    report.stage("python", f"CPython {interp.full_version} at {interp.executable} → {target.name}")
    items = read_lock(spec.lock, target)
    report.stage("lock", f"{counted(len(items), 'package')} from {spec.lock.name}")
    lap("lock")
    options = FetchOptions(
        find_links=spec.find_links,
        offline=spec.offline,
        cache_dir=spec.cache_dir,
        index_url=spec.index_url,
    )
    fetched = iter(range(1, len(items) + 1))
    build_warnings: list[str] = []

    def on_fetch(event: str, detail: str) -> None:
        if event == "warning":  # a PEP 517 backend's; shown after the step, never over the bar
            build_warnings.append(detail)
            return
        if event == "build":  # seconds with no other sign of life: say what is happening
            report.stage("build", f"building {detail} into a wheel (PEP 517)")
        else:
            report.detail("fetch", f"{event} {detail}")
        report.progress("fetch", next(fetched), len(items))

    wheels = fetch_all(items, target, options, progress=on_fetch)
    if build_warnings:
        report.stage("build", f"the build backend printed {counted(len(build_warnings), 'warning line')}"
                              " (-v shows them)")
        for line in build_warnings:
            report.detail("build", line)
    report.stage("fetch", f"{counted(len(wheels), 'wheel')} verified")
    lap("fetch")
    spec = _with_gui(spec, items, wheels, report)
    # A stub compiled from source (--rebuild-stub, or a checkout whose stubs/ changed) builds
    # while the runtime is staged and relocated; the packaged one is only checked. Either is
    # joined before any output is written, so a stub that cannot be had leaves nothing behind.
    # The entry launchers of a runtime directory (Windows: bin/<entry>.exe) come the same way.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bundler-stub")
    stub_future = pool.submit(_stub_for, spec, target, report) if "onefile" in spec.formats else None
    wants_launchers = ((target.os.native_launchers and bool({"dir", "archive"} & set(spec.formats)))
                       or (target.os.app_bundles and "app" in spec.formats))
    launcher_future = pool.submit(_launcher_for, spec, target, report) if wants_launchers else None
    try:
        return _build_rest(spec, report, interp, target, items, wheels, (stub_future, launcher_future), timings, lap,
                           several, named)
    finally:
        pool.shutdown(wait=True)


def _with_gui(spec: BundleSpec, items, wheels, report: Reporter) -> BundleSpec:
    """*spec* with gui on when the app needs tkinter and the user did not say (guidetect)."""
    if spec.gui or spec.gui_set:
        return spec
    app_names = {canonicalize_name(i.name) for i in items if isinstance(i, DirectoryRef)}
    reason = gui_reason(((w.path, canonicalize_name(w.name) in app_names) for w in wheels),
                        (n for n, _v in spec.entries))
    if reason is None:
        return spec
    report.stage("gui", f"on: {reason}; keeping tkinter with Tcl/Tk (gui = false leaves them out)")
    return dataclasses.replace(spec, gui=True)


def _build_rest(spec, report, interp, target, items, wheels, futures, timings, lap, several=False,
                named=None) -> BuildResult:
    stub_future, launcher_future = futures
    app_names = {canonicalize_name(i.name) for i in items if isinstance(i, DirectoryRef)}
    deps = [w.path for w in wheels if canonicalize_name(w.name) not in app_names]
    apps = [w.path for w in wheels if canonicalize_name(w.name) in app_names]
    with tempfile.TemporaryDirectory(prefix="bundler-") as work:
        root = Path(work) / spec.name
        base = base_runtime(interp, target, deps, root, spec, report)
        lap("base")
        staged = base.staged
        rel = merge_reports(base.relocation, add_app(staged, target, interp, apps, spec, report))
        lap("app")
        if spec.stdlib == "imported":
            staged, rel = lean_stdlib(staged, interp, spec, rel, report)
            lap("stdlib")
        stub = stub_future.result() if stub_future is not None else None
        launcher = launcher_future.result() if launcher_future is not None else None
        apps = app_distributions(spec, items, staged)
        version = _version_for(spec, staged, apps, report)
        outputs: list[Path] = []
        beside: list[Path] = []
        # the single file packs the tree as it is; then a directory or archive also gets its manifest file
        records = wheel_records(items, wheels)
        sboms = _Sboms(staged, target, sbom.base_origin(interp, named), rel)
        onefile = (_onefile(spec, staged, target, interp, rel, version, apps, report, stub, records, sboms)
                   if "onefile" in spec.formats else None)
        # --report: the single file as packed (read before a directory's launchers join the tree)
        page = (buildreport.of_single_file(onefile.path, root=staged.root, timings=tuple(timings))
                if spec.report and onefile is not None else None)
        core = _manifest_core(spec, staged, target, interp, rel, version, records)
        if {"dir", "archive", "app"} & set(spec.formats):
            # only a directory or archive starts from bin/ (the single file is its own launcher)
            if launcher is not None and target.os.native_launchers:
                written = add_entry_launchers(root, launcher.path, (n for n, _v in spec.entries), target.os,
                                              staged.python)
                report.detail("launcher", f"{', '.join(written)} from {launcher.path}")
            write_runtime_manifest(root, core)
        starter = None
        if {"dir", "archive"} & set(spec.formats):
            starter = ((f"bin/<entry>{target.os.exe_suffix}", launcher.record())
                       if launcher is not None and target.os.native_launchers else None)
            sboms.write("runtime", core, starter)  # a directory's and archive's: its launchers, if any, no stub
            if spec.report and page is None:  # no single file: the tree as the directory or archive holds it
                page = buildreport.of_tree(root, core, _layer_map(spec, staged, apps), timings=tuple(timings))
        if spec.report and page is None and "app" in spec.formats and launcher is not None:
            sboms.write("app", core, _app_starter(core, launcher))  # the runtime as the app bundle holds it
            page = buildreport.of_tree(root, core, _layer_map(spec, staged, apps), timings=tuple(timings))
        app_zip = None
        for fmt in spec.formats:
            if fmt in ("dir", "archive"):
                sboms.write("runtime", core, starter)
            if fmt == "dir":
                outputs.append(write_dir(root, spec.output_dir / (f"{spec.name}-{target.name}" if several else spec.name)))
            elif fmt == "app" and launcher is not None:
                app, app_zip = _app(spec, root, target, core, launcher, sboms, several, report)
                outputs.append(app)
            elif fmt == "onefile" and onefile is not None:
                outputs.append(onefile.path)
            elif fmt == "archive":
                name = f"{spec.name}-{version}-{target.name}"
                outputs.append(
                    write_archive(root, spec.output_dir / f"{name}.tar.zst", prefix=name, level=spec.compression_level)
                )
            else:  # config validates formats; this is a programming error
                raise ConfigError(f"format {fmt!r} is not supported")
            beside.append(sboms.beside(outputs[-1], fmt if fmt in ("onefile", "app") else "runtime"))
            report.detail("output", str(outputs[-1]))
        lap("output")
        report_path = None
        if page is not None:
            report_path = buildreport.write(page, spec.output_dir / buildreport.report_name(
                f"{spec.name}-{version}-{target.name}"))
            report.stage("report", f"{report_path.name}: {counted(len(page.items), 'entry', 'entries')}, "
                                   f"{counted(len(page.libraries), 'vendored library', 'vendored libraries')}")
    return BuildResult(
        name=spec.name,
        version=version,
        target=target.name,
        outputs=tuple(outputs),
        relocation=rel,
        python=interp.full_version,
        wheels=tuple(w.path.name for w in wheels),
        timings=tuple(timings),
        onefile=onefile,
        report=report_path,
        sboms=tuple(beside),
        app_zip=app_zip,
    )
