"""buildreport: what the page shows adds up to the manifest, and vendored libraries are traced to who needs them.

The golden payload (several frames per layer) checks the arithmetic; a single
file written with the real stub around a tree holding the pyenv CPython's real
``_ssl`` module and Debian's real ``libssl.so.3`` checks the binary side.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import _ssl

import pytest
from support import golden

from bundler import buildreport
from bundler.binfmt.formats import needed_by
from bundler.buildreport.model import DIRECTORIES, group_of, largest_remainder, tree, walk
from bundler.buildreport.page import node_id, render
from bundler.errors import OutputError
from bundler.output import manifest as mf
from bundler.output import payload as pl
from bundler.output import stub as stubmod
from bundler.output.layers import LayerMap
from bundler.output.onefile import write_onefile
from bundler.output.tree import REPORT_MARK, is_bundler_output

SSL_MODULE = Path(_ssl.__file__)  # the running CPython's, in its lib-dynload
LIBSSL = Path("/usr/lib/x86_64-linux-gnu/libssl.so.3")


def _newest_glibc(path: Path) -> str:
    out = subprocess.run(["readelf", "-V", "--wide", str(path)], capture_output=True, text=True, check=True).stdout
    versions = {tuple(int(x) for x in v.split(".")) for v in re.findall(r"Name: GLIBC_([0-9.]+)", out)}
    return ".".join(map(str, max(versions)))


@pytest.mark.parametrize("total,weights", [(10, [1, 1, 1]), (7, [0, 5, 2]), (1000, [3, 3, 3, 1]), (5, [0, 0]),
                                           (0, [4, 4]), (123457, list(range(1, 60)))])
def test_largest_remainder_sums_exactly_and_follows_the_weights(total, weights):
    shares = largest_remainder(total, weights)
    assert sum(shares) == total and len(shares) == len(weights)
    whole = sum(weights)
    if whole:
        assert all(abs(s - total * w / whole) < 1 for s, w in zip(shares, weights))


@pytest.mark.parametrize("path,is_dir,group", [
    ("lib/python3.11/site-packages/numpy/core/x.so", False, ("lib/python3.11/site-packages", "numpy")),
    ("lib/python3.11/site-packages/numpy", True, ("lib/python3.11/site-packages", "numpy")),
    ("lib/python3.11/site-packages", True, ("lib/python3.11/site-packages", DIRECTORIES)),
    ("lib/python3.11/json/decoder.py", False, ("lib/python3.11", "json")),
    ("lib/python3.11/os.py", False, ("lib/python3.11", "os.py")),
    ("lib/python3.11", True, ("lib/python3.11", DIRECTORIES)),
    ("lib/bundled/libssl-1a2b3c4d.so.3", False, ("lib", "bundled")),
    ("lib", True, ("lib", DIRECTORIES)),
    ("bin/python3.11", False, ("bin", "python3.11")),
    ("Lib/site-packages/numpy.libs/x.dll", False, ("Lib/site-packages", "numpy.libs")),
    ("python.exe", False, ("(top level)", "python.exe")),
])
def test_groups(path, is_dir, group):
    assert group_of(path, is_dir) == group


def test_the_golden_payload_adds_up_to_its_manifest():
    data = buildreport.of_single_file(golden.GOLDEN)
    m = data.manifest
    assert m.payload is not None
    layers = {n.name: n for n in tree(data)}
    for layer in m.payload.layers:
        node = layers[layer.name]
        assert len(layer.frames) >= 1
        assert node.stored == layer.uncompressed_size  # headers and paths counted: exactly the manifest's
        assert node.compressed == sum(f.length for f in layer.frames)
        assert node.files == layer.files
    assert sum(n.stored for n in layers.values()) == m.payload.uncompressed_size
    assert sum(n.compressed or 0 for n in layers.values()) == m.payload.length
    assert sum(n.files for n in layers.values()) == m.payload.file_count
    for node in walk(layers.values()):  # every level sums to its parent
        if node.children:
            assert sum(c.stored for c in node.children) == node.stored, node.path
            assert sum(c.compressed or 0 for c in node.children) == node.compressed, node.path
    assert {i.path: i.layer for i in data.items}["lib/python3.11/site-packages/app/__init__.py"] == "app"
    assert data.timings == () and data.libraries == ()


@pytest.fixture(scope="module")
def ssl_file(tmp_path_factory) -> Path:
    """A single file whose tree holds a real extension module and the real library it needs, vendored."""
    if not SSL_MODULE.is_file() or not LIBSSL.is_file():
        pytest.fail(f"this test needs {SSL_MODULE} and {LIBSSL} (the pyenv CPython and Debian's libssl3)")
    root = golden.make_tree(tmp_path_factory.mktemp("tree") / "rt")
    dynload = root / "lib/python3.11/lib-dynload"
    shutil.copy(SSL_MODULE, dynload / SSL_MODULE.name)
    (root / "lib/bundled").mkdir()
    shutil.copy(LIBSSL, root / "lib/bundled/libssl.so.3")
    stub = stubmod.stub_for("linux-x86_64", cache_dir=tmp_path_factory.mktemp("stub-cache"))
    manifest = dataclasses.replace(
        mf.parse(golden.MANIFEST, "golden"), stub=stub.record(),
        contents=mf.Contents(
            wheels=(mf.WheelRecord("dep", "1.0", "dep-1.0-py3-none-any.whl", "ab" * 32),
                    mf.WheelRecord("app", "2.0", "app-2.0-py3-none-any.whl", None)),
            vendored_libraries=(mf.VendoredRecord("lib/bundled/libssl.so.3", str(LIBSSL)),),
            left_out=(mf.LeftOut("standard library tests", 12, 3456),),
        ),
    )
    out = tmp_path_factory.mktemp("out") / "golden-1.0-linux-x86_64"
    layers = LayerMap("lib/python3.11/site-packages", {}, {"dep": "dependencies", "app": "app"})
    write_onefile(root, out, stub=stub.path, layers=layers, manifest=manifest, level=3,
                  cache=pl.FrameCache(None))
    return out


def test_a_vendored_library_is_traced_to_the_module_that_needs_it(ssl_file):
    data = buildreport.of_single_file(ssl_file)  # unpacked to a temporary tree, every frame checked
    (lib,) = data.libraries
    assert lib.path == "lib/bundled/libssl.so.3" and lib.origin == str(LIBSSL)
    assert lib.sha256 == hashlib.sha256(LIBSSL.read_bytes()).hexdigest()
    assert lib.needed_by == (f"lib/python3.11/lib-dynload/{SSL_MODULE.name}",)
    assert lib.floor == _newest_glibc(LIBSSL)  # what binutils reads from its version needs
    assert data.binaries == 2
    assert data.artifact_size == ssl_file.stat().st_size


def test_the_page_holds_every_section_and_what_it_says(ssl_file, tmp_path):
    data = buildreport.of_single_file(ssl_file)
    page = render(data)
    assert page.startswith("<!doctype html>") and REPORT_MARK in page[:1024]
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    for section in ("summary", "treemap", "contents", "largest", "left-out", "libraries", "wheels", "timings"):
        assert f'<section id="{section}"' in page
    assert 'id="lib-libssl.so.3"' in page and SSL_MODULE.name in page and data.libraries[0].sha256 in page
    assert "dep-1.0-py3-none-any.whl" in page and "ab" * 32 in page and "built from the project" in page
    assert "standard library tests" in page and "3.5 kB" in page
    assert "Not recorded" in page  # no timings in an artifact
    boxes = [n for n in walk(tree(data)) if n.kind in ("layer", "top", "package")]
    assert {n.kind for n in boxes} == {"layer", "top", "package"}
    for node in boxes:  # a box links (Tab, Enter) to its entry in the contents tree
        assert f'href="#{node_id(node)}"' in page and f'id="{node_id(node)}"' in page, node
    timed = render(dataclasses.replace(data, timings=(("fetch", 1.5), ("base", 3.0))))
    assert "Seconds per stage" in timed and "3.00 s" in timed


def test_a_report_replaces_its_own_kind_only(ssl_file, tmp_path):
    data = buildreport.of_single_file(ssl_file)
    dest = tmp_path / "golden-1.0-linux-x86_64.report.html"
    assert buildreport.write(data, dest) == dest and is_bundler_output(dest)
    assert oct(dest.stat().st_mode & 0o777) == oct(0o644)
    buildreport.write(data, dest)  # its own page: replaced
    assert os.listdir(tmp_path) == [dest.name]  # nothing half-written beside it
    foreign = tmp_path / "notes.report.html"
    foreign.write_text("<html>my notes</html>")
    with pytest.raises(OutputError, match="not a bundler report"):
        buildreport.write(data, foreign)
    assert foreign.read_text() == "<html>my notes</html>"


def test_needed_by_compares_file_names_and_folds_case_for_pe():
    from bundler.binfmt.interface import BinaryInfo

    info = lambda *needed: BinaryInfo(None, needed, (), (), None)  # noqa: E731
    binaries = {"a.pyd": info("ZLIB1-0123abcd.DLL"), "b.so": info("libz.so.1"), "lib/zlib1-0123abcd.dll": info()}
    assert needed_by(binaries, "lib/zlib1-0123abcd.dll", case_insensitive=True) == ("a.pyd",)
    assert needed_by(binaries, "lib/zlib1-0123abcd.dll") == ()
    assert needed_by({"m.dylib": info("@rpath/libfoo.dylib")}, "lib/bundled/libfoo.dylib") == ("m.dylib",)


def test_report_name():
    assert buildreport.report_name("app-1.0-windows-x86_64.exe") == "app-1.0-windows-x86_64.report.html"
    assert buildreport.report_name("app-1.0-linux-x86_64") == "app-1.0-linux-x86_64.report.html"
    assert sys.platform == "linux"


def test_a_tree_without_a_single_file_counts_what_a_payload_would_hold(tmp_path):
    """A dir/archive-only build's report reads the tree: its layer sizes are the ones packing it would give."""
    import io

    root = golden.make_tree(tmp_path / "rt")
    layers = LayerMap("lib/python3.11/site-packages", {}, {"dep": "dependencies", "app": "app"})
    entries = pl.scan_tree(root)
    packed = pl.pack({name: [e for e in entries if layers.layer_of(e.path) == name] for name in pl.LAYERS},
                     io.BytesIO(), level=3, cache=pl.FrameCache(None))
    data = buildreport.of_tree(root, mf.parse(golden.MANIFEST, "golden"), layers)
    nodes = {n.name: n for n in tree(data)}
    for layer in packed.layers:
        assert (nodes[layer.name].stored, nodes[layer.name].files) == (layer.uncompressed_size, layer.files)
        assert nodes[layer.name].compressed is None  # no frames to share out
