"""Relocation on real ELF files compiled by zig: plan, apply, verify, run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support.native import shared_lib, zig_cc

from bundler.binfmt.elf import ElfFormat, glibc_floor, glibc_floor_of, search_path_check
from bundler.binfmt.ldpath import LdSoResolver
from bundler.digest import sha256_file
from bundler.errors import RelocationError
from bundler.pipeline import collect_binaries
from bundler.relocate.apply import apply as apply_plan
from bundler.relocate.model import RelocationReport, unique_name
from bundler.relocate.plan import plan as plan_relocation
from bundler.relocate.policy import load_policy
from bundler.relocate.verify import verify as verify_relocation

FMT = ElfFormat()
POLICY = load_policy()
#: what the ELF kit gives verification: ld.so inside the runtime only, its path rules, the glibc floor
ELF_CHECKS = dict(resolver=LdSoResolver("x86_64", ()), check_paths=search_path_check(POLICY.loader("x86_64")),
                  floor=glibc_floor_of)
HOST_DIRS = POLICY.library_dirs("x86_64")


@pytest.fixture(scope="module")
def libs(tmp_path_factory) -> Path:
    """External libraries on the 'build machine': libfoo → libbar, absolute RUNPATH."""
    ext = tmp_path_factory.mktemp("ext")
    shared_lib(ext / "libbar.so.1", "libbar.so.1", "int bar(void){return 41;}")
    shared_lib(ext / "libfoo.so.1", "libfoo.so.1", "int bar(void); int foo(void){return bar()+1;}",
               f"-L{ext}", "-l:libbar.so.1", f"-Wl,-rpath,{ext}")
    zig_cc(ext / "app", {"main.c": '#include <stdio.h>\nint foo(void);\nint main(void){printf("%d\\n", foo());return 0;}\n'},
           f"-L{ext}", "-l:libfoo.so.1", f"-Wl,-rpath,{ext}")
    return ext


def _plan(root: Path, origins=None):
    binaries = collect_binaries(root, FMT, "x86_64")
    return plan_relocation(
        root, binaries, origins or {}, policy=POLICY,
        resolver=LdSoResolver("x86_64", HOST_DIRS), read=FMT.read, digest=sha256_file,
    )


def _relocate(root: Path, origins=None) -> RelocationReport:
    plan = _plan(root, origins)
    apply_plan(root, plan, FMT)
    return verify_relocation(root, collect_binaries(root, FMT, "x86_64"), policy=POLICY, **ELF_CHECKS,
                           vendored=[(v.dest, str(v.source)) for v in plan.vendored], rewritten=len(plan.edits))


def test_unique_name():
    assert unique_name("libssl.so.3", "1a2b3c4d5e") == "libssl-1a2b3c4d.so.3"
    assert unique_name("libtcl8.6.so", "deadbeef00") == "libtcl8.6-deadbeef.so"


def test_plan_vendors_transitively_and_is_pure(libs, tmp_path):
    root = tmp_path / "rt"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(libs / "app", root / "bin/app")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    plan = _plan(root, {"bin/app": libs / "app"})
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before  # plan writes nothing
    dests = {Path(v.dest).name.split("-")[0]: v for v in plan.vendored}
    assert set(dests) == {"libfoo", "libbar"}
    assert all(v.dest.startswith("lib/bundled/") for v in plan.vendored)
    edits = dict(plan.edits)
    app = edits["bin/app"]
    assert app.runpath == ("$ORIGIN/../lib/bundled",)
    assert app.replace_needed == (("libfoo.so.1", Path(dests["libfoo"].dest).name),)
    foo = edits[dests["libfoo"].dest]
    assert foo.soname == Path(dests["libfoo"].dest).name
    assert foo.runpath == ("$ORIGIN",)
    assert "libc.so.6" in plan.system


def test_relocated_tree_runs_anywhere(libs, tmp_path):
    ext = tmp_path / "ext"
    shutil.copytree(libs, ext)  # a private copy we can delete afterwards
    subprocess.run(["true"])
    root = tmp_path / "rt"
    (root / "bin").mkdir(parents=True)
    # relink against our private copy so deleting it proves nothing points back
    shutil.copy2(libs / "app", root / "bin/app")
    report = _relocate(root, {"bin/app": libs / "app"})
    assert len(report.vendored) == 2
    for rel, info in collect_binaries(root, FMT, "x86_64").items():
        assert not info.rpath
        assert all(e.startswith("$ORIGIN") for e in info.runpath), (rel, info.runpath)
    moved = tmp_path / "moved dir ü" / "rt"
    moved.parent.mkdir()
    os.rename(root, moved)
    out = subprocess.run([str(moved / "bin/app")], capture_output=True, text=True, env={})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "42"


def test_clashing_sonames_get_distinct_names(tmp_path):
    """Two different libdup.so.1 files needed by two modules: each module keeps its own."""
    a, b = tmp_path / "a", tmp_path / "b"
    shared_lib(a / "libdup.so.1", "libdup.so.1", "int dup(void){return 1;}")
    shared_lib(b / "libdup.so.1", "libdup.so.1", "int dup(void){return 2;}")
    root = tmp_path / "rt"
    for name, d in (("m1", a), ("m2", b)):
        shared_lib(root / f"site/{name}.so", f"{name}.so", f"int dup(void); int {name}(void){{return dup();}}",
                   f"-L{d}", "-l:libdup.so.1", f"-Wl,-rpath,{d}")
    plan = _plan(root)
    names = sorted(Path(v.dest).name for v in plan.vendored)
    assert len(names) == 2 and names[0] != names[1]
    assert all(n.startswith("libdup-") and n.endswith(".so.1") for n in names)
    edits = dict(plan.edits)
    assert edits["site/m1.so"].replace_needed[0][1] != edits["site/m2.so"].replace_needed[0][1]


def test_wheel_style_origin_runpath_left_alone(tmp_path):
    root = tmp_path / "rt"
    shared_lib(root / "site/pkg.libs/libinner-0123abcd.so", "libinner-0123abcd.so", "int inner(void){return 3;}")
    shared_lib(root / "site/pkg/_ext.so", "_ext.so", "int inner(void); int ext(void){return inner();}",
               f"-L{root}/site/pkg.libs", "-l:libinner-0123abcd.so", "-Wl,-rpath,$ORIGIN/../pkg.libs")
    plan = _plan(root)
    assert plan.vendored == ()
    assert "site/pkg/_ext.so" not in dict(plan.edits)


def test_unresolvable_library_names_binary_and_library(tmp_path):
    d = tmp_path / "gone"
    shared_lib(d / "libgone.so.7", "libgone.so.7", "int gone(void){return 0;}")
    root = tmp_path / "rt"
    shared_lib(root / "mod.so", "mod.so", "int gone(void); int m(void){return gone();}", f"-L{d}", "-l:libgone.so.7")
    shutil.rmtree(d)
    with pytest.raises(RelocationError, match=r"mod\.so needs libgone\.so\.7.*install the package"):
        _plan(root)


def test_verify_refuses_absolute_runpath_and_outside_deps(libs, tmp_path):
    root = tmp_path / "rt"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(libs / "app", root / "bin/app")
    with pytest.raises(RelocationError, match="bin/app has the search path .* outside the runtime"):
        verify_relocation(root, collect_binaries(root, FMT, "x86_64"), policy=POLICY, **ELF_CHECKS)


def test_verify_refuses_origin_escaping_root(tmp_path):
    root = tmp_path / "rt"
    shared_lib(root / "m.so", "m.so", "int m(void){return 0;}", "-Wl,-rpath,$ORIGIN/../../elsewhere")
    with pytest.raises(RelocationError, match="outside the runtime"):
        verify_relocation(root, collect_binaries(root, FMT, "x86_64"), policy=POLICY, **ELF_CHECKS)


def test_foreign_architecture_binaries_are_not_touched(tmp_path):
    root = tmp_path / "rt"
    shared_lib(root / "arm.so", "arm.so", "int f(void){return 0;}", target="aarch64-linux-gnu.2.17")
    assert FMT.machine(root / "arm.so") == "aarch64"
    assert collect_binaries(root, FMT, "x86_64") == {}


def test_glibc_floor(tmp_path):
    old = zig_cc(tmp_path / "old", {"m.c": "int main(void){return 0;}"}, target="x86_64-linux-gnu.2.17")
    new = zig_cc(tmp_path / "new", {"m.c": "int main(void){return 0;}"}, target="x86_64-linux-gnu.2.34")
    floor_old = tuple(int(x) for x in glibc_floor([FMT.read(old)]).split("."))
    assert floor_old <= (2, 17)
    assert glibc_floor([FMT.read(old), FMT.read(new)]) == "2.34"
