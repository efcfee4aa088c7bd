"""The typed manifest and docs/FORMAT.md: the document's constants and keys are the code's, and the
strict reader refuses what the stub refuses, in one line that names the field."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import golden

from bundler.errors import PayloadError
from bundler.output import manifest as mf
from bundler.output import payload as pl

FORMAT_MD = (Path(__file__).resolve().parents[2] / "docs" / "FORMAT.md").read_text()


def _table(heading: str) -> list[tuple[int, int, str]]:
    """(offset, size, field) rows of the FORMAT.md table under *heading*."""
    section = FORMAT_MD.split(heading, 1)[1]
    rows = re.findall(r"^\| (\d+) \| (\d+|…) \| (.+?) \|$", section, re.M)
    out, last = [], -1
    for off, size, field in rows:
        if int(off) <= last:  # the next table began
            break
        out.append((int(off), 0 if size == "…" else int(size), field))
        last = int(off)
    return out


def test_trailer_table_is_the_struct():
    rows = _table("## Trailer")
    assert sum(size for _o, size, _f in rows) == pl.TRAILER_SIZE == 96
    assert "96 bytes" in FORMAT_MD and f"format version, `{pl.FORMAT_VERSION}`" in FORMAT_MD
    assert rows[0][2] == "magic `BUNDLER\\0`" and pl.MAGIC == b"BUNDLER\0"
    assert rows[-1][2] == "magic `BNDLEND\\0`" and pl.END_MAGIC == b"BNDLEND\0"
    # the struct packs the fields at the offsets the table gives
    raw = pl.trailer_bytes(0x1122334455667788, b"{}")
    assert raw[:8] == pl.MAGIC and raw[88:] == pl.END_MAGIC
    assert int.from_bytes(raw[8:12], "little") == pl.FORMAT_VERSION
    assert int.from_bytes(raw[12:16], "little") == pl.TRAILER_SIZE
    assert int.from_bytes(raw[16:24], "little") == 0x1122334455667788
    assert int.from_bytes(raw[24:32], "little") == 2
    assert raw[32:64] == hashlib.sha256(b"{}").digest() and raw[64:88] == bytes(24)
    assert [(o, s) for o, s, _f in rows] == [(0, 8), (8, 4), (12, 4), (16, 8), (24, 8), (32, 32), (64, 24), (88, 8)]


def test_entry_table_is_the_header():
    rows = _table("## Entries")
    assert [(o, s) for o, s, _f in rows] == [(0, 1), (1, 3), (4, 4), (8, 4), (12, 4), (16, 8), (24, 0)]
    assert sum(s for _o, s, _f in rows) == pl.HEADER.size == 24
    assert "`1` directory, `2` regular file, `3` symbolic link" in rows[0][2]
    assert (pl.DIR, pl.FILE, pl.SYMLINK) == (1, 2, 3)
    raw = pl.encode(pl.Entry("a/b", pl.FILE, 0o755), b"xyz")
    assert raw[0] == pl.FILE and raw[1:4] == bytes(3) and int.from_bytes(raw[4:8], "little") == 0o755
    assert int.from_bytes(raw[8:12], "little") == 3 and raw[12:16] == bytes(4)
    assert int.from_bytes(raw[16:24], "little") == 3 and raw[24:] == b"a/bxyz"


def test_documented_limits_and_layers_are_the_code():
    assert f"at most {mf.MAX_PATH} bytes" in FORMAT_MD
    assert f"{pl.FRAME_SIZE >> 20} MiB of\nuncompressed data by default" in FORMAT_MD
    assert re.search(r"layers: `runtime` .*?, `dependencies` .*?and `app`", FORMAT_MD, re.S)
    assert mf.LAYERS == pl.LAYERS == ("runtime", "dependencies", "app")
    assert f"`{pl.COMPLETE_MARKER}`" in FORMAT_MD


def _example() -> dict:
    block = FORMAT_MD.split("## Manifest", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    return json.loads(block.replace('"…"', '"x"').replace('["x"]', "[]"))


def _written(tmp_path: Path) -> mf.Manifest:
    art = tmp_path / "art"
    art.write_bytes(golden.build_block(golden.make_tree(tmp_path / "tree")))
    return pl.read_manifest(art)


def test_the_documented_example_has_the_keys_a_single_file_has(tmp_path):
    stub = mf.StubRecord("linux-x86_64", "", "a" * 64, "0.17.1", "b" * 64, True)
    written = dataclasses.replace(_written(tmp_path), stub=stub).to_json()
    example = _example()

    def keys(d: dict, prefix: str = "") -> set[str]:
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict) and k != "entry_points":
                out |= keys(v, f"{prefix}{k}.")
        return out

    assert keys(example) == keys(written)
    assert keys(example["layers"][0]) == keys(written["layers"][0])
    assert keys(example["layers"][0]["frames"][0]) == keys(written["layers"][0]["frames"][0])


def test_a_written_manifest_reads_back_equal(tmp_path):
    m = _written(tmp_path)
    assert m.app == mf.App("golden", "1.0") and m.entries == {"hello": "bin/hello"} and m.default_entry == "hello"
    assert m.python == mf.Python("3.11.0", "bin/python3.11") and m.glibc_floor == "2.17" and m.gui is False
    again = mf.parse(json.loads(mf.to_bytes(m)), "again", payload_length=m.payload.length)
    assert again == m and mf.to_bytes(again) == mf.to_bytes(m)
    # a runtime's bundler.json: the same manifest without the payload fields
    core = mf.loads(mf.to_text(mf.Manifest(m.app, m.target, m.python, m.entry_points, m.default_entry)), "bundler.json")
    assert core.payload is None and "payload" not in core.to_json() and core.entries == m.entries


def test_contents_read_back_equal_and_are_left_out_when_empty():
    m = mf.parse(_valid(), "m", payload_length=16)
    c = m.contents
    assert c.wheels == (mf.WheelRecord("click", "8.1.8", "click-8.1.8-py3-none-any.whl", "2" * 64),)
    assert c.vendored_libraries == (mf.VendoredRecord("lib/bundled/libz-1a2b3c4d.so.1", "/usr/lib/libz.so.1"),)
    assert c.left_out == (mf.LeftOut("tests", 3, 300),)
    assert mf.parse(json.loads(mf.to_bytes(m)), "again", payload_length=16) == m
    built = mf.WheelRecord("app", "1.0", "app-1.0-py3-none-any.whl", None)  # built from the project: no lock hash
    again = mf.loads(mf.to_text(dataclasses.replace(m, payload=None, contents=mf.Contents(wheels=(built,)))), "b")
    assert again.contents.wheels == (built,)
    assert "contents" not in dataclasses.replace(m, contents=mf.Contents()).to_json()


def test_unknown_keys_are_kept_and_ignored(tmp_path):
    data = {**golden.MANIFEST, "future": {"x": 1}}
    m = mf.parse(data, "m")
    assert m.extra == {"future": {"x": 1}} and m.to_json()["future"] == {"x": 1}


def _valid() -> dict:
    payload = b"\x28\xb5\x2f\xfd" + bytes(12)
    return {
        **golden.MANIFEST,
        "payload": {"length": len(payload), "sha256": "0" * 64},
        "uncompressed_size": 0, "file_count": 0,
        "layers": [{"name": "runtime", "files": 0, "uncompressed_size": 0,
                    "frames": [{"offset": 0, "length": len(payload), "uncompressed_size": 0, "sha256": "1" * 64}]}],
        "contents": {"wheels": [{"name": "click", "version": "8.1.8", "file": "click-8.1.8-py3-none-any.whl",
                                 "sha256": "2" * 64}],
                     "vendored_libraries": [{"path": "lib/bundled/libz-1a2b3c4d.so.1", "origin": "/usr/lib/libz.so.1"}],
                     "left_out": [{"what": "tests", "files": 3, "size": 300}]},
    }


def _set(data: dict, dotted: str, value: object) -> dict:
    d = json.loads(json.dumps(data))
    node, *path = re.split(r"\.|\[|\]\.?", dotted)
    parts = [node, *[p for p in path if p != ""]]
    cur = d
    for p in parts[:-1]:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]
    last = parts[-1]
    if value is KeyError:
        del cur[last]
    elif isinstance(cur, list):
        cur[int(last)] = value
    else:
        cur[last] = value
    return d


BAD = [
    ("app.name", "../evil", "app.name"),
    ("app.name", ".hidden", "app.name"),
    ("app.name", "a/b", "app.name"),
    ("app.name", "", "app.name"),
    ("app.name", 7, "app.name"),
    ("app", KeyError, "app"),
    ("app", ["golden"], "app"),
    ("target", None, "target"),
    ("python.executable", "/usr/bin/python3", "python.executable"),
    ("python.executable", "bin/../../python", "python.executable"),
    ("python.executable", "bin\\python", "python.executable"),
    ("entry_points", {"hello": "../../bin/sh"}, "entry_points.hello"),
    ("entry_points", {"hello": "/bin/sh"}, "entry_points.hello"),
    ("entry_points", ["bin/hello"], "entry_points"),
    ("default_entry", "nope", "default_entry"),
    ("default_entry", 1, "default_entry"),
    ("gui", 1, "gui"),
    ("gui", "false", "gui"),
    ("build.source_date_epoch", "0", "build.source_date_epoch"),
    ("payload.length", "16", "payload.length"),
    ("payload.length", 16.0, "payload.length"),
    ("payload.length", True, "payload.length"),
    ("payload.length", 17, "payload.length"),
    ("payload.sha256", "A" * 64, "payload.sha256"),
    ("payload.sha256", "0" * 63, "payload.sha256"),
    ("payload", None, "payload"),
    ("uncompressed_size", -1, "uncompressed_size"),
    ("uncompressed_size", 1 << 64, "uncompressed_size"),
    ("file_count", "137", "file_count"),
    ("layers", None, "layers"),
    ("layers", {"name": "runtime"}, "layers"),
    ("layers[0].frames[0].offset", "0", "layers[0].frames[0].offset"),
    ("layers[0].frames[0].offset", -4, "layers[0].frames[0].offset"),
    ("layers[0].frames[0].offset", 4, "layers"),
    ("layers[0].frames[0].length", 0, "layers"),
    ("layers[0].frames[0].length", 8, "layers"),
    ("layers[0].frames[0].uncompressed_size", 1 << 64, "layers[0].frames[0].uncompressed_size"),
    ("layers[0].frames[0].sha256", None, "layers[0].frames[0].sha256"),
    ("layers[0].frames", [None], "layers[0].frames[0]"),
    ("app.version", "1.0\x1b[2J", "app.version"),
    ("stub", {"target": "linux-x86_64"}, "stub.variant"),
    ("contents", [], "contents"),
    ("contents.wheels[0].version", KeyError, "contents.wheels[0].version"),
    ("contents.wheels[0].sha256", "z" * 64, "contents.wheels[0].sha256"),
    ("contents.vendored_libraries[0].path", "/usr/lib/libz.so.1", "contents.vendored_libraries[0].path"),
    ("contents.vendored_libraries[0].origin", "lib\x1b[2J", "contents.vendored_libraries[0].origin"),
    ("contents.left_out[0].files", "3", "contents.left_out[0].files"),
    ("contents.left_out", {"what": "tests"}, "contents.left_out"),
]


@pytest.mark.parametrize(("field", "value", "named"), BAD, ids=[f"{f}={v!r}"[:60] for f, v, _n in BAD])
def test_what_the_stub_refuses_is_refused_in_one_line(field, value, named):
    data = _set(_valid(), field, value)
    with pytest.raises(PayloadError) as info:
        mf.parse(data, "art", payload_length=16)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("art: manifest field ") and f" {named} " in msg, msg


def test_the_valid_base_of_those_cases_parses():
    m = mf.parse(_valid(), "art", payload_length=16)
    assert m.payload is not None and m.payload.layers[0].frames[0].length == 16


@pytest.mark.parametrize("raw", [
    b'{"app": 1, "app": 2}',  # duplicate keys: std.json in the stub refuses them too
    b"[1, 2]",
    b"\xff\xfe{}",
    b"{" + b'"a":[' * 100_000 + b"]" * 100_000 + b"}",
    b'{"format": NaN}',
    b"",
])
def test_bad_json_is_one_line(raw):
    with pytest.raises(PayloadError) as info:
        mf.loads(raw, "art")
    assert "\n" not in str(info.value) and str(info.value).startswith("art: ")


def test_inspect_answers_a_bad_manifest_with_exit_10_and_one_line(tmp_path):
    data = _set(_valid(), "entry_points", {"hello": "../../../bin/sh"})
    payload = b"\x28\xb5\x2f\xfd" + bytes(12)
    data["payload"]["sha256"] = hashlib.sha256(payload).hexdigest()  # every checksum is right
    raw = json.dumps(data).encode()
    art = tmp_path / "crafted"
    art.write_bytes(b"STUB" + payload + raw + pl.trailer_bytes(len(payload), raw))
    for flags in ([], ["--verify"], ["--json"]):
        proc = subprocess.run([sys.executable, "-m", "bundler", "inspect", *flags, str(art)],
                              capture_output=True, text=True)
        assert proc.returncode == PayloadError.exit_code == 10, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "entry_points.hello" in lines[0] and proc.stdout == "", proc.stderr
