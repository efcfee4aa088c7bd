"""Which payload layer each runtime path belongs to: runtime, dependencies or app.

Installed files are attributed through each distribution's RECORD; byte code
follows its source; everything not installed from a wheel (the interpreter,
the standard library, vendored libraries, bundler's own hook) is ``runtime``.
"""

from __future__ import annotations

import csv
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

RUNTIME, DEPENDENCIES, APP = "runtime", "dependencies", "app"


@dataclass(frozen=True)
class LayerMap:
    sitepackages: str
    files: Mapping[str, str]  # runtime-relative path -> layer
    tops: Mapping[str, str]  # top-level name in site-packages -> layer

    def layer_of(self, path: str) -> str:
        files = self.files
        if path in files:
            return files[path]
        if "/__pycache__/" in f"/{path}":
            head, _, name = path.rpartition("/__pycache__/")
            source = (f"{head}/" if head else "") + name.split(".", 1)[0] + ".py"
            if source in files:
                return files[source]
        prefix = self.sitepackages + "/"
        if path.startswith(prefix):
            top = path[len(prefix):].split("/", 1)[0]
            if top in self.tops:
                return self.tops[top]
        return RUNTIME


def _dist_name(dist_info: Path) -> str:
    return canonicalize_name(dist_info.name[: -len(".dist-info")].split("-", 1)[0])


def build_layer_map(root: Path, sitepackages: str, app_dists: Iterable[str], app_paths: Iterable[str] = ()) -> LayerMap:
    """Attribute every file listed in a RECORD to ``app`` (for *app_dists*) or ``dependencies``."""
    apps = {canonicalize_name(n) for n in app_dists}
    files: dict[str, str] = {}
    tops: dict[str, str] = {}
    site = root / sitepackages
    for dist_info in sorted(site.glob("*.dist-info")):
        layer = APP if _dist_name(dist_info) in apps else DEPENDENCIES
        record = dist_info / "RECORD"
        if not record.is_file():
            continue
        with open(record, newline="") as f:
            for row in csv.reader(f):
                if not row:
                    continue
                rel = posixpath.normpath(posixpath.join(sitepackages, row[0]))
                if rel.startswith("../"):
                    continue
                files.setdefault(rel, layer)
                if rel.startswith(sitepackages + "/"):
                    tops.setdefault(rel[len(sitepackages) + 1:].split("/", 1)[0], layer)
    for p in app_paths:
        files[p] = APP
    return LayerMap(sitepackages, dict(sorted(files.items())), dict(sorted(tops.items())))
