"""What the build report shows, gathered from an output: every entry with its layer and sizes,
the vendored libraries with who needs them, the wheels, what was left out.

Everything comes from the manifest, the payload and the runtime tree, so the
page of a fresh build (``bundler build --report``) and the page of an artifact
made long ago (``bundler inspect --report``) are the same page; only the
build's timings are not in the artifact.

Sizes add up: an entry's *stored* bytes are what it takes in its layer before
compression (entry header, path and data), so the entries of a layer sum to
the layer's ``uncompressed_size`` in the manifest; a frame's compressed bytes
are shared among its entries in proportion to their stored bytes (largest
remainder, whole bytes), so they sum to the frame's length exactly.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from bundler.binfmt.formats import needed_by, read_binaries, reader_for
from bundler.binfmt.interface import BinaryInfo
from bundler.digest import sha256_file
from bundler.output import payload
from bundler.output.layers import LayerMap
from bundler.output.manifest import LAYERS, Manifest
from bundler.platforms import platform_named


@dataclass(frozen=True)
class Item:
    """One payload entry: a file, directory or symlink."""

    path: str
    layer: str
    kind: int  # payload.FILE, DIR or SYMLINK
    size: int  # the file's bytes (0 for a directory or symlink)
    stored: int  # bytes in its layer before compression: header + path + data
    compressed: int | None = None  # its share of its frame's compressed bytes (a single file only)


@dataclass(frozen=True)
class LibraryRow:
    """A library relocation copied in from the build machine."""

    path: str
    origin: str
    sha256: str | None  # None: the file is not in the tree (a damaged or hand-made output)
    size: int
    needed_by: tuple[str, ...]
    #: the oldest glibc (``2.17``) or macOS it needs; None: it sets no floor
    floor: str | None


@dataclass(frozen=True)
class ReportData:
    manifest: Manifest
    items: tuple[Item, ...]
    libraries: tuple[LibraryRow, ...]
    #: the binaries that set the manifest's glibc floor or macOS minimum
    floor_set_by: tuple[str, ...]
    binaries: int
    #: (stage, seconds) of the build; empty for a report made from an artifact
    timings: tuple[tuple[str, float], ...] = ()
    #: the single file's size in bytes (None: the report is of a runtime tree)
    artifact_size: int | None = None


def largest_remainder(total: int, weights: list[int]) -> list[int]:
    """*total* split in whole parts proportional to *weights*, summing to *total* exactly."""
    whole = sum(weights)
    if not weights:
        return []
    if whole == 0:
        return [total] + [0] * (len(weights) - 1)
    shares = [total * w // whole for w in weights]
    left = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[:left]:
        shares[i] += 1
    return shares


def items_of_single_file(path: Path, manifest: Manifest, trailer: payload.Trailer) -> tuple[Item, ...]:
    """Every entry of the single file at *path*, with its layer, sizes and share of its frame's bytes."""
    assert manifest.payload is not None
    frames = [(layer.name, fr) for layer in manifest.payload.layers for fr in layer.frames]
    by_frame: list[list[tuple[str, int, int, int]]] = [[] for _ in frames]
    for entry in payload.iter_entries(path, manifest, trailer):
        data = entry.stored - payload.HEADER.size - len(entry.path.encode("utf-8", "surrogateescape"))
        by_frame[entry.frame].append((entry.path, entry.kind, data if entry.kind == payload.FILE else 0, entry.stored))
    items: list[Item] = []
    for (layer, fr), entries in zip(frames, by_frame):
        shares = largest_remainder(fr.length, [stored for _p, _k, _s, stored in entries])
        items.extend(Item(p, layer, k, s, stored, c) for (p, k, s, stored), c in zip(entries, shares))
    return tuple(items)


def items_of_tree(root: Path, layers: LayerMap) -> tuple[Item, ...]:
    """Every entry of a runtime tree as the single file would store it, by layer (no compressed sizes)."""
    out = []
    for e in payload.scan_tree(root):
        size = e.source.stat().st_size if e.kind == payload.FILE and e.source else 0
        data = len((e.target or "").encode("utf-8", "surrogateescape")) if e.kind == payload.SYMLINK else size
        stored = payload.HEADER.size + len(e.path.encode("utf-8", "surrogateescape")) + data
        out.append(Item(e.path, layers.layer_of(e.path), e.kind, size, stored))
    order = {name: i for i, name in enumerate(LAYERS)}
    return tuple(sorted(out, key=lambda i: (order.get(i.layer, len(order)), i.path)))


def _floors(root: Path, target: str, binaries: Mapping[str, BinaryInfo]) -> dict[str, str | None]:
    """Each binary's own floor: the newest glibc (ELF) or the minimum macOS (Mach-O) it needs."""
    plat = platform_named(target)
    if plat is None:
        return {}
    floor_of = reader_for(plat.binary_format, plat.arch).floor
    out = {}
    for rel, info in binaries.items():
        floor = floor_of(root, {rel: info})
        out[rel] = floor.glibc or floor.macos
    return out


def libraries(root: Path, manifest: Manifest, binaries: Mapping[str, BinaryInfo],
              floors: Mapping[str, str | None]) -> tuple[LibraryRow, ...]:
    plat = platform_named(manifest.target)
    fold = plat is not None and reader_for(plat.binary_format, plat.arch).case_insensitive
    rows = []
    for lib in manifest.contents.vendored_libraries:
        p = root / lib.path
        present = p.is_file() and not p.is_symlink()
        rows.append(LibraryRow(
            path=lib.path,
            origin=lib.origin,
            sha256=sha256_file(p) if present else None,
            size=p.stat().st_size if present else 0,
            needed_by=needed_by(binaries, lib.path, fold),
            floor=floors.get(lib.path),
        ))
    return tuple(rows)


def collect(manifest: Manifest, items: Iterable[Item], root: Path, *,
            timings: tuple[tuple[str, float], ...] = (), artifact_size: int | None = None) -> ReportData:
    """The report of the output described by *manifest*, whose entries are *items* and whose tree is at *root*."""
    binaries = read_binaries(root, manifest.target)
    floors = _floors(root, manifest.target, binaries)
    floor = manifest.glibc_floor or manifest.macos_minimum
    return ReportData(
        manifest=manifest,
        items=tuple(items),
        libraries=libraries(root, manifest, binaries, floors),
        floor_set_by=tuple(sorted(rel for rel, f in floors.items() if floor and f == floor)),
        binaries=len(binaries),
        timings=timings,
        artifact_size=artifact_size,
    )


# ---------------------------------------------------------------- the tree the page draws


@dataclass(frozen=True)
class Node:
    """A box of the treemap: a layer, a top-level directory, a package or a file (or the rest of a package's files)."""

    name: str
    path: str  # what the node stands for ("lib/python3.11/site-packages/numpy"), for labels and anchors
    kind: str  # layer, top, package, file, rest
    layer: str
    stored: int
    compressed: int | None
    files: int
    children: tuple[Node, ...] = ()


_SITE = ("site-packages", "dist-packages")


DIRECTORIES = "(directories)"


def group_of(path: str, is_dir: bool = False) -> tuple[str, str]:
    """(top-level directory, package) an entry belongs to in the treemap.

    Inside site-packages the package is its top-level name there (``numpy``,
    ``numpy-1.26.4.dist-info``); in the standard library, its module or
    package (``json``, ``os.py``, ``lib-dynload``); elsewhere the second path
    component (``lib/bundled``, ``bin/python3.11``). A directory that holds
    packages rather than being one (``lib``, ``lib/python3.11``) counts as
    ``(directories)`` of the top-level directory it opens.
    """
    if is_dir:
        top, package = group_of(path + "/_")
        return (top, DIRECTORIES) if package == "_" else (top, package)
    parts = path.split("/")
    for i, part in enumerate(parts):
        if part in _SITE:
            top = "/".join(parts[: i + 1])
            return top, parts[i + 1] if len(parts) > i + 1 else part
    if len(parts) >= 2 and parts[0] == "lib" and parts[1].startswith("python"):
        return "/".join(parts[:2]), parts[2] if len(parts) > 2 else parts[1]
    if len(parts) == 1:
        return "(top level)", parts[0]
    return parts[0], parts[1]


def _sum(items: list[Item]) -> tuple[int, int | None]:
    compressed = None if any(i.compressed is None for i in items) else sum(i.compressed or 0 for i in items)
    return sum(i.stored for i in items), compressed


def _files(items: list[Item]) -> int:
    return sum(1 for i in items if i.kind != payload.DIR)


def tree(data: ReportData, max_files: int = 400, min_share: float = 0.0005) -> tuple[Node, ...]:
    """One node per layer, with its top-level directories, packages and files.

    Files get boxes of their own when they are at least *min_share* of the whole
    and among the *max_files* largest; a package's other files are one ``rest``
    box, so the page stays small whatever the runtime holds.
    """
    total = sum(i.stored for i in data.items) or 1
    ranked = sorted((i for i in data.items if i.kind == payload.FILE), key=lambda i: (-i.stored, i.path))
    shown = {i.path for i in ranked[:max_files] if i.stored / total >= min_share}
    layers = []
    for layer in LAYERS:
        in_layer = [i for i in data.items if i.layer == layer]
        tops: dict[str, dict[str, list[Item]]] = {}
        for item in in_layer:
            top, package = group_of(item.path, item.kind == payload.DIR)
            tops.setdefault(top, {}).setdefault(package, []).append(item)
        top_nodes = []
        for top, packages in tops.items():
            package_nodes = []
            for package, members in packages.items():
                base = f"{top}/{package}" if top != "(top level)" else package
                kids = [Node(posixpath.basename(i.path), i.path, "file", layer, i.stored, i.compressed, 1)
                        for i in members if i.path in shown]
                rest = [i for i in members if i.path not in shown]
                if rest and kids:
                    stored, compressed = _sum(rest)
                    kids.append(Node(f"{_files(rest)} smaller entries", base, "rest", layer, stored, compressed,
                                     _files(rest)))
                stored, compressed = _sum(members)
                package_nodes.append(Node(package, base, "package", layer, stored, compressed, _files(members),
                                          _ordered(kids)))
            stored, compressed = _sum([i for ms in packages.values() for i in ms])
            top_nodes.append(Node(top, top, "top", layer, stored, compressed,
                                  sum(n.files for n in package_nodes), _ordered(package_nodes)))
        stored, compressed = _sum(in_layer)
        layers.append(Node(layer, layer, "layer", layer, stored, compressed, _files(in_layer), _ordered(top_nodes)))
    return tuple(layers)


def _ordered(nodes: list[Node]) -> tuple[Node, ...]:
    return tuple(sorted(nodes, key=lambda n: (-n.stored, n.name)))


def walk(nodes: Iterable[Node]) -> Iterator[Node]:
    for n in nodes:
        yield n
        yield from walk(n.children)
