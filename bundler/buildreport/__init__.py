"""The build report: one HTML page of what an output holds, what it costs and where it came from.

``bundler build --report`` writes it beside the outputs from the runtime it
just built; ``bundler inspect --report`` makes the same page from a single
file, from its manifest and payload alone.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bundler import cachefs
from bundler.buildreport.model import ReportData, collect, items_of_single_file, items_of_tree
from bundler.buildreport.page import render
from bundler.errors import OutputError
from bundler.output import payload
from bundler.output.layers import LayerMap
from bundler.output.manifest import Manifest
from bundler.output.tree import REPORT_SUFFIX, is_bundler_output


def report_name(stem: str) -> str:
    """``hello-1.0.0-linux-x86_64`` → ``hello-1.0.0-linux-x86_64.report.html`` (a ``.exe`` is dropped)."""
    return (stem[: -len(".exe")] if stem.endswith(".exe") else stem) + REPORT_SUFFIX


def of_single_file(path: Path, *, root: Path | None = None,
                   timings: tuple[tuple[str, float], ...] = ()) -> ReportData:
    """The report of the single file at *path*: its manifest, its payload (every frame checked) and
    its tree, read from *root* when the caller has it (the build) or unpacked into a temporary directory."""
    trailer = payload.read_trailer(path)
    manifest = payload.read_manifest(path, trailer)
    items = items_of_single_file(path, manifest, trailer)
    size = path.stat().st_size
    if root is not None:
        return collect(manifest, items, root, timings=timings, artifact_size=size)
    with tempfile.TemporaryDirectory(prefix="bundler-report-") as tmp:
        tree = Path(tmp) / "runtime"
        payload.extract(path, tree)
        return collect(manifest, items, tree, timings=timings, artifact_size=size)


def of_tree(root: Path, manifest: Manifest, layers: LayerMap,
            timings: tuple[tuple[str, float], ...] = ()) -> ReportData:
    """The report of a runtime tree that has no single file (a ``dir`` or ``archive`` build): no compressed sizes."""
    return collect(manifest, items_of_tree(root, layers), root, timings=timings)


def write(data: ReportData, dest: Path) -> Path:
    """Write the page of *data* to *dest* whole; an existing file there is replaced only if it is a
    report bundler wrote."""
    if (dest.exists() or dest.is_symlink()) and not is_bundler_output(dest):
        raise OutputError(f"{dest}: exists and is not a bundler report, so it is not replaced; move it away or "
                          "choose another place with --output")
    try:
        with cachefs.new_file(dest, 0o644) as out:  # a temporary sibling, renamed into place; removed on failure
            out.write(render(data).encode("utf-8"))
    except OSError as exc:
        raise OutputError(f"{dest}: cannot write the report ({exc.strerror}); choose a writable place with --output") from exc
    return dest
