"""Outputs are deterministic and atomic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bundler.errors import OutputError
from bundler.output.tree import (
    add_entry_launchers,
    atomic_path,
    read_archive_names,
    write_archive,
    write_dir,
)
from bundler.platforms import WINDOWS


def _tree(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python3.11").write_text("x")
    (root / "bin" / "python3.11").chmod(0o755)
    os.symlink("python3.11", root / "bin" / "python3")
    (root / "lib" / "z").mkdir(parents=True)
    (root / "lib" / "z" / "a.py").write_text("a = 1\n")
    return root


def test_archive_is_byte_identical_across_builds(tmp_path):
    a = _tree(tmp_path / "a")
    b = _tree(tmp_path / "b")
    os.utime(b / "lib" / "z" / "a.py", (1, 1))  # different mtimes must not matter
    out1 = write_archive(a, tmp_path / "o1" / "x.tar.zst", "x", level=3)
    out2 = write_archive(b, tmp_path / "o2" / "x.tar.zst", "x", level=3)
    assert out1.read_bytes() == out2.read_bytes()
    assert read_archive_names(out1) == ["x", "x/bin", "x/bin/python3", "x/bin/python3.11", "x/lib", "x/lib/z", "x/lib/z/a.py"]


def test_source_date_epoch_honoured(tmp_path, monkeypatch):
    import io
    import tarfile

    import zstandard

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    out = write_archive(_tree(tmp_path / "a"), tmp_path / "x.tar.zst", "x", level=1)
    data = zstandard.ZstdDecompressor().stream_reader(open(out, "rb")).read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1700000000}


def test_absolute_symlink_refused_and_nothing_left(tmp_path):
    root = _tree(tmp_path / "a")
    os.symlink("/etc/passwd", root / "bad")
    out_dir = tmp_path / "out"
    with pytest.raises(OutputError, match="bad: absolute symlink"):
        write_archive(root, out_dir / "x.tar.zst", "x", level=3)
    assert list(out_dir.iterdir()) == []


def test_atomic_replace_keeps_old_on_failure(tmp_path):
    final = tmp_path / "out" / "rt"
    tree = _tree(tmp_path / "a")
    (tree / "bundler.json").write_text("{}\n")  # a runtime as the build writes it: replaceable
    write_dir(tree, final)
    with pytest.raises(RuntimeError):
        with atomic_path(final) as work:
            work.mkdir()
            raise RuntimeError("boom")
    assert (final / "bin" / "python3.11").exists()
    assert sorted(p.name for p in final.parent.iterdir()) == ["rt"]


def test_unwritable_output_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="output directory .*file/x"):
        write_dir(_tree(tmp_path / "a"), blocker / "x" / "rt")


def test_entry_launchers_are_copies_next_to_the_scripts(tmp_path):
    launcher = tmp_path / "bundler-launcher.exe"
    launcher.write_bytes(b"MZ launcher")
    root = tmp_path / "rt"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "hi").write_text("script")
    (root / "bin" / "hi.exe").symlink_to(launcher)  # a link (as into a cache) is replaced, never written through
    assert add_entry_launchers(root, launcher, ["hi", "other"], WINDOWS, "python.exe") == ["bin/hi.exe", "bin/other.exe"]
    for name in ("hi.exe", "other.exe"):
        path = root / "bin" / name
        assert not path.is_symlink() and path.read_bytes() == b"MZ launcher"
    assert launcher.read_bytes() == b"MZ launcher"
    with pytest.raises(OutputError, match=r"run python\.exe at its root"):
        add_entry_launchers(root, launcher, ["hi"], WINDOWS, "bin/python.exe")
