"""The payload writer and reader against docs/FORMAT.md and the golden file."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from support import golden

from bundler.errors import PayloadError
from bundler.output import manifest as mf
from bundler.output import payload as pl
from bundler.output.layers import build_layer_map


def _block(tree: Path, **kw) -> tuple[bytes, pl.PackResult]:
    entries = pl.scan_tree(tree)
    layered = {n: [e for e in entries if golden.layer_of(e.path) == n] for n in pl.LAYERS}
    buf = io.BytesIO()
    packed, _m = pl.write_block(layered, buf, mf.parse(golden.MANIFEST, "golden"), level=golden.LEVEL,
                                frame_size=golden.FRAME_SIZE, cache=kw.get("cache", pl.FrameCache(None)))
    return buf.getvalue(), packed


def test_writer_matches_golden_file(tmp_path):
    assert golden.build_block(golden.make_tree(tmp_path / "t")) == golden.GOLDEN.read_bytes()


def test_golden_file_reads_back_to_the_tree(tmp_path):
    art = tmp_path / "artifact"
    art.write_bytes(b"STUB" * 100 + golden.GOLDEN.read_bytes())  # any stub in front works
    manifest = pl.verify(art)
    assert manifest.app == mf.App("golden", "1.0")
    assert manifest.payload is not None
    assert [l.name for l in manifest.payload.layers] == list(pl.LAYERS)
    assert all(len(l.frames) >= 1 for l in manifest.payload.layers)
    assert sum(len(l.frames) for l in manifest.payload.layers) > 3
    out = tmp_path / "x"
    pl.extract(art, out)
    for rel, (data, mode) in golden.FILES.items():
        assert (out / rel).read_bytes() == data
        assert (out / rel).stat().st_mode & 0o777 == mode
    for rel, target in golden.LINKS.items():
        assert os.readlink(out / rel) == target
    assert (out / "lib/python3.11/lib-dynload").is_dir()


def test_same_tree_same_bytes(tmp_path):
    a, _ = _block(golden.make_tree(tmp_path / "a"))
    b_tree = golden.make_tree(tmp_path / "b")
    os.utime(b_tree / "empty", (5, 5))
    b, _ = _block(b_tree)
    assert a == b


@pytest.mark.parametrize("path", ["", "/abs", "a/../b", "a//b", "./a", "a/.", "a\\b", "a\0b", "x" * 4097])
def test_bad_paths_refused(path):
    with pytest.raises(PayloadError):
        pl.check_path(path)


@pytest.mark.parametrize("link,target", [("a", "/etc/passwd"), ("a", "../x"), ("d/a", "../../x"), ("a", "")])
def test_bad_links_refused(link, target):
    with pytest.raises(PayloadError):
        pl.check_link(link, target)


def test_inside_links_allowed():
    pl.check_link("bin/python3", "python3.11")
    pl.check_link("a/b/c", "../../d")


def test_scan_refuses_escaping_symlink(tmp_path):
    tree = golden.make_tree(tmp_path / "t")
    os.symlink("../../outside", tree / "bin" / "bad")
    with pytest.raises(PayloadError, match="bin/bad: symlink .* leaves the runtime"):
        pl.scan_tree(tree)


def test_duplicate_paths_refused():
    e = pl.Entry("a", pl.DIR, 0o755)
    with pytest.raises(PayloadError, match="appears twice"):
        pl.pack({"runtime": [e], "app": [e]}, io.BytesIO(), level=1, cache=pl.FrameCache(None))


def _flip(data: bytes, pos: int) -> bytes:
    return data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1:]


def test_damage_is_detected_everywhere(tmp_path):
    block = golden.GOLDEN.read_bytes()
    art = tmp_path / "a"
    art.write_bytes(block)
    trailer = pl.read_trailer(art)
    manifest = pl.read_manifest(art)
    spots = [f.offset + f.length // 2 for l in manifest.payload.layers for f in l.frames]
    spots += [trailer.manifest_offset + 10, len(block) - 50, len(block) - 1, len(block) - 96]
    for pos in spots:
        art.write_bytes(_flip(block, pos))
        with pytest.raises(PayloadError):
            pl.verify(art)
    for cut in (1, 50, 96, 500, len(block) - 1):
        art.write_bytes(block[:-cut])
        with pytest.raises(PayloadError):
            pl.verify(art)


def test_frame_cache_recompresses_only_what_changed(tmp_path):
    cache = pl.FrameCache(tmp_path / "cache")
    tree = golden.make_tree(tmp_path / "t")
    _, first = _block(tree, cache=cache)
    assert first.frames_cached == 0
    _, second = _block(tree, cache=cache)
    assert second.frames_compressed == 0
    (tree / "lib/python3.11/site-packages/app/__init__.py").write_text("NAME = 'changed'\n")
    _, third = _block(tree, cache=cache)
    assert third.frames_compressed == 1  # the app layer's single frame


def test_damaged_cached_frame_is_compressed_again(tmp_path):
    """A frame file cut short, or with one byte changed, is removed and the frame compressed again."""
    cache = pl.FrameCache(tmp_path / "cache")
    tree = golden.make_tree(tmp_path / "t")
    block, _ = _block(tree, cache=cache)
    files = sorted((tmp_path / "cache").rglob("*.frame"), key=lambda p: -p.stat().st_size)
    assert files and all(f.read_bytes().startswith(pl.FRAME_MAGIC) for f in files)
    truncated, flipped = files[0], files[-1]
    truncated.write_bytes(truncated.read_bytes()[:-7])
    data = bytearray(flipped.read_bytes())
    data[-1] ^= 0xFF
    flipped.write_bytes(bytes(data))
    again, result = _block(tree, cache=cache)
    assert result.frames_compressed == 2 and again == block
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def _dist(site: Path, name: str, files: dict[str, str]) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    rows = []
    for rel, text in files.items():
        p = (site / rel).resolve()
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        rows.append(f"{rel},,")
    rows.append(f"{info.name}/RECORD,,")
    (info / "RECORD").write_text("\n".join(rows) + "\n")


def test_layer_map_from_records(tmp_path):
    site_rel = "lib/python3.11/site-packages"
    site = tmp_path / site_rel
    _dist(site, "myapp", {"myapp/__init__.py": "", "../../../bin/myapp": ""})
    _dist(site, "click", {"click/__init__.py": "", "six.py": ""})
    m = build_layer_map(tmp_path, site_rel, ["MyApp"], ["bin/extra"])
    assert m.layer_of(f"{site_rel}/myapp/__init__.py") == "app"
    assert m.layer_of(f"{site_rel}/myapp/__pycache__/__init__.cpython-311.pyc") == "app"
    assert m.layer_of(f"{site_rel}/myapp") == "app"
    assert m.layer_of(f"{site_rel}/myapp-1.0.dist-info/RECORD") == "app"
    assert m.layer_of("bin/myapp") == "app"
    assert m.layer_of("bin/extra") == "app"
    assert m.layer_of(f"{site_rel}/click/__init__.py") == "dependencies"
    assert m.layer_of(f"{site_rel}/__pycache__/six.cpython-311.pyc") == "dependencies"
    assert m.layer_of(f"{site_rel}/_bundler_runtime.py") == "runtime"
    assert m.layer_of("lib/python3.11/os.py") == "runtime"


def test_compression_progress_counts_bytes_within_frames():
    """Progress moves while a frame compresses (1 MiB chunks), ends at the total, never goes back."""
    rng = __import__("random").Random(7)
    frames = [rng.randbytes(3 << 20), b"x" * (5 << 20 | 123), b"small"]
    seen: list[tuple[int, int]] = []
    out = pl.compress_frames(frames, 3, pl.FrameCache(None), progress=lambda d, t: seen.append((d, t)))
    total = sum(map(len, frames))
    assert len(seen) >= 9 and all(t == total for _d, t in seen)
    assert [d for d, _t in seen] == sorted(d for d, _t in seen) and seen[-1] == (total, total)
    # frames come back in their order, each one zstd frame of the original
    import zstandard

    assert [zstandard.ZstdDecompressor().decompress(c) for c, _cached in out] == frames
