"""The ``bundler`` command line."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextvars import ContextVar, copy_context
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bundler import __version__
from bundler.config.spec import FORMATS, resolve
from bundler.errors import BundlerError
from bundler.platforms import TARGET_NAMES
from bundler.report import counted, human_size

if TYPE_CHECKING:
    from bundler.output.manifest import Manifest, StubRecord

#: how much the running command reports (0 quiet, 1 normal, 2+ -v: tracebacks on errors); set per command
VERBOSITY: ContextVar[int] = ContextVar("bundler_verbosity", default=1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bundler")
def cli() -> None:
    """Turn a locked Python environment into a relocatable runtime that runs on a bare machine."""


@cli.command()
@click.argument("project_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--lock", metavar="FILE", help="pylock.toml or fully hashed requirements.txt.")
@click.option("--entry", "entry", multiple=True, metavar="NAME[=MODULE:FUNC]",
              help="Entry point to expose as bin/NAME; NAME alone is a console script of a locked package. Repeatable.")
@click.option("--python", "python", multiple=True, metavar="[TARGET=]PATH",
              help="Base CPython: an executable, a prefix directory, a python-build-standalone archive or the "
                   "Windows embeddable zip (default: the interpreter running bundler). TARGET=PATH gives one "
                   "--target its own base. Repeatable.")
@click.option("--target", "target", multiple=True, metavar="TARGET",
              help=f"Build for TARGET: {', '.join(TARGET_NAMES)} "
                   "(default: the base interpreter's). Repeatable: one output set per target.")
@click.option("--name", metavar="NAME", help="Output name (default: the project's name, else the first entry).")
@click.option("--version", "version", metavar="VERSION", help="Version used in output names.")
@click.option("--format", "format", multiple=True, type=click.Choice(FORMATS),
              help="Output kind: onefile (self-extracting executable), dir (runtime directory), "
                   "archive (.tar.zst) or app (a macOS .app bundle and its .app.zip; macos targets only). "
                   "Repeatable; default onefile.")
@click.option("--output-dir", metavar="DIR", help="Where outputs go (default: <project>/dist).")
@click.option("--find-links", "find_links", multiple=True, metavar="DIR",
              help="Directory of wheels to use before downloading. Repeatable.")
@click.option("--lib-path", "lib_path", multiple=True, metavar="DIR",
              help="Directory searched for libraries that binaries need, after the target loader's own search. Repeatable.")
@click.option("--exclude-lib", "exclude_lib", multiple=True, metavar="GLOB",
              help="Leave libraries matching GLOB (a soname or DLL name, e.g. 'libtbb.so.*') unresolved: an optional "
                   "native dependency that no wheel ships. Listed in the summary and manifest. Repeatable.")
@click.option("--offline", is_flag=True, default=None, help="Never use the network.")
@click.option("--gui", is_flag=True, default=None, help="A GUI app: keep tkinter with Tcl/Tk (pruned otherwise).")
@click.option("--keep-tests", is_flag=True, default=None,
              help="Ship the dependencies' tests/ and test/ directories (left out by default unless the "
                   "package's own code imports them).")
@click.option("--stdlib-sources", "stdlib_sources", is_flag=True, default=None,
              help="Keep the standard library's sources in lib/pythonXY.zip beside its byte code: tracebacks then "
                   "show source lines (default: byte code only; tracebacks name the file and line).")
@click.option("--stdlib", type=click.Choice(["all", "imported"]), default=None,
              help="Which standard library the runtime carries: all (default; any module importable later) or "
                   "imported (only what the bundled code imports, followed through the standard library: a smaller "
                   "file).")
@click.option("--include-module", "include_module", multiple=True, metavar="MODULE",
              help="With --stdlib imported: keep this standard library module too (one the code names only at run "
                   "time, e.g. importlib.import_module(name)). Repeatable.")
@click.option("--rebuild-stub", is_flag=True, default=None,
              help="Compile the single file's stub (and a Windows runtime directory's bin/<entry>.exe launchers) "
                   "from bundler's stubs/ sources with Zig (a checkout or the sdist, and the [stubs] extra) instead "
                   "of using the prebuilt ones.")
@click.option("--index-url", metavar="URL", help="Index for hashed requirements (default: PyPI).")
@click.option("--cache-dir", metavar="DIR",
              help="Build cache: downloads, build environments, base runtimes, frames (default: "
                   "$BUNDLER_BUILD_CACHE, else ~/.cache/bundler-build).")
@click.option("--sign", metavar="PFX",
              help="Sign the Windows single file (Authenticode) with the certificate and key in the PKCS#12 file "
                   "PFX, using osslsigncode; the password is read from $BUNDLER_SIGN_PASSWORD. No timestamp. "
                   "Windows targets only.")
@click.option("--bundle-id", "bundle_id", metavar="ID",
              help="The app bundle's CFBundleIdentifier, reverse DNS (default: local.<name>; set your own before "
                   "shipping). --format app only.")
@click.option("--sign-identity", "sign_identity", metavar="P12|NAME",
              help="Sign the app bundle with a real identity, hardened runtime and entitlements: a PKCS#12 (.p12) "
                   "file, by rcodesign on any host (pip install 'bundler[macos-sign]'; password in "
                   "$BUNDLER_SIGN_PASSWORD), or a keychain identity name, by Apple's codesign on a Mac. "
                   "Default: signed ad hoc.")
@click.option("--entitlements", metavar="PLIST",
              help="Entitlements for --sign-identity (default: allow-unsigned-executable-memory and "
                   "disable-library-validation).")
@click.option("--report", is_flag=True, default=None,
              help="Also write <name>-<version>-<target>.report.html beside the outputs: a page of what the runtime "
                   "holds (treemap, largest files, vendored libraries, wheels), what it costs and where it came from.")
@click.option("--compression-level", type=int, metavar="N", help="zstd level for onefile and archive, 1-22 (default 9; 19 is ~13% smaller, ~20x slower).")
@click.option("-v", "--verbose", count=True, help="More detail (every file fetched, library vendored); tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout (no progress output).")
def build(project_dir: Path | None, verbose: int, quiet: bool, as_json: bool, **flags: object) -> None:
    """Build the runtime for PROJECT_DIR (its [tool.bundler] config and lock file).

    Without PROJECT_DIR: the current directory if its pyproject.toml has a
    [tool.bundler] table (or no --lock is given); else --lock and --entry are
    enough (bundling a published app).
    Prints progress and a summary on stderr and the output paths on stdout.
    """
    import json
    import time

    from bundler.pipeline import build_all
    from bundler.report import TerminalReporter

    started = time.monotonic()
    VERBOSITY.set(0 if quiet else 1 + verbose)
    cli_values = {k.replace("_", "-"): v for k, v in flags.items()}
    spec = resolve(project_dir, cli_values)
    reporter = TerminalReporter.for_stream(0 if (quiet or as_json) else 1 + verbose)
    results = build_all(spec, reporter)
    summaries = [build_summary(spec.formats, result) for result in results]
    if len(summaries) == 1:  # the wall time of the whole command, not only the timed stages
        summaries[0]["seconds"] = round(time.monotonic() - started, 3)
    if as_json:
        data = summaries[0] if len(summaries) == 1 else {"builds": summaries}
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif not quiet:
        for summary, result in zip(summaries, results):
            click.echo(summary_text(summary, verbose=verbose > 0, color=reporter.color), err=True)
            for out in result.outputs:
                click.echo(str(out))
            if result.app_zip is not None:
                click.echo(str(result.app_zip))
            if result.report is not None:
                click.echo(str(result.report))


@cli.command()
@click.argument("project_dir", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the table instead of writing it.")
@click.option("--create", is_flag=True,
              help="For a setup.py/setup.cfg project without pyproject.toml: write one holding only the table.")
def init(project_dir: Path, dry_run: bool, create: bool) -> None:
    """Add a [tool.bundler] table to PROJECT_DIR/pyproject.toml (default: the current directory).

    It lists the project's console scripts as entry points (from pyproject.toml,
    setup.cfg or setup.py) and finds its lock file (pylock.toml, pylock.*.toml,
    or a requirements file with hashes).
    """
    from bundler.config.initcmd import apply_init, plan_init

    plan = plan_init(project_dir, create=create)
    if dry_run:
        click.echo(plan.text.lstrip("\n"), nl=False)
        return
    apply_init(plan)
    click.echo(f"wrote [tool.bundler] to {plan.pyproject}", err=True)
    build = "bundler build" if project_dir.resolve() == Path.cwd().resolve() else f"bundler build {project_dir}"
    if not plan.lock:
        click.echo(f"no lock file found: make one with `pip lock {project_dir} -o {project_dir / 'pylock.toml'}`, "
                   f"then `{build}`", err=True)
    else:
        click.echo(f"next: {build}", err=True)


def _tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def build_summary(formats: tuple[str, ...], result) -> dict:
    """Everything the summary shows, as plain data (the --json output)."""
    rel = result.relocation
    summary = {
        "name": result.name,
        "version": result.version,
        "target": result.target,
        "python": result.python,
        "glibc_floor": rel.glibc_floor,
        "macos_minimum": rel.macos_minimum,
        "wheels": list(result.wheels),
        "vendored": [Path(v).name for v in rel.vendored],
        "excluded": list(rel.excluded),
        "outputs": [
            {"format": fmt, "path": str(path), "size": _tree_size(path)} for fmt, path in zip(formats, result.outputs)
        ],
        "timings": {stage: round(seconds, 3) for stage, seconds in result.timings},
    }
    summary["sboms"] = [str(p) for p in result.sboms]
    if result.app_zip is not None:
        summary["app_zip"] = str(result.app_zip)
    if result.report is not None:
        summary["report"] = str(result.report)
    if result.onefile is not None:
        packed = result.onefile.packed
        summary["layers"] = [
            {"name": l.name, "files": l.files, "compressed": sum(f.length for f in l.frames),
             "uncompressed": l.uncompressed_size, "frames": len(l.frames)}
            for l in packed.layers
        ]
        summary["frames"] = {"compressed": packed.frames_compressed, "reused": packed.frames_cached}
    return summary


def summary_text(s: dict, *, verbose: bool = False, color: bool = False) -> str:
    bold = (lambda t: f"\033[1m{t}\033[0m") if color else (lambda t: t)
    total = s.get("seconds", sum(s["timings"].values()))
    floor = (f", glibc >= {s['glibc_floor']}" if s.get("glibc_floor") else "") + (
        f", macOS >= {s['macos_minimum']}" if s.get("macos_minimum") else "")
    lines = [
        bold(f"built {s['name']} {s['version']} for {s['target']} in {total:.1f} s")
        + f" (CPython {s['python']}, {counted(len(s['wheels']), 'wheel')}{floor})"
    ]
    for out in s["outputs"]:
        lines.append(f"  {out['format']:<9} {out['path']}  {human_size(out['size'])}")
    if "layers" in s:
        layers = ", ".join(f"{l['name']} {human_size(l['compressed'])}" for l in s["layers"])
        lines.append(f"  {'layers':<9} {layers}")
    vendored = s["vendored"]
    if vendored:
        shown = vendored if verbose or len(vendored) <= 6 else vendored[:6] + [f"... {len(vendored) - 6} more (-v lists all)"]
        lines.append(f"  {'vendored':<9} {len(vendored)} libraries: {', '.join(shown)}")
    if s.get("excluded"):
        lines.append(f"  {'excluded':<9} {', '.join(s['excluded'])} (left unresolved by --exclude-lib: what needs "
                     "them must cope without)")
    if s.get("app_zip"):
        lines.append(f"  {'app zip':<9} {s['app_zip']}  {human_size(Path(s['app_zip']).stat().st_size)} "
                     "(for transport: the Finder and ditto restore it)")
    if s.get("sboms"):
        lines.append(f"  {'sbom':<9} " + ", ".join(Path(p).name for p in s["sboms"]) + " (CycloneDX 1.6)")
    if s.get("report"):
        lines.append(f"  {'report':<9} {s['report']}")
    lines.append(f"  {'time':<9} " + ", ".join(f"{k} {v:.1f} s" for k, v in s["timings"].items()))
    return "\n".join(lines)


@cli.command()
@click.argument("artifact", type=click.Path(exists=True, path_type=Path))
@click.option("--verify", is_flag=True,
              help="Single file: check the payload hash, every frame and every entry. Archive: read every "
                   "entry (zstd checksums). Directory: check the interpreter and every entry point are there.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.option("--report", is_flag=True,
              help="Single file: write its build report, the page bundler build --report writes (without the "
                   "build's timings), beside it as <name>-<version>-<target>.report.html, or to --output.")
@click.option("--sbom", is_flag=True, help="Print the CycloneDX SBOM the output carries (JSON).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="With --report: write the page to FILE.")
@click.option("-v", "--verbose", count=True, help="Tracebacks on errors.")
def inspect(artifact: Path, verify: bool, as_json: bool, report: bool, sbom: bool, output: Path | None,
            verbose: int) -> None:
    """Show what ARTIFACT holds: a single file, a runtime directory, a .tar.zst runtime archive or a macOS .app.

    Manifest, layers, sizes, entry points.
    """
    import json

    from bundler.output import payload
    from bundler.output.manifest import parse

    VERBOSITY.set(1 + verbose)
    if output is not None and not report:
        raise click.UsageError("--output is for --report")
    if report:
        _inspect_report(artifact, output)
        return
    if sbom:
        click.echo(_sbom_of(artifact), nl=False)
        return
    if artifact.is_dir() or artifact.name.endswith(".tar.zst"):
        _inspect_runtime(artifact, verify, as_json)
        return
    trailer = payload.read_trailer(artifact)
    raw = payload.read_manifest_json(artifact, trailer)  # read and hashed once, parsed once
    manifest = parse(raw, str(artifact), payload_length=trailer.payload_length)
    if verify:
        payload.check_payload(artifact, trailer, manifest)
    if as_json:  # the manifest as stored, keys this bundler does not know included
        click.echo(json.dumps(raw, indent=2, sort_keys=True, ensure_ascii=False))
        return
    assert manifest.payload is not None  # read_manifest requires the payload fields of a single file
    p = manifest.payload
    size = artifact.stat().st_size
    lines = [
        *_manifest_head(manifest, ""),
        *_stub_lines(manifest.stub),
        f"  size      {human_size(size)}: stub {human_size(trailer.payload_offset)}, payload {human_size(trailer.payload_length)}, "
        f"manifest {human_size(trailer.manifest_length)}",
        f"  unpacked  {p.file_count} files, {human_size(p.uncompressed_size)}",
        f"  payload   sha256 {p.sha256}",
        "  layers",
    ]
    for layer in p.layers:
        packed = sum(f.length for f in layer.frames)
        lines.append(
            f"    {layer.name:<13} {human_size(packed):>9} -> {human_size(layer.uncompressed_size):>9}  "
            f"{counted(len(layer.frames), 'frame')}  {counted(layer.files, 'file')}"
            + (f"  key {layer.key[:12]}" if layer.key else "")
        )
    if verify:
        lines.append("verified: payload, every frame and every entry are intact")
    click.echo("\n".join(lines))


def _sbom_of(artifact: Path) -> str:
    """The SBOM inside a single file, runtime directory or archive (the manifest says where)."""
    from bundler.errors import PayloadError
    from bundler.output import payload
    from bundler.output.manifest import parse
    from bundler.output.tree import RUNTIME_MANIFEST, read_runtime_file, read_runtime_manifest_json

    runtime = artifact.is_dir() or artifact.name.endswith(".tar.zst")
    artifact = _runtime_of(artifact)
    if runtime:
        manifest = parse(read_runtime_manifest_json(artifact), f"{artifact}: {RUNTIME_MANIFEST}")
    else:
        manifest = payload.read_manifest(artifact)
    if manifest.sbom is None:
        raise PayloadError(f"{artifact}: carries no SBOM (made by a bundler from before SBOMs); build it again")
    if runtime:
        text = read_runtime_file(artifact, manifest.sbom)
    else:
        data = payload.read_file(artifact, manifest.sbom)
        text = None if data is None else data.decode("utf-8")
    if text is None:
        raise PayloadError(f"{artifact}: the manifest names the SBOM {manifest.sbom}, which is not there; "
                           "the output is damaged")
    return text


def _inspect_report(artifact: Path, output: Path | None) -> None:
    """``inspect --report``: the build report of a single file, made from its manifest and payload."""
    from bundler import buildreport
    from bundler.errors import ConfigError

    if artifact.is_dir() or artifact.name.endswith(".tar.zst"):
        raise ConfigError(f"{artifact}: --report reads a single file; a runtime directory or archive has no "
                           "payload to measure (build it with --report instead)")
    dest = output or artifact.parent / buildreport.report_name(artifact.name)
    data = buildreport.of_single_file(artifact)
    click.echo(str(buildreport.write(data, dest)))


def _manifest_head(manifest: Manifest, kind: str) -> list[str]:
    """The lines every output kind shows first: app, target, Python, floors, entry points."""
    m = manifest
    names = ", ".join(f"{n} (default)" if n == m.default_entry else n for n, _p in m.entry_points)
    return [
        f"{m.app.name} {m.app.version} for {m.target} ({kind}format {m.format})",
        f"  python    {m.python.version or '?'} ({m.python.executable})",
        *([f"  glibc     >= {m.glibc_floor}"] if m.glibc_floor else []),
        *([f"  macOS     >= {m.macos_minimum}"] if m.macos_minimum else []),
        f"  entries   {names or 'none'}",
        *_stdlib_line(m),
    ]


def _stdlib_line(m: Manifest) -> list[str]:
    """What ``stdlib = "imported"`` left out, when the build did (the manifest's contents say)."""
    from bundler.runtime.stdlibprune import WHY_NOT_IMPORTED

    out = [l for l in m.contents.left_out if l.what == WHY_NOT_IMPORTED]
    return [f"  stdlib    only what the app imports (stdlib = \"imported\"): {counted(l.files, 'file')}, "
            f"{human_size(l.size)} left out" for l in out]


def _runtime_of(artifact: Path) -> Path:
    """The runtime an output holds: an app bundle's ``Contents/Resources/runtime``, else *artifact*."""
    from bundler.output.tree import APP_RUNTIME

    return artifact / APP_RUNTIME if artifact.is_dir() and (artifact / APP_RUNTIME).is_dir() else artifact


def _inspect_runtime(path: Path, verify: bool, as_json: bool) -> None:
    """``inspect`` of a ``dir``, ``archive`` or ``app`` output: the runtime's manifest file (FORMAT.md);
    ``--verify`` of an app also checks its seal."""
    import json

    from bundler.output.appbundle import verify_app
    from bundler.output.manifest import parse
    from bundler.output.tree import (
        RUNTIME_MANIFEST,
        read_runtime_manifest_json,
        verify_runtime,
    )

    runtime = _runtime_of(path)
    raw = read_runtime_manifest_json(runtime)
    manifest = parse(raw, f"{runtime}: {RUNTIME_MANIFEST}")
    checked = verify_runtime(runtime, manifest) if verify else None
    if verify and runtime != path:
        checked = f"the signature seals the bundle ({verify_app(path)}); {checked}"
    if as_json:
        click.echo(json.dumps(raw, indent=2, sort_keys=True, ensure_ascii=False))
        return
    kind = "app bundle" if runtime != path else "directory" if path.is_dir() else "archive"
    lines = [
        *_manifest_head(manifest, f"{kind}, " if kind == "app bundle" else f"runtime {kind}, "),
        f"  size      {human_size(_tree_size(path))}" + (" (compressed)" if kind == "archive" else ""),
    ]
    if checked is not None:
        lines.append(f"verified: {checked}")
    click.echo("\n".join(lines))


def _stub_lines(stub: StubRecord | None) -> list[str]:
    """The stub's origin as ``inspect`` shows it (artifacts from before the record have none)."""
    if stub is None:
        return []
    kind = stub.target + (f" ({stub.variant})" if stub.variant else "")
    how = "prebuilt" if stub.prebuilt else "compiled from source"
    return [
        f"  stub      {kind}, {how} with Zig {stub.zig}",
        f"            sha256 {stub.sha256}",
        f"            sources sha256 {stub.source_sha256}",
    ]


@cli.group()
def cache() -> None:
    """The build cache: what it holds (info) and cleaning it (prune).

    The build cache is --cache-dir of `bundler build`: $BUNDLER_BUILD_CACHE,
    else $XDG_CACHE_HOME/bundler-build, else ~/.cache/bundler-build. (Where
    single files unpack on the end user's machine is another cache; each
    file cleans it itself.)
    """


def _ago(when: float | None, now: float) -> str:
    if when is None:
        return "-"
    s = max(0.0, now - when)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.0f} {unit} ago"
    return "just now"


def _cache_dir_of(cache_dir: str | None) -> Path:
    from bundler.config.spec import default_cache_dir

    return Path(cache_dir).expanduser().resolve() if cache_dir else default_cache_dir()


@cache.command("info")
@click.option("--cache-dir", metavar="DIR", help="The build cache (default: as `bundler build` uses it).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def cache_info(cache_dir: str | None, as_json: bool) -> None:
    """Show what the build cache holds: entries, size and last use, by kind."""
    import json
    import time

    from bundler import cacheadmin

    root = _cache_dir_of(cache_dir)
    sums = cacheadmin.summarize(cacheadmin.entries(root) if root.is_dir() else [])
    total = sum(x.size for x in sums)
    if as_json:
        click.echo(json.dumps({"cache_dir": str(root), "size": total, "kinds": [
            {"kind": x.kind.name, "directory": x.kind.directory, "entries": x.count, "size": x.size,
             "oldest_use": x.oldest, "newest_use": x.newest} for x in sums]}, indent=2))
        return
    now = time.time()
    lines = [f"build cache {root}: {human_size(total)} in {counted(sum(x.count for x in sums), 'entry', 'entries')}"]
    for x in sums:
        lines.append(f"  {x.kind.name:<19} {counted(x.count, 'entry', 'entries'):>12} {human_size(x.size):>9}"
                     + (f"  last used {_ago(x.newest, now)}, oldest use {_ago(x.oldest, now)}" if x.count else "")
                     + f"  ({x.kind.what})")
    lines.append("`bundler cache prune` removes what has not been used for 30 days; --max-size caps the size.")
    click.echo("\n".join(lines))


@cache.command("prune")
@click.option("--cache-dir", metavar="DIR", help="The build cache (default: as `bundler build` uses it).")
@click.option("--older-than", "older_than", type=float, metavar="DAYS",
              help="Remove entries no build has used for DAYS days (default 30, unless --max-size or --all is given).")
@click.option("--max-size", "max_size", metavar="SIZE",
              help="Then remove the least recently used entries until the cache is at most SIZE (500M, 2G).")
@click.option("--all", "everything", is_flag=True, help="Remove every entry.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
def cache_prune(cache_dir: str | None, older_than: float | None, max_size: str | None, everything: bool,
                dry_run: bool) -> None:
    """Remove entries of the build cache: by age, down to a size, or all.

    Waits for running builds to finish and holds the cache while it works
    (a build started meanwhile waits), so no build loses an entry it uses.
    What a later build needs again is made again.
    """
    from bundler import cacheadmin

    root = _cache_dir_of(cache_dir)
    cap = cacheadmin.parse_size(max_size) if max_size is not None else None
    if everything:
        older, cap = 0.0, None
    else:
        older = (older_than if older_than is not None else (None if cap is not None else 30.0))
    seconds = None if older is None else older * 86400
    doomed, freed = cacheadmin.run_prune(
        root, older_than=seconds, max_size=cap, dry_run=dry_run,
        on_wait=lambda: click.echo(f"waiting for the builds using {root} to finish", err=True))
    verb = "would remove" if dry_run else "removed"
    by_kind = {k.name: [e for e in doomed if e.kind == k.name] for k in cacheadmin.KINDS}
    click.echo(f"{verb} {counted(len(doomed), 'entry', 'entries')} ({human_size(freed)}) from {root}")
    for name, items in by_kind.items():
        if items:
            click.echo(f"  {name:<19} {counted(len(items), 'entry', 'entries'):>12} {human_size(sum(e.size for e in items)):>9}")


def main(argv: list[str] | None = None) -> int:
    """Run one command; its verbosity lives in a fresh context, so calls in one process do not leak."""
    return copy_context().run(_main, argv)


class Terminated(KeyboardInterrupt):
    """SIGTERM (CI cancel, ``timeout``, ``docker stop``) unwinds like Ctrl-C: every ``finally`` runs,
    so temporary trees and staged outputs are removed before bundler exits."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` for the command's duration (signals reach the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    try:
        with _sigterm_unwinds():
            cli.main(args=argv, prog_name="bundler", standalone_mode=False)
    except BundlerError as exc:
        if VERBOSITY.get() >= 2:
            traceback.print_exc()
        click.echo(f"bundler: error: {exc.message}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:  # click turns a KeyboardInterrupt into Abort
        cause = exc.__cause__ if isinstance(exc, click.exceptions.Abort) else exc
        if isinstance(cause, Terminated):
            click.echo("bundler: terminated (SIGTERM)", err=True)
            return 128 + signal.SIGTERM
        click.echo("bundler: interrupted" if isinstance(cause, KeyboardInterrupt) else "bundler: aborted", err=True)
        return 130
    except Exception as exc:  # a bug: say so, briefly, unless -v
        if VERBOSITY.get() >= 2:
            traceback.print_exc()
        click.echo(f"bundler: internal error: {type(exc).__name__}: {exc} (rerun with -v for a traceback and report it)", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
