"""runtime/stage: the base CPython copied into the one runtime layout, pruned, its binaries recorded.

Staged from the real interpreter running the tests; the copy runs from its new
place before any relocation (a pyenv CPython links libpython statically).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bundler.base.probe import probe
from bundler.binfmt.elf import ElfFormat
from bundler.errors import InterpreterError
from bundler.runtime.stage import (
    WHY_BYTECODE,
    WHY_STDLIB_TESTS,
    WHY_TEST_MODULES,
    WHY_TK,
    _enable_site,
    choose_sitepackages,
    copy_tree,
    stage,
)

VER = f"{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.fixture(scope="module")
def host():
    return probe(Path(sys.executable))


@pytest.fixture(scope="module")
def staged(host, tmp_path_factory):
    prepared: list[Path] = []
    root = tmp_path_factory.mktemp("stage") / "rt"
    result = stage(host, root, is_binary=ElfFormat().is_binary, prepare=prepared.append, tk=False)
    return result, prepared


def test_the_standard_layout(staged, host):
    s, _prepared = staged
    root = s.root
    assert (s.python, s.stdlib, s.dynload) == (f"bin/python{VER}", f"lib/python{VER}", f"lib/python{VER}/lib-dynload")
    assert os.readlink(root / "bin/python3") == f"python{VER}" and os.readlink(root / "bin/python") == f"python{VER}"
    assert (root / s.stdlib / "os.py").is_file() and (root / s.dynload).is_dir() and (root / s.sitepackages).is_dir()
    assert str(host.prefix) in s.build_prefixes


def test_what_no_app_needs_is_pruned(staged):
    s, _prepared = staged
    lib = s.root / s.stdlib
    for gone in ("test", "idlelib", "ensurepip", "turtledemo", "tkinter", "turtle.py"):
        assert not (lib / gone).exists(), gone
    names = [p.name for p in s.root.rglob("*")]
    assert not [n for n in names if n == "__pycache__" or n.endswith((".pyc", ".a"))]
    assert not [n for n in os.listdir(s.root / s.dynload) if n.startswith(("_test", "_tkinter", "xxlimited"))]
    assert (lib / "json" / "__init__.py").is_file() and (lib / "email").is_dir()  # the rest is all there
    # what was left out is tallied by rule, for the build report
    left = {why: (files, size) for why, files, size in s.left_out}
    for why in (WHY_STDLIB_TESTS, WHY_TK, WHY_BYTECODE, WHY_TEST_MODULES):
        assert left[why][0] > 0 and left[why][1] > 0, why
    assert left[WHY_STDLIB_TESTS][0] > 100  # Lib/test alone holds hundreds of files


def test_every_binary_is_recorded_with_its_origin_and_prepared(staged, host):
    s, prepared = staged
    origins = dict(s.origins)
    assert origins[s.python] == host.executable
    dynload = {rel for rel in origins if rel.startswith(s.dynload + "/")}
    on_disk = {f"{s.dynload}/{n}" for n in os.listdir(s.root / s.dynload) if n.endswith(".so")}
    assert dynload == on_disk and dynload
    for rel, src in origins.items():
        assert src.is_file() and src.name == Path(rel).name, rel
    assert sorted(prepared) == sorted(s.root / rel for rel in origins)  # each binary once, before any rewrite


def test_the_copy_finds_its_prefix_from_where_it_is(staged):
    s, _prepared = staged
    proc = subprocess.run([str(s.root / "bin/python3"), "-I", "-c", "import sys, json; print(sys.prefix)"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).resolve() == s.root.resolve()


def test_a_base_without_os_py_is_refused(host, tmp_path):
    broken = dataclasses.replace(host, stdlib=tmp_path / "empty-lib")
    with pytest.raises(InterpreterError, match=f"its standard library {tmp_path / 'empty-lib'} has no os.py"):
        stage(broken, tmp_path / "rt", is_binary=lambda p: False, prepare=lambda p: None)
    assert not (tmp_path / "rt").exists()


def test_choose_sitepackages_prefers_lib_and_site_packages(host):
    debian = dataclasses.replace(host, prefix=Path("/usr"), sitepackages=(
        "/usr/local/lib/python3.11/dist-packages", "/usr/lib/python3/dist-packages", "/usr/lib/python3.11/dist-packages"))
    assert choose_sitepackages(debian) == "lib/python3.11/dist-packages"
    mixed = dataclasses.replace(debian, sitepackages=("/usr/lib/python3/dist-packages", "/usr/lib/python3.11/site-packages"))
    assert choose_sitepackages(mixed) == "lib/python3.11/site-packages"
    elsewhere = dataclasses.replace(debian, sitepackages=("/opt/other/site-packages",))
    assert choose_sitepackages(elsewhere) == f"lib/python{host.short_version}/site-packages"


def test_copy_tree_keeps_inner_links_and_drops_what_leaves(tmp_path):
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "real.txt").write_text("inside\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("outside\n")
    os.symlink("real.txt", src / "pkg" / "alias.txt")  # inside: stays a link
    os.symlink(outside, src / "pkg" / "copied.txt")  # outside, a file: copied as a file
    os.symlink(tmp_path / "nowhere", src / "pkg" / "dangling")  # dangling: dropped
    os.symlink("pkg", src / "pkglink")  # a directory link inside: a link, not a second copy
    (src / "skipme").write_text("x")
    dest = tmp_path / "dest"
    copy_tree(src, dest, lambda d, names: {"skipme"} & set(names))
    assert os.readlink(dest / "pkg" / "alias.txt") == "real.txt"
    assert not (dest / "pkg" / "copied.txt").is_symlink() and (dest / "pkg" / "copied.txt").read_text() == "outside\n"
    assert not os.path.lexists(dest / "pkg" / "dangling")
    assert os.readlink(dest / "pkglink") == "pkg"
    assert not (dest / "skipme").exists()


def test_enable_site_in_an_embeddable_pth(tmp_path):
    pth = tmp_path / "python311._pth"
    pth.write_bytes(b"python311.zip\r\n.\r\n\r\n# Uncomment to run site.main() automatically\r\n#import site\r\n")
    _enable_site(pth, "Lib/site-packages")
    lines = pth.read_bytes().decode().split("\r\n")
    assert lines[:3] == ["python311.zip", ".", "Lib\\site-packages"]
    assert "import site" in lines and "#import site" not in lines
    _enable_site(pth, "Lib/site-packages")  # twice: the same file
    assert pth.read_bytes().decode().split("\r\n") == lines
