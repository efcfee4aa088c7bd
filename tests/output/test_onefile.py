"""output/onefile: the real stub + the golden tree's block, written atomically, runnable, and refused over foreign files."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
from support import golden

from bundler.errors import OutputError, StubError
from bundler.output import manifest as mf
from bundler.output import payload as pl
from bundler.output import stub as stubmod
from bundler.output.layers import LayerMap
from bundler.output.onefile import write_onefile


@pytest.fixture(scope="module")
def stub(tmp_path_factory) -> stubmod.Stub:
    found = stubmod.stub_for("linux-x86_64", cache_dir=tmp_path_factory.mktemp("stub-cache"))
    assert found.prebuilt, "no packaged stubs: run `make stubs` first (make test does)"
    return found


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return golden.make_tree(tmp_path_factory.mktemp("golden") / "tree")


def _layers() -> LayerMap:
    return LayerMap(sitepackages="lib/python3.11/site-packages", files={}, tops={"dep": "dependencies", "app": "app"})


def _write(tree: Path, final: Path, stub: stubmod.Stub, tmp_path: Path, **kw):
    manifest = dataclasses.replace(mf.parse(golden.MANIFEST, "golden"), stub=stub.record())
    return write_onefile(tree, final, stub=stub.path, layers=_layers(), manifest=manifest, level=3,
                         cache=pl.FrameCache(tmp_path / "frames"), **kw)


def test_stub_then_block_then_it_verifies(tree, stub, tmp_path):
    final = tmp_path / "out" / "golden-1.0-linux-x86_64"
    final.parent.mkdir()
    seen: list[tuple[int, int]] = []
    result = _write(tree, final, stub, tmp_path, progress=lambda d, t: seen.append((d, t)))
    data = final.read_bytes()
    assert data[: result.stub_size] == stub.path.read_bytes() and result.stub_size == stub.path.stat().st_size
    assert (result.path, result.size) == (final, len(data))
    assert final.stat().st_mode & 0o777 == 0o755
    assert pl.read_manifest(final) == result.manifest
    assert result.manifest.stub == stub.record() and result.manifest.payload is not None
    layers = {layer.name: layer for layer in result.manifest.payload.layers}
    assert all(layers[n].files and layers[n].frames for n in ("runtime", "dependencies", "app"))
    assert seen and seen[-1][0] == seen[-1][1]  # progress ends at the total
    assert os.listdir(final.parent) == [final.name]  # no temporary file beside it
    proc = subprocess.run([str(final)], env={"BUNDLER_STUB": "verify", "PATH": "/usr/bin:/bin"},
                          capture_output=True, timeout=300)
    assert (proc.returncode, proc.stdout) == (0, b"ok golden 1.0 linux-x86_64\n"), proc.stderr
    # the same inputs make the same bytes
    again = _write(tree, tmp_path / "out" / "second", stub, tmp_path)
    assert again.path.read_bytes() == data and again.packed.frames_cached == sum(len(layer.frames) for layer in layers.values())


def test_an_earlier_output_is_replaced_a_foreign_file_never(tree, stub, tmp_path):
    final = tmp_path / "app"
    _write(tree, final, stub, tmp_path)
    _write(tree, final, stub, tmp_path)  # its own earlier output: replaced
    foreign = tmp_path / "notes"
    foreign.write_text("mine\n")
    with pytest.raises(OutputError, match=f"{foreign}: exists and is not a bundler output"):
        _write(tree, foreign, stub, tmp_path)
    assert foreign.read_text() == "mine\n"


def test_a_failure_leaves_nothing(tree, stub, tmp_path):
    out = tmp_path / "out"
    out.mkdir()

    def fail(done: int, total: int) -> None:
        raise StubError("interrupted on purpose")

    with pytest.raises(StubError):
        _write(tree, out / "app", stub, tmp_path, progress=fail)
    assert os.listdir(out) == []
    missing = dataclasses.replace(stub, path=tmp_path / "no-such-stub")
    with pytest.raises(FileNotFoundError):
        _write(tree, out / "app", missing, tmp_path)
    assert os.listdir(out) == []
