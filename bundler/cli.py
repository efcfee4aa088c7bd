"""The ``bundler`` command line."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click

from . import __version__
from .config import FORMATS, resolve
from .errors import BundlerError

_VERBOSE = {"level": 1}


def _say(stage: str, message: str) -> None:
    if _VERBOSE["level"] >= 1:
        click.echo(f"  {stage:<9} {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bundler")
def cli() -> None:
    """Turn a locked Python environment into a relocatable runtime that runs on a bare machine."""


@cli.command()
@click.argument("project_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--lock", metavar="FILE", help="pylock.toml or fully hashed requirements.txt.")
@click.option("--entry", "entry", multiple=True, metavar="NAME[=MODULE:FUNC]",
              help="Entry point to expose as bin/NAME; NAME alone is a console script of a locked package. Repeatable.")
@click.option("--python", metavar="PATH", help="Base CPython (default: the interpreter running bundler).")
@click.option("--name", metavar="NAME", help="Output name (default: the project's name, else the first entry).")
@click.option("--version", "version", metavar="VERSION", help="Version used in output names.")
@click.option("--format", "format", multiple=True, type=click.Choice(FORMATS),
              help="Output kind: onefile (self-extracting executable), dir (runtime directory) or "
                   "archive (.tar.zst). Repeatable; default onefile.")
@click.option("--output-dir", metavar="DIR", help="Where outputs go (default: <project>/dist).")
@click.option("--find-links", "find_links", multiple=True, metavar="DIR",
              help="Directory of wheels to use before downloading. Repeatable.")
@click.option("--offline", is_flag=True, default=None, help="Never use the network.")
@click.option("--gui", is_flag=True, default=None, help="Mark the app as a GUI app (no console window where that applies).")
@click.option("--index-url", metavar="URL", help="Index for hashed requirements (default: PyPI).")
@click.option("--cache-dir", metavar="DIR", help="Download cache directory.")
@click.option("--compression-level", type=int, metavar="N", help="zstd level for onefile and archive, 1-22 (default 19).")
@click.option("-v", "--verbose", count=True, help="More detail; tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
def build(project_dir: Path | None, verbose: int, quiet: bool, **flags: object) -> None:
    """Build the runtime for PROJECT_DIR (its [tool.bundler] config and lock file).

    Without PROJECT_DIR, --lock and --entry are enough (bundling a published app).
    """
    _VERBOSE["level"] = 0 if quiet else 1 + verbose
    cli_values = {k.replace("_", "-"): v for k, v in flags.items()}
    spec = resolve(project_dir, cli_values)
    from .pipeline import build as run_build

    result = run_build(spec, _say)
    if not quiet:
        rel = result.relocation
        click.echo(
            f"built {result.name} {result.version} for {result.target} (CPython {result.python}, "
            f"{len(result.wheels)} wheels, {len(rel.vendored)} vendored libraries, glibc >= {rel.glibc_floor})",
            err=True,
        )
        for out in result.outputs:
            click.echo(str(out))


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


@cli.command()
@click.argument("artifact", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--verify", is_flag=True, help="Check the payload hash, every frame and every entry.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.option("-v", "--verbose", count=True, help="Tracebacks on errors.")
def inspect(artifact: Path, verify: bool, as_json: bool, verbose: int) -> None:
    """Show what a single-file ARTIFACT holds: manifest, layers, sizes, entry points."""
    import json

    from . import payload

    _VERBOSE["level"] = 1 + verbose
    trailer = payload.read_trailer(artifact)
    manifest = payload.verify(artifact) if verify else payload.read_manifest(artifact, trailer)
    if as_json:
        click.echo(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False))
        return
    app = manifest.get("app", {})
    entries = manifest.get("entry_points", {})
    default = manifest.get("default_entry")
    names = ", ".join(f"{n} (default)" if n == default else n for n in entries)
    size = artifact.stat().st_size
    lines = [
        f"{app.get('name')} {app.get('version')} for {manifest.get('target')} (format {manifest.get('format')})",
        f"  python    {manifest['python']['version']} ({manifest['python']['executable']})",
        f"  glibc     >= {manifest.get('glibc_floor')}",
        f"  entries   {names}",
        f"  size      {_size(size)}: stub {_size(trailer.payload_offset)}, payload {_size(trailer.payload_length)}, "
        f"manifest {_size(trailer.manifest_length)}",
        f"  unpacked  {manifest['file_count']} files, {_size(manifest['uncompressed_size'])}",
        f"  payload   sha256 {manifest['payload']['sha256']}",
        "  layers",
    ]
    for layer in manifest["layers"]:
        packed = sum(f["length"] for f in layer["frames"])
        lines.append(
            f"    {layer['name']:<13} {_size(packed):>9} -> {_size(layer['uncompressed_size']):>9}  "
            f"{len(layer['frames'])} frames  {layer['files']} files"
        )
    if verify:
        lines.append("verified: payload, every frame and every entry are intact")
    click.echo("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="bundler", standalone_mode=False)
    except BundlerError as exc:
        if _VERBOSE["level"] >= 2:
            traceback.print_exc()
        click.echo(f"bundler: error: {exc.message}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("bundler: aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("bundler: interrupted", err=True)
        return 130
    except Exception as exc:  # a bug: say so, briefly, unless -v
        if _VERBOSE["level"] >= 2:
            traceback.print_exc()
        click.echo(f"bundler: internal error: {type(exc).__name__}: {exc} (rerun with -v for a traceback and report it)", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
