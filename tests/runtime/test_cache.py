"""runtime/cache: the finished base runtime, keyed by everything it is made of, stored whole, reused by hard links."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from pathlib import Path

import pytest
from support.wheelfactory import make_wheel

from bundler import cachefs
from bundler.base.probe import probe
from bundler.relocate.model import RelocationReport
from bundler.runtime import cache
from bundler.runtime.stage import StagedRuntime


@pytest.fixture(scope="module")
def host():
    return probe(Path(sys.executable))


@pytest.fixture
def copied_base(host, tmp_path):
    """The host interpreter with a standard library and extension modules of its own to touch."""
    stdlib = tmp_path / "base-lib"
    shutil.copytree(host.stdlib / "json", stdlib / "json")
    (stdlib / "os.py").write_text("# landmark\n")
    dynload = tmp_path / "base-dynload"
    dynload.mkdir()
    (dynload / "_example.so").write_bytes(b"\x7fELF")
    return dataclasses.replace(host, stdlib=stdlib, dynload=dynload)


def _base(root: Path) -> cache.BaseRuntime:
    (root / "bin").mkdir(parents=True)
    (root / "bin/python3.11").write_text("interpreter\n")
    os.symlink("python3.11", root / "bin/python3")
    (root / "lib/python3.11").mkdir(parents=True)
    (root / "lib/python3.11/os.py").write_text("# landmark\n")
    staged = StagedRuntime(root=root, python="bin/python3.11", stdlib="lib/python3.11",
                           dynload="lib/python3.11/lib-dynload", sitepackages="lib/python3.11/site-packages",
                           origins=(("bin/python3.11", Path("/usr/bin/python3.11")),), build_prefixes=("/usr",),
                           left_out=(("standard library tests", 12, 3456),))
    report = RelocationReport(binaries=1, vendored=("lib/bundled/libz.so.1",), rewritten=1, system=("libc.so.6",),
                              glibc_floor="2.17", excluded=("libGL.so.1",),
                              origins=(("lib/bundled/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13"),))
    return cache.BaseRuntime(staged, report)


def test_the_key_covers_every_input(copied_base, tmp_path):
    w1 = make_wheel(tmp_path / "w1", "dep", "1.0")
    w2 = make_wheel(tmp_path / "w2", "dep", "1.0", files={"dep/__init__.py": "changed = True\n"})
    key = cache.base_key(copied_base, "linux-x86_64", [w1])
    assert key == cache.base_key(copied_base, "linux-x86_64", [w1])  # stable
    assert len(key) == 64
    others = {
        "target": cache.base_key(copied_base, "linux-aarch64", [w1]),
        "wheel content": cache.base_key(copied_base, "linux-x86_64", [w2]),
        "no wheels": cache.base_key(copied_base, "linux-x86_64", []),
        "gui": cache.base_key(copied_base, "linux-x86_64", [w1], gui=True),
        "keep-tests": cache.base_key(copied_base, "linux-x86_64", [w1], keep_tests=True),
        "lib-path": cache.base_key(copied_base, "linux-x86_64", [w1], lib_path=(tmp_path / "w1",)),
        "exclude-lib": cache.base_key(copied_base, "linux-x86_64", [w1], exclude_libs=("libGL.so.*",)),
        "interpreter": cache.base_key(dataclasses.replace(copied_base, full_version="3.11.99"), "linux-x86_64", [w1]),
    }
    assert key not in others.values() and len(set(others.values())) == len(others)
    # a package added to the base's standard library or extension modules is a new base
    (copied_base.stdlib / "json" / "extra.py").write_text("x = 1\n")
    with_stdlib = cache.base_key(copied_base, "linux-x86_64", [w1])
    (copied_base.dynload / "_more.so").write_bytes(b"\x7fELF")
    with_dynload = cache.base_key(copied_base, "linux-x86_64", [w1])
    assert len({key, with_stdlib, with_dynload}) == 3
    # the order the wheels come in does not matter
    w3 = make_wheel(tmp_path / "w3", "other", "2.0")
    assert cache.base_key(copied_base, "x", [w1, w3]) == cache.base_key(copied_base, "x", [w3, w1])


def test_save_then_load_is_the_same_runtime_by_hard_links(tmp_path):
    base = _base(tmp_path / "made")
    cache.save(tmp_path / "cache", "k" * 64, base)
    entry = cache.entry_path(tmp_path / "cache", "k" * 64)
    assert cachefs.is_complete(entry)
    loaded = cache.load(tmp_path / "cache", "k" * 64, tmp_path / "again")
    assert loaded == cache.BaseRuntime(dataclasses.replace(base.staged, root=tmp_path / "again"), base.relocation)
    assert os.readlink(tmp_path / "again/bin/python3") == "python3.11"
    assert os.path.samefile(tmp_path / "again/bin/python3.11", entry / "tree/bin/python3.11")  # linked, not copied
    # saving again over a complete entry changes nothing
    cache.save(tmp_path / "cache", "k" * 64, _base(tmp_path / "other"))
    assert cache.load(tmp_path / "cache", "k" * 64, tmp_path / "third") is not None


def test_a_miss_and_a_damaged_entry(tmp_path):
    assert cache.load(tmp_path / "cache", "a" * 64, tmp_path / "rt") is None
    cache.save(tmp_path / "cache", "b" * 64, _base(tmp_path / "made"))
    (cache.entry_path(tmp_path / "cache", "b" * 64) / "meta.json").write_text("{not json")
    assert cache.load(tmp_path / "cache", "b" * 64, tmp_path / "rt") is None
    assert not (tmp_path / "rt").exists()  # nothing half-copied left behind


def test_a_cache_that_cannot_be_written_does_not_fail_the_build(tmp_path):
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache directory should be\n")
    cache.save(blocked, "c" * 64, _base(tmp_path / "made"))  # no exception: the cache is an optimisation
    assert blocked.read_text().startswith("a file")


def test_claim_yields_none_to_the_maker_then_the_entry(tmp_path):
    with cache.claim(tmp_path / "cache", "d" * 64, tmp_path / "rt1") as got:
        assert got is None
        base = _base(tmp_path / "rt1")
        cache.save(tmp_path / "cache", "d" * 64, base)
    with cache.claim(tmp_path / "cache", "d" * 64, tmp_path / "rt2") as got:
        assert got is not None and got.relocation == base.relocation and (tmp_path / "rt2/bin/python3.11").is_file()
