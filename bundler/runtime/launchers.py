"""Launchers: files in ``bin/`` that run the runtime's interpreter from any location.

A launcher is a shell/Python polyglot. ``/bin/sh`` reads the first part, which
resolves symlinks to find the runtime (no absolute path is baked in) and
re-executes the same file with the runtime's interpreter in isolated mode
(``-I``: no PYTHON* variables, no user site-packages). Python sees that part as
a string literal and runs the rest.
"""

from __future__ import annotations

SH_HEADER = """#!/bin/sh
''':'
# bundler launcher: finds the runtime next to this file (through symlinks, from any cwd).
p=$0
while [ -h "$p" ]; do
  l=$(readlink -- "$p") || break
  case $l in /*) p=$l ;; *) p=${p%/*}/$l ;; esac
done
case $p in */*) d=${p%/*} ;; *) d=. ;; esac
d=$(cd -P -- "$d" && pwd -P) || exit 127
exec "$d/__PYTHON__" -I "$d/${p##*/}" "$@"
'''
"""


def header(python_name: str) -> str:
    """The polyglot prologue; *python_name* is the interpreter's file name in ``bin/``."""
    return SH_HEADER.replace("__PYTHON__", python_name)


def entry_script(python_name: str, module: str, attr: str) -> str:
    """A launcher that calls ``module:attr`` like a console script."""
    top = attr.split(".")[0]
    return header(python_name) + (
        "import os, sys\n"
        "# the single-file stub passes the name the user ran; keep it out of child processes\n"
        "sys.argv[0] = os.environ.pop('BUNDLER_ARGV0', sys.argv[0])\n"
        f"from {module} import {top}\n"
        "if __name__ == '__main__':\n"
        f"    sys.exit({attr}())\n"
    )


def rewrite_shebang(content: bytes, python_name: str) -> bytes:
    """A wheel's ``#!python`` script with the polyglot prologue instead of its shebang."""
    if not content.startswith(b"#!python"):
        return content
    _first, _nl, rest = content.partition(b"\n")
    return header(python_name).encode() + rest
