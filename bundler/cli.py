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
              help="Output kind: dir (runtime directory) or archive (.tar.zst). Repeatable; default dir.")
@click.option("--output-dir", metavar="DIR", help="Where outputs go (default: <project>/dist).")
@click.option("--find-links", "find_links", multiple=True, metavar="DIR",
              help="Directory of wheels to use before downloading. Repeatable.")
@click.option("--offline", is_flag=True, default=None, help="Never use the network.")
@click.option("--index-url", metavar="URL", help="Index for hashed requirements (default: PyPI).")
@click.option("--cache-dir", metavar="DIR", help="Download cache directory.")
@click.option("--compression-level", type=int, metavar="N", help="zstd level for archives, 1-22 (default 19).")
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
