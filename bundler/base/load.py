"""The base CPython named by ``--python``: probed when this machine can run it, else read from its files.
"""

from __future__ import annotations

import os
from pathlib import Path

from bundler.base.model import BaseInterpreter
from bundler.base.probe import find_python, probe


def load_base(spec: str | None, cache_dir: Path) -> BaseInterpreter:
    """The base CPython named by ``--python``: probed when this machine can run it,
    else described from its files (another platform's CPython, an archive)."""
    from bundler.base import files as basemeta

    if spec is None:
        return probe(find_python(None))
    candidate = Path(spec).expanduser()
    if basemeta.is_archive(candidate):
        return basemeta.describe(candidate, cache_dir)
    if candidate.is_dir():
        exe = next((candidate / n for n in ("bin/python3", "bin/python") if (candidate / n).exists()), None)
        if exe is None or not basemeta.host_can_run(Path(os.path.realpath(exe))):
            return basemeta.describe(candidate, cache_dir)
        return probe(exe)
    exe = find_python(spec)
    if basemeta.executable_kind(exe) is not None and not basemeta.host_can_run(exe):
        return basemeta.describe(exe, cache_dir)
    return probe(exe)
