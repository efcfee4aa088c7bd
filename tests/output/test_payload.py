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


def _pe_head(opt_magic: int, table: int, length: int) -> bytes:
    """A PE header as a linker writes it (e_lfanew 0x80, 16 data directories), certificate table at *table*."""
    h = bytearray(512)
    h[0:2] = b"MZ"
    h[0x3C:0x40] = (0x80).to_bytes(4, "little")
    h[0x80:0x84] = b"PE\0\0"
    dirs = 96 if opt_magic == 0x10B else 112
    h[0x80 + 20:0x80 + 22] = (dirs + 16 * 8).to_bytes(2, "little")
    h[0x98:0x9A] = opt_magic.to_bytes(2, "little")
    h[0x98 + dirs - 4:0x98 + dirs] = (16).to_bytes(4, "little")
    h[0x98 + dirs + 32:0x98 + dirs + 40] = table.to_bytes(4, "little") + length.to_bytes(4, "little")
    return bytes(h)


def test_certificate_table_is_found_only_when_it_ends_the_file():
    assert pl.certificate_table(_pe_head(0x20B, 4096, 1480), 4096 + 1480) == 4096
    assert pl.certificate_table(_pe_head(0x10B, 4096, 1480), 4096 + 1480) == 4096
    assert pl.certificate_table(_pe_head(0x20B, 4096, 1480), 4096 + 1481) is None  # something after it
    assert pl.certificate_table(_pe_head(0x20B, 0, 0), 4096) is None  # unsigned
    assert pl.certificate_table(_pe_head(0x107, 4096, 1480), 4096 + 1480) is None
    assert pl.certificate_table(_pe_head(0x20B, 4096, 1480)[:0x100], 4096 + 1480) is None
    assert pl.certificate_table(b"\x7fELF" + bytes(60), 64) is None


def test_only_up_to_seven_zero_bytes_pad_the_trailer():
    assert pl.cert_padding(b"xxxxxxxBNDLEND\0") == 0
    assert pl.cert_padding(b"xxxxBNDLEND\0" + bytes(3)) == 3
    assert pl.cert_padding(b"BNDLEND\0" + bytes(7)) == 7
    assert pl.cert_padding(b"BNDLEND\0" + bytes(8)) is None
    assert pl.cert_padding(b"xBNDLEND\0\0\x01\0") is None
    assert pl.cert_padding(b"x" * 15) is None and pl.cert_padding(b"\0\0") is None


def test_a_signed_looking_file_with_garbage_before_its_table_is_damaged(tmp_path):
    body = b"stub" + pl.trailer_bytes(0, b"")  # a trailer with empty payload and manifest
    head = _pe_head(0x20B, 0, 0)
    signed = head + body + b"\x01" + bytes(3)
    table = len(signed)
    cert = bytes(16)
    data = bytearray(signed + cert)
    data[0x98 + 112 + 32:0x98 + 112 + 40] = table.to_bytes(4, "little") + len(cert).to_bytes(4, "little")
    path = tmp_path / "a.exe"
    path.write_bytes(bytes(data))
    with pytest.raises(PayloadError, match="no bundler trailer before its signature"):
        pl.read_trailer(path)
    data[table - 4] = 0  # only zeros between: the trailer is found
    path.write_bytes(bytes(data))
    assert pl.trailer_end(path) == len(head) + len(body)
    assert pl.read_trailer(path).manifest_offset == len(head) + len(body) - pl.TRAILER_SIZE
